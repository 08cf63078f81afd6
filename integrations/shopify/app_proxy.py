"""Verify requests that reach us through a shop's app proxy (``https://<shop>/apps/whatsapp/…``).

Shopify forwards the shopper's request to the proxy URL and adds ``shop``,
``logged_in_customer_id``, ``path_prefix``, ``timestamp`` and ``signature`` to the query.
The signature is HMAC-SHA256 (hex) with the app's secret over the query without
``signature``: the parameters sorted by name, each written ``name=value`` with the values of
a repeated name joined by commas, all concatenated with no separator.
https://shopify.dev/docs/apps/build/online-store/app-proxies/authenticate-app-proxies

Only once the signature holds are ``shop`` and ``logged_in_customer_id`` worth anything.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from integrations.shopify.oauth import is_valid_shop_domain

__all__ = ["MAX_AGE_SECONDS", "AppProxyError", "ProxyRequest", "proxy_signature", "verify_proxy_query"]

#: how far ``timestamp`` may be from our clock (either way); Shopify signs each forward anew
MAX_AGE_SECONDS = 300
_MAX_QUERY_LENGTH = 8192


class AppProxyError(ValueError):
    """The request did not come through the shop's app proxy, or not recently."""


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    shop_domain: str
    customer_id: str | None  # the logged-in customer, if any
    path_prefix: str


def proxy_signature(pairs: Iterable[tuple[str, str]], secret: str) -> str:
    """The signature Shopify computes over ``pairs`` (``signature`` itself left out)."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        if name != "signature":
            grouped.setdefault(name, []).append(value)
    message = "".join(f"{name}={','.join(values)}" for name, values in sorted(grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_proxy_query(query_string: str | bytes, secret: str, *, now: float | None = None,
                       max_age: int = MAX_AGE_SECONDS) -> ProxyRequest:
    """Check the proxy signature of a raw query string; raise :class:`AppProxyError`."""
    if not secret:
        raise ValueError("the app secret must not be empty")
    text = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    if len(text) > _MAX_QUERY_LENGTH:
        raise AppProxyError("query too long")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise AppProxyError("malformed query") from None
    signatures = [value for name, value in pairs if name == "signature"]
    if len(signatures) != 1 or not signatures[0]:
        raise AppProxyError("no signature")
    if not hmac.compare_digest(proxy_signature(pairs, secret).encode(), signatures[0].encode("utf-8", "replace")):
        raise AppProxyError("wrong signature")
    values = dict(pairs)
    stamp = values.get("timestamp", "")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise AppProxyError("no timestamp")
    moment = time.time() if now is None else now
    if abs(moment - int(stamp)) > max_age:
        raise AppProxyError("stale request")
    shop = values.get("shop", "").lower()
    if not is_valid_shop_domain(shop):
        raise AppProxyError("no valid shop")
    customer = values.get("logged_in_customer_id") or None
    return ProxyRequest(shop_domain=shop, customer_id=customer, path_prefix=values.get("path_prefix", ""))
