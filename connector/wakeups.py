"""Asking for work to be done: the wake-ups every layer may call.

A webhook stored, a message queued, a sending pause lifted: each needs a job to come, and
the code that notices sits anywhere from the web layer to messaging. The jobs themselves
(``connector.jobs``) call down into all of those layers, so this module names them by their
dotted path (``JOB_NAMES``) and never imports them: a lower layer can wake the worker
without depending on what the worker runs.

Each wake-up is cheap when the work is already coming: a Redis ``SET NX`` flag per kind of
work (one queued drainer is enough for any backlog, one queued dispatcher per shop), and
delayed jobs get deterministic ids so a second request for the same second is a no-op.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Iterable

from rq.job import Job

from connector.extensions import get_redis, settings
from connector.models import utcnow
from connector.queues import INGEST, MAINTENANCE, SEND, enqueue

log = logging.getLogger(__name__)

#: the jobs this module asks for, by dotted name (tests/test_wakeups.py checks they resolve)
DRAIN_RECEIPTS = "connector.jobs.ingest.drain_receipts"
DISPATCH_OUTBOX = "connector.jobs.send.dispatch_outbox"
SWEEP = "connector.jobs.sweep.sweep"
JOB_NAMES = (DRAIN_RECEIPTS, DISPATCH_OUTBOX, SWEEP)

#: a drainer may run this long before it hands the worker back (``drain_receipts``)
DRAIN_TIME_BUDGET_SECONDS = 60.0
DRAIN_JOB_TIMEOUT = int(DRAIN_TIME_BUDGET_SECONDS * 2 + 60)
DISPATCH_JOB_TIMEOUT = 900
SWEEP_JOB_TIMEOUT = 300

INGEST_KICK_KEY = "connector:ingest:kick"
INGEST_KICK_TTL_SECONDS = 60
#: a shop's dispatcher flag lives this long; a running dispatcher refreshes it (messaging.dispatcher)
KICK_TTL_SECONDS = 120

#: Unix time (float seconds, as a string) at the end of the last sweep that finished; read by metrics
SWEEP_LAST_SUCCESS_KEY = "connector:sweep:last_success"
#: present while a sweep is queued or scheduled; it expires two intervals after the sweep's due
#: time, so a sweep lost with Redis (or with a worker killed mid-sweep) is noticed (ADR 0011)
SWEEP_SCHEDULED_KEY = "connector:sweep:scheduled"


def kick_key(shop_id: int) -> str:
    """Set while a dispatcher for the shop is queued or running."""
    return f"connector:dispatch:kick:{shop_id}"


def kick_ingest() -> None:
    """Make sure a receipt drainer is coming (one queued drainer is enough for any backlog).

    A webhook request pays one Redis ``SET NX`` here instead of a whole RQ enqueue (about
    eight Redis commands): most requests find a drainer already queued.
    """
    if get_redis().set(INGEST_KICK_KEY, 1, nx=True, ex=INGEST_KICK_TTL_SECONDS):
        enqueue_drainer()


def enqueue_drainer(*args, job_id: str | None = None, at: datetime | None = None) -> None:
    """Queue a drainer whatever the kick flag says (the sweep, a drainer handing on)."""
    enqueue(DRAIN_RECEIPTS, *args, queue=INGEST, timeout=DRAIN_JOB_TIMEOUT, job_id=job_id, at=at,
            unique=job_id is not None)


def kick_dispatcher(shop_id: int, at: datetime | None = None) -> None:
    """Wake the shop's dispatcher now, or at ``at`` (whole seconds; RQ's scheduler polls each second)."""
    if at is not None and at > utcnow():
        second = math.ceil(at.timestamp())  # RQ schedules whole seconds: the first one not before `at`
        enqueue(DISPATCH_OUTBOX, shop_id, queue=SEND, timeout=DISPATCH_JOB_TIMEOUT, job_id=_wakeup_id(shop_id, second),
                at=datetime.fromtimestamp(second, at.tzinfo), unique=True)
        return
    # one queued wake-up per shop is enough: a running dispatcher re-checks the flag
    if get_redis().set(kick_key(shop_id), 1, nx=True, ex=KICK_TTL_SECONDS):
        enqueue_dispatcher(shop_id)


def enqueue_dispatcher(shop_id: int) -> None:
    """Queue a dispatcher for the shop whatever its flag says (one that ran out of time goes on)."""
    enqueue(DISPATCH_OUTBOX, shop_id, queue=SEND, timeout=DISPATCH_JOB_TIMEOUT)


def kick_dispatchers_at(wakeups: Iterable[tuple[int, datetime]]) -> None:
    """``kick_dispatcher(shop_id, at=at)`` for each pair, skipping the seconds already scheduled.

    A batch of scheduled messages mostly falls into seconds that already have their
    wake-up: one pipelined ``EXISTS`` over those job ids costs one round trip, where each
    refused enqueue costs one (and a job built for nothing). A wake-up that appears
    between the check and the enqueue is refused by the enqueue as before.
    """
    pending = {(shop_id, math.ceil(at.timestamp())): (shop_id, at) for shop_id, at in wakeups}
    if len(pending) > 1:
        pipeline = get_redis().pipeline(transaction=False)
        for shop_id, second in pending:
            pipeline.exists(Job.key_for(_wakeup_id(shop_id, second)))
        scheduled = pipeline.execute()
        pending = {key: wakeup for (key, wakeup), exists in zip(pending.items(), scheduled, strict=True)
                   if not exists}
    for shop_id, at in pending.values():
        kick_dispatcher(shop_id, at=at)


def _wakeup_id(shop_id: int, second: int) -> str:
    return f"dispatch-{shop_id}-at-{second}"


def schedule_sweep(delay_seconds: float = 0) -> None:
    """Make sure the next sweep is scheduled (deterministic id per time slot: one per slot)."""
    interval = settings().sweep_interval_seconds
    due = utcnow() + timedelta(seconds=delay_seconds)
    slot = int(due.timestamp()) // interval
    enqueue(SWEEP, queue=MAINTENANCE, timeout=SWEEP_JOB_TIMEOUT, job_id=f"sweep-{slot}",
            at=due if delay_seconds else None, unique=True)
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
