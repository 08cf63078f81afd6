"""The outbox end to end: queue → real RQ worker → sandbox Cloud API → signed status
webhooks through the real endpoint → monotonic statuses."""

from __future__ import annotations

from sqlalchemy import func, select

from connector.extensions import db
from connector.models import Message, MessageStatus
from tests.factories import make_contact, make_shop, order_confirmation


def test_order_confirmation_travels_the_whole_pipeline(ctx, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop)
    queued = order_confirmation(shop, contact)
    assert queued.is_new and queued.message.status == MessageStatus.QUEUED

    assert drain(lambda: db.session.get(Message, queued.message.id).status == MessageStatus.READ)

    message = db.session.get(Message, queued.message.id)
    assert message.wamid and message.sent_at and message.delivered_at and message.read_at
    assert message.sent_at <= message.delivered_at <= message.read_at
    received = sandbox.messages()
    assert len(received) == 1
    payload = received[0]["payload"]
    assert payload["to"] == "+4915112345678"
    assert payload["template"]["name"] == "order_confirmation"
    assert payload["template"]["language"]["code"] == "de"
    assert payload["biz_opaque_callback_data"] == str(message.id)
    body = next(c for c in payload["template"]["components"] if c["type"] == "body")
    assert [p["text"] for p in body["parameters"]] == ["Maria", "#1001", "49,90 €"]
    button = next(c for c in payload["template"]["components"] if c["type"] == "button")
    assert button["parameters"][0]["text"] == "orders/1001"
    assert received[0]["access_token"] == "EAAG-test-token"


def test_same_idempotency_key_sends_once(ctx, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop)
    first = order_confirmation(shop, contact)
    second = order_confirmation(shop, contact)
    assert not second.is_new and second.message.id == first.message.id

    assert drain(lambda: db.session.get(Message, first.message.id).status == MessageStatus.READ)
    third = order_confirmation(shop, contact)  # after sending, too
    assert not third.is_new
    drain(lambda: True)
    assert len(sandbox.messages()) == 1
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1


def test_a_shop_without_a_number_does_not_spin_its_dispatcher(ctx, run_worker):
    """Due messages of a shop that cannot send (no WhatsApp number yet) wait without a job loop,
    and go out once the number is set."""
    from connector.models import Shop, WhatsAppAccount
    from connector.queues import SEND, get_queue
    from connector.shops import set_whatsapp

    shop = make_shop()
    contact = make_contact(shop)
    db.session.execute(WhatsAppAccount.__table__.delete())
    db.session.commit()
    message = order_confirmation(shop, contact).message
    run_worker()  # would never return if the dispatcher kept re-enqueueing itself
    assert get_queue(SEND).count == 0 and len(get_queue(SEND).scheduled_job_registry) == 0
    assert db.session.get(Message, message.id).status == MessageStatus.QUEUED

    set_whatsapp(db.session.get(Shop, shop.id), phone_number_id="1000001", access_token="EAAG-test-token")
    run_worker()
    db.session.expire_all()
    assert db.session.get(Message, message.id).status in (MessageStatus.SENT, MessageStatus.DELIVERED,
                                                         MessageStatus.READ)


def test_a_dispatcher_steps_aside_for_other_shops_after_its_slice(ctx, monkeypatch):
    """One worker, many shops: a busy shop's dispatcher hands the worker over once its minimum
    slice is used and another shop's dispatcher is queued, and re-queues itself behind it."""
    from connector.extensions import get_redis
    from connector.messaging import dispatcher

    monkeypatch.setattr(dispatcher, "MIN_SLICE_SECONDS", 0.0)
    # asked before every claim (not at most twice a second): whether the first claim's sends
    # take more or less than 0.5 s, the second claim is preceded by a check
    monkeypatch.setattr(dispatcher, "YIELD_CHECK_SECONDS", 0.0)
    shop = make_shop(throughput=10)  # a claim takes 2 s of sending: 20 rows
    contacts = [make_contact(shop, f"+49151300000{i:02d}") for i in range(25)]
    for index, contact in enumerate(contacts):
        order_confirmation(shop, contact, key=f"order:{index}:confirmation")
    checks: list[bool] = []

    def others_waiting() -> bool:
        checks.append(True)
        return len(checks) > 1  # another shop's dispatcher is queued once the first claim is out

    report = dispatcher.dispatch_shop(shop.id, redis=get_redis(), lease_seconds=30, retry_base_seconds=1.0,
                                      others_waiting=others_waiting)
    assert report.out_of_time and checks
    assert report.sent == 20  # its first claim, then it stepped aside with work left
    assert get_redis().exists(dispatcher.kick_key(shop.id))  # and flagged itself to come back
