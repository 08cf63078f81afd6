"""Storefront calls a WooCommerce store forwards to us from its own domain.

The shopper's browser posts to the plugin's WP REST route on the store's domain (no CORS, no
third-party request); the plugin forwards the body to ``/storefront/signed/api/<name>`` with
``X-WCC-Store`` (the store key), ``X-WCC-Timestamp`` (Unix seconds), ``X-WCC-Visitor`` (the
shopper's address as WordPress saw it) and ``X-WCC-Forward-Signature``: HMAC-SHA256, base64, with
the store's shared secret over ``wcc-forward-v1\\n{store}\\n{timestamp}\\n{visitor}\\n{name}\\n{body}``.
The plugin's side is ``wcc_forward_signature()`` in the plugin's ``includes/functions.php``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

from integrations.base import HeaderMap, SignatureInvalidError, SignatureMissingError

__all__ = ["HEADER_FORWARD_SIGNATURE", "HEADER_STORE", "HEADER_TIMESTAMP", "HEADER_VISITOR", "MAX_AGE_SECONDS",
           "ForwardedRequest", "forward_signature", "forwarded_store_key", "verify_forward"]

HEADER_STORE = "X-WCC-Store"
HEADER_TIMESTAMP = "X-WCC-Timestamp"
HEADER_VISITOR = "X-WCC-Visitor"
HEADER_FORWARD_SIGNATURE = "X-WCC-Forward-Signature"
MAX_AGE_SECONDS = 300
_CONTEXT = "wcc-forward-v1"  # keeps these apart from the cart reports signed with the same secret
_STORE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_VISITOR = re.compile(r"[0-9A-Fa-f:.]{0,45}")


@dataclass(frozen=True, slots=True)
class ForwardedRequest:
    store_key: str
    visitor: str  # the shopper's address, as the store saw it ("" when unknown)


def forward_signature(secret: str, store_key: str, timestamp: int, visitor: str, name: str, body: bytes) -> str:
    message = f"{_CONTEXT}\n{store_key}\n{int(timestamp)}\n{visitor}\n{name}\n".encode() + body
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _header(headers: HeaderMap, name: str) -> str:
    return (headers.get(name) or "").strip()


def forwarded_store_key(headers: HeaderMap) -> str | None:
    """The store the forward claims to come from (unverified: to find whose secret checks it)."""
    key = _header(headers, HEADER_STORE)
    return key if _STORE_KEY.fullmatch(key) else None


def verify_forward(headers: HeaderMap, name: str, body: bytes, secret: str, *,
                   now: float | None = None) -> ForwardedRequest:
    """Raise ``SignatureMissingError`` / ``SignatureInvalidError`` unless the store's plugin
    signed this forward within the last few minutes."""
    key = forwarded_store_key(headers)
    stamp, visitor = _header(headers, HEADER_TIMESTAMP), _header(headers, HEADER_VISITOR)
    given = _header(headers, HEADER_FORWARD_SIGNATURE)
    if key is None or not given:
        raise SignatureMissingError(f"{HEADER_STORE} and {HEADER_FORWARD_SIGNATURE} are required")
    if not secret:
        raise SignatureInvalidError("the store has no shared secret yet")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12) or not _VISITOR.fullmatch(visitor):
        raise SignatureInvalidError("bad timestamp or visitor")
    expected = forward_signature(secret, key, int(stamp), visitor, name, body)
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise SignatureInvalidError("wrong forward signature")
    moment = time.time() if now is None else now
    if abs(moment - int(stamp)) > MAX_AGE_SECONDS:
        raise SignatureInvalidError("stale forward")
    return ForwardedRequest(store_key=key, visitor=visitor)
