"""The connector's side of each store platform, and what store events do to a shop.

``_store_events()`` maps a platform to the function that turns one of its stored webhook
receipts into neutral events; ``process_store_receipt`` applies them in order, dropping
stale states (``connector.ordering``), through ``connector.automations.EVENT_HANDLERS``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from connector.extensions import db
from connector.models import Shop, WebhookReceipt
from connector import receipt_notes
from connector.ordering import is_stale

log = logging.getLogger(__name__)

#: ``Session.info`` key: receipt id → its outcome, for a receipt whose events wait for a job of
#: their own (a Shopify inventory look-up: ADR 0012); the job re-applies the receipt later
WAITING_OUTCOMES = "store_receipts_waiting"


@dataclass(frozen=True)
class ShopContext:
    """What a parser may know about the shop a payload belongs to (integrations.base.ParseContext)."""

    shop: Shop

    @property
    def country(self) -> str | None:
        return self.shop.country

    @property
    def locale(self) -> str:
        return self.shop.locale or "en"


def _store_events() -> dict[str, Callable[[WebhookReceipt, Shop], list]]:
    from connector.stores import shopify, woocommerce

    return {"shopify": shopify.receipt_events, "woocommerce": woocommerce.receipt_events}


def process_store_receipt(receipt: WebhookReceipt) -> str:
    """Apply one stored store webhook; returns the receipt's outcome."""
    from connector.automations import EVENT_HANDLERS

    shop = db.session.get(Shop, receipt.shop_id) if receipt.shop_id is not None else None
    if shop is None:
        return "unknown_shop"
    receipt_notes.begin()
    events = _store_events()[receipt.platform](receipt, shop)
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
