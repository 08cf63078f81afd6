"""The RQ queues, declared once, named by latency; and the only place jobs are enqueued.

- ``ingest``: webhook receipts, seconds matter (status and inbound events).
- ``send``: outbox dispatchers, paced by the Cloud API's limits.
- ``maintenance``: the periodic sweep and slow housekeeping.

A worker listens to all three in that order. Jobs are enqueued only after the database
commit that made their work visible; delayed jobs get deterministic ids.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from connector.extensions import get_redis

INGEST = "ingest"
SEND = "send"
MAINTENANCE = "maintenance"
QUEUE_NAMES = (INGEST, SEND, MAINTENANCE)

RESULT_TTL_SECONDS = 300
FAILURE_TTL_SECONDS = 7 * 24 * 3600


def get_queue(name: str) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(), serializer=JSONSerializer)


def all_queues() -> list[Queue]:
    return [get_queue(name) for name in QUEUE_NAMES]


def enqueue(
    func: Callable[..., Any] | str,
    *args: Any,
    queue: str,
    timeout: int,
    job_id: str | None = None,
    at: datetime | None = None,
    unique: bool = False,
) -> Job | None:
    """Enqueue ``func(*args)`` now or at ``at``; with ``unique`` a job id already taken is a no-op.

    ``func`` may be a dotted name (``"connector.jobs.send.dispatch_outbox"``): code below the
    job layer asks for a job that way, without importing the module that runs it.
    """
    target = get_queue(queue)
    options = dict(job_id=job_id, job_timeout=timeout, result_ttl=RESULT_TTL_SECONDS,
                   failure_ttl=FAILURE_TTL_SECONDS, unique=unique)
    try:
        if at is not None and at > datetime.now(timezone.utc):
            return target.enqueue_at(at, func, *args, **options)
        # rq's FunctionReferenceType is a TypeVar constrained to a callable or a str, not either
        return target.enqueue(func, *args, **options)  # type: ignore[type-var]
    except DuplicateJobError:
        return None
