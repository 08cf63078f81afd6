"""The send job: one shop's dispatcher run (``connector.messaging.dispatcher``), and its next wake-up."""

from __future__ import annotations

from datetime import timedelta

from connector import receipt_failures
from connector.extensions import db, get_redis, settings
from connector.jobs.ingest import DRAIN_RETRY_SECONDS
from connector.messaging.dispatcher import dispatch_shop, next_due_at
from connector.models import utcnow
from connector.queues import SEND, get_queue
from connector.wakeups import enqueue_dispatcher, kick_dispatcher


def dispatch_outbox(shop_id: int) -> dict:
    """Send the shop's due messages; schedule the next wake-up for what had to wait."""
    config = settings()
    send_queue = get_queue(SEND)
    try:
        report = dispatch_shop(shop_id, redis=get_redis(), lease_seconds=config.send_lease_seconds,
                               retry_base_seconds=config.retry_base_seconds, lock_seconds=config.dispatch_lock_seconds,
                               others_waiting=lambda: send_queue.count > 0)
    except Exception as error:
        # the database went away (or its pool ran dry) under the dispatcher: this job was the
        # shop's wake-up, so without another one its due rows would wait for the next sweep
        if receipt_failures.classify(error) == receipt_failures.TRANSIENT:
            db.session.rollback()
            kick_dispatcher(shop_id, at=utcnow() + timedelta(seconds=DRAIN_RETRY_SECONDS))
        raise
    if report.out_of_time:
        enqueue_dispatcher(shop_id)
    elif not report.paused and not report.idle:  # a shop that cannot send is woken by `whatsapp set`
        due = next_due_at(shop_id)
        if due is not None:
            kick_dispatcher(shop_id, at=due)
    db.session.commit()
    return vars(report)
