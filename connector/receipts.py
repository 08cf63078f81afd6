"""Webhook receipts: record a verified delivery once, then hand it to a worker.

The order is fixed (see STYLE.md): the view has verified the signature and parsed the
body; here the receipt is inserted under its unique key and committed, and only after the
commit is a job enqueued with the receipt's id. A duplicate delivery finds the key taken
and enqueues nothing. If Redis loses the job, the sweep finds the unprocessed receipt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from connector.dbutil import insert_ignoring
from connector.extensions import db
from connector.models import WebhookReceipt, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReceiptResult:
    receipt_id: int | None
    is_duplicate: bool


def record_and_enqueue(*, platform: str, dedupe_key: str, topic: str, body: bytes, shop_id: int | None) -> ReceiptResult:
    """Store the delivery durably and make sure a drainer will process it; idempotent on ``dedupe_key``.

    One statement on an autocommit connection: the INSERT is durable when it returns, in one
    round trip to the database (a session would add BEGIN and COMMIT round trips to every
    webhook, on the path whose latency the vendors time).
    """
    from connector.jobs import kick_ingest

    values = {"platform": platform, "dedupe_key": dedupe_key, "topic": topic, "shop_id": shop_id, "body": body,
              "received_at": utcnow(), "attempts": 0}
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        receipt_id = connection.execute(
            insert_ignoring(connection.dialect.name, WebhookReceipt, values, conflict=("platform", "dedupe_key"))
        ).scalar_one_or_none()
    if receipt_id is None:
        log.info("webhook.duplicate", extra={"platform": platform, "topic": topic, "shop_id": shop_id})
        return ReceiptResult(None, True)
    kick_ingest()
    return ReceiptResult(receipt_id, False)
