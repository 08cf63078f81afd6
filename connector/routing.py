"""The router: what each stored webhook becomes, and what each neutral event sets in motion.

It sits above the automations, the store layer and messaging, and below the jobs:
``RECEIPT_PROCESSORS`` maps a receipt's platform to the function that turns it into neutral
events (``connector.stores.platforms`` for the stores, ``integrations.whatsapp`` for Meta)
and applies them; ``EVENT_HANDLERS`` maps each event type to its handlers, which take
``(shop_id, event)`` and run in the order listed. The WhatsApp events feed the outbox and the
contacts' windows and consent; the store events drive the automations (one module each:
``orders``, ``carts``, ``shipping``, ``back_in_stock``). Back-in-stock runs before
``record_stock`` because it compares the event with the previous stock state. Store events
whose state is older than what was already applied are dropped (``connector.ordering``).
See docs/automations.md and docs/adding-an-automation.md.
"""

from __future__ import annotations

import json
import logging
from typing import Callable

from sqlalchemy import select

from connector import receipt_notes
from connector.automations import (
    back_in_stock,
    carts,
    coupons,
    orders,
    post_purchase,
    referrals,
    repurchase,
    reviews,
    shipping,
    templates,
)
from connector.conversations.inbound import apply_marketing_preference, record_inbound
from connector.events import (
    CheckoutUpdated,
    CustomerDataRequest,
    CustomerRedact,
    FulfillmentUpdated,
    InboundMessage,
    MarketingPreferenceChanged,
    MessageStatusChanged,
    MessagingLimitChanged,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    ShopRedact,
    ShopUninstalled,
    StockChanged,
    TemplateCategoryChanged,
    TemplateStatusChanged,
    UnhandledChange,
)
from connector.extensions import db
from connector.messaging.limits import on_messaging_limit_changed
from connector.messaging.statuses import apply_status
from connector.models import Shop, WebhookReceipt, WhatsAppAccount
from connector.ordering import is_stale
from connector.privacy import handle_customer_redact, handle_data_request
from connector.stores.context import WAITING_OUTCOMES
from connector.stores.lifecycle import record_stock, redact_shop, uninstall_shop
from connector.stores.platforms import receipt_platforms
from integrations.whatsapp import webhooks as whatsapp_webhooks

log = logging.getLogger(__name__)

EVENT_HANDLERS: dict[type, tuple[Callable, ...]] = {
    MessageStatusChanged: (apply_status,),
    InboundMessage: (record_inbound,),
    MarketingPreferenceChanged: (apply_marketing_preference,),
    MessagingLimitChanged: (on_messaging_limit_changed,),
    TemplateStatusChanged: (templates.on_template_status_changed,),
    TemplateCategoryChanged: (templates.on_template_category_changed,),
    UnhandledChange: (),
    ShopUninstalled: (uninstall_shop,),
    ShopRedact: (redact_shop,),
    StockChanged: (back_in_stock.on_stock_changed, record_stock),
    CheckoutUpdated: (carts.on_checkout_updated,),
    # after ``orders``, which records the order: the products it holds (reviews), its lines, the codes it
    # used, a friend's referral
    OrderPlaced: (orders.on_order_placed, reviews.remember_products, repurchase.on_order, coupons.on_order),
    OrderPaid: (orders.on_order_paid, reviews.remember_products, repurchase.on_order, coupons.on_order,
                referrals.on_order_paid),
    OrderCancelled: (orders.on_order_cancelled,),
    FulfillmentUpdated: (shipping.on_fulfillment_updated, orders.on_order_fulfilled,
                         post_purchase.on_fulfillment_updated),
    CustomerRedact: (handle_customer_redact,),
    CustomerDataRequest: (handle_data_request,),
}


def process_whatsapp_receipt(receipt: WebhookReceipt) -> None:
    events = whatsapp_webhooks.parse(json.loads(receipt.body))
    numbers = {event.phone_number_id for event in events if hasattr(event, "phone_number_id")}
    shops: dict[str | None, int] = dict(
        db.session.execute(
            select(WhatsAppAccount.phone_number_id, WhatsAppAccount.shop_id).where(
                WhatsAppAccount.phone_number_id.in_(numbers)
            )
        ).tuples().all()
    ) if numbers else {}
    # account-level events (the portfolio's limit, template verdicts) name a WABA: every shop on it is concerned
    wabas = {event.waba_id for event in events if hasattr(event, "waba_id")}
    by_waba: dict[str | None, list[int]] = {}
    for waba_id, shop_id in db.session.execute(select(WhatsAppAccount.waba_id, WhatsAppAccount.shop_id).where(
            WhatsAppAccount.waba_id.in_(wabas))).all() if wabas else ():
        by_waba.setdefault(waba_id, []).append(shop_id)
    for event in events:
        shop_id = shops.get(getattr(event, "phone_number_id", None))
        shop_ids = [shop_id] if shop_id is not None else by_waba.get(getattr(event, "waba_id", None), [])
        if not shop_ids:
            log.info("whatsapp.event_skipped", extra={"receipt_id": receipt.id, "event": type(event).__name__})
            continue
        for target in shop_ids:
            for handler in EVENT_HANDLERS[type(event)]:
                handler(target, event)


#: store platform → the function that turns one of its stored receipts into neutral events
STORE_EVENTS: dict[str, Callable[[WebhookReceipt, Shop], list]] = receipt_platforms()


def process_store_receipt(receipt: WebhookReceipt) -> str:
    """Apply one stored store webhook; returns the receipt's outcome."""
    shop = db.session.get(Shop, receipt.shop_id) if receipt.shop_id is not None else None
    if shop is None:
        return "unknown_shop"
    receipt_notes.begin()
    events = STORE_EVENTS[receipt.platform](receipt, shop)
    if not events:
        return receipt_notes.outcome(db.session.info.get(WAITING_OUTCOMES, {}).pop(receipt.id, "no_events"))
    stale = 0
    for event in events:
        if is_stale(shop.id, event):
            stale += 1
            log.info("store.event_stale", extra={"shop_id": shop.id, "receipt_id": receipt.id,
                                                 "event": type(event).__name__})
            continue
        for handler in EVENT_HANDLERS.get(type(event), ()):
            handler(shop.id, event)
    return receipt_notes.outcome("stale" if stale == len(events) else "processed")


#: platform slug → how its receipts become events
RECEIPT_PROCESSORS: dict[str, Callable[[WebhookReceipt], str | None]] = {
    "whatsapp": process_whatsapp_receipt,
    **{platform: process_store_receipt for platform in STORE_EVENTS},
}
