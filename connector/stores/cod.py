"""Cash on delivery: the question the shopper answers on WhatsApp, and the answer carried out
in the store.

The question (template ``cod_confirmation``, automation ``cod_confirmation``) is queued by
``connector.automations.orders`` under ``order:{id}:cod_confirmation``, its one reminder
under ``order:{id}:cod_reminder``; both are cancelled here (``stop_asking``) once the
shopper answers, or the order is cancelled, paid or fulfilled.

The template's quick replies carry ``cod_confirm:<order id>`` / ``cod_cancel:<order id>``.
A decision counts only for an order of the same contact; it is applied through the store's
API (Shopify: a tag, or ``orderCancel``; WooCommerce: an order meta, or the status
``cancelled``). What came of it is recorded on the inbound message (``handled_as``):

- ``cod_confirm`` / ``cod_cancel``: the store applied it (a cancel also ends the order's
  revenue in the funnel: ``orders.cancelled_at``);
- ``cod_confirm_refused`` / ``cod_cancel_refused``: the store answered no (Shopify's
  ``orderCancelUserErrors`` or any mutation's user errors, a WooCommerce 4xx). Nothing is
  marked: the order stays as it is and keeps counting;
- ``cod_confirm_pending`` / ``cod_cancel_pending``: the store could not be reached (network,
  429, 5xx), for the merchant to act on.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update

from connector import rollups
from connector.dbutil import rowcount
from connector.extensions import db
from connector.models import Contact, Message, MessageStatus, OrderRecord, Shop, utcnow
from connector.stores.platforms import platform_of
from connector.stores.shopify import ShopNotConnectedError
from integrations.base import AdapterError
from integrations.shopify.errors import ShopifyApiError, ShopifyAuthError, ShopifyUserError
from integrations.woocommerce.client import WooCommerceApiError

log = logging.getLogger(__name__)

AUTOMATION = "cod_confirmation"
TEMPLATE = "cod_confirmation"
def question_key(order_id: str) -> str:
    return f"order:{order_id}:cod_confirmation"


def reminder_key(order_id: str) -> str:
    return f"order:{order_id}:cod_reminder"


def stop_asking(shop_id: int, order_id: str, reason: str) -> int:
    """Cancel the order's COD question and reminder if they still wait; how many were cancelled."""
    cancelled = rowcount(db.session.execute(update(Message).where(
        Message.shop_id == shop_id, Message.idempotency_key.in_([question_key(order_id), reminder_key(order_id)]),
        Message.status == MessageStatus.QUEUED).values(
            status=MessageStatus.CANCELLED, status_reason=reason, updated_at=utcnow())))
    if cancelled:
        log.info("cod.question_stopped", extra={"shop_id": shop_id, "reason": reason, "cancelled": cancelled})
    return cancelled


def cod_decision(shop: Shop, contact: Contact, action: str, *, order_id: str | None, at: datetime) -> str | None:
    order = db.session.scalars(select(OrderRecord).where(
        OrderRecord.shop_id == shop.id, OrderRecord.order_id == (order_id or ""))).first()
    if order is None or order.contact_id != contact.id:
        log.info("cod.decision_ignored", extra={"shop_id": shop.id, "reason": "not_this_contacts_order"})
        return None
    stop_asking(shop.id, order.order_id, "answered")  # whatever the store says, she answered
    confirm = action == "cod_confirm"
    try:
        _apply(shop, order.order_id, confirm)
    except (AdapterError, ShopNotConnectedError, LookupError, ValueError) as error:  # LookupError: no API, no keys
        if _is_refusal(error):
            # the store said no: recorded as refused, the order stays as it is (and keeps its revenue)
            log.warning("cod.decision_refused", extra={"shop_id": shop.id, "confirm": confirm,
                                                       "error": type(error).__name__})
            return f"{action}_refused"
        log.warning("cod.store_update_failed", extra={"shop_id": shop.id, "error": type(error).__name__})
        return f"{action}_pending"
    if not confirm:
        db.session.refresh(order, with_for_update=True)  # the store's own cancellation may have come first
    if not confirm and order.cancelled_at is None:
        order.cancelled_at = at
        rollups.count_order(db.session, order, -1)  # a cancelled order earns nothing on the dashboard
    log.info("cod.decision_applied", extra={"shop_id": shop.id, "confirm": confirm})
    return action


def _is_refusal(error: Exception) -> bool:
    """The store answered and said no (a mutation's user errors, a 4xx), as opposed to no
    usable answer (network, 429, 5xx) or no way to ask (no token, no keys, no API for the platform)."""
    if isinstance(error, (ShopifyUserError, ShopifyAuthError)):
        return True
    if isinstance(error, (ShopifyApiError, WooCommerceApiError)):
        return not error.is_retryable
    return False


def _apply(shop: Shop, order_id: str, confirm: bool) -> None:
    apply = platform_of(shop).apply_cod_decision
    if apply is None:
        raise LookupError(f"no COD handling for {shop.platform}")
    apply(shop, order_id, confirm)
