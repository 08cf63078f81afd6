"""The group-commit writer: on PostgreSQL, the receipts of concurrent webhook requests share
one autocommit INSERT, and one ingest kick follows each commit.

``connector.receipts.record_receipt`` hands each receipt to the process's writer (one per
engine and process, made on first use and remade after a fork). The writer's thread takes
every receipt waiting at that moment, writes them in one multi-row prepared statement
through libpq (``connector.receipt_libpq``), and answers each request with its id; a
separate kicker thread makes the ingest kick at most once per ``KICK_INTERVAL`` for all
commits since the last one, so a slow Redis never delays an answer. See
docs/adr/0006-ingest-path.md.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import cast

from redis.exceptions import RedisError
from sqlalchemy import String, event
from sqlalchemy.exc import IntegrityError

from connector.models import WebhookReceipt
from connector.receipt_libpq import execute, message
from connector.wakeups import kick_ingest

log = logging.getLogger(__name__)

#: the receipt columns in the order a receipt's values tuple has them
COLUMNS = ("platform", "dedupe_key", "topic", "shop_id", "body", "received_at")
KEY_LENGTH = cast(int, cast(String, WebhookReceipt.__table__.c.dedupe_key.type).length)  # 128: String(128)


class ReceiptNotWritten(RuntimeError):
    """The receipt could not be made durable in time (database down or stuck): answer 503, the vendor retries."""






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
                    kick()
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
                    prepared = execute(connection.pgconn, "prepare", name, self.SQL.format(rows=placeholders).encode(),
                                       patience=self.STATEMENT_TIMEOUT + 5)
                    if prepared.status != pq.ExecStatus.COMMAND_OK:
                        self._fail(connection, message(prepared), attempt)
                        continue
                    self._prepared.add(size)
                result = execute(connection.pgconn, "query_prepared", name, parameters, formats,
                                 patience=self.STATEMENT_TIMEOUT + 5)
            except OperationalError as error:  # the connection broke while sending or reading
                self._fail(connection, str(error), attempt)
                continue
            if result.status == pq.ExecStatus.TUPLES_OK:
                break
            sqlstate = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
            if sqlstate.startswith("23"):  # integrity: a foreign key (a shop deleted meanwhile)
                raise errors.lookup(sqlstate)(message(result))
            self._fail(connection, message(result), attempt)
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


def postgres_writer(engine) -> _GroupCommitWriter:
    writer = _WRITERS.get(engine)
    if writer is None:
        from flask import current_app

        with _WRITERS_LOCK:
            writer = _WRITERS.get(engine)
            if writer is None:
                conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy typed as Flask
                writer = _WRITERS[engine] = _GroupCommitWriter(conninfo, app)
                event.listen(engine, "engine_disposed", _close_writer)
    return writer


@atexit.register
def _close_writers() -> None:
    """At exit, each writer writes what is pending, makes the kicks owed, and closes its connection."""
    with _WRITERS_LOCK:
        writers = list(_WRITERS.values())
        _WRITERS.clear()
    for writer in writers:
        writer.close()


def _close_writer(engine) -> None:
    """A disposed engine takes its writer along (what is pending is written first)."""
    with _WRITERS_LOCK:
        writer = _WRITERS.pop(engine, None)
    if writer is not None:
        writer.close()


def _after_fork_in_child() -> None:
    """A forked process starts without writers: the parent's threads did not come along, and
    its connections belong to the parent (closing one here would end the parent's session)."""
    global _WRITERS_LOCK
    _INHERITED.extend(_WRITERS.values())
    _WRITERS.clear()
    _WRITERS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def kick() -> None:
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
