"""What an operator watches, read at scrape time from the database and Redis (``GET /metrics``).

``ConnectorCollector`` is a Prometheus custom collector: nothing is counted in the process
that answers, so every gunicorn worker gives the same answer and workers on other machines
need no exporter of their own. Each scrape costs a handful of statements:

- Redis: one pipeline of ``LLEN`` / ``ZCARD`` per RQ queue and registry (no cleanup, which
  would move jobs), one ``GET`` of the sweep's mark;
- the database, each source in its own read-only transaction whose statements PostgreSQL
  cancels past ``STATEMENT_BUDGET_MS`` (waiting for a lock included), every answer a
  ``GROUP BY`` in the database, each read through an index so that its cost follows the
  backlog, not the history: receipts not processed yet and those processed in the last
  ``RECENT_SECONDS`` (``processed_at``); messages per shop and status (an index-only scan
  of ``ix_messages_ready``, the one statement that reads every row, narrowly); the queued,
  sending and failed ones with their reasons and codes (ranges of that index).

A source that fails (a timeout, Redis away) drops only its own families and sets
``connector_metrics_source_up{source=...}`` to 0; the scrape itself still answers.

Label values are bounded: queue names, receipt outcomes, message statuses and reasons (words
from the code, never ids), Cloud API error codes and our own WhatsApp numbers'
``phone_number_id``. No shopper's phone number, name or text is read.

Semantics worth knowing (Prometheus naming: ``_total`` counters, ``_seconds`` units):

- ``connector_whatsapp_messages_sent_total``: messages the Cloud API accepted (at ``sent``,
  ``delivered`` or ``read``, or ``failed`` with a ``sent_at``: reported failed afterwards);
  ``..._failed_total``: messages at ``failed`` (a late "delivered" from Meta can still lift
  one, a step back that Prometheus reads as a counter reset). Both count the messages of the
  shop the number belongs to, and are listed at 0 for every number so that ``increase()``
  sees the first one.
- ``connector_whatsapp_refused_messages`` is a state, not a count of events: messages whose
  latest send the Cloud API refused, by code, that wait again (``status="queued"``: to be
  retried, resumed, or deferred by the governor since; the row keeps ``error_code``) or
  gave up (``status="failed"``). A refusal retried successfully between two scrapes leaves
  no trace in the database.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from connector.models import Message, MessageStatus, Shop, WebhookReceipt, WhatsAppAccount
from connector.queues import QUEUE_NAMES, get_queue
from connector.wakeups import SWEEP_LAST_SUCCESS_KEY  # Unix time of the sweep's last successful run

log = logging.getLogger(__name__)

PREFIX = "connector"
#: one statement of a scrape may take this long (PostgreSQL) before it is cancelled
STATEMENT_BUDGET_MS = 1500
#: the RQ registries counted besides the queue itself (the list: "queued")
REGISTRIES = ("scheduled", "started", "deferred", "failed")

#: receipts processed this long ago or less are counted by outcome
RECENT_SECONDS = 300

_OPEN = (MessageStatus.QUEUED, MessageStatus.SENDING)
#: a message at one of these was accepted by the Cloud API (statuses only move forward)
_SENT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


class ConnectorCollector:
    """Builds every ``connector_*`` family from the database and Redis when collected."""

    def __init__(self, *, engine: Engine, redis: Redis, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.redis = redis
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration; collect() runs only when scraped

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_metrics_source_up",
                               "1 when this source of the scrape answered, 0 when it failed.", labels=["source"])
        for source, reader in (("queues", self._queues), ("sweep", self._sweep),
                               ("receipts", self._receipts), ("messages", self._messages)):
            try:
                families = list(reader())
            except (SQLAlchemyError, RedisError, OSError) as error:
                log.warning("metrics.source_failed", extra={"source": source, "error": type(error).__name__})
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    # --- Redis -----------------------------------------------------------------------

    def _queues(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            f"{PREFIX}_queue_jobs", "RQ jobs per queue: queued (waiting in the list), scheduled, started, "
            "deferred and failed (in the queue's registries).", labels=["queue", "state"])
        queues = [get_queue(name) for name in QUEUE_NAMES]
        pipeline = self.redis.pipeline(transaction=False)
        for queue in queues:
            pipeline.llen(queue.key)
            for registry in REGISTRIES:
                pipeline.zcard(getattr(queue, f"{registry}_job_registry").key)
        answers = iter(pipeline.execute())
        for queue in queues:
            for state in ("queued",) + REGISTRIES:
                family.add_metric([queue.name, state], next(answers))
        yield family

    def _sweep(self) -> Iterator[Metric]:
        raw = self.redis.get(SWEEP_LAST_SUCCESS_KEY)
        try:
            stamp = float(raw) if raw is not None else math.nan
        except ValueError:
            log.warning("metrics.sweep_mark_unreadable")
            stamp = math.nan
        if math.isfinite(stamp):
            # absent when never set, so the alert's absent() fires: a NaN sample would not
            yield GaugeMetricFamily(f"{PREFIX}_sweep_last_success_timestamp_seconds",
                                    "Unix time of the sweep's last successful run.", value=stamp)

    # --- the database ----------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction whose statements are cancelled past the budget."""
        with self.engine.connect() as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SET TRANSACTION READ ONLY"))
                connection.execute(text("SELECT set_config('statement_timeout', :ms, true),"
                                        " set_config('lock_timeout', :ms, true)"), {"ms": str(STATEMENT_BUDGET_MS)})
            yield connection

    def _receipts(self) -> Iterator[Metric]:
        R = WebhookReceipt
        since = datetime.fromtimestamp(self.clock() - RECENT_SECONDS, timezone.utc)
        with self._read() as connection:
            # both through the processed_at index: the backlog, and the last few minutes' traffic
            waiting = connection.execute(select(R.platform, R.outcome, func.count(), func.min(R.received_at))
                                         .where(R.processed_at.is_(None)).group_by(R.platform, R.outcome)).all()
            recent = connection.execute(select(R.platform, R.outcome, func.count())
                                        .where(R.processed_at >= since).group_by(R.platform, R.outcome)).all()
        unprocessed = GaugeMetricFamily(
            f"{PREFIX}_webhook_receipts_unprocessed", "Receipts not processed yet, by platform and outcome "
            "(pending: waiting for a drainer or its retry; any other value: the outcome column).",
            labels=["platform", "outcome"])
        oldest = None
        for platform, outcome, count, received in waiting:
            unprocessed.add_metric([platform, outcome or "pending"], count)
            if outcome is None and received is not None:
                oldest = _as_utc(received) if oldest is None else min(oldest, _as_utc(received))
        yield unprocessed
        processed = GaugeMetricFamily(
            f"{PREFIX}_webhook_receipts_recent", f"Receipts processed in the last {RECENT_SECONDS} s, by platform and "
            "outcome (the outcome column).", labels=["platform", "outcome"])
        for platform, outcome, count in recent:
            processed.add_metric([platform, outcome or "processed"], count)
        yield processed
        age = 0.0 if oldest is None else max(0.0, self.clock() - oldest.timestamp())
        yield GaugeMetricFamily(f"{PREFIX}_webhook_receipt_oldest_pending_age_seconds",
                                "Age of the oldest pending receipt; 0 when none waits.", value=age)

    def _messages(self) -> Iterator[Metric]:
        M = Message
        with self._read() as connection:
            numbers = dict(connection.execute(
                select(WhatsAppAccount.shop_id, WhatsAppAccount.phone_number_id)).tuples().all())
            shop_ids = connection.execute(select(Shop.id)).scalars().all()
            # every row, but read from the (shop_id, status, due_at) index alone
            per_status = connection.execute(select(M.shop_id, M.status, func.count())
                                            .group_by(M.shop_id, M.status)).all()
            # the rows that wait or failed, reached by ranges of that index (shop, status)
            detail = connection.execute(
                select(M.shop_id, M.status, M.status_reason, M.error_code, func.count(), func.count(M.sent_at))
                .where(M.shop_id.in_(shop_ids), M.status.in_(_OPEN + (MessageStatus.FAILED,)))
                .group_by(M.shop_id, M.status, M.status_reason, M.error_code)).all() if shop_ids else []

        by_status: Counter[str] = Counter({status.value: 0 for status in MessageStatus})
        sent: Counter[str] = Counter({number: 0 for number in numbers.values()})
        failed: Counter[str] = Counter({number: 0 for number in numbers.values()})
        for shop_id, status, count in per_status:
            by_status[status] += count
            number = numbers.get(shop_id)  # None: a shop without a WhatsApp number sends nothing
            if number is not None and status in _SENT:
                sent[number] += count
        waiting: Counter[tuple[str, str]] = Counter()
        refusals: Counter[tuple[str, str, str]] = Counter()
        for shop_id, status, reason, code, count, sent_count in detail:
            if status in _OPEN:
                waiting[(status, reason or "none")] += count
            number = numbers.get(shop_id)
            if number is None:
                continue
            if status == MessageStatus.FAILED:
                failed[number] += count
                sent[number] += sent_count  # accepted, then reported failed by Meta's webhook
            if status == MessageStatus.FAILED or (status == MessageStatus.QUEUED and code is not None):
                refusals[(number, "none" if code is None else str(code), status)] += count

        yield _gauge("messages", "Outbox messages by status.", ["status"], by_status)
        yield _gauge("messages_waiting", "Queued and sending messages by the reason they wait (status_reason; "
                     "none: simply not due yet).", ["status", "reason"], waiting)
        yield _counter("whatsapp_messages_sent", "Messages sent (accepted by the Cloud API) per WhatsApp number.",
                       ["phone_number_id"], sent)
        yield _counter("whatsapp_messages_failed", "Messages that failed for good per WhatsApp number.",
                       ["phone_number_id"], failed)
        yield _gauge("whatsapp_refused_messages", "Messages whose latest send the Cloud API refused, by error "
                     "code: waiting again (queued) or given up (failed).",
                     ["phone_number_id", "code", "status"], refusals)


def _gauge(name: str, documentation: str, labels: list[str], values: Counter) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


def _counter(name: str, documentation: str, labels: list[str], values: Counter) -> CounterMetricFamily:
    family = CounterMetricFamily(f"{PREFIX}_{name}", documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
