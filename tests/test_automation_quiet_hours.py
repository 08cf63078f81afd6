"""Quiet hours defer and then deliver: a cart reminder due at night in the shopper's time zone
waits, with the reason, until the quiet hours end there, and then goes out.

Deterministic without waiting for hours: the shopper lives in a fixed-offset zone where it is
02:xx right now, and "the morning" is reached by moving the dispatcher's clock to the
deferred due time and running the wake-up job RQ holds for that moment.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from connector.extensions import db, get_redis
from connector.models import Message
from connector.queues import SEND, get_queue
from tests.automation_events import apply, checkout
from tests.factories import make_contact, make_shop, order_confirmation

SETTINGS = {"governor": {"quiet_hours": {"enabled": True, "start": "21:00", "end": "08:00"}},
            "automations": {"abandoned_cart": {"delays_seconds": [0]}}}


def night_zone() -> str:
    """A fixed-offset zone where it is between 02:00 and 03:00 now (quiet, far from the edges)."""
    utc_hour = datetime.now(timezone.utc).hour
    for offset in range(-12, 15):
        if (utc_hour + offset) % 24 == 2:
            return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # POSIX signs
    raise AssertionError("unreachable: offsets -12..+14 cover every hour")


def test_cart_reminder_at_night_is_deferred_then_delivered_after_quiet_hours(ctx, drain, sandbox, monkeypatch):
    zone = night_zone()
    shop = make_shop(phone_number_id="4000004", settings=SETTINGS, time_zone="UTC")
    contact = make_contact(shop, "+4915123456789", time_zone=zone)  # marketing consent granted
    apply(shop, checkout("cart-night"))
    step = db.session.scalars(select(Message).where(Message.idempotency_key.like("cart:%:step:1"))).one()

    drain(lambda: db.session.get(Message, step.id).deferrals >= 1, timeout=5)
    step = db.session.get(Message, step.id)
    assert (step.status, step.status_reason, step.deferrals) == ("queued", "quiet_hours", 1)
    local_morning = datetime.now(ZoneInfo(zone)).replace(hour=8, minute=0, second=0, microsecond=0)
    assert step.due_at == local_morning.astimezone(timezone.utc)  # 08:00 where the shopper lives
    assert sandbox.messages() == []

    # a transactional message to the same shopper at the same moment is not held
    order_confirmation(shop, contact)
    assert drain(lambda: len(sandbox.messages()) == 1)
    assert sandbox.messages()[0]["payload"]["template"]["name"] == "order_confirmation"
    assert db.session.get(Message, step.id).status == "queued"

    # RQ holds the dispatcher's wake-up for the first second after the deferred due time
    registry = ScheduledJobRegistry(queue=get_queue(SEND))
    wake_ups = {job_id: registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()}
    due_second = math.ceil(step.due_at.timestamp())  # the first whole second not before the due time
    assert wake_ups == {f"dispatch-{shop.id}-at-{due_second}": datetime.fromtimestamp(due_second, timezone.utc)}

    # morning comes: the dispatcher's clock reaches the due time, and the wake-up job runs
    morning = step.due_at + timedelta(seconds=1)
    monkeypatch.setattr("connector.messaging.dispatcher.utcnow", lambda: morning)
    monkeypatch.setattr("connector.messaging.dispatch_rows.utcnow", lambda: morning)
    job = Job.fetch(f"dispatch-{shop.id}-at-{due_second}", connection=get_redis(),
                    serializer=get_queue(SEND).serializer)
    registry.remove(job)
    get_queue(SEND).enqueue_job(job)
    assert drain(lambda: len(sandbox.messages()) == 2)
    sent = db.session.get(Message, step.id)
    assert sent.status in ("sent", "delivered", "read") and sent.status_reason is None and sent.deferrals == 1
    assert sandbox.messages()[1]["payload"]["template"]["name"] == "cart_reminder_1"
    assert sandbox.messages()[1]["to"] == contact.phone_e164
