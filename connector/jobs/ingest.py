"""The ingest jobs: stored webhook receipts drained, each processed in one transaction.

A receipt was committed by the web layer (``connector.receipts``) before the webhook was
acknowledged; here it becomes neutral events applied by ``connector.routing``. Every job
re-reads its state and does nothing when the work is already done, so running it twice
(a lost acknowledgement, the sweep re-enqueueing) is harmless.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from connector import receipt_failures
from connector.dbutil import claim_rows, held_transaction
from connector.extensions import db, get_redis
from connector.models import WebhookReceipt, utcnow
from connector.receipts import DEAD
from connector.routing import RECEIPT_PROCESSORS
from connector.wakeups import DRAIN_TIME_BUDGET_SECONDS, INGEST_KICK_KEY, enqueue_drainer, kick_ingest

log = logging.getLogger(__name__)

#: a receipt that keeps failing for no known reason is dead after this many attempts
RECEIPT_MAX_ATTEMPTS = 10
RECEIPT_BATCH = 50
RECEIPT_LEASE_SECONDS = 300  # a drainer stopped by an outage hands its leases on (drain_receipts)

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
        enqueue_drainer(time_budget, held, job_id=f"drain-retry-{int(at.timestamp())}", at=at)
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

    The automations' own commits only flush meanwhile (``connector.dbutil.held_transaction``):
    the receipt's work and its ``processed_at`` commit together, and the wake-ups they owe
    (a dispatcher for a queued message) follow that commit.

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
    receipt = db.session.get(WebhookReceipt, receipt_id)
    if receipt is None or receipt.processed_at is not None:
        return "already_done"
    processor = RECEIPT_PROCESSORS.get(receipt.platform)
    try:
        if processor is None:
            raise LookupError(f"no processor for platform {receipt.platform!r}")
        with held_transaction(db.session):  # what the receipt causes commits with it, below
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
