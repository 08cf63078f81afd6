"""Back-in-stock alerts: first come, first served, in batches no larger than the stock.

``subscribe`` records one active subscription per contact and variant (the widget's API).
When a variant goes from unavailable to available (``on_stock_changed`` runs *before*
``record_stock`` so the previous state is still in ``variants``), the first batch is
queued: ``quantity × batch_multiple`` subscribers (``untracked_batch_size`` when the store
does not count stock), oldest first, only those whose marketing consent is granted (others
keep waiting, until their subscription expires). ``send_restock_batch`` then runs every
``batch_interval_seconds``: it re-reads the stock and stops if the variant sold out, else
sizes the next batch to the quantity now left. Sold out again: every alert still queued is
cancelled (``sold_out``). A subscription is used once (``notified``) and expires after
``subscription_days``.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

from sqlalchemy import and_, func, or_, select, update

from connector.automations.carts import cart_url
from connector.automations.common import automation_settings, is_enabled, queue_template
from connector.dbutil import insert_or_ignore, rowcount
from connector.events import StockChanged
from connector.extensions import db
from connector.models import Contact, Message, MessageStatus, Shop, StockSubscription, Variant, utcnow
from connector.models.contacts import CONSENT_GRANTED
from connector.queues import MAINTENANCE, enqueue

log = logging.getLogger(__name__)

AUTOMATION = "back_in_stock"


def subscribe(shop: Shop, contact: Contact, variant_id: str, product_id: str | None) -> tuple[StockSubscription, bool]:
    """The contact's active subscription to ``variant_id`` (made now, or the one they have)."""
    now = utcnow()
    days = float(automation_settings(shop, AUTOMATION)["subscription_days"])
    key = f"{variant_id}:{contact.id}"
    inserted = insert_or_ignore(db.session, StockSubscription, {
        "shop_id": shop.id, "contact_id": contact.id, "variant_id": variant_id, "product_id": product_id,
        "status": StockSubscription.ACTIVE, "active_key": key, "expires_at": now + timedelta(days=days),
        "created_at": now, "updated_at": now}, conflict=("shop_id", "active_key"))
    subscription = db.session.scalars(select(StockSubscription).where(
        StockSubscription.shop_id == shop.id, StockSubscription.active_key == key)).one()
    db.session.commit()
    return subscription, inserted is not None


def on_stock_changed(shop_id: int, event: StockChanged) -> None:
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    previous = db.session.scalars(select(Variant).where(Variant.shop_id == shop_id,
                                                        Variant.variant_id == event.variant_id)).first()
    was_available = previous.available if previous is not None else None
    if not event.available or (event.quantity is not None and event.quantity <= 0):
        cancelled = rowcount(db.session.execute(update(Message).where(
            Message.shop_id == shop_id, Message.automation == AUTOMATION, Message.status == MessageStatus.QUEUED,
            Message.idempotency_key.like(f"restock:{event.variant_id}:%")).values(
                status=MessageStatus.CANCELLED, status_reason="sold_out", updated_at=utcnow())))
        if cancelled:
            log.info("restock.sold_out", extra={"shop_id": shop_id, "cancelled": cancelled})
        return
    if was_available is True or not is_enabled(shop, AUTOMATION):
        return
    # unavailable (or never seen, with people waiting for it) → available
    _batch(shop, event.variant_id, event.quantity, event.title)


def send_restock_batch(shop_id: int, variant_id: str) -> int:
    """Job: the next batch of a restock, sized to the stock as it is now (0 = stopped)."""
    shop = db.session.get(Shop, shop_id)
    variant = db.session.scalars(select(Variant).where(Variant.shop_id == shop_id,
                                                       Variant.variant_id == variant_id)).first()
    if shop is None or variant is None or not variant.available or (variant.quantity is not None
                                                                      and variant.quantity <= 0):
        log.info("restock.stopped", extra={"shop_id": shop_id})
        return 0
    return _batch(shop, variant_id, variant.quantity, variant.title)


def _batch(shop: Shop, variant_id: str, quantity: int | None, title: str | None) -> int:
    options = automation_settings(shop, AUTOMATION)
    size = int(options["untracked_batch_size"]) if quantity is None else \
        max(0, math.floor(quantity * float(options["batch_multiple"])))
    now = utcnow()
    db.session.execute(update(StockSubscription).where(
        StockSubscription.shop_id == shop.id, StockSubscription.status == StockSubscription.ACTIVE,
        StockSubscription.expires_at <= now).values(status=StockSubscription.EXPIRED, active_key=None, updated_at=now))
    if size <= 0:
        db.session.commit()
        return 0
    waiting = db.session.execute(
        select(StockSubscription, Contact).join(Contact, Contact.id == StockSubscription.contact_id)
        .where(StockSubscription.shop_id == shop.id, StockSubscription.variant_id == variant_id,
               StockSubscription.status == StockSubscription.ACTIVE, Contact.marketing_consent == CONSENT_GRANTED)
        .order_by(StockSubscription.created_at, StockSubscription.id).limit(size)
    ).all()
    if not waiting:
        db.session.commit()
        return 0
    db.session.commit()
    target = cart_url(shop, [[variant_id, 1]], discount=None, fallback=None)
    product = title or variant_id
    notified = 0
    for subscription, contact in waiting:
        # The alert first, then the subscription used up, per subscriber: a crash in between
        # leaves it active, and the next batch finds its alert queued already under the same key
        # (no second message). Marking first would lose the alerts of a batch cut short.
        try:
            queued = queue_template(shop=shop, contact=contact, automation=AUTOMATION, template="back_in_stock",
                                    key=f"restock:{variant_id}:subscription:{subscription.id}",
                                    params={"product_name": product, "shop_name": shop.name or shop.domain},
                                    links=[target])
        except ValueError:  # nothing sendable for this contact (a number the Cloud API cannot take)
            db.session.rollback()
            log.warning("restock.alert_impossible", extra={"shop_id": shop.id, "subscription_id": subscription.id})
            subscription.status, subscription.active_key, subscription.updated_at = StockSubscription.EXPIRED, None, now
            db.session.commit()
            continue
        subscription.status, subscription.active_key = StockSubscription.NOTIFIED, None
        subscription.notified_at, subscription.message_id = now, queued.message.id
        db.session.commit()
        notified += 1
    log.info("restock.batch", extra={"shop_id": shop.id, "size": notified})
    _schedule_next(shop, variant_id, options)
    return notified


#: a restock's next batch this late is taken for lost (Redis restarted, job dropped)
STALL_GRACE_SECONDS = 120


def resume_stalled_restocks(now) -> int:
    """The sweep's part: restocks whose next batch never came get it queued again.

    A restock in progress is a variant in stock with subscribers still waiting (granted
    consent, not expired) and an earlier batch: its next batch was due
    ``batch_interval_seconds`` after that one. If that is more than ``STALL_GRACE_SECONDS``
    ago, the job was lost; the batch is queued again, once per stalled batch (job id).
    Returns how many were queued.
    """
    candidates = db.session.execute(
        select(Variant.shop_id, Variant.variant_id).distinct()
        .join(StockSubscription, and_(StockSubscription.shop_id == Variant.shop_id,
                                      StockSubscription.variant_id == Variant.variant_id))
        .join(Contact, Contact.id == StockSubscription.contact_id)
        .where(Variant.available.is_(True), or_(Variant.quantity.is_(None), Variant.quantity > 0),
               StockSubscription.status == StockSubscription.ACTIVE, StockSubscription.expires_at > now,
               Contact.marketing_consent == CONSENT_GRANTED)
        .limit(500)
    ).all()
    queued = 0
    for shop_id, variant_id in candidates:
        last = db.session.scalar(select(func.max(StockSubscription.notified_at)).where(
            StockSubscription.shop_id == shop_id, StockSubscription.variant_id == variant_id))
        shop = db.session.get(Shop, shop_id)
        if last is None or shop is None or not shop.is_active or not is_enabled(shop, AUTOMATION):
            continue  # never started: the restock event starts it
        interval = float(automation_settings(shop, AUTOMATION)["batch_interval_seconds"])
        if (now - last).total_seconds() < interval + STALL_GRACE_SECONDS:
            continue

        if enqueue(send_restock_batch, shop_id, variant_id, queue=MAINTENANCE, timeout=300, unique=True,
                   job_id=f"restock-{shop_id}-{variant_id}-after-{int(last.timestamp())}"[:120]) is not None:
            log.warning("restock.resumed", extra={"shop_id": shop_id})
            queued += 1
    db.session.commit()
    return queued


def _schedule_next(shop: Shop, variant_id: str, options: dict) -> None:
    at = utcnow() + timedelta(seconds=float(options["batch_interval_seconds"]))
    enqueue(send_restock_batch, shop.id, variant_id, queue=MAINTENANCE, timeout=300,
            job_id=f"restock-{shop.id}-{variant_id}-{int(at.timestamp())}"[:120], at=at, unique=True)
