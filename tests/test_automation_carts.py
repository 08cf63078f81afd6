"""Abandoned-cart sequence: scheduled steps as outbox rows, stopped the moment it is moot."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from connector.extensions import db
from connector.messaging.statuses import revoke_marketing
from connector.models import Cart, Contact, Message, ShortLink
from tests.automation_events import OrderPaid, OrderPlaced, apply, checkout, now, order, timedelta
from tests.factories import make_contact, make_shop

SETTINGS = {"governor": {"quiet_hours": {"enabled": False}},
            "automations": {"abandoned_cart": {"delays_seconds": [0, 3600, 7200], "discount_code": "COMEBACK10",
                                               "discount_value": "10%"}}}


def _steps():
    return db.session.scalars(select(Message).where(Message.automation == "abandoned_cart").order_by(Message.id)).all()


def _shop_and_opted_in_shopper():
    # its own number: a late status webhook of an earlier test (same outbox ids after the
    # tables are emptied) must not route to this shop (see the report on apply_status)
    shop = make_shop(phone_number_id="3000003", settings=SETTINGS)
    make_contact(shop, "+4915123456789")  # marketing consent granted (double opt-in done)
    return shop


def test_sequence_is_scheduled_with_discount_only_in_the_last_step_and_stops_on_order(ctx, drain, sandbox):
    shop = _shop_and_opted_in_shopper()
    apply(shop, checkout("cart-abc"))
    steps = _steps()
    assert [m.idempotency_key for m in steps] == [f"cart:{steps[0].idempotency_key.split(':')[1]}:step:{n}"
                                                  for n in (1, 2, 3)]
    assert [m.template_name for m in steps] == ["cart_reminder_1", "cart_reminder_2", "cart_reminder_discount"]
    assert steps[1].due_at > now() + timedelta(minutes=59) and steps[2].due_at > now() + timedelta(minutes=119)
    links = {link.message_id: link for link in db.session.scalars(select(ShortLink))}
    for step in steps:  # every step opens exactly this cart; only the last carries the code
        url = urlsplit(links[step.id].target_url)
        assert url.netloc == "demo-shop.myshopify.com" and url.path == "/cart/111:2,121:1"
        assert ("discount" in parse_qs(url.query)) == (step.template_name == "cart_reminder_discount")
        assert parse_qs(url.query)["utm_medium"] == ["abandoned_cart"]
    assert "COMEBACK10" in str(steps[2].content) and "COMEBACK10" not in str(steps[:2][0].content)

    assert drain(lambda: len(sandbox.messages()) == 1)  # step 1 goes out
    apply(shop, OrderPlaced(order("5001", cart_tokens=("cart-abc",))))  # bought between step 1 and step 2
    db.session.expire_all()
    statuses = [m.status for m in _steps()]
    assert statuses[0] in ("sent", "delivered", "read") and statuses[1:] == ["cancelled", "cancelled"]
    assert {m.status_reason for m in _steps()[1:]} == {"converted"}
    assert db.session.scalars(select(Cart)).one().status == "converted"
    apply(shop, checkout("cart-abc", at=now() + timedelta(seconds=5)))  # a late checkout update restarts nothing
    assert len(_steps()) == 3


def test_same_contact_ordering_through_another_checkout_stops_the_sequence(ctx):
    shop = _shop_and_opted_in_shopper()
    apply(shop, checkout("cart-abc"))
    apply(shop, OrderPaid(order("5002", cart_tokens=("other-device-cart",))))
    assert [(m.status, m.status_reason) for m in _steps()] == [("cancelled", "contact_ordered")] * 3


def test_newer_cart_replaces_the_older_sequence(ctx):
    shop = _shop_and_opted_in_shopper()
    apply(shop, checkout("cart-old"))
    apply(shop, checkout("cart-new", at=now() + timedelta(seconds=1)))
    old, new = db.session.scalars(select(Cart).order_by(Cart.id)).all()
    assert (old.status, old.status_reason) == ("stopped", "newer_cart")
    by_cart = {c: [m.status for m in _steps() if m.idempotency_key.startswith(f"cart:{c.id}:")] for c in (old, new)}
    assert by_cart[old] == ["cancelled"] * 3 and by_cart[new] == ["queued"] * 3


def test_no_reminder_within_24_hours_of_the_contacts_last_order(ctx):
    shop = _shop_and_opted_in_shopper()
    apply(shop, OrderPaid(order("5003", cart_tokens=())))
    apply(shop, checkout("cart-later"))
    assert _steps() == []
    assert db.session.scalars(select(Cart)).one().status_reason == "recent_order"


def test_opt_out_suppresses_the_remaining_steps(ctx):
    shop = _shop_and_opted_in_shopper()
    apply(shop, checkout("cart-abc"))
    contact = db.session.scalars(select(Contact)).one()
    revoke_marketing(shop.id, contact.id, source="quick_reply", at=now())
    db.session.commit()
    assert [m.status for m in _steps()] == ["suppressed"] * 3


def test_no_discount_step_without_a_code(ctx):
    shop = make_shop(settings={"automations": {"abandoned_cart": {"delays_seconds": [3600, 7200]}}})
    make_contact(shop, "+4915123456789")
    apply(shop, checkout("cart-abc"))
    assert [m.template_name for m in _steps()] == ["cart_reminder_1", "cart_reminder_2"]
