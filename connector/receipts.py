"""Webhook receipts: record a verified delivery once, then make sure a drainer will process it.

The order is fixed (see STYLE.md): the view has verified the signature and parsed the
body; here the receipt is inserted under its unique key in one autocommit statement (shared
with the receipts of concurrent requests on PostgreSQL), and only after it is durable is the
ingest kick flag set (``connector.jobs.kick_ingest``, throttled per process), which queues a
drainer when none is queued. A duplicate delivery finds the key taken and kicks
nothing. If Redis loses the flag or the drainer, the sweep finds the unprocessed receipt.
See docs/adr/0006-ingest-path.md.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlalchemy.dialects.postgresql import insert  # ON CONFLICT … DO NOTHING compiles for SQLite too

from connector.extensions import db
from connector.models import WebhookReceipt, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReceiptResult:
    receipt_id: int | None
    is_duplicate: bool


#: built once: an ``insert().values(...)`` per request would be compiled per request
_INSERT_RECEIPT = (
    insert(WebhookReceipt)
    .values({name: bindparam(name) for name in
             ("platform", "dedupe_key", "topic", "shop_id", "body", "received_at", "attempts")})
    .on_conflict_do_nothing(index_elements=["platform", "dedupe_key"])
    .returning(WebhookReceipt.id)
)


def record_and_enqueue(*, platform: str, dedupe_key: str, topic: str, body: bytes, shop_id: int | None) -> ReceiptResult:
    """Store the delivery durably and make sure a drainer will process it; idempotent on ``dedupe_key``.

    On PostgreSQL the receipt joins the process's next group commit (``_GroupCommitWriter``):
    one multi-row INSERT in one autocommit statement for the receipts of every request thread
    waiting at that moment, and one kick for them all. It returns once that statement has
    committed. On SQLite (development, tests) it is one autocommit INSERT of its own.
    """
    values = (platform, dedupe_key, topic, shop_id, body, utcnow())
    engine = db.engine
    if engine.dialect.name == "postgresql":
        receipt_id = _postgres_writer(engine).insert(values)
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            receipt_id = connection.execute(_INSERT_RECEIPT, dict(zip(_COLUMNS, values), attempts=0)).scalar_one_or_none()
        if receipt_id is not None:
            _KICKER.kick()
    if receipt_id is None:
        log.info("webhook.duplicate", extra={"platform": platform, "topic": topic, "shop_id": shop_id})
        return ReceiptResult(None, True)
    return ReceiptResult(receipt_id, False)


_COLUMNS = ("platform", "dedupe_key", "topic", "shop_id", "body", "received_at")


class _Slot:
    """One request's receipt, waiting in a group commit."""

    __slots__ = ("values", "done", "receipt_id", "error")

    def __init__(self, values: tuple) -> None:
        self.values = values
        self.done = False
        self.receipt_id: int | None = None
        self.error: BaseException | None = None


class _GroupCommitWriter:
    """Receipts of concurrent request threads written by one statement (see docs/adr/0006).

    A request thread appends its receipt and, when no write is under way in this process,
    becomes the leader: it takes every receipt waiting (its own included), writes them with
    one multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` on an autocommit connection
    of its own, kicks the drainer and wakes the others. Threads that arrive meanwhile wait
    for the next write, which one of them leads. A request alone is written at once; under
    load, the receipts of the process's concurrent requests share one statement and one WAL
    flush (on the bench machine a commit costs the server ~90 µs of CPU on its own, a row
    ~25 µs).

    A receipt is answered only after the statement that holds it has committed; the ingest
    kick that follows is throttled per process (``_Kicker``). When a batch fails on a
    constraint (a shop deleted a moment ago), its receipts are written one by one so that
    only the offending one fails. A connection that fails is dropped and the batch is tried
    once more on a new one (ON CONFLICT makes the retry safe).
    """

    SQL = ("INSERT INTO webhook_receipts (platform, dedupe_key, topic, shop_id, body, received_at, attempts) "
           "VALUES {rows} ON CONFLICT (platform, dedupe_key) DO NOTHING RETURNING id, platform, dedupe_key")

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._connection = None  # used by the leader only, one leader at a time
        self._prepared: set[int] = set()  # batch sizes prepared on the current connection
        self._changed = threading.Condition(threading.Lock())
        self._waiting: list[_Slot] = []
        self._writing = False
        self.batches = 0  # statistics for tests and benchmarks
        self.receipts = 0

    def insert(self, values: tuple) -> int | None:
        """Write one receipt in the next batch; return its id (None: a duplicate delivery)."""
        slot = _Slot(values)
        with self._changed:
            self._waiting.append(slot)
            while not slot.done and self._writing:
                self._changed.wait()
            if slot.done:
                return self._result(slot)
            self._writing = True
            batch, self._waiting = self._waiting, []
        try:
            self._write(batch)
        finally:
            with self._changed:
                self._writing = False
                self._changed.notify_all()
        return self._result(slot)

    @staticmethod
    def _result(slot: _Slot) -> int | None:
        if slot.error is not None:
            raise slot.error
        return slot.receipt_id

    def _write(self, batch: list[_Slot]) -> None:
        import psycopg

        try:
            try:
                self._insert(batch)
            except psycopg.IntegrityError:
                for slot in batch:  # find the offending receipt; the others are written
                    try:
                        self._insert([slot])
                    except psycopg.IntegrityError as error:
                        slot.error = IntegrityError(self.SQL, None, error)
            self.batches += 1
            self.receipts += len(batch)
            if any(slot.receipt_id is not None for slot in batch):
                _KICKER.kick()
        except BaseException as error:  # the database or Redis is down: every waiting request fails
            for slot in batch:
                if slot.error is None:
                    slot.error = error
        finally:
            for slot in batch:
                slot.done = True

    def _insert(self, batch: list[_Slot]) -> None:
        """One multi-row INSERT of ``batch`` through libpq directly (psycopg's ``pq`` layer).

        psycopg's cursor spends ~60 µs of CPU per statement on adaptation and its prepared
        statement cache; the parameters here are six known columns, so they are encoded here,
        and the statement for each batch size is prepared once per connection. libpq runs
        without the GIL while it waits for the server.
        """
        from psycopg import errors, pq

        size = len(batch)
        parameters: list[bytes | None] = []
        for platform, key, topic, shop_id, body, received_at in (slot.values for slot in batch):
            parameters += (platform.encode(), key.encode(), topic.encode(),
                           None if shop_id is None else str(shop_id).encode(), body, received_at.isoformat().encode())
        formats = self._FORMATS * size
        for attempt in (1, 2):
            connection = self._connect()
            name = f"receipts_{size}".encode()
            if size not in self._prepared:
                placeholders = ", ".join(
                    "(" + ", ".join(f"${row * 6 + column}" for column in range(1, 7)) + ", 0)" for row in range(size))
                prepared = connection.pgconn.prepare(name, self.SQL.format(rows=placeholders).encode())
                if prepared.status != pq.ExecStatus.COMMAND_OK:
                    self._fail(connection, prepared, attempt)
                    continue
                self._prepared.add(size)
            result = connection.pgconn.exec_prepared(name, parameters, formats)
            if result.status == pq.ExecStatus.TUPLES_OK:
                break
            sqlstate = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
            if sqlstate.startswith("23"):  # integrity: a foreign key (a shop deleted meanwhile)
                raise errors.lookup(sqlstate)(
                    (result.error_message or b"").decode(errors="replace").strip())
            self._fail(connection, result, attempt)
        ids = {(result.get_value(row, 1).decode(), result.get_value(row, 2).decode()): int(result.get_value(row, 0))
               for row in range(result.ntuples)}
        for slot in batch:
            # the same key twice in one batch: the first is the delivery, the second a duplicate
            slot.receipt_id = ids.pop((slot.values[0], slot.values[1]), None)

    #: text for every column but the body, sent as raw bytes (bytea in binary format)
    _FORMATS = [0, 0, 0, 0, 1, 0]

    def _connect(self):
        import psycopg

        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self._conninfo, autocommit=True)
            self._prepared = set()
        return self._connection

    def _fail(self, connection, result, attempt: int) -> None:
        """A statement failed for a reason other than a constraint: drop the connection; retry once."""
        import psycopg

        message = (result.error_message or b"").decode(errors="replace").strip() or "the statement failed"
        connection.close()
        if attempt == 2:
            raise psycopg.OperationalError(message)


_WRITERS: dict[object, _GroupCommitWriter] = {}  # one per engine (per app) and process
_WRITERS_LOCK = threading.Lock()


def _postgres_writer(engine) -> _GroupCommitWriter:
    writer = _WRITERS.get(engine)
    if writer is None:
        with _WRITERS_LOCK:
            writer = _WRITERS.get(engine)
            if writer is None:
                conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                writer = _WRITERS[engine] = _GroupCommitWriter(conninfo)
    return writer


class _Kicker:
    """The ingest kick (``connector.jobs.kick_ingest``) at most once per ``INTERVAL`` per process.

    Every committed receipt must be followed by a kick that starts after its commit (the
    drainer protocol, docs/adr/0006-ingest-path.md). A kick is one Redis round trip, as much
    CPU as the receipt's INSERT; under load, most find the flag set. So the first receipt
    after a quiet interval kicks at once, in its request; receipts committed within
    ``INTERVAL`` of the last kick are covered by one trailing kick at the end of the
    interval, from a timer thread, and their requests do not wait for it (their receipts
    are durable already). A kick that fails is logged: the sweep finds the receipts.
    """

    INTERVAL = 0.02

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._trailing: threading.Timer | None = None

    def kick(self) -> None:
        with self._lock:
            if self._trailing is not None:
                return  # a kick is due after this commit already
            now = time.monotonic()
            wait = self._last + self.INTERVAL - now
            if wait > 0:
                from flask import current_app

                self._trailing = threading.Timer(wait, self._kick_later, args=(current_app._get_current_object(),))
                self._trailing.daemon = True
                self._trailing.start()
                return
            self._last = now
        self._kick_now()

    def flush(self) -> None:
        """Run a pending trailing kick now (tests, before a worker drains in burst mode)."""
        with self._lock:
            trailing, self._trailing = self._trailing, None
            self._last = time.monotonic()
        if trailing is not None:
            trailing.cancel()
            self._kick_now()

    def reset(self) -> None:
        """Forget the last kick and drop a pending one (tests: each starts from a quiet process)."""
        with self._lock:
            if self._trailing is not None:
                self._trailing.cancel()
            self._trailing, self._last = None, float("-inf")

    def _kick_later(self, app) -> None:
        with self._lock:
            if self._trailing is None:
                return  # flushed meanwhile
            self._trailing = None
            self._last = time.monotonic()
        with app.app_context():
            self._kick_now()

    @staticmethod
    def _kick_now() -> None:
        from connector.jobs import kick_ingest

        try:
            kick_ingest()
        except RedisError:
            # the receipts are durable: the sweep queues a drainer for them once Redis is back
            log.warning("webhook.kick_failed", exc_info=True)


_KICKER = _Kicker()


def flush_kicks() -> None:
    """Make the ingest kick that this process still owes (if any) now."""
    _KICKER.flush()
