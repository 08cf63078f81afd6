"""When a cart sequence stops (issue 14.4) and when a waiting step has become moot (14.5),
with the steps dispatched by a real worker to the sandbox."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select, update

from connector.extensions import db
from connector.models import Cart, Message, MessageStatus, utcnow
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
