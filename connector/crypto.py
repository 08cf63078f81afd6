"""Encryption of secrets at rest (shop access tokens, WhatsApp tokens).

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``; ``ENCRYPTION_KEY`` may list
several keys, newest first, so keys can be rotated: new values are written with the first,
old values still decrypt with the others.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


class DecryptionError(RuntimeError):
    """A stored secret cannot be decrypted with any configured key."""


class Keyring:
    """The configured encryption keys."""

    def __init__(self, keys: tuple[str, ...]):
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise DecryptionError("stored secret does not decrypt with ENCRYPTION_KEY") from None


_keyring: Keyring | None = None


def install_keyring(keys: tuple[str, ...]) -> None:
    """Make ``keys`` the process's keyring (called by ``create_app``)."""
    global _keyring
    _keyring = Keyring(keys)


def keyring() -> Keyring:
    if _keyring is None:
        raise RuntimeError("no keyring installed: create the app first")
    return _keyring


class EncryptedText(TypeDecorator):
    """A text column stored encrypted; reads and writes plaintext ``str``."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else keyring().encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else keyring().decrypt(value)
