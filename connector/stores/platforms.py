"""The store platforms and what each can do: the one place that knows them by name.

Code outside ``connector/stores`` never compares ``shop.platform`` with a name; it asks
``platform_of(shop)`` and calls what the platform offers, or takes the documented fallback
when a capability is ``None`` (tests/test_platforms.py holds the rest of the code to it).
A new platform is one entry here and the modules behind it (docs/adding-a-platform.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from connector.models import Shop, WebhookReceipt
from connector.stores import shopify, woocommerce, woocommerce_catchup


@dataclass(frozen=True)
class StorePlatform:
    """One platform's capabilities; ``None`` means the platform cannot do it."""

    name: str
    #: stored webhook receipt → neutral events (``None``: its receipts are not processed)
    receipt_events: Callable[[WebhookReceipt, Shop], list] | None
    #: a link that opens checkout with ``[(variant id, quantity)]`` and a discount code; raises
    #: ``ValueError`` when the lines cannot be linked
    cart_url: Callable[[Shop, list[tuple[str, int]], str | None], str]
    #: make a single-use percentage code valid for a while through the store's API
    create_discount_code: Callable[[Shop, str, Decimal, timedelta], None] | None
    #: carry out a cash-on-delivery answer in the store (True: confirmed, False: cancel)
    apply_cod_decision: Callable[[Shop, str, bool], None] | None
    #: whether the store reports carrier statuses beyond "shipped" (``None``: it always does)
    shipment_statuses: Callable[[Shop], dict[str, Any]] | None
    #: queue the periodic catch-up of every store due for one (``None``: the platform retries
    #: its own webhooks); returns how many were queued
    schedule_catchups: Callable[[], int] | None
    #: how long after an uninstall a shop's data is kept, unless the shop's settings say
    redact_after_uninstall: timedelta
    #: what is wrong with the store's connection right now, for operators (``None``: nothing to tell)
    store_problem: Callable[[Shop], dict | None] | None
    #: the origins the store's pages are served from: the only ones the storefront API answers
    #: cross-origin requests of (CORS)
    storefront_origins: Callable[[Shop], list[str]]
    #: a percentage code any number of customers may use, each once, valid for a while (a
    #: customer's referral code to forward); ``None``: the platform cannot make one
    create_referral_code: Callable[[Shop, str, Decimal, timedelta], None] | None = None
    #: the widget is switched on in the store's theme editor (Shopify's app embed); False: the
    #: store's plugin loads it by itself
    theme_editor: bool = False


PLATFORMS: Mapping[str, StorePlatform] = MappingProxyType({
    "shopify": StorePlatform(
        name="shopify",
        receipt_events=shopify.receipt_events,
        cart_url=shopify.cart_url,
        create_discount_code=shopify.create_discount_code,
        apply_cod_decision=shopify.apply_cod_decision,
        shipment_statuses=None,
        schedule_catchups=None,
        # Shopify sends shop/redact 48 h after the uninstall: a day's grace for its retries
        redact_after_uninstall=timedelta(days=3),
        store_problem=None,
        storefront_origins=shopify.storefront_origins,
        create_referral_code=shopify.create_referral_code,
        theme_editor=True,
    ),
    "woocommerce": StorePlatform(
        name="woocommerce",
        receipt_events=woocommerce.receipt_events,
        cart_url=woocommerce.cart_url,
        create_discount_code=woocommerce.create_discount_code,
        apply_cod_decision=woocommerce.apply_cod_decision,
        shipment_statuses=woocommerce.shipment_statuses,
        schedule_catchups=woocommerce_catchup.schedule_catchups,
        redact_after_uninstall=timedelta(days=30),  # WooCommerce never asks
        store_problem=woocommerce.store_problem,
        storefront_origins=woocommerce.storefront_origins,
        create_referral_code=woocommerce.create_referral_code,
    ),
    # `connector demo`: events are applied directly, links are Shopify-style permalinks
    "demo": StorePlatform(
        name="demo",
        receipt_events=None,
        cart_url=shopify.cart_url,
        create_discount_code=None,
        apply_cod_decision=None,
        shipment_statuses=None,
        schedule_catchups=None,
        redact_after_uninstall=timedelta(days=30),
        store_problem=None,
        storefront_origins=lambda shop: [],
    ),
})


class UnknownPlatformError(LookupError):
    """A shop row names a platform this connector does not know."""


def platform_of(shop: Shop) -> StorePlatform:
    try:
        return PLATFORMS[shop.platform]
    except KeyError:
        raise UnknownPlatformError(f"unknown store platform {shop.platform!r}") from None


def receipt_platforms() -> dict[str, Callable[[WebhookReceipt, Shop], list]]:
    """Platform name → how its receipts become events, for the platforms that have receipts."""
    return {name: platform.receipt_events for name, platform in PLATFORMS.items()
            if platform.receipt_events is not None}
