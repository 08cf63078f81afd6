"""RQ job functions: module-level, ids in, idempotent, run inside the worker's app context.

Each job re-reads its state from the database and does nothing when the work is already
done, so running it twice (a lost acknowledgement, the sweep re-enqueueing) is harmless.
Failures are not swallowed: a job that cannot finish raises and RQ records it; the sweep
brings unfinished work back.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from connector import receipt_failures
from connector.dbutil import claim_rows
from connector.extensions import db, get_redis, settings
from connector.jobs.queues import INGEST, MAINTENANCE, SEND, enqueue, get_queue
from connector.models import Message, MessageStatus, Shop, WebhookReceipt, WhatsAppAccount, utcnow
from connector.receipts import DEAD

log = logging.getLogger(__name__)

RECEIPT_MAX_ATTEMPTS = 10


# -- enqueueing -------------------------------------------------------------------------------

INGEST_KICK_KEY = "connector:ingest:kick"
INGEST_KICK_TTL_SECONDS = 60
RECEIPT_BATCH = 50
RECEIPT_LEASE_SECONDS = 300  # a drainer stopped by an outage hands its leases on (drain_receipts)
DRAIN_TIME_BUDGET_SECONDS = 60.0


def kick_ingest() -> None:
    """Make sure a receipt drainer is coming (one queued drainer is enough for any backlog).

    A webhook request pays one Redis ``SET NX`` here instead of a whole RQ enqueue (about
    eight Redis commands): most requests find a drainer already queued.
    """
    if get_redis().set(INGEST_KICK_KEY, 1, nx=True, ex=INGEST_KICK_TTL_SECONDS):
        enqueue(drain_receipts, queue=INGEST, timeout=int(DRAIN_TIME_BUDGET_SECONDS * 2 + 60))


def kick_dispatcher(shop_id: int, at: datetime | None = None) -> None:
    """Wake the shop's dispatcher now, or at ``at`` (whole seconds; RQ's scheduler polls each second)."""
    from connector.messaging.dispatcher import KICK_TTL_SECONDS, kick_key

    if at is not None and at > utcnow():
        second = math.ceil(at.timestamp())  # RQ schedules whole seconds: the first one not before `at`
        enqueue(dispatch_outbox, shop_id, queue=SEND, timeout=900, job_id=_wakeup_id(shop_id, second),
                at=datetime.fromtimestamp(second, at.tzinfo), unique=True)
        return
    # one queued wake-up per shop is enough: a running dispatcher re-checks the flag
    if get_redis().set(kick_key(shop_id), 1, nx=True, ex=KICK_TTL_SECONDS):
        enqueue(dispatch_outbox, shop_id, queue=SEND, timeout=900)


def kick_dispatchers_at(wakeups: Iterable[tuple[int, datetime]]) -> None:
    """``kick_dispatcher(shop_id, at=at)`` for each pair, skipping the seconds already scheduled.

    A batch of scheduled messages mostly falls into seconds that already have their
    wake-up: one pipelined ``EXISTS`` over those job ids costs one round trip, where each
    refused enqueue costs one (and a job built for nothing). A wake-up that appears
    between the check and the enqueue is refused by the enqueue as before.
    """
    pending = {(shop_id, math.ceil(at.timestamp())): (shop_id, at) for shop_id, at in wakeups}
    if len(pending) > 1:
        from rq.job import Job

        pipeline = get_redis().pipeline(transaction=False)
        for shop_id, second in pending:
            pipeline.exists(Job.key_for(_wakeup_id(shop_id, second)))
        scheduled = pipeline.execute()
        pending = {key: wakeup for (key, wakeup), exists in zip(pending.items(), scheduled) if not exists}
    for shop_id, at in pending.values():
        kick_dispatcher(shop_id, at=at)


def _wakeup_id(shop_id: int, second: int) -> str:
    return f"dispatch-{shop_id}-at-{second}"


#: Unix time (float seconds, as a string) at the end of the last sweep that finished; read by metrics
SWEEP_LAST_SUCCESS_KEY = "connector:sweep:last_success"
#: present while a sweep is queued or scheduled; it expires two intervals after the sweep's due
#: time, so a sweep lost with Redis (or with a worker killed mid-sweep) is noticed (ADR 0011)
SWEEP_SCHEDULED_KEY = "connector:sweep:scheduled"


def schedule_sweep(delay_seconds: float = 0) -> None:
    """Make sure the next sweep is scheduled (deterministic id per time slot: one per slot)."""
    interval = settings().sweep_interval_seconds
    due = utcnow() + timedelta(seconds=delay_seconds)
    slot = int(due.timestamp()) // interval
    enqueue(sweep, queue=MAINTENANCE, timeout=300, job_id=f"sweep-{slot}", at=due if delay_seconds else None,
            unique=True)
    get_redis().set(SWEEP_SCHEDULED_KEY, slot, ex=math.ceil(delay_seconds) + 2 * interval + 5)


def ensure_sweep() -> bool:
    """Schedule a sweep now if none is known to be coming; True when one had to be made.

    The sweep reschedules itself from its own job, and that job lives in Redis: a Redis that
    comes back empty (or a worker killed mid-sweep) loses the whole chain. Every worker calls
    this on its own loop (``ConnectorWorker``), so the chain is rebuilt within seconds.
    """
    if get_redis().exists(SWEEP_SCHEDULED_KEY):
        return False
    schedule_sweep()
    log.warning("sweep.rescheduled", extra={"reason": "no_sweep_scheduled"})
    return True


# -- the jobs ---------------------------------------------------------------------------------

#: a drainer stopped by an outage comes back this soon (an RQ scheduled job: Redis is not the database)
DRAIN_RETRY_SECONDS = 3
#: delay before a receipt whose processing hit a transient failure is tried again: a quarter
#: of its age, between these bounds (a receipt minutes old is not retried every second)
TRANSIENT_RETRY_MIN_SECONDS = 2.0
TRANSIENT_RETRY_MAX_SECONDS = 60.0
#: the back-off of unexplained failures doubles up to this
UNKNOWN_RETRY_MAX_SECONDS = 600


def drain_receipts(time_budget: float = DRAIN_TIME_BUDGET_SECONDS, release: list[int] | None = None) -> dict:
    """Process stored webhook receipts, oldest first, until none is left (or time is up).

    Several drainers may run at once (one per worker): each claims a batch under a lease
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so no receipt is processed twice at a time.
    The kick flag is cleared before each claim, so a receipt committed after that claim
    finds the flag free and queues the next drainer.

    When the database goes away mid-batch, nothing can be written, not even the failure:
    the drainer schedules another one ``DRAIN_RETRY_SECONDS`` later, handing it the ids it
    still holds (``release``), and fails. That drainer frees those leases first, so the
    receipts are taken again as soon as the database answers, not when the lease runs out.
    """
    redis = get_redis()
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    held: list[int] = list(release or [])
    try:
        if held:
            _release_receipts(held)
            held = []
        while True:
            redis.delete(INGEST_KICK_KEY)
            claimed = _claim_receipts(RECEIPT_BATCH)
            if not claimed:
                break
            held = list(claimed)
            for receipt_id in claimed:
                outcomes[process_receipt(receipt_id)] += 1
                held.remove(receipt_id)
            if time.monotonic() - started > time_budget:
                kick_ingest()  # hand the worker back; the next drainer carries on
                break
    except Exception as error:
        if receipt_failures.classify(error) != receipt_failures.TRANSIENT:
            raise
        db.session.rollback()
        at = utcnow() + timedelta(seconds=DRAIN_RETRY_SECONDS)
        enqueue(drain_receipts, time_budget, held, queue=INGEST, timeout=int(DRAIN_TIME_BUDGET_SECONDS * 2 + 60),
                job_id=f"drain-retry-{int(at.timestamp())}", at=at, unique=True)
        log.warning("receipts.drain_interrupted", extra={"error": type(error).__name__, "held": len(held),
                                                         "retry_in_s": DRAIN_RETRY_SECONDS})
        raise
    return dict(outcomes)


def _release_receipts(ids: list[int]) -> None:
    """End the leases of receipts a failed drainer held (it could not record anything)."""
    db.session.execute(update(WebhookReceipt).where(WebhookReceipt.id.in_(ids), WebhookReceipt.processed_at.is_(None))
                       .values(claimed_until=None))
    db.session.commit()


def _claim_receipts(limit: int) -> list[int]:
    now = utcnow()
    claimable = (
        select(WebhookReceipt.id)
        .where(WebhookReceipt.processed_at.is_(None), WebhookReceipt.attempts < RECEIPT_MAX_ATTEMPTS,
               or_(WebhookReceipt.claimed_until.is_(None), WebhookReceipt.claimed_until < now))
        .order_by(WebhookReceipt.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = claim_rows(db.session, WebhookReceipt.__table__, claimable,
                     {"claimed_until": now + timedelta(seconds=RECEIPT_LEASE_SECONDS)})
    db.session.commit()
    return sorted(ids)


def process_receipt(receipt_id: int) -> str:
    """Parse one stored webhook into neutral events and apply them, in one transaction.

    Returns the outcome ("processed", "stale", ..., "dead", or "failed" when it will be
    retried). A failure rolls the receipt's work back and is judged by
    ``connector.receipt_failures.classify``:

    - deterministic (the body's fault: ``PayloadError``, a value the database refuses, ...):
      the receipt ends at once: ``outcome = "dead"``, ``processed_at`` set, ``error`` says why;
    - transient (database, Redis, a vendor's 5xx or silence): tried again after a short,
      capped delay, and the attempt is not counted;
    - anything else: tried again with a doubling delay, and ``dead`` after
      ``RECEIPT_MAX_ATTEMPTS`` attempts.

    A failure that cannot be recorded (the database is gone) propagates to the drainer.
    """
    from connector.automations import RECEIPT_PROCESSORS

    receipt = db.session.get(WebhookReceipt, receipt_id)
    if receipt is None or receipt.processed_at is not None:
        return "already_done"
    processor = RECEIPT_PROCESSORS.get(receipt.platform)
    try:
        if processor is None:
            raise LookupError(f"no processor for platform {receipt.platform!r}")
        outcome = processor(receipt) or "processed"
        receipt.processed_at = utcnow()
        receipt.attempts += 1
        receipt.error = None
        receipt.claimed_until = None
        receipt.outcome = outcome[:32]
        db.session.commit()
        return outcome
    except Exception as error:
        db.session.rollback()
        kind = receipt_failures.classify(error)
        if kind == receipt_failures.TRANSIENT and isinstance(error, (DBAPIError, PoolTimeoutError)):
            # the database itself failed: recording that would fail too, or hide an outage
            # behind per-receipt back-off; the drainer stops and comes back (drain_receipts)
            raise
        state = db.session.execute(select(WebhookReceipt.attempts, WebhookReceipt.received_at)
                                   .where(WebhookReceipt.id == receipt_id)).first()
        attempts, received_at = (state.attempts or 0, state.received_at) if state else (0, None)
        now = utcnow()
        reason = receipt_failures.describe(error)
        values: dict = {"error": reason}
        if kind == receipt_failures.TRANSIENT:
            age = (now - received_at).total_seconds() if received_at else 0.0
            delay = min(TRANSIENT_RETRY_MAX_SECONDS, max(TRANSIENT_RETRY_MIN_SECONDS, age / 4))
            delay *= random.uniform(0.8, 1.2)
            values["claimed_until"] = now + timedelta(seconds=delay)
            outcome = "failed"
        elif kind == receipt_failures.DETERMINISTIC or attempts + 1 >= RECEIPT_MAX_ATTEMPTS:
            values.update(attempts=attempts + 1, claimed_until=None, processed_at=now, outcome=DEAD)
            if kind != receipt_failures.DETERMINISTIC:
                values["error"] = f"retries exhausted: {reason}"[:500]
            delay = None
            outcome = "dead"
        else:
            delay = min(UNKNOWN_RETRY_MAX_SECONDS, 5 * 2 ** attempts) * random.uniform(0.8, 1.2)
            values.update(attempts=attempts + 1, claimed_until=now + timedelta(seconds=delay))
            outcome = "failed"
        db.session.execute(update(WebhookReceipt).where(WebhookReceipt.id == receipt_id,
                                                        WebhookReceipt.processed_at.is_(None)).values(**values))
        db.session.commit()
        log.warning("receipt.dead" if outcome == "dead" else "receipt.failed",
                    extra={"receipt_id": receipt_id, "error": type(error).__name__, "failure": kind,
                           "attempt": values.get("attempts", attempts),
                           "retry_in_s": None if delay is None else round(delay, 1)},
                    exc_info=kind != receipt_failures.TRANSIENT)
        return outcome


def dispatch_outbox(shop_id: int) -> dict:
    """Send the shop's due messages; schedule the next wake-up for what had to wait."""
    from connector.messaging.dispatcher import dispatch_shop, next_due_at

    config = settings()
    send_queue = get_queue(SEND)
    try:
        report = dispatch_shop(shop_id, redis=get_redis(), lease_seconds=config.send_lease_seconds,
                               retry_base_seconds=config.retry_base_seconds, lock_seconds=config.dispatch_lock_seconds,
                               others_waiting=lambda: send_queue.count > 0)
    except Exception as error:
        # the database went away (or its pool ran dry) under the dispatcher: this job was the
        # shop's wake-up, so without another one its due rows would wait for the next sweep
        if receipt_failures.classify(error) == receipt_failures.TRANSIENT:
            db.session.rollback()
            kick_dispatcher(shop_id, at=utcnow() + timedelta(seconds=DRAIN_RETRY_SECONDS))
        raise
    if report.out_of_time:
        enqueue(dispatch_outbox, shop_id, queue=SEND, timeout=900)
    elif not report.paused and not report.idle:  # a shop that cannot send is woken by `whatsapp set`
        due = next_due_at(shop_id)
        if due is not None:
            kick_dispatcher(shop_id, at=due)
    db.session.commit()
    return vars(report)


def sweep() -> dict:
    """Periodic safety net: in-doubt sends, lost dispatcher wake-ups, unprocessed receipts, stalled restocks."""
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
            select(Message.shop_id).distinct()
            .join(Shop, Shop.id == Message.shop_id)
            .join(WhatsAppAccount, WhatsAppAccount.shop_id == Message.shop_id)
            .where(Message.status == MessageStatus.QUEUED, Message.due_at <= now, Shop.is_active.is_(True),
                   Shop.sending_paused_at.is_(None))
        ).all()
        for shop_id in shops:
            kick_dispatcher(shop_id)
        # 3. receipts whose drainer was lost (Redis restarted, worker killed) or that wait for a retry
        waiting = db.session.scalar(
            select(func.count()).select_from(WebhookReceipt).where(
                WebhookReceipt.processed_at.is_(None),
                WebhookReceipt.received_at < now - timedelta(seconds=config.receipt_retry_seconds),
                WebhookReceipt.attempts < RECEIPT_MAX_ATTEMPTS,
                or_(WebhookReceipt.claimed_until.is_(None), WebhookReceipt.claimed_until < now),
            )
        ) or 0
        db.session.commit()
        if waiting:
            # bypass the kick flag: it may be left over from a drainer that never ran
            enqueue(drain_receipts, queue=INGEST, timeout=int(DRAIN_TIME_BUDGET_SECONDS * 2 + 60))
        # 4. marketing opt-ins never confirmed lapse
        from connector.optin import expire_pending

        expired_optins = expire_pending(now)
        # 5. privacy retention (message bodies, webhook bodies, exports, uninstalled shops), hourly
        purged = None
        if get_redis().set("connector:privacy:purge", 1, nx=True, ex=3600):
            from connector.privacy import purge_expired

            purged = purge_expired(now)
        # 6. back-in-stock batches whose job was lost
        from connector.automations.back_in_stock import resume_stalled_restocks

        resumed_restocks = resume_stalled_restocks(now)
        # 7. platform catch-up (WooCommerce never retries a failed webhook)
        from connector.stores.woocommerce import schedule_catchups

        catchups = schedule_catchups()
        # 8. inventory look-ups whose job was lost (they run off the receipt's path: ADR 0012)
        from connector.jobs.inventory import kick_pending_lookups

        lookups = kick_pending_lookups(now)
        # 9. the messaging limit Meta gives each number, read again once a day (14.6)
        from connector.messaging.limits import schedule_limit_refreshes

        limit_reads = schedule_limit_refreshes(now)
        get_redis().set(SWEEP_LAST_SUCCESS_KEY, repr(time.time()))
        return {"catchups": catchups, "inventory_lookups": lookups, "limit_reads": limit_reads, "resumed_restocks": resumed_restocks, "expired_optins": expired_optins, "privacy_purged": purged, "requeued_in_doubt": len(requeued), "kicked_shops": len(shops), "receipts_waiting": waiting}
    finally:
        schedule_sweep(delay_seconds=config.sweep_interval_seconds)
