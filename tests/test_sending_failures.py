"""What the sender does when the Cloud API says no: retry what can succeed, record once what
cannot, and act on what an error means for the contact or the whole account."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from connector.extensions import db
from connector.messaging.outbox import queue_message
from connector.models import Contact, Message, MessageStatus, Shop, utcnow
from tests.factories import make_contact, make_shop, order_confirmation


def _status(message_id: int) -> str:
    return db.session.get(Message, message_id).status


def _marketing(shop, contact, key="cart:1:step:1"):
    return queue_message(shop=shop, contact=contact, idempotency_key=key, automation="abandoned_cart",
                         purpose="marketing", kind="template", template_name="cart_reminder", language="de",
                         content={"body": ["Maria"], "buttons": [{"index": 0, "url_suffix": "c/abc"}]}).message


def test_http_storm_is_retried_with_backoff_until_sent(ctx, drain, sandbox):
    # Graph's own 5xx answers carry an error body: a definite "not sent", safe to retry now
    shop = make_shop()
    contact = make_contact(shop)
    sandbox.inject(kind="error", code=2, http_status=503, count=1)
    sandbox.inject(kind="error", code=131000, http_status=500, count=1)
    sandbox.inject(kind="http", status=429, count=1)
    sandbox.inject(kind="error", code=1, http_status=500, count=1)
    message = order_confirmation(shop, contact).message

    assert drain(lambda: _status(message.id) in (MessageStatus.DELIVERED, MessageStatus.READ), timeout=30)
    row = db.session.get(Message, message.id)
    assert row.attempts == 5  # four refused tries, then the one that went through
    assert row.error_code is None or row.error_code in (1, 2, 131000, 130429)
    assert len(sandbox.messages()) == 1


def test_bare_5xx_is_in_doubt_and_resent_only_after_its_lease(ctx, drain, run_worker, sandbox):
    """A 502 from an edge in front of Graph: maybe sent, maybe not. No retry until the lease ends."""
    from connector.jobs.sweep import sweep

    shop = make_shop()
    contact = make_contact(shop)
    sandbox.inject(kind="http", status=502, count=1)  # refused before Graph: nothing was sent
    message = order_confirmation(shop, contact).message
    run_worker()

    db.session.expire_all()
    row = db.session.get(Message, message.id)
    assert row.status == MessageStatus.SENDING and row.status_reason == "in_doubt:http_5xx"
    assert row.attempts == 1 and row.claimed_until is not None
    assert sweep()["requeued_in_doubt"] == 0  # lease still running
    run_worker()
    assert sandbox.messages() == []

    time.sleep(3.2)  # SEND_LEASE_SECONDS=3 in tests
    assert sweep()["requeued_in_doubt"] == 1
    assert drain(lambda: _status(message.id) in (MessageStatus.DELIVERED, MessageStatus.READ))
    assert len(sandbox.messages()) == 1


def test_lost_reply_is_settled_by_the_status_webhook_and_never_resent(ctx, drain, run_worker, sandbox):
    """Graph accepted the send but the answer was lost: the echoed row id proves it went out."""
    from connector.jobs.sweep import sweep

    shop = make_shop()
    contact = make_contact(shop)
    sandbox.inject(kind="lost_reply", status=504, count=1)
    message = order_confirmation(shop, contact).message

    assert drain(lambda: _status(message.id) in (MessageStatus.DELIVERED, MessageStatus.READ))
    row = db.session.get(Message, message.id)
    assert row.wamid == sandbox.messages()[0]["wamid"]
    time.sleep(3.2)  # past the lease: the sweep must find nothing to re-queue
    assert sweep()["requeued_in_doubt"] == 0
    run_worker()
    assert len(sandbox.messages()) == 1


def test_rate_limit_errors_are_retried_and_every_message_goes_once(ctx, drain, sandbox):
    shop = make_shop(throughput=50)
    contacts = [make_contact(shop, f"+49151123456{index:02d}") for index in range(20)]
    sandbox.inject(kind="error", code=130429, count=8, http_status=400)
    messages = [order_confirmation(shop, contact, key=f"order:{index}:confirmation").message
                for index, contact in enumerate(contacts)]

    assert drain(lambda: all(_status(m.id) not in (MessageStatus.QUEUED, MessageStatus.SENDING) for m in messages),
                 timeout=30)
    assert {_status(m.id) for m in messages} <= {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ}
    callback_ids = [record["callback_data"] for record in sandbox.messages()]
    assert sorted(callback_ids) == sorted(str(m.id) for m in messages)  # each exactly once


def test_permanent_error_is_recorded_once_and_not_retried(ctx, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop)
    sandbox.inject(kind="error", code=131026, count=5)
    message = order_confirmation(shop, contact).message

    assert drain(lambda: _status(message.id) == MessageStatus.FAILED)
    drain(lambda: True)  # more worker runs change nothing
    row = db.session.get(Message, message.id)
    assert (row.status, row.error_code, row.attempts, row.status_reason) == ("failed", 131026, 1, "error:131026")
    assert sandbox.stats()["rejected"].get("131026") == 1
    assert sandbox.messages() == []


def test_opted_out_error_revokes_marketing_consent(ctx, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop)
    sandbox.inject(kind="error", code=131050, count=1)
    first = _marketing(shop, contact, "cart:1:step:1")

    assert drain(lambda: _status(first.id) == MessageStatus.FAILED)
    assert db.session.get(Contact, contact.id).marketing_consent == "revoked"
    later = _marketing(shop, contact, "cart:2:step:1")
    assert drain(lambda: _status(later.id) == MessageStatus.SUPPRESSED)
    assert db.session.get(Message, later.id).status_reason == "no_marketing_consent"
    assert sandbox.messages() == []


def test_failed_status_webhook_131050_revokes_consent(ctx, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop)
    sandbox.inject(kind="status_failure", code=131050, count=1)
    message = _marketing(shop, contact)

    assert drain(lambda: _status(message.id) == MessageStatus.FAILED)
    assert db.session.get(Message, message.id).error_code == 131050
    assert db.session.get(Contact, contact.id).marketing_consent == "revoked"


def test_per_user_marketing_limit_holds_marketing_to_that_contact(ctx, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop)
    sandbox.inject(kind="error", code=131049, count=1)
    first = _marketing(shop, contact, "cart:1:step:1")

    assert drain(lambda: _status(first.id) == MessageStatus.FAILED)
    paused_until = db.session.get(Contact, contact.id).marketing_paused_until
    assert paused_until is not None and paused_until > utcnow() + timedelta(hours=23)
    second = _marketing(shop, contact, "cart:1:step:2")
    assert drain(lambda: db.session.get(Message, second.id).status_reason == "per_user_marketing_limit")
    row = db.session.get(Message, second.id)
    assert row.status == MessageStatus.QUEUED and abs((row.due_at - paused_until).total_seconds()) < 1
    transactional = order_confirmation(shop, contact)  # order updates are not marketing: they still go
    assert drain(lambda: _status(transactional.message.id) == MessageStatus.READ)


def test_payment_issue_pauses_the_shop_until_resumed(ctx, drain, sandbox):
    from connector.shops import resume_sending

    shop = make_shop(settings={"governor": {"quiet_hours": {"enabled": False}, "pair_interval_seconds": 0.5}})
    contact = make_contact(shop)
    sandbox.inject(kind="error", code=131042, count=1)
    first = order_confirmation(shop, contact, key="order:1:confirmation").message
    assert drain(lambda: db.session.get(Shop, shop.id).is_sending_paused)

    second = order_confirmation(shop, contact, key="order:2:confirmation").message
    drain(lambda: True)
    paused = db.session.get(Shop, shop.id)
    assert paused.sending_paused_reason == "whatsapp_error:131042"
    assert _status(first.id) == MessageStatus.QUEUED and _status(second.id) == MessageStatus.QUEUED
    assert db.session.get(Message, first.id).status_reason.startswith("paused:")
    assert sandbox.messages() == []

    resume_sending(paused)
    from connector.wakeups import kick_dispatcher

    kick_dispatcher(shop.id)
    assert drain(lambda: {_status(first.id), _status(second.id)} == {MessageStatus.READ}, timeout=30)
    assert len(sandbox.messages()) == 2


def test_deferred_message_is_sent_later_not_dropped(ctx, drain, sandbox):
    shop = make_shop(settings={"governor": {"quiet_hours": {"enabled": False}, "pair_interval_seconds": 1.5}})
    contact = make_contact(shop)
    first = order_confirmation(shop, contact, key="order:1:confirmation").message
    second = order_confirmation(shop, contact, key="order:1:invoice").message

    assert drain(lambda: _status(first.id) == MessageStatus.READ and _status(second.id) == MessageStatus.READ,
                 timeout=20)
    assert db.session.get(Message, second.id).deferrals >= 1  # held back by the pair rate, then sent
    received = sandbox.messages()
    assert [r["callback_data"] for r in received] == [str(first.id), str(second.id)]
    assert received[1]["received_at"] - received[0]["received_at"] >= 1.4


def test_message_without_consent_is_suppressed_with_reason(ctx, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop, transactional=False, marketing=False)
    message = order_confirmation(shop, contact).message
    assert drain(lambda: _status(message.id) == MessageStatus.SUPPRESSED)
    assert db.session.get(Message, message.id).status_reason == "no_transactional_consent"
    assert sandbox.messages() == []


def test_contact_of_another_shop_is_refused(ctx):
    import pytest

    shop = make_shop()
    other = make_shop("other-shop.myshopify.com", phone_number_id="2000002")
    stranger = make_contact(other)
    with pytest.raises(ValueError):
        order_confirmation(shop, stranger)
    assert db.session.scalars(select(Message)).all() == []


def test_131050_is_confirmed_once_when_the_window_is_open(ctx, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop, last_inbound_at=utcnow() - timedelta(hours=1))  # she wrote an hour ago
    sandbox.inject(kind="error", code=131050, count=1)
    first = _marketing(shop, contact, "cart:1:step:1")
    later = _marketing(shop, contact, "cart:2:step:1")
    assert drain(lambda: _status(first.id) == MessageStatus.FAILED and _status(later.id) == MessageStatus.SUPPRESSED)
    texts = lambda: [m for m in sandbox.messages() if m["type"] == "text"]  # noqa: E731
    assert drain(lambda: len(texts()) == 1)
    assert "START" in texts()[0]["payload"]["text"]["body"]
    time.sleep(0.3)
    assert len(sandbox.messages()) == 1  # the confirmation, once; no marketing after the refusal
