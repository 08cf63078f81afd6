"""Webhook receipts: record a verified delivery once, and read them back for operators.

The order is fixed (see STYLE.md): the view has verified the signature and parsed the
body; here the receipt is inserted under its unique key in one autocommit statement (shared
with the receipts of concurrent requests on PostgreSQL), and only after it is durable is the
ingest kick flag set (``connector.wakeups.kick_ingest``; on PostgreSQL at most once per 20 ms
per process, from ``connector.receipt_writer``), which queues a drainer when none is queued.
A duplicate delivery finds the
key taken and kicks nothing. If Redis loses the flag or the drainer, the sweep finds the
unprocessed receipt. See docs/adr/0006-ingest-path.md.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert  # ON CONFLICT … DO NOTHING compiles for SQLite too
from sqlalchemy.exc import OperationalError

from connector.extensions import db
from connector.models import WebhookReceipt, utcnow
from connector.receipt_writer import COLUMNS, KEY_LENGTH, ReceiptNotWritten, kick, postgres_writer

log = logging.getLogger(__name__)

#: ReceiptNotWritten is the writer's, offered here with the rest of what a view needs
__all__ = ["DEAD", "ReceiptNotWritten", "ReceiptResult", "receipt_rows", "receipt_state", "record_receipt"]

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


def record_receipt(*, platform: str, dedupe_key: str, topic: str, body: bytes, shop_id: int | None) -> ReceiptResult:
    """Store the delivery durably and make sure a drainer will process it; idempotent on ``dedupe_key``.

    On PostgreSQL the receipt joins the process's next group commit (``_GroupCommitWriter``):
    one multi-row INSERT in one autocommit statement for every receipt waiting at that
    moment. It returns once that statement has committed; the kick follows from the
    writer's kicker. On SQLite (development, tests) it is one autocommit INSERT of its own,
    then one kick. A key longer than the column keeps its first 63 characters and a hash of
    the whole (distinct keys stay distinct).
    """
    if len(dedupe_key) > KEY_LENGTH:
        dedupe_key = f"{dedupe_key[:63]}:{hashlib.sha256(dedupe_key.encode()).hexdigest()}"
    values = (platform, dedupe_key, topic, shop_id, body, utcnow())
    engine = db.engine
    if engine.dialect.name == "postgresql":
        receipt_id = postgres_writer(engine).insert(values)
    else:
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                receipt_id = connection.execute(
                    _INSERT_RECEIPT, dict(zip(COLUMNS, values, strict=True), attempts=0)).scalar_one_or_none()
        except OperationalError as error:  # the database is unreachable or locked
            raise ReceiptNotWritten(f"the receipt was not written: {type(error.orig).__name__}") from error
        if receipt_id is not None:
            kick()
    if receipt_id is None:
        log.info("webhook.duplicate", extra={"platform": platform, "topic": topic, "shop_id": shop_id})
        return ReceiptResult(None, True)
    return ReceiptResult(receipt_id, False)



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
