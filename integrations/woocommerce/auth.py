"""Connecting a store: the WooCommerce app-authentication endpoint and its key callback.

The merchant is sent to ``<store>/wc-auth/v1/authorize``; after they approve, WooCommerce
POSTs fresh REST keys as JSON to our ``callback_url`` and then redirects the browser to
``return_url?success=1&user_id=...``. Rules from
https://woocommerce.github.io/woocommerce-rest-api-docs/#rest-api-keys and
woocommerce/woocommerce plugins/woocommerce/includes/class-wc-auth.php.

The callback body is not signed, and the ``user_id`` we put in the authorize URL is seen by
the browser, so it binds the callback to a pending connection but proves nothing: the keys
are trusted only once they authenticate against the store (a REST call, made by the
connector before it keeps them). Reconnecting a store that is already connected needs a
start signed by the WordPress plugin with the store's shared secret
(:func:`reconnect_signature`), or the operator.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from integrations.base import PayloadError, SignatureInvalidError, SignatureMissingError
from integrations.coerce import id_text as _id_text

__all__ = ["RECONNECT_MAX_AGE_SECONDS", "SCOPES", "ReconnectRequest", "WooCommerceKeys", "authorize_url",
           "normalise_store_url", "parse_callback", "parse_reconnect", "reconnect_signature", "verify_reconnect"]

#: the three values ``/wc-auth/v1/authorize`` accepts for ``scope``
SCOPES = ("read", "write", "read_write")
AUTHORIZE_PATH = "/wc-auth/v1/authorize"

_LOOPBACK_NAMES = frozenset({"localhost"})
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# WooCommerce makes keys as "ck_"/"cs_" + wc_rand_hash() (40 hex digits); accept any
# alphanumeric tail of a sane length in case a filter changes the generator.
_CONSUMER_KEY = re.compile(r"ck_[A-Za-z0-9]{16,128}")
_CONSUMER_SECRET = re.compile(r"cs_[A-Za-z0-9]{16,128}")
_MAX_ID_LENGTH = 128
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: a plugin-signed reconnect start is good for this long either side of its timestamp
RECONNECT_MAX_AGE_SECONDS = 300
_RECONNECT_CONTEXT = "wcc-reconnect-v1"  # keeps these signatures apart from the JSON bodies signed with the same secret
_NONCE = re.compile(r"[A-Za-z0-9]{16,64}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_STORE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class WooCommerceKeys:
    """REST API keys WooCommerce posted to the callback URL."""

    key_id: str
    user_id: str  # our own id, echoed back
    consumer_key: str
    consumer_secret: str
    key_permissions: str  # "read" | "write" | "read_write"

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return (f"WooCommerceKeys(key_id={self.key_id!r}, user_id={self.user_id!r}, "
                f"key_permissions={self.key_permissions!r})")


def normalise_store_url(raw: str) -> str:
    """The store's base URL as ``scheme://host[:port][/path]``, one spelling per store.

    Adds ``https://`` to a bare host; lowercases scheme and host; drops a trailing dot of
    the host, the scheme's default port, repeated and trailing slashes; keeps a path because
    WordPress may live in a sub-directory (``https://example.com/shop``); drops query and
    fragment. Raises ``ValueError`` for anything that is not an http(s) URL with a
    plausible host, that carries credentials, or whose path has dot segments.
    """
    text = (raw or "").strip()
    if not text or any(character.isspace() for character in text):
        raise ValueError("store URL is empty or contains spaces")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("store URL must be http or https")
    if parts.username or parts.password:
        raise ValueError("store URL must not contain credentials")
    host = (parts.hostname or "").lower()
    host = host[:-1] if host.endswith(".") and not host.endswith("..") else host  # "store.example." is the same store
    if not _is_plausible_host(host):
        raise ValueError("store URL has no valid host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("store URL has an invalid port") from None
    scheme = parts.scheme.lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    if any(segment in (".", "..") for segment in path.split("/")):
        raise ValueError("store URL path has dot segments")
    return urlunsplit((scheme, netloc, path, "", ""))


def _is_plausible_host(host: str) -> bool:
    if not host:
        return False
    if host in _LOOPBACK_NAMES or _ip(host) is not None:
        return True
    labels = host.rstrip(".").split(".")
    return len(labels) >= 2 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (where plain http is tolerated)."""
    address = _ip(host)
    return host in _LOOPBACK_NAMES or (address is not None and address.is_loopback)


def authorize_url(
    store_url: str,
    *,
    app_name: str,
    user_id: str,
    return_url: str,
    callback_url: str,
    scope: str = "read_write",
) -> str:
    """The ``/wc-auth/v1/authorize`` URL to send the merchant to.

    All five parameters are required by WooCommerce. ``callback_url`` must be https:
    WooCommerce itself refuses anything else ("The callback_url needs to be over SSL"),
    so we fail early instead of sending the merchant to an error page. Plain http is let
    through for loopback hosts only, so that tests can run the whole flow against a
    local fake store; a real store would still refuse it. Raises ``ValueError``.

    Stores without pretty permalinks serve this route as
    ``/?wc-auth-version=1&wc-auth-route=authorize``; not handled here (verify if needed).
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    if not (app_name and user_id and return_url):
        raise ValueError("app_name, user_id and return_url are required")
    callback = urlsplit(callback_url)
    is_local_http = callback.scheme == "http" and is_loopback_host((callback.hostname or "").lower())
    if callback.scheme != "https" and not is_local_http:
        raise ValueError("callback_url must be https")
    if not callback.hostname:
        raise ValueError("callback_url has no host")
    query = urlencode(
        {
            "app_name": app_name,
            "scope": scope,
            "user_id": user_id,
            "return_url": return_url,
            "callback_url": callback_url,
        }
    )
    return f"{normalise_store_url(store_url)}{AUTHORIZE_PATH}?{query}"


def parse_callback(body: dict | bytes | str, *, expected_user_id: str | None = None) -> WooCommerceKeys:
    """Validate the JSON WooCommerce POSTs to ``callback_url``.

    ``{"key_id": 1, "user_id": "...", "consumer_key": "ck_...", "consumer_secret":
    "cs_...", "key_permissions": "read_write"}``. Raises :class:`PayloadError` when a
    field is missing or malformed, or when ``user_id`` differs from ``expected_user_id``.
    The endpoint must answer exactly 200 after storing the keys, or WooCommerce deletes
    them again.
    """
    data: Any = body
    if isinstance(body, (bytes, str)):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            # RecursionError: nested thousands deep; ValueError also covers integers past
            # Python's 4,300-digit conversion limit
            raise PayloadError("callback body is not JSON") from error
    if not isinstance(data, dict):
        raise PayloadError("callback body is not an object")
    key_id, user_id = _id_text(data.get("key_id")), _id_text(data.get("user_id"))
    consumer_key, consumer_secret = data.get("consumer_key"), data.get("consumer_secret")
    permissions = data.get("key_permissions")
    if key_id is None or user_id is None:
        raise PayloadError("callback lacks key_id or user_id")
    if len(key_id) > _MAX_ID_LENGTH or len(user_id) > _MAX_ID_LENGTH:
        raise PayloadError("callback key_id or user_id is too long")
    if not isinstance(consumer_key, str) or not _CONSUMER_KEY.fullmatch(consumer_key):
        raise PayloadError("consumer_key is not a ck_ key")
    if not isinstance(consumer_secret, str) or not _CONSUMER_SECRET.fullmatch(consumer_secret):
        raise PayloadError("consumer_secret is not a cs_ secret")
    if permissions not in SCOPES:
        raise PayloadError("key_permissions is not read, write or read_write")
    if expected_user_id is not None and user_id != expected_user_id:
        raise PayloadError("callback user_id does not match")
    return WooCommerceKeys(
        key_id=key_id,
        user_id=user_id,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        key_permissions=permissions,
    )


# -- a reconnect started by the WordPress plugin ---------------------------------------------

@dataclass(frozen=True, slots=True)
class ReconnectRequest:
    """``GET /woocommerce/reconnect?store=&ts=&nonce=&sig=``, as the plugin's settings page sends it."""

    store_key: str
    timestamp: int
    nonce: str
    signature: str


def reconnect_signature(secret: str, store_key: str, timestamp: int, nonce: str) -> str:
    """Hex HMAC-SHA256, with the store's shared secret, of ``wcc-reconnect-v1\n{store}\n{ts}\n{nonce}``.

    The plugin computes the same (``wcc_reconnect_url`` in its includes/functions.php).
    """
    message = f"{_RECONNECT_CONTEXT}\n{store_key}\n{int(timestamp)}\n{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def parse_reconnect(query: Mapping[str, str]) -> ReconnectRequest:
    """Read the four parameters; ``SignatureMissingError`` when one is missing or malformed."""
    store_key, stamp = str(query.get("store") or ""), str(query.get("ts") or "")
    nonce, signature = str(query.get("nonce") or ""), str(query.get("sig") or "").lower()
    if not (_STORE_KEY.fullmatch(store_key) and stamp.isascii() and stamp.isdigit() and len(stamp) <= 12
            and _NONCE.fullmatch(nonce) and _HEX_SIGNATURE.fullmatch(signature)):
        raise SignatureMissingError("a reconnect needs store, ts, nonce and sig from the plugin")
    return ReconnectRequest(store_key, int(stamp), nonce, signature)


def verify_reconnect(request: ReconnectRequest, secret: str, *, now: float) -> None:
    """Raise ``SignatureInvalidError`` unless ``request`` was signed with ``secret`` within
    :data:`RECONNECT_MAX_AGE_SECONDS` of ``now``. Single use is the caller's (the nonce)."""
    expected = reconnect_signature(secret, request.store_key, request.timestamp, request.nonce)
    if not hmac.compare_digest(expected, request.signature):
        raise SignatureInvalidError("the reconnect is not signed with this store's shared secret")
    if abs(now - request.timestamp) > RECONNECT_MAX_AGE_SECONDS:
        raise SignatureInvalidError("the reconnect link has expired; start it again from the plugin's settings")
