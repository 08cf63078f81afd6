"""The worker: RQ's SimpleWorker (no fork per job) running each job in an app context.

SimpleWorker keeps warm state (the app, database pool, HTTP clients) between jobs and runs
~5x more jobs per second than the forking worker. The app is built once per worker process.

Two things RQ does not do for us (ADRs 0011 and 0012):

- **Round-robin dequeue.** RQ's default takes the first queue in the list that has a job, so
  a backlog on ``ingest`` would starve ``send`` completely. Every ConnectorWorker rotates its
  queues after each job (RQ's ``DequeueStrategy.ROUND_ROBIN``): whatever the backlog, the
  next job comes from the next queue that has one. The Procfile also runs separate roles.
- **A watch on the schedule.** Every few seconds of its own loop (busy or idle) the worker
  checks that its scheduler process is alive (it dies when Redis goes away) and that a sweep
  is coming (``ensure_sweep``): a Redis that came back empty gets its sweep back at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from flask import Flask
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.worker import DequeueStrategy

from connector.extensions import db, get_redis
from connector.queues import QUEUE_NAMES, get_queue
from connector.wakeups import ensure_sweep, schedule_sweep

log = logging.getLogger(__name__)

#: seconds between two checks of the schedule (scheduler alive, sweep coming), at most
WATCH_INTERVAL_SECONDS = 5.0


class ConnectorWorker(SimpleWorker):
    """A SimpleWorker that wraps every job in the connector app's context and watches the schedule."""

    #: while Redis is away, try again at least this often (RQ's default backs off to 60 s, so a
    #: worker would notice a Redis that came back up to a minute late)
    max_connection_wait_time = 5.0

    def __init__(self, *args, app: Flask, **kwargs):
        self.app = app
        self._is_burst = False
        self._watched_at = 0.0
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        # an idle worker comes out of its blocking pop this often, to watch the schedule
        return max(1, min(super().dequeue_timeout, int(self._watch_interval())))

    def work(self, burst: bool = False, *args, **kwargs) -> bool:
        self._is_burst = burst
        kwargs.setdefault("dequeue_strategy", DequeueStrategy.ROUND_ROBIN)
        return super().work(burst, *args, **kwargs)

    @property
    def should_run_maintenance_tasks(self) -> bool:
        return self._watch_due() or super().should_run_maintenance_tasks

    def run_maintenance_tasks(self) -> None:
        if self._watch_due():
            self.watch_schedule()
        if super().should_run_maintenance_tasks:
            super().run_maintenance_tasks()

    def watch_schedule(self) -> None:
        """Restart a dead scheduler process; re-create a sweep lost with Redis.

        Never raises: RQ calls this outside its own Redis-error handling too, and a worker
        must outlive a Redis outage (its dequeue loop waits for Redis to come back).
        """
        self._watched_at = time.monotonic()
        if self._is_burst:
            return  # a burst worker enqueues scheduled jobs once and ends: nothing to keep alive
        try:
            scheduler = self.scheduler
            if scheduler is not None and (scheduler._process is None or not scheduler._process.is_alive()):
                scheduler.acquire_locks(auto_start=True)  # RQ itself checks only every 10 minutes
            with self.app.app_context():
                ensure_sweep()
        except RedisError as error:
            self._watched_at -= self._watch_interval() - 1.0  # try again in a second
            log.warning("worker.watch_redis_unavailable", extra={"error": type(error).__name__})
        except Exception:  # the database may be down; the next watch tries again
            log.warning("worker.watch_failed", exc_info=True)

    def _watch_due(self) -> bool:
        return time.monotonic() - self._watched_at >= self._watch_interval()

    def _watch_interval(self) -> float:
        sweep_interval = self.app.config["CONNECTOR"].sweep_interval_seconds
        return max(1.0, min(WATCH_INTERVAL_SECONDS, sweep_interval / 2))

    def perform_job(self, job, queue, execution):
        with self.app.app_context():
            try:
                return super().perform_job(job, queue, execution)
            finally:
                db.session.remove()


def make_worker(app: Flask, name: str | None = None, queues: Iterable[str] | None = None) -> ConnectorWorker:
    """A worker on ``queues`` (all of them by default, in latency order)."""
    names = list(queues or QUEUE_NAMES)
    with app.app_context():
        return ConnectorWorker([get_queue(queue) for queue in names], connection=get_redis(),
                               serializer=JSONSerializer, app=app, name=name)


def run_worker(app: Flask, *, burst: bool = False, with_scheduler: bool = True, name: str | None = None,
               queues: Iterable[str] | None = None) -> bool:
    """Run a worker until stopped (or, with ``burst``, until the queues are empty)."""
    worker = make_worker(app, name=name, queues=queues)
    with app.app_context():
        schedule_sweep()
    return worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=app.config["CONNECTOR"].log_level)
