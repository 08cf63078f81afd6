"""Orders: remember them, attribute them, stop cart reminders, confirm them with the invoice.

- Every ``OrderPlaced``/``OrderPaid`` records the order (once) and credits it to the last
  message whose link the contact clicked within the attribution window, else the last one
  they read (see ``attribution``).
- It converts the cart it came from and cancels every reminder still queued for the same
  contact, whatever the checkout or device (``carts.stop_for_order``).
- The confirmation (template ``order_confirmation``, invoice PDF as the document header) is
  queued on ``OrderPaid``, or on ``OrderPlaced`` when the shop's trigger is ``placed`` or
  the order is cash on delivery (it will only be paid at the door). Key
  ``order:{id}:confirmation``: placed-then-paid, or a webhook delivered three times, is one
  message.
- A cash-on-delivery order also gets the COD question (template ``cod_confirmation``, a
  utility template with Confirm / Cancel quick replies carrying the order id), key
  ``order:{id}:cod_confirmation``, on ``OrderPlaced``; and one reminder, the same template
  ``reminder_delay_seconds`` later (``order:{id}:cod_reminder``). Both are cancelled when
  the shopper answers (``connector.stores.cod``), or the order is cancelled, paid or
  fulfilled. Setting ``automations.cod_confirmation``.

The phone the shopper gave for the order is consent to hear about *that order*
(transactional; ``transactional_consent_source = "order"``), never marketing consent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from connector.automations import attribution, carts
from connector.automations.common import automation_settings, is_enabled, queue_template
from connector.automations.invoices import invoice_for, invoice_url
from connector.automations.links import safe_target
from connector.contacts import contact_for, first_name
from connector.dbutil import commit
from connector.events import FulfillmentUpdated, Order, OrderCancelled, OrderPaid, OrderPlaced
from connector.extensions import db
from connector.messaging.invoices import format_money
from connector.models import Contact, MessageStatus, OrderRecord, Shop, utcnow
from connector.stores import cod

log = logging.getLogger(__name__)

AUTOMATION = "order_confirmation"
COD_METHODS = {"cod", "cash_on_delivery", "cash on delivery"}


def is_cash_on_delivery(order: Order) -> bool:
    return (order.payment_method or "").strip().lower() in COD_METHODS


def on_order_placed(shop_id: int, event: OrderPlaced) -> None:
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    contact = _record(shop, event.order)
    trigger = automation_settings(shop, AUTOMATION)["trigger"]
    if trigger == "placed" or is_cash_on_delivery(event.order):
        _confirm(shop, contact, event.order)
    if is_cash_on_delivery(event.order):
        _ask_cod(shop, contact, event.order)


def on_order_paid(shop_id: int, event: OrderPaid) -> None:
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    contact = _record(shop, event.order)
    cod.stop_asking(shop.id, event.order.order_id, "order_paid")  # the cash was collected
    _confirm(shop, contact, event.order)


def on_order_cancelled(shop_id: int, event: OrderCancelled) -> None:
    shop = db.session.get(Shop, shop_id)
    if shop is not None:
        cod.stop_asking(shop.id, event.order.order_id, "order_cancelled")
        attribution.cancel_order(shop, event.order)
        db.session.commit()


def on_order_fulfilled(shop_id: int, event: FulfillmentUpdated) -> None:
    """A shipment of the order exists: asking whether to ship it is moot."""
    if cod.stop_asking(shop_id, event.order_id, "order_fulfilled"):
        db.session.commit()


def _record(shop: Shop, order: Order):
    contact = contact_for(shop, order.customer, transactional_source="order",
                          consent_text=(order.note_attributes or {}).get("_wcc_consent_text"))
    attribution.record_order(shop, order, contact)
    carts.stop_for_order(shop, order, contact)
    commit(db.session)  # only a flush while a receipt is applied: it commits with the receipt
    return contact


def _confirm(shop: Shop, contact, order: Order) -> None:
    if contact is None or not is_enabled(shop, AUTOMATION):
        return
    invoice = invoice_for(shop, order, contact.locale or shop.locale)
    queue_template(
        shop=shop, contact=contact, automation=AUTOMATION, template="order_confirmation",
        key=f"order:{order.order_id}:confirmation",
        params={"customer_name": order.customer.first_name or first_name(contact, "👋"),
                "order_number": order.name,
                "order_total": format_money(order.total, order.currency, contact.locale or shop.locale)},
        header={"link": invoice_url(invoice), "filename": invoice.filename},
        links=[safe_target(shop, order.status_url)],
    )


def _ask_cod(shop: Shop, contact: Contact | None, order: Order) -> None:
    """The COD question, and its one reminder due ``reminder_delay_seconds`` later."""
    if contact is None or not is_enabled(shop, cod.AUTOMATION):
        return
    record = db.session.scalars(select(OrderRecord).where(OrderRecord.shop_id == shop.id,
                                                          OrderRecord.order_id == order.order_id)).one()
    if record.cancelled_at is not None:
        return
    params = {"customer_name": order.customer.first_name or first_name(contact, "👋"), "order_number": order.name,
              "order_total": format_money(order.total, order.currency, contact.locale or shop.locale)}
    question = queue_template(shop=shop, contact=contact, automation=cod.AUTOMATION, template=cod.TEMPLATE,
                              key=cod.question_key(order.order_id), params=params, reply_context=order.order_id)
    try:
        delay = float(automation_settings(shop, cod.AUTOMATION).get("reminder_delay_seconds") or 0)
    except (TypeError, ValueError):
        log.warning("cod.reminder_skipped", extra={"shop_id": shop.id, "reason": "bad_reminder_delay_seconds"})
        return
    if not delay > 0 or question.message.status == MessageStatus.CANCELLED:
        return  # no reminder wanted, or the question is already moot (answered, paid, ...)
    queue_template(shop=shop, contact=contact, automation=cod.AUTOMATION, template=cod.TEMPLATE,
                   key=cod.reminder_key(order.order_id), params=params, reply_context=order.order_id,
                   due_at=utcnow() + timedelta(seconds=delay))
