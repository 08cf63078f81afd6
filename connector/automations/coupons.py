"""Unused-coupon follow-up: one reminder of a code we issued that no order has used yet.

- The codes are recorded where they are made for a contact (``issued_codes``): the popup's
  unique incentive (``connector.optin``), a cart's unique discount (``carts``, issued when the
  step carrying it is due), a referral reward (``referrals``). Fixed codes the merchant typed
  are shared by everyone and not followed up.
- An order that carries a code (``Order.discount_codes``, case-insensitive) marks it used
  (``used_at``, ``order_id``) and cancels its reminder if still queued (``code_used``).
- The sweep (``queue_due``) selects, per enabled shop, in SQL, the unused codes issued at least
  ``after_days`` (3) ago that expire more than ``min_hours_left`` (12) from now, at most
  ``BATCH`` per run, and queues template ``coupon_reminder`` (key ``coupon:{id}:reminder``);
  the row's ``reminded_at`` keeps it from being selected again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from connector.automations.common import automation_settings, queue_template
from connector.automations.lifecycle import BATCH, enabled_shops, format_day, order_codes
from connector.automations.links import home_page
from connector.contacts import first_name
from connector.dbutil import commit
from connector.events import OrderPaid, OrderPlaced
from connector.extensions import db
from connector.models import Contact, IssuedCode, Message, MessageStatus, Shop, utcnow

log = logging.getLogger(__name__)

AUTOMATION = TEMPLATE = "coupon_reminder"


def reminder_key(code_id: int) -> str:
    return f"coupon:{code_id}:reminder"


def on_order(shop_id: int, event: OrderPlaced | OrderPaid) -> None:
    """The order's codes that we issued are used: no reminder for them."""
    codes = order_codes(event.order.discount_codes)
    if not codes:
        return
    now = utcnow()
    used = db.session.scalars(update(IssuedCode).where(
        IssuedCode.shop_id == shop_id, IssuedCode.code.in_(codes), IssuedCode.used_at.is_(None))
        .values(used_at=now, order_id=event.order.order_id).returning(IssuedCode.id)).all()
    if not used:
        return
    db.session.execute(update(Message).where(
        Message.shop_id == shop_id, Message.idempotency_key.in_([reminder_key(code_id) for code_id in used]),
        Message.status == MessageStatus.QUEUED).values(
            status=MessageStatus.CANCELLED, status_reason="code_used", updated_at=now))
    log.info("coupon.used", extra={"shop_id": shop_id, "count": len(used)})
    commit(db.session)


def due(shop: Shop, options: dict, now: datetime, limit: int = BATCH) -> list[IssuedCode]:
    """Unused codes whose message reached the shopper ``after_days`` ago and that do not expire soon."""
    return list(db.session.scalars(select(IssuedCode).join(Message, Message.id == IssuedCode.message_id).where(
        IssuedCode.shop_id == shop.id, IssuedCode.used_at.is_(None), IssuedCode.reminded_at.is_(None),
        IssuedCode.contact_id.is_not(None), Message.shop_id == shop.id,
        Message.sent_at <= now - timedelta(days=int(options["after_days"])),
        IssuedCode.expires_at > now + timedelta(hours=int(options["min_hours_left"])))
        .order_by(IssuedCode.issued_at, IssuedCode.id).limit(limit)))


def queue_due(now: datetime) -> int:
    """The sweep's step: a reminder for every unused code now due, at most ``BATCH`` per shop and run."""
    queued = 0
    for shop in enabled_shops(AUTOMATION):
        options = automation_settings(shop, AUTOMATION)
        for code in due(shop, options, now):
            contact = db.session.get(Contact, code.contact_id)
            code.reminded_at = now
            if contact is None or code.expires_at is None:
                continue
            queue_template(shop=shop, contact=contact, automation=AUTOMATION, template=TEMPLATE,
                           key=reminder_key(code.id),
                           params={"customer_name": first_name(contact, "👋"), "shop_name": shop.name or shop.domain,
                                   "discount_code": code.code,
                                   "expires_on": format_day(code.expires_at, contact.locale or shop.locale)},
                           links=[home_page(shop)])
            queued += 1
        db.session.commit()
    if queued:
        log.info("coupon.reminders_queued", extra={"count": queued})
    return queued
