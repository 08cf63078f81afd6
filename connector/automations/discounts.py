"""The discount code of a cart sequence's last step: unique through the store's API, or fixed.

``automations.abandoned_cart.discount_source``:

- ``"fixed"`` (default): the admin's ``discount_code`` with its ``discount_value`` text;
- ``"unique"``: one single-use code per cart, made through the store's Admin API —
  Shopify ``discountCodeBasicCreate`` (GraphQL), WooCommerce ``POST /coupons`` — worth
  ``discount_percent`` % off, valid ``discount_valid_days`` days. If the store call fails
  (network, auth, missing scope, a platform without an API) the fixed code is used instead,
  and the reason is logged (``cart.discount_fallback``); without a fixed code the last step
  goes out without a discount rather than not at all.

The unique code is derived from the cart (an HMAC of shop and cart id with ``SECRET_KEY``),
so it cannot be guessed from another shopper's code, and a retried job asks for the same
code again: "already exists" from the store is then success, not a second coupon.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from connector.extensions import settings
from connector.models import Cart, Shop
from connector.stores.platforms import platform_of
from integrations.base import AdapterError

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class Discount:
    code: str
    value: str  # as the shopper reads it: "10%"
    source: str  # "unique" | "fixed"


class DiscountUnavailableError(RuntimeError):
    """The store could not make the code; the message says why (for the log)."""


def unique_code(shop: Shop, cart: Cart) -> str:
    digest = hmac.new(settings().secret_key.encode(), f"discount:{shop.id}:{cart.id}".encode(), hashlib.sha256)
    return f"WA{digest.hexdigest()[:10].upper()}"


def discount_for(shop: Shop, cart: Cart, options: dict) -> Discount | None:
    """The last step's discount: unique if asked and the store made it, else the fixed one, else None."""
    fixed = Discount(options["discount_code"], options["discount_value"], "fixed") \
        if options.get("discount_code") and options.get("discount_value") else None
    if options.get("discount_source") != "unique":
        return fixed
    percent = Decimal(str(options.get("discount_percent") or 0))
    if not Decimal(0) < percent <= Decimal(100):
        log.warning("cart.discount_fallback", extra={"shop_id": shop.id, "cart_id": cart.id,
                                                     "reason": "discount_percent must be in (0, 100]"})
        return fixed
    code = unique_code(shop, cart)
    try:
        create_store_code(shop, code, percent, timedelta(days=float(options.get("discount_valid_days") or 7)))
    except (AdapterError, DiscountUnavailableError, RuntimeError, ValueError) as error:
        log.warning("cart.discount_fallback", extra={"shop_id": shop.id, "cart_id": cart.id,
                                                     "reason": f"{type(error).__name__}: {error}"[:300],
                                                     "fallback": "fixed" if fixed else "none"})
        return fixed
    log.info("cart.discount_created", extra={"shop_id": shop.id, "cart_id": cart.id, "platform": shop.platform})
    value = options.get("discount_value") or f"{percent.normalize():f}%"
    return Discount(code, value, "unique")


def create_store_code(shop: Shop, code: str, percent: Decimal, valid_for: timedelta) -> None:
    make = platform_of(shop).create_discount_code
    if make is None:
        raise DiscountUnavailableError(f"platform {shop.platform!r} has no discount API")
    make(shop, code, percent, valid_for)
