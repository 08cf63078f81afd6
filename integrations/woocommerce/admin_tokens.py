"""The bearer tokens the WordPress plugin mints for the embedded admin app.

A store admin opens WooCommerce → WhatsApp; the plugin's page frames the connector's app and
hands it short-lived tokens on request (docs/admin-api.md, "Token hand-off inside
WordPress"). A token is an HS256 JWT signed with the store's shared secret — the secret the
plugin already signs its cart reports with — so it proves a request comes from someone the
store itself vouches for, the way an App Bridge session token does for Shopify.

Claims: ``iss`` the store's URL, ``dest`` the store key (which shop), ``aud``
:data:`AUDIENCE`, ``sub`` the WordPress user id (a user with ``manage_woocommerce``),
``iat`` and ``exp``, at most :data:`MAX_LIFETIME_SECONDS` apart. The plugin's side is
``wcc_admin_token()`` in the plugin's ``includes/functions.php``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from integrations.woocommerce.auth import normalise_store_url

__all__ = ["AUDIENCE", "LEEWAY_SECONDS", "MAX_LIFETIME_SECONDS", "AdminToken", "AdminTokenError",
           "is_admin_token", "store_key_of", "verify_admin_token"]

AUDIENCE = "whatsapp-commerce-connector"
MAX_LIFETIME_SECONDS = 300
#: clocks of a WordPress host and ours may disagree a little
LEEWAY_SECONDS = 10
_ALGORITHMS = ["HS256"]  # pinned: the token never chooses ("none", RS/HS confusion)
_REQUIRED_CLAIMS = ("iss", "dest", "aud", "sub", "iat", "exp")
_MAX_TOKEN_LENGTH = 4096


class AdminTokenError(ValueError):
    """The token is not one this store's plugin minted, or no longer valid."""


@dataclass(frozen=True, slots=True)
class AdminToken:
    """What a verified plugin token says."""

    store_key: str
    store_url: str  # normalised
    user_id: str  # the WordPress user
    expires_at: datetime


def _unverified_claims(token: str) -> dict | None:
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def is_admin_token(token: str) -> bool:
    """Whether ``token`` claims to be a plugin token (its audience is ours); says nothing of
    whether it is genuine. Lets the caller choose the verifier before it knows the shop."""
    claims = _unverified_claims(token)
    return claims is not None and claims.get("aud") == AUDIENCE


def store_key_of(token: str) -> str | None:
    """The store key the token names in ``dest`` (unverified: only to look up whose secret
    verifies it)."""
    claims = _unverified_claims(token)
    dest = claims.get("dest") if claims else None
    return dest if isinstance(dest, str) and 0 < len(dest) <= 64 else None


def verify_admin_token(token: str, secret: str, *, store_key: str, store_url: str,
                       now: float | None = None, leeway: int = LEEWAY_SECONDS) -> AdminToken:
    """Verify ``token`` for the store ``store_key`` at ``store_url`` whose shared secret is
    ``secret``; raise :class:`AdminTokenError` on any failure."""
    if not secret:
        raise AdminTokenError("the store has no shared secret yet")
    if _unverified_claims(token) is None:
        raise AdminTokenError("not a JWT")
    try:
        claims = jwt.decode(
            token, secret, algorithms=_ALGORITHMS, audience=AUDIENCE,
            # the clock is checked below so that ``now`` can be injected
            options={"require": list(_REQUIRED_CLAIMS), "verify_exp": False, "verify_iat": False,
                     "verify_nbf": False},
        )
    except jwt.PyJWTError as error:
        raise AdminTokenError(f"token rejected: {type(error).__name__}") from None
    issued, expires = _number(claims.get("iat")), _number(claims.get("exp"))
    if issued is None or expires is None:
        raise AdminTokenError("iat/exp are not numbers")
    if expires <= issued or expires - issued > MAX_LIFETIME_SECONDS:
        raise AdminTokenError(f"a token lives at most {MAX_LIFETIME_SECONDS} seconds")
    moment = time.time() if now is None else float(now)
    if moment > expires + leeway:
        raise AdminTokenError("token expired")
    if moment < issued - leeway:
        raise AdminTokenError("token issued in the future")
    if claims.get("dest") != store_key:
        raise AdminTokenError("token names another store")
    try:
        issuer = normalise_store_url(str(claims.get("iss")))
        expected = normalise_store_url(store_url)
    except ValueError:
        raise AdminTokenError("iss is not a store URL") from None
    if issuer != expected:
        raise AdminTokenError("token was issued by another store URL")
    user = claims.get("sub")
    if isinstance(user, bool) or not isinstance(user, (str, int)) or str(user) in ("", "0"):
        raise AdminTokenError("token has no usable sub")
    return AdminToken(store_key=store_key, store_url=expected, user_id=str(user),
                      expires_at=datetime.fromtimestamp(expires, tz=UTC))


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
