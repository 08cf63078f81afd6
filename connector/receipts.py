"""Webhook receipts: record a verified delivery once, then make sure a drainer will process it.

The order is fixed (see STYLE.md): the view has verified the signature and parsed the
body; here the receipt is inserted under its unique key in one autocommit statement, and
only after it is durable is the ingest kick flag set (``connector.jobs.kick_ingest``), which
queues a drainer when none is queued. A duplicate delivery finds the key taken and kicks
nothing. If Redis loses the flag or the drainer, the sweep finds the unprocessed receipt.
See docs/adr/0006-ingest-path.md.
"""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass

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

    One statement on an autocommit connection: the INSERT is durable when it returns, in one
    round trip to the database (a session would add BEGIN and COMMIT round trips to every
    webhook, on the path whose latency the vendors time).
    """
    from connector.jobs import kick_ingest

    values = {"platform": platform, "dedupe_key": dedupe_key, "topic": topic, "shop_id": shop_id, "body": body,
              "received_at": utcnow(), "attempts": 0}
    if db.engine.dialect.name == "postgresql":
        receipt_id = _postgres_writer().insert(values)
    else:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            receipt_id = connection.execute(_INSERT_RECEIPT, values).scalar_one_or_none()
    if receipt_id is None:
        log.info("webhook.duplicate", extra={"platform": platform, "topic": topic, "shop_id": shop_id})
        return ReceiptResult(None, True)
    kick_ingest()
    return ReceiptResult(receipt_id, False)


class _PostgresReceiptWriter:
    """Autocommit psycopg connections kept for the webhook path alone (see docs/adr/0006).

    Through SQLAlchemy's pool, a receipt INSERT costs ~0.5 ms of CPU (checkout, pre-ping,
    autocommit switch and reset, statement handling); on a connection of its own it costs
    ~0.05 ms, and that is most of a webhook request. A connection that fails is dropped and
    the INSERT is tried once more on a new one, so a database restart costs one retry.
    """

    SQL = ("INSERT INTO webhook_receipts (platform, dedupe_key, topic, shop_id, body, received_at, attempts) "
           "VALUES (%(platform)s, %(dedupe_key)s, %(topic)s, %(shop_id)s, %(body)s, %(received_at)s, %(attempts)s) "
           "ON CONFLICT (platform, dedupe_key) DO NOTHING RETURNING id")
    MAX_IDLE = 8

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._idle: queue.SimpleQueue = queue.SimpleQueue()

    def insert(self, values: dict) -> int | None:
        import psycopg

        for attempt in (1, 2):
            connection = self._take()
            try:
                with connection.cursor() as cursor:
                    cursor.execute(self.SQL, values, prepare=True)
                    row = cursor.fetchone()
            except psycopg.OperationalError:
                connection.close()
                if attempt == 2:
                    raise
                continue
            except psycopg.IntegrityError as error:  # e.g. the shop was deleted meanwhile
                self._give_back(connection)
                raise IntegrityError(self.SQL, None, error) from error
            except Exception:
                connection.close()
                raise
            self._give_back(connection)
            return row[0] if row else None
        return None  # pragma: no cover - the loop returns or raises

    def _take(self):
        import psycopg

        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            return psycopg.connect(self._conninfo, autocommit=True)
        return connection if not connection.closed else psycopg.connect(self._conninfo, autocommit=True)

    def _give_back(self, connection) -> None:
        if self._idle.qsize() >= self.MAX_IDLE:
            connection.close()
        else:
            self._idle.put(connection)


_WRITERS: dict[str, _PostgresReceiptWriter] = {}


def _postgres_writer() -> _PostgresReceiptWriter:
    url = db.engine.url
    key = url.render_as_string(hide_password=False)
    writer = _WRITERS.get(key)
    if writer is None:
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        writer = _WRITERS[key] = _PostgresReceiptWriter(conninfo)
    return writer
