"""Webhook receipts: record a verified delivery once, then make sure a drainer will process it.

The order is fixed (see STYLE.md): the view has verified the signature and parsed the
body; here the receipt is inserted under its unique key in one autocommit statement (shared
with the receipts of concurrent requests on PostgreSQL), and only after it is durable is the
ingest kick flag set (``connector.jobs.kick_ingest``; on PostgreSQL at most once per 20 ms
per process), which queues a drainer when none is queued. A duplicate delivery finds the
key taken and kicks nothing. If Redis loses the flag or the drainer, the sweep finds the
unprocessed receipt. See docs/adr/0006-ingest-path.md.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.dialects.postgresql import insert  # ON CONFLICT … DO NOTHING compiles for SQLite too

from connector.extensions import db
from connector.models import WebhookReceipt, utcnow
from connector.wakeups import kick_ingest

log = logging.getLogger(__name__)

#: the outcome of a receipt that will never be processed (its reason is in ``error``)
DEAD = "dead"


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


class ReceiptNotWritten(RuntimeError):
    """The receipt could not be made durable in time (database down or stuck): answer 503, the vendor retries."""


def record_and_enqueue(*, platform: str, dedupe_key: str, topic: str, body: bytes, shop_id: int | None) -> ReceiptResult:
    """Store the delivery durably and make sure a drainer will process it; idempotent on ``dedupe_key``.

    On PostgreSQL the receipt joins the process's next group commit (``_GroupCommitWriter``):
    one multi-row INSERT in one autocommit statement for every receipt waiting at that
    moment. It returns once that statement has committed; the kick follows from the
    writer's kicker. On SQLite (development, tests) it is one autocommit INSERT of its own,
    then one kick. A key longer than the column keeps its first 63 characters and a hash of
    the whole (distinct keys stay distinct).
    """
    if len(dedupe_key) > _KEY_LENGTH:
        dedupe_key = f"{dedupe_key[:63]}:{hashlib.sha256(dedupe_key.encode()).hexdigest()}"
    values = (platform, dedupe_key, topic, shop_id, body, utcnow())
    engine = db.engine
    if engine.dialect.name == "postgresql":
        receipt_id = _postgres_writer(engine).insert(values)
    else:
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                receipt_id = connection.execute(
                    _INSERT_RECEIPT, dict(zip(_COLUMNS, values), attempts=0)).scalar_one_or_none()
        except OperationalError as error:  # the database is unreachable or locked
            raise ReceiptNotWritten(f"the receipt was not written: {type(error.orig).__name__}") from error
        if receipt_id is not None:
            _kick()
    if receipt_id is None:
        log.info("webhook.duplicate", extra={"platform": platform, "topic": topic, "shop_id": shop_id})
        return ReceiptResult(None, True)
    return ReceiptResult(receipt_id, False)


_COLUMNS = ("platform", "dedupe_key", "topic", "shop_id", "body", "received_at")
_KEY_LENGTH = WebhookReceipt.__table__.c.dedupe_key.type.length  # 128


class _Slot:
    """One request's receipt, waiting in a group commit."""
    __slots__ = ("values", "receipt_id", "error")

    def __init__(self, values: tuple) -> None:
        self.values = values
        self.receipt_id: int | None = None
        self.error: BaseException | None = None


class _GroupCommitWriter:
    """Receipts of concurrent requests written by one statement (see docs/adr/0006).

    A request appends its receipt to the pending batch, wakes the process's writer (a thread,
    or a greenlet under gunicorn's gevent worker) and waits for that batch to be written.
    The writer takes every receipt pending, writes them with one multi-row ``INSERT … ON
    CONFLICT DO NOTHING RETURNING`` on an autocommit connection of its own, and releases
    their requests; receipts that arrive meanwhile form the next batch. Under load a batch
    holds the receipts of many requests, and they share one statement and one WAL flush (on
    the bench machine a commit costs the server ~90 µs of CPU on its own, a row ~25 µs).

    A receipt is answered only after the statement that holds it has committed. The kicks
    are made by a second thread (or greenlet), the kicker, so that a slow or unreachable
    Redis never holds up a commit: after each batch that stored something the writer counts
    one more commit owing a kick; the kicker makes one ``kick_ingest()`` for all commits
    counted when it starts, at most once per ``KICK_INTERVAL``. Every commit is thus followed
    by a kick that starts after it, as the drainer protocol requires.

    When a batch fails on a constraint (a shop deleted a moment ago), its receipts are
    written one by one so that only the offending one fails. A connection that fails is
    dropped and the batch is tried once more on a new one (ON CONFLICT makes the retry
    safe). A statement is cancelled by the server after ``STATEMENT_TIMEOUT`` seconds; a
    request waits at most ``WAIT_SECONDS`` for its batch, then gets ``ReceiptNotWritten``.
    """
    SQL = ("INSERT INTO webhook_receipts (platform, dedupe_key, topic, shop_id, body, received_at, attempts) "
           "VALUES {rows} ON CONFLICT (platform, dedupe_key) DO NOTHING RETURNING id, platform, dedupe_key")

    KICK_INTERVAL = 0.02
    STATEMENT_TIMEOUT = 10  # seconds; a lock or a stuck server must not hold requests for ever
    WAIT_SECONDS = 25.0  # a batch: the statement, one retry on a new connection, and margin

    def __init__(self, conninfo: str, app) -> None:
        self._conninfo = _writer_conninfo(conninfo, self.STATEMENT_TIMEOUT)
        self._app = app  # the kicker works outside any request: it needs the app's Redis
        self._connection = None  # the writer's own
        self._prepared: set[int] = set()  # batch sizes prepared on the current connection
        self._lock = threading.Lock()
        self._pending: list[_Slot] = []
        self._written = threading.Event()  # set once the pending batch is written
        self._work = threading.Event()
        self._writer: threading.Thread | None = None
        self._kicker: threading.Thread | None = None
        self._kicks = threading.Condition(threading.Lock())
        self._committed = 0  # batches that stored receipts, each owing a kick
        self._kicked = 0  # how many of those a kick started after
        self._last_kick = float("-inf")
        self._closing = False
        self.batches = 0  # statistics for tests and benchmarks
        self.receipts = 0

    def insert(self, values: tuple) -> int | None:
        """Write one receipt in the next batch; return its id (None: a duplicate delivery)."""
        slot = _Slot(values)
        with self._lock:
            if self._closing:
                raise ReceiptNotWritten("the receipt writer is closed")
            if self._writer is None or not self._writer.is_alive():
                self._start()
            self._pending.append(slot)
            written = self._written
        self._work.set()
        if not written.wait(self.WAIT_SECONDS):
            raise ReceiptNotWritten(f"no commit within {self.WAIT_SECONDS:.0f} s")
        if slot.error is None:
            return slot.receipt_id
        if isinstance(slot.error, IntegrityError):
            raise slot.error
        raise ReceiptNotWritten(f"the receipt was not written: {type(slot.error).__name__}") from slot.error

    def _start(self) -> None:
        """The writer and the kicker of this process (again, if one has died: it logged why)."""
        self._writer = threading.Thread(target=self._run, name="receipt-writer", daemon=True)
        self._writer.start()
        if self._kicker is None or not self._kicker.is_alive():
            self._kicker = threading.Thread(target=self._kick_loop, name="receipt-kicker", daemon=True)
            self._kicker.start()

    def close(self) -> None:
        """Stop the writer once the receipts pending are written, make the kicks owed, close the connection."""
        with self._lock:
            self._closing = True
            writer, kicker = self._writer, self._kicker
        self._work.set()
        with self._kicks:
            self._kicks.notify_all()
        for thread in (writer, kicker):
            if thread is not None:
                thread.join(10)
        if self._connection is not None:
            self._connection.close()

    def _run(self) -> None:
        while True:
            self._work.wait()
            with self._lock:
                self._work.clear()
                if self._closing and not self._pending:
                    return
                batch, self._pending = self._pending, []
                written, self._written = self._written, threading.Event()
            if not batch:
                continue
            try:
                self._write(batch)
            finally:
                written.set()
            if any(slot.receipt_id is not None for slot in batch):
                with self._kicks:
                    self._committed += 1
                    self._kicks.notify_all()

    def _kick_loop(self) -> None:
        while True:
            with self._kicks:
                while self._kicked == self._committed:
                    if self._closing:
                        return
                    self._kicks.wait()
            delay = self._last_kick + self.KICK_INTERVAL - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the commits counted meanwhile share this kick
            with self._kicks:
                covered = self._committed  # every one of these commits happened before the kick below
            self._last_kick = time.monotonic()
            try:
                with self._app.app_context():
                    _kick()
            except Exception:  # noqa: BLE001 - the kicker must outlive anything; the sweep finds the receipts
                log.exception("webhook.kick_failed")
            with self._kicks:
                self._kicked = covered
                self._kicks.notify_all()

    def settle_kicks(self, timeout: float = 5.0) -> bool:
        """Wait until a kick has started after every commit so far (tests; ≤ ``KICK_INTERVAL`` + a round trip)."""
        with self._kicks:
            target = self._committed
            return self._kicks.wait_for(lambda: self._kicked >= target, timeout)

    def _write(self, batch: list[_Slot]) -> None:
        """Write ``batch``; every slot gets its id or its error. Never raises."""
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
        except BaseException as error:  # the database is down: every waiting request fails
            for slot in batch:
                if slot.error is None:
                    slot.error = error

    def _insert(self, batch: list[_Slot]) -> None:
        """One multi-row INSERT of ``batch`` through libpq directly (psycopg's ``pq`` layer).

        psycopg's cursor spends ~60 µs of CPU per statement on adaptation and its prepared
        statement cache; the parameters here are six known columns, so they are encoded here,
        and the statement for each batch size is prepared once per connection.
        """
        from psycopg import OperationalError, errors, pq

        size = len(batch)
        parameters: list[bytes | None] = []
        for platform, key, topic, shop_id, body, received_at in (slot.values for slot in batch):
            parameters += (platform.encode(), key.encode(), topic.encode(),
                           None if shop_id is None else str(shop_id).encode(), body, received_at.isoformat().encode())
        formats = self._FORMATS * size
        for attempt in (1, 2):
            connection = self._connect()
            name = f"receipts_{size}".encode()
            try:
                if size not in self._prepared:
                    placeholders = ", ".join(
                        "(" + ", ".join(f"${row * 6 + column}" for column in range(1, 7)) + ", 0)"
                        for row in range(size))
                    prepared = _execute(connection.pgconn, "prepare", name, self.SQL.format(rows=placeholders).encode())
                    if prepared.status != pq.ExecStatus.COMMAND_OK:
                        self._fail(connection, _message(prepared), attempt)
                        continue
                    self._prepared.add(size)
                result = _execute(connection.pgconn, "query_prepared", name, parameters, formats)
            except OperationalError as error:  # the connection broke while sending or reading
                self._fail(connection, str(error), attempt)
                continue
            if result.status == pq.ExecStatus.TUPLES_OK:
                break
            sqlstate = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
            if sqlstate.startswith("23"):  # integrity: a foreign key (a shop deleted meanwhile)
                raise errors.lookup(sqlstate)(_message(result))
            self._fail(connection, _message(result), attempt)
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

    @staticmethod
    def _fail(connection, message: str, attempt: int) -> None:
        """A statement failed for a reason other than a constraint: drop the connection; retry once."""
        from psycopg import OperationalError

        connection.close()
        if attempt == 2:
            raise OperationalError(message or "the statement failed")


def _message(result) -> str:
    return (result.error_message or b"").decode(errors="replace").strip()


def _execute(pgconn, kind: str, *arguments):
    """libpq's ``PQprepare`` / ``PQexecPrepared`` (``kind``), without blocking a gevent worker.

    In a thread, libpq's blocking call is best: it waits in C and lets the other threads run
    (it releases the GIL). Under gevent it would stop every request of the process until the
    server answers, so there the statement is sent and its result read with libpq's
    non-blocking calls, waiting on the socket through gevent's hub. (psycopg's own wait goes
    through gevent's emulated ``poll``: ~100 µs more CPU per statement on the bench machine.)
    A socket that stays silent past the statement timeout is a dead connection.
    """
    blocking, sending = _LIBPQ_CALLS[kind]
    waits = _gevent_waits()
    if waits is None:
        return getattr(pgconn, blocking)(*arguments)
    wait_read, wait_write = waits
    from psycopg import OperationalError, pq

    patience = _GroupCommitWriter.STATEMENT_TIMEOUT + 5
    try:
        pgconn.nonblocking = 1
        getattr(pgconn, sending)(*arguments)
        while pgconn.flush():  # the rest of a large batch: wait until the socket takes more
            wait_write(pgconn.socket, timeout=patience)
        result = None
        while True:  # read to the end: one statement gives one result, then None
            pgconn.consume_input()
            while pgconn.is_busy():  # get_result() would block while the server has not finished
                wait_read(pgconn.socket, timeout=patience)
                pgconn.consume_input()
            next_result = pgconn.get_result()
            if next_result is None:
                break
            if result is None:
                result = next_result
    except OSError as error:  # gevent's wait timed out (socket.timeout)
        raise OperationalError(f"no answer from the server in {patience} s") from error
    finally:
        if pgconn.status == pq.ConnStatus.OK:  # a broken connection is dropped by the caller
            pgconn.nonblocking = 0
    if result is None:
        raise OperationalError("the server sent no result")
    return result


#: kind → (libpq's blocking call, its non-blocking counterpart), as psycopg's ``PGconn`` names them
_LIBPQ_CALLS = {"prepare": ("prepare", "send_prepare"), "query_prepared": ("exec_prepared", "send_query_prepared")}


def _gevent_waits():
    """gevent's socket waits when gevent has patched this process (gunicorn's gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        return None
    from gevent.socket import wait_read, wait_write

    return wait_read, wait_write


def _writer_conninfo(conninfo: str, statement_timeout: int) -> str:
    """The writer's connection settings, where the URL does not set them: named after the
    process (pg_stat_activity tells the writers apart), UTF-8, bounded connect and statements,
    TCP keepalives so that a silent network is noticed."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    settings = conninfo_to_dict(conninfo)
    defaults = {"application_name": f"connector-receipts-{os.getpid()}", "client_encoding": "UTF8",
                "connect_timeout": "10", "keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
                "keepalives_count": "3", "options": f"-c statement_timeout={statement_timeout * 1000}"}
    return make_conninfo("", **{**defaults, **settings})


_WRITERS: dict[object, _GroupCommitWriter] = {}  # one per engine (per app) and process
_WRITERS_LOCK = threading.Lock()
_INHERITED: list[_GroupCommitWriter] = []  # a parent's writers, kept so their connections are never closed here


def _postgres_writer(engine) -> _GroupCommitWriter:
    writer = _WRITERS.get(engine)
    if writer is None:
        from flask import current_app

        with _WRITERS_LOCK:
            writer = _WRITERS.get(engine)
            if writer is None:
                conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                writer = _WRITERS[engine] = _GroupCommitWriter(conninfo, current_app._get_current_object())
    return writer


def _after_fork_in_child() -> None:
    """A forked process starts without writers: the parent's threads did not come along, and
    its connections belong to the parent (closing one here would end the parent's session)."""
    global _WRITERS_LOCK
    _INHERITED.extend(_WRITERS.values())
    _WRITERS.clear()
    _WRITERS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _kick() -> None:
    """The ingest kick; a failure is logged, never raised: the receipts are durable already."""
    try:
        kick_ingest()
    except RedisError:
        # the sweep queues a drainer for them once Redis is back
        log.warning("webhook.kick_failed", exc_info=True)


def settle_kicks(timeout: float = 5.0) -> None:
    """Wait until this process's writers have kicked after every commit so far (tests, before
    looking at Redis or running a burst worker). On SQLite each receipt kicks before it returns."""
    for writer in list(_WRITERS.values()):
        writer.settle_kicks(timeout)


# -- the read side, for operators (``connector receipts``) --------------------------------------

def receipt_state(receipt: WebhookReceipt) -> str:
    """``dead``, the outcome of a finished receipt, ``retrying`` (failed before) or ``waiting``."""
    if receipt.processed_at is not None:
        return receipt.outcome or "processed"
    return "retrying" if receipt.error else "waiting"


def receipt_rows(shop_id: int, *, dead_only: bool = False, limit: int = 100) -> list[dict]:
    """The shop's receipts, newest first, as plain dicts (never the body: it may hold personal data)."""
    query = select(WebhookReceipt).where(WebhookReceipt.shop_id == shop_id)
    if dead_only:
        query = query.where(WebhookReceipt.outcome == DEAD)
    rows = db.session.scalars(query.order_by(WebhookReceipt.id.desc()).limit(limit)).all()
    return [{"id": r.id, "platform": r.platform, "topic": r.topic, "state": receipt_state(r), "attempts": r.attempts,
             "received_at": r.received_at.isoformat(),
             "processed_at": r.processed_at.isoformat() if r.processed_at else None, "error": r.error} for r in rows]
