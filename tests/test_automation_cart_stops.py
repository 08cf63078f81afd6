"""When a cart sequence stops (issue 14.4) and when a waiting step has become moot (14.5),
with the steps dispatched by a real worker to the sandbox."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select, update

from connector.extensions import db
from connector.models import Cart, Message, MessageStatus, utcnow
from connector.wakeups import kick_dispatcher
from tests.automation_events import OrderPlaced, apply, checkout, customer, order, timedelta
from tests.factories import make_contact, make_shop

SETTINGS = {"governor": {"quiet_hours": {"enabled": False}, "pair_interval_seconds": 0.2},
            "automations": {"abandoned_cart": {"delays_seconds": [0, 3600, 7200]}}}


def _steps(shop, cart_token: str) -> list[Message]:
    cart = db.session.scalars(select(Cart).where(Cart.shop_id == shop.id, Cart.cart_token == cart_token)).one()
    return db.session.scalars(select(Message).where(
        Message.shop_id == shop.id, Message.idempotency_key.like(f"cart:{cart.id}:step:%")).order_by(Message.id)).all()


def _checkout(token: str, phone: str, **identity):
    event = checkout(token, phone=phone)
    return dataclasses.replace(event, customer=customer(phone, **identity))


def test_14_4_sequence_stops_when_the_same_customer_orders_by_customer_id_or_email(ctx, drain, sandbox):
    shop = make_shop(phone_number_id="3000004", settings=SETTINGS)
    other_shop = make_shop(domain="other-shop.myshopify.com", phone_number_id="3000005", settings=SETTINGS)
    make_contact(shop, "+4915123456789")
    make_contact(shop, "+4915111111111")
    make_contact(other_shop, "+4915123456789")
    apply(shop, _checkout("cart-id", "+4915123456789", platform_customer_id="cust-42"))
    apply(shop, _checkout("cart-mail", "+4915111111111", email="Jo.Doe@Example.com"))
    # another store with a customer of the same id and e-mail: not the same person
    apply(other_shop, _checkout("cart-other", "+4915123456789", platform_customer_id="cust-42",
                                email="jo.doe@example.com"))
    assert drain(lambda: len(sandbox.messages()) == 3)  # every first step went out

    # she buys on her laptop with another phone, logged in to the same customer account
    apply(shop, OrderPlaced(order("9101", cart_tokens=("other-checkout",), phone="+4915199999999",
                                  customer=customer("+4915199999999", platform_customer_id="cust-42"))))
    # he checks out as a guest without a phone, typing his e-mail differently
    apply(shop, OrderPlaced(order("9102", cart_tokens=(), phone=None,
                                  customer=customer(None, email="  JO.DOE@example.COM "))))
    db.session.expire_all()
    for token in ("cart-id", "cart-mail"):
        later = _steps(shop, token)[1:]
        assert [(m.status, m.status_reason) for m in later] == [("cancelled", "customer_ordered")] * 2, token
        assert db.session.scalars(select(Cart.status).where(Cart.cart_token == token)).one() == Cart.CONVERTED
    assert [m.status for m in _steps(other_shop, "cart-other")[1:]] == ["queued", "queued"]
    assert db.session.scalars(select(Cart.status).where(Cart.cart_token == "cart-other")).one() == Cart.OPEN

    # the cancelled steps never go out, even once due
    db.session.execute(update(Message).where(Message.shop_id == shop.id).values(due_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    drain(lambda: True)
    assert len(sandbox.messages()) == 3


CAPPED = {"governor": {**SETTINGS["governor"], "frequency_caps": {"marketing": {"max_messages": 1, "per_hours": 24}}},
          "automations": SETTINGS["automations"]}


def _capped_shopper(phone_number_id: str):
    """A shop capping marketing at one message a day, and a shopper who got one an hour ago."""
    from connector.messaging.outbox import queue_message

    shop = make_shop(phone_number_id=phone_number_id, settings=CAPPED)
    contact = make_contact(shop, "+4915123456789")
    earlier = queue_message(shop=shop, contact=contact, idempotency_key="campaign:1", automation="campaign",
                            purpose="marketing", kind="template", template_name="back_in_stock", language="de",
                            content={"body": {}}).message
    earlier.status, earlier.sent_at = MessageStatus.SENT, utcnow() - timedelta(hours=1)
    db.session.commit()
    return shop, earlier


def _time_passes(earlier: Message, *due_now: Message) -> None:
    """A day later: the earlier send has left the cap's window and these rows are due."""
    earlier.sent_at = utcnow() - timedelta(hours=25)
    for offset, row in enumerate(due_now):
        row.due_at = utcnow() - timedelta(seconds=10 - offset)
    db.session.commit()
    kick_dispatcher(earlier.shop_id)  # what the wake-up scheduled for the deferral does, a day early


def _cart_sends(sandbox) -> list[str]:
    return [m["payload"]["template"]["name"] for m in sandbox.messages()
            if m["payload"].get("template", {}).get("name", "").startswith("cart_reminder")]


def test_14_5_a_capped_step_overtaken_by_the_next_step_is_superseded(ctx, drain, sandbox):
    shop, earlier = _capped_shopper("3000006")
    apply(shop, checkout("cart-capped"))
    step1, step2, _ = _steps(shop, "cart-capped")
    assert drain(lambda: db.session.get(Message, step1.id).status_reason == "frequency_cap")
    assert db.session.get(Message, step1.id).status == MessageStatus.QUEUED  # deferred by the cap, ~23 h

    _time_passes(earlier, step2, step1)  # by the time the cap lets step 1 through, step 2 is due too
    assert drain(lambda: db.session.get(Message, step2.id).sent_at is not None)
    db.session.expire_all()
    first = db.session.get(Message, step1.id)
    assert (first.status, first.status_reason, first.sent_at) == ("cancelled", "superseded", None)
    assert _cart_sends(sandbox) == ["cart_reminder_2"]  # the later step only, not both back to back


def test_14_5_a_deferred_step_whose_cart_converted_meanwhile_is_superseded(ctx, drain, sandbox):
    shop, earlier = _capped_shopper("3000007")
    apply(shop, checkout("cart-bought"))
    step1, step2, step3 = _steps(shop, "cart-bought")
    assert drain(lambda: db.session.get(Message, step1.id).status_reason == "frequency_cap")

    # the order arrives while a dispatcher holds step 1 (claimed: "sending"), so the carts'
    # cancellation, which only touches queued rows, misses it; the dispatcher then defers it back
    db.session.execute(update(Message).where(Message.id == step1.id).values(status=MessageStatus.SENDING))
    db.session.commit()
    apply(shop, OrderPlaced(order("9201", cart_tokens=("cart-bought",))))
    db.session.expire_all()
    assert [m.status for m in (db.session.get(Message, step2.id), db.session.get(Message, step3.id))] == [
        "cancelled", "cancelled"]
    db.session.execute(update(Message).where(Message.id == step1.id).values(status=MessageStatus.QUEUED))
    db.session.commit()

    _time_passes(earlier, db.session.get(Message, step1.id))
    assert drain(lambda: db.session.get(Message, step1.id).status != MessageStatus.QUEUED)
    first = db.session.get(Message, step1.id)
    assert (first.status, first.status_reason) == ("cancelled", "superseded")
    assert _cart_sends(sandbox) == []  # nothing about a cart she already bought
