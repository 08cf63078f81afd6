"""What the platform lifecycle events do to a shop: uninstall, shop redaction, stock state.

- Uninstall: sending stops at once (the shop is inactive, so no dispatcher claims anything),
  every queued message is cancelled (scheduled sequence steps included) and the platform
  tokens are dropped. The data stays until the platform asks for it to go (``shop/redact``,
  48 hours later on Shopify) or the merchant reinstalls.
- Shop redaction: every row of the shop is deleted; only the redaction receipt itself is
  kept, detached from the shop, as the record that it was done.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, update

from connector.dbutil import insert_or_ignore, rowcount
from connector.events import ShopRedact, ShopUninstalled, StockChanged
from connector.extensions import db
from connector.models import Message, MessageStatus, Shop, Variant, WebhookReceipt, utcnow
from connector.stores.shop_cache import forget_cached_shops

log = logging.getLogger(__name__)


def uninstall_shop(shop_id: int, event: ShopUninstalled) -> None:
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    now = utcnow()
    shop.is_active = False
    shop.uninstalled_at = now
    shop.credentials = {}  # tokens are dead anyway; nothing secret is kept
    cancelled = rowcount(db.session.execute(
        update(Message)
        .where(Message.shop_id == shop_id, Message.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.CANCELLED, status_reason="shop_uninstalled", updated_at=now)
    ))
    log.info("shop.uninstalled", extra={"shop_id": shop_id, "cancelled": cancelled})


def redact_shop(shop_id: int, event: ShopRedact) -> None:
    """Delete everything the shop owns. Tables reference shops with ON DELETE CASCADE."""
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    if shop.is_active and shop.uninstalled_at is None:
        # Shopify only sends shop/redact 48 h after an uninstall; a live shop means a
        # reinstall happened since, and its fresh data must not be wiped
        log.warning("shop.redact_ignored_active", extra={"shop_id": shop_id})
        return
    db.session.execute(
        update(WebhookReceipt).where(WebhookReceipt.shop_id == shop_id, WebhookReceipt.topic == "shop/redact")
        .values(shop_id=None))
    db.session.execute(delete(WebhookReceipt).where(WebhookReceipt.shop_id == shop_id))
    # a Core DELETE: the database cascades to every table; session.delete() would first try to
    # set whatsapp_accounts.shop_id to NULL, which the column refuses
    db.session.execute(delete(Shop).where(Shop.id == shop_id))
    db.session.expunge(shop)
    forget_cached_shops()  # this process's; others notice on their next insert
    log.info("shop.redacted", extra={"shop_id": shop_id})


def record_stock(shop_id: int, event: StockChanged) -> None:
    """Keep the variant's latest stock state (back-in-stock compares against it)."""
    now = utcnow()
    values = {"product_id": event.product_id, "available": event.available, "quantity": event.quantity,
              "stock_changed_at": event.occurred_at, "updated_at": now}
    if event.inventory_item_id:
        values["inventory_item_id"] = event.inventory_item_id
    if event.title:
        values["title"] = event.title[:255]
    inserted = insert_or_ignore(db.session, Variant, {"shop_id": shop_id, "variant_id": event.variant_id,
                                                      "created_at": now, **values},
                                conflict=("shop_id", "variant_id"))
    if inserted is None:
        db.session.execute(update(Variant).where(Variant.shop_id == shop_id, Variant.variant_id == event.variant_id)
                           .values(**values))
