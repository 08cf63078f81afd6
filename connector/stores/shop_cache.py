"""The Shopify webhook view's cache of known shops, kept by the store layer.

The web layer reads it on every Shopify delivery; the store layer empties it when a shop
goes away (``lifecycle.uninstall_shop``), so it lives here, below both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select

from connector.extensions import db
from connector.models import Shop


@dataclass(frozen=True, slots=True)
class KnownShop:
    id: int
    api_secret: str | None  # a custom app's own webhook secret


#: domain → (valid until, shop): webhooks come in bursts per shop, and each lookup would cost a
#: database round trip and a decryption on the path Shopify times. Only known shops are kept,
#: so a shop installed a moment ago is never turned away by a stale "unknown".
_SHOP_CACHE: dict[str, tuple[float, KnownShop]] = {}
SHOP_CACHE_SECONDS = 30.0


def forget_cached_shops() -> None:
    """Drop this process's cache (a shop was uninstalled or redacted; other processes expire theirs)."""
    _SHOP_CACHE.clear()


def shopify_shop(domain: str | None) -> KnownShop | None:
    """The installed Shopify shop of ``domain`` (id and webhook secret), from the cache when fresh."""
    if not domain:
        return None
    domain = domain.lower()
    cached = _SHOP_CACHE.get(domain)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    shop = db.session.scalars(select(Shop).where(Shop.platform == "shopify", Shop.domain == domain)).first()
    if shop is None:
        _SHOP_CACHE.pop(domain, None)
        return None
    known = KnownShop(shop.id, shop.credentials.get("api_secret"))
    _SHOP_CACHE[domain] = (time.monotonic() + SHOP_CACHE_SECONDS, known)
    return known
