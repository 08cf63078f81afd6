"""RQ job functions: module-level, ids in, idempotent, run inside the worker's app context.

Each job re-reads its state from the database and does nothing when the work is already
done, so running it twice (a lost acknowledgement, the sweep re-enqueueing) is harmless.
Failures are not swallowed: a job that cannot finish raises and RQ records it; the sweep
brings unfinished work back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from connector.extensions import db, get_redis, settings
from connector.jobs.queues import INGEST, MAINTENANCE, SEND, enqueue
from connector.models import Message, MessageStatus, WebhookReceipt, utcnow

log = logging.getLogger(__name__)

RECEIPT_MAX_ATTEMPTS = 10


# -- enqueueing -------------------------------------------------------------------------------

def enqueue_receipt(receipt_id: int) -> None:
    """Queue the processing of a committed webhook receipt."""
    enqueue(process_receipt, receipt_id, queue=INGEST, timeout=120)


def kick_dispatcher(shop_id: int, at: datetime | None = None) -> None:
    """Wake the shop's dispatcher now, or at ``at`` (whole seconds; RQ's scheduler polls each second)."""
    from connector.messaging.dispatcher import KICK_TTL_SECONDS, kick_key

    if at is not None and at > utcnow():
        second = int(at.timestamp()) + 1
        enqueue(dispatch_outbox, shop_id, queue=SEND, timeout=900, job_id=f"dispatch-{shop_id}-at-{second}",
                at=datetime.fromtimestamp(second, at.tzinfo), unique=True)
        return
    # one queued wake-up per shop is enough: a running dispatcher re-checks the flag
    if get_redis().set(kick_key(shop_id), 1, nx=True, ex=KICK_TTL_SECONDS):
        enqueue(dispatch_outbox, shop_id, queue=SEND, timeout=900)


def schedule_sweep(delay_seconds: float = 0) -> None:
    """Make sure the next sweep is scheduled (deterministic id per time slot: one per slot)."""
    interval = settings().sweep_interval_seconds
    due = utcnow() + timedelta(seconds=delay_seconds)
    slot = int(due.timestamp()) // interval
    enqueue(sweep, queue=MAINTENANCE, timeout=300, job_id=f"sweep-{slot}", at=due if delay_seconds else None,
            unique=True)


# -- the jobs ---------------------------------------------------------------------------------

def process_receipt(receipt_id: int) -> None:
    """Parse a stored webhook into neutral events and apply them."""
    from connector.automations import RECEIPT_PROCESSORS

    receipt = db.session.get(WebhookReceipt, receipt_id)
    if receipt is None or receipt.processed_at is not None:
        return
    processor = RECEIPT_PROCESSORS.get(receipt.platform)
    if processor is None:
        raise LookupError(f"no processor for platform {receipt.platform!r}")
    try:
        processor(receipt)
        receipt.processed_at = utcnow()
        receipt.attempts += 1
        receipt.error = None
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        db.session.execute(
            update(WebhookReceipt).where(WebhookReceipt.id == receipt_id)
            .values(attempts=WebhookReceipt.attempts + 1, error=type(error).__name__)
        )
        db.session.commit()
        raise


def dispatch_outbox(shop_id: int) -> dict:
    """Send the shop's due messages; schedule the next wake-up for what had to wait."""
    from connector.messaging.dispatcher import dispatch_shop, next_due_at

    config = settings()
    report = dispatch_shop(shop_id, redis=get_redis(), lease_seconds=config.send_lease_seconds,
                           retry_base_seconds=config.retry_base_seconds, lock_seconds=config.dispatch_lock_seconds)
    if report.out_of_time:
        enqueue(dispatch_outbox, shop_id, queue=SEND, timeout=900)
    elif not report.paused:
        due = next_due_at(shop_id)
        if due is not None:
            kick_dispatcher(shop_id, at=due)
    db.session.commit()
    return vars(report)


def sweep() -> dict:
    """Periodic safety net: in-doubt sends, lost dispatcher wake-ups, unprocessed receipts."""
    config = settings()
    now = utcnow()
    try:
        # 1. rows left "sending" by a dead worker: their sends may or may not have reached Meta.
        #    A status webhook echoing the row id settles those that did. So a row is put back
        #    only when its lease is over AND every WhatsApp webhook its shop has received has
        #    been processed (a pending one may be the proof that it went out).
        pending_shops = select(WebhookReceipt.shop_id).where(
            WebhookReceipt.platform == "whatsapp",
            WebhookReceipt.processed_at.is_(None),
            WebhookReceipt.attempts < RECEIPT_MAX_ATTEMPTS,
            WebhookReceipt.shop_id.is_not(None),
        )
        requeued = db.session.execute(
            update(Message)
            .where(Message.status == MessageStatus.SENDING, Message.claimed_until < now, Message.wamid.is_(None),
                   Message.shop_id.not_in(pending_shops))
            .values(status=MessageStatus.QUEUED, claimed_until=None, status_reason="in_doubt_requeued", updated_at=now)
            .returning(Message.id)
        ).scalars().all()
        db.session.commit()
        if requeued:
            log.warning("sweep.requeued_in_doubt", extra={"count": len(requeued)})
        # 2. shops with due messages: make sure a dispatcher is coming
        shops = db.session.scalars(
            select(Message.shop_id).where(Message.status == MessageStatus.QUEUED, Message.due_at <= now).distinct()
        ).all()
        for shop_id in shops:
            kick_dispatcher(shop_id)
        # 3. receipts whose job was lost or failed
        stale = db.session.scalars(
            select(WebhookReceipt.id).where(
                WebhookReceipt.processed_at.is_(None),
                WebhookReceipt.received_at < now - timedelta(seconds=config.receipt_retry_seconds),
                WebhookReceipt.attempts < RECEIPT_MAX_ATTEMPTS,
            ).limit(1000)
        ).all()
        for receipt_id in stale:
            enqueue_receipt(receipt_id)
        db.session.commit()
        return {"requeued_in_doubt": len(requeued), "kicked_shops": len(shops), "receipts_retried": len(stale)}
    finally:
        schedule_sweep(delay_seconds=config.sweep_interval_seconds)
