"""Repurchase reminder: real ``orders/paid`` webhooks through the endpoint and a real worker
record each order's lines; the sweep queues a reminder when a product's interval (the
merchant's, or the median learnt from the shop's repeat orders) has passed since the contact's
last order of it, with a one-tap cart of the same items, once."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from connector.extensions import db, get_redis
from connector.jobs.sweep import sweep
from connector.models import Message, OrderLine, ShortLink, utcnow
from tests.factories import make_contact
from tests.lifecycle_support import PHONE, post_order, sample_order, shop, switch_on  # noqa: F401  (fixture)

PRODUCT, VARIANT = 632910392, 808950810


def _reminders() -> list[Message]:
    db.session.expire_all()
    return list(db.session.scalars(select(Message).where(Message.automation == "repurchase_reminder")
                                   .order_by(Message.id)))


def test_a_reminder_at_the_merchants_interval_with_a_cart_of_the_same_items_once(
        client, fake_shopify, shop, run_worker, drain, sandbox):
    switch_on(shop, repurchase_reminder={"intervals": [{"product_id": str(PRODUCT), "days": 30}]})
    contact = make_contact(shop, PHONE)  # subscribed to marketing
    other = make_contact(shop, "+4915199999999")
    now = utcnow()
    order = sample_order("5001", at=now - timedelta(days=31),
                         lines=((PRODUCT, VARIANT, 2, "Coffee beans"), (PRODUCT, 808950811, 1, "Coffee beans decaf"),
                                (777, None, 1, "Mug")))
    post_order(client, fake_shopify, order)
    post_order(client, fake_shopify, order)  # Shopify delivers it again
    post_order(client, fake_shopify, sample_order("5002", at=now - timedelta(days=20), phone=other.phone_e164,
                                                  email="other@example.com", customer_id=2))  # not due yet
    run_worker()
    lines = db.session.scalars(select(OrderLine).where(OrderLine.order_id == "5001").order_by(OrderLine.id)).all()
    assert [(line.product_id, line.variant_id, line.quantity, line.contact_id) for line in lines] == [
        (str(PRODUCT), str(VARIANT), 2, contact.id), (str(PRODUCT), "808950811", 1, contact.id),
        ("777", None, 1, contact.id)]
    assert abs(lines[0].placed_at - (now - timedelta(days=31))) < timedelta(seconds=1)

    report = sweep()
    assert report["repurchase_reminders"] == 1
    (reminder,) = _reminders()
    assert reminder.idempotency_key == f"repurchase:{contact.id}:{PRODUCT}:5001"
    assert reminder.contact_id == contact.id and reminder.purpose == "marketing"
    assert reminder.content["body"]["product_name"] == "Coffee beans"
    link = db.session.scalars(select(ShortLink).where(ShortLink.message_id == reminder.id)).one()
    assert urlsplit(link.target_url).path == f"/cart/{VARIANT}:2,808950811:1"  # the same items, one tap
    assert drain(lambda: any(m["payload"].get("template", {}).get("name") == "repurchase_reminder"
                             for m in sandbox.messages()))

    assert sweep()["repurchase_reminders"] == 0  # once per last order, however often the sweep runs
    assert len(_reminders()) == 1


def test_a_newer_order_of_the_product_moves_the_reminder_on(client, fake_shopify, shop, run_worker):
    switch_on(shop, repurchase_reminder={"intervals": [{"product_id": str(PRODUCT), "days": 30}]})
    make_contact(shop, PHONE)
    now = utcnow()
    post_order(client, fake_shopify, sample_order("5101", at=now - timedelta(days=40)))
    post_order(client, fake_shopify, sample_order("5102", at=now - timedelta(days=5)))  # bought it again since
    run_worker()
    sweep()
    assert _reminders() == []


def test_a_reminder_at_the_interval_learnt_from_the_shops_repeat_orders(client, fake_shopify, shop, run_worker):
    switch_on(shop, repurchase_reminder={"min_repeats": 6})
    now = utcnow()
    buyers = {"a": ("+4915100000001", (60, 50, 40)), "b": ("+4915100000002", (45, 35, 25)),
              "c": ("+4915100000003", (30, 20)), "d": ("+4915100000004", (10.5,))}
    contacts, number = {}, 6000
    for name, (phone, days_ago) in buyers.items():
        contacts[name] = make_contact(shop, phone)
        for days in days_ago:
            number += 1
            post_order(client, fake_shopify, sample_order(str(number), at=now - timedelta(days=days), phone=phone,
                                                          email=f"{name}@example.com", customer_id=number))
    run_worker()  # five repeat intervals of 10 days: a, a, b, b, c

    sweep()
    assert _reminders() == []  # six needed: nothing is learnt, nothing is due

    switch_on(shop, repurchase_reminder={"min_repeats": 5})
    get_redis().flushdb()  # not needed (the cache is per threshold), but the sweep must not rely on it
    sweep()
    due = {message.contact_id for message in _reminders()}
    # c's last order was 20 days ago (due 10 days ago), d's 10.5 days ago (due half a day ago);
    # b's last order was due 15 days ago: later than late_days (14), an old order earns nothing
    assert due == {contacts["c"].id, contacts["d"].id}


def test_off_by_default(client, fake_shopify, shop, run_worker):
    make_contact(shop, PHONE)
    post_order(client, fake_shopify, sample_order("5201", at=utcnow() - timedelta(days=31)))
    run_worker()
    assert db.session.scalar(select(OrderLine.id).where(OrderLine.order_id == "5201")) is not None  # still recorded
    switch_on(shop, repurchase_reminder={"enabled": False, "intervals": [{"product_id": str(PRODUCT), "days": 30}]})
    sweep()
    assert _reminders() == []
