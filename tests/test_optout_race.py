"""A STOP that lands while a batch is being paced out stops every message of that contact not
yet handed to the Cloud API, including rows the running dispatcher already claimed."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from connector.extensions import db
from connector.messaging.outbox import queue_message
from connector.messaging.statuses import revoke_marketing
from connector.models import Message, MessageStatus, utcnow
from tests.factories import make_contact, make_shop


def test_stop_mid_batch_suppresses_every_claimed_row_not_yet_sent(ctx, run_worker, sandbox, caplog):
    caplog.set_level("INFO", logger="connector.messaging.dispatcher")
    shop = make_shop(throughput=10)  # 10 msg/s: a batch of 20 takes about two seconds to pace out
    sandbox.set_limits("1000001", throughput_per_second=10)
    contacts = [make_contact(shop, f"+49151200000{i:02d}") for i in range(20)]
    ids = [queue_message(shop=shop, contact=c, idempotency_key=f"bis:v1:{c.id}", automation="back_in_stock",
                         purpose="marketing", kind="template", template_name="back_in_stock", language="de",
                         content={"body": {"product_name": "Mug"}}).message.id for c in contacts]
    contact_ids = [c.id for c in contacts]
    shop_id = shop.id

    stop_seen: list[float] = []

    def shopper_says_stop() -> None:
        # every contact says STOP once the batch is under way, through the function the
        # webhook handler uses, in its own app context (its own database session)
        assert sandbox.wait_for_messages(4, timeout=10), "the batch started"
        with ctx.app_context():
            at = utcnow()
            for contact_id in contact_ids:
                revoke_marketing(shop_id, contact_id, source="test_stop", at=at)
            db.session.commit()
            stop_seen.append(time.time())

    stopper = threading.Thread(target=shopper_says_stop)
    stopper.start()
    run_worker()  # the real worker, in this thread: RQ installs signal handlers
    stopper.join(timeout=10)
    assert stop_seen, "the STOP was applied"
    stop_seen = stop_seen[0]

    db.session.expire_all()
    rows = db.session.scalars(select(Message).where(Message.id.in_(ids))).all()
    sent = [r for r in rows if r.status in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)]
    suppressed = [r for r in rows if r.status == MessageStatus.SUPPRESSED]
    arrivals = sandbox.received_at()
    assert len(sent) == len(arrivals) and len(sent) + len(suppressed) == 20
    assert 4 <= len(sent) < 10, "most of the batch was still waiting when the STOP landed"
    assert {r.status_reason for r in suppressed} == {"no_marketing_consent"}
    # nothing left for the Cloud API after the STOP became visible (one check interval + a request)
    assert all(t <= stop_seen + 0.1 for t in arrivals), [round(t - stop_seen, 3) for t in arrivals]
    # they were claimed ("sending") when the STOP came, so the dispatcher itself withdrew them
    # (revoke_marketing only reaches rows still "queued")
    withdrawn = [r for r in caplog.records if r.getMessage() == "dispatch.consent_withdrawn_mid_batch"]
    assert sum(r.count for r in withdrawn) == len(suppressed)
