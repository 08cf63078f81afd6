"""Unused-coupon follow-up: a unique code we gave a shopper (here a cart's, made through the
store's API) that no order used gets one reminder ``after_days`` after it reached them; a code
an order used (seen in the real ``orders/paid`` webhook's ``discount_codes``) gets none."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from connector.automations import coupons
from connector.extensions import db
from connector.models import IssuedCode, Message, utcnow
from integrations.woocommerce.webhooks import parse
from tests.automation_events import apply, checkout
from tests.factories import make_contact
from tests.lifecycle_support import PHONE, post_order, record_discounts, sample_order, shop, switch_on  # noqa: F401
from tests.test_woocommerce_webhooks import CONTEXT, load

CART = {"delays_seconds": [0], "discount_source": "unique", "discount_percent": 15, "discount_valid_days": 7}
OTHER = "+4915199999999"


def _sent(sandbox, template: str) -> list[dict]:
    return [m for m in sandbox.messages() if m["payload"].get("template", {}).get("name") == template]


def test_an_unused_cart_code_is_reminded_once_and_a_used_one_never(client, fake_shopify, shop, drain, sandbox,
                                                                   run_worker):
    created = record_discounts(fake_shopify)
    switch_on(shop, abandoned_cart={**CART, "enabled": True}, coupon_reminder={"after_days": 3})
    maria, other = make_contact(shop, PHONE), make_contact(shop, OTHER)
    apply(shop, checkout("cart-1", phone=PHONE), checkout("cart-2", phone=OTHER))
    assert len(created) == 2
    assert drain(lambda: len(_sent(sandbox, "cart_reminder_discount")) == 2)  # each code reached its shopper

    codes = {row.contact_id: row for row in db.session.scalars(select(IssuedCode))}
    assert set(codes) == {maria.id, other.id}
    assert all(row.source == "cart" and row.used_at is None and row.message_id for row in codes.values())
    assert {row.code for row in codes.values()} == {c["code"] for c in created}

    # the other shopper orders with the code, typed in lower case
    post_order(client, fake_shopify, sample_order("7001", at=utcnow(), phone=OTHER, email="o@example.com",
                                                  customer_id=2, codes=(codes[other.id].code.lower(),)))
    run_worker()
    db.session.expire_all()
    used = db.session.get(IssuedCode, codes[other.id].id)
    assert used.used_at is not None and used.order_id == "7001"

    assert coupons.queue_due(utcnow() + timedelta(days=2)) == 0  # too early
    assert coupons.queue_due(utcnow() + timedelta(days=3, minutes=1)) == 1  # Maria's, not the used one
    (reminder,) = db.session.scalars(select(Message).where(Message.automation == "coupon_reminder")).all()
    assert reminder.contact_id == maria.id and reminder.idempotency_key == f"coupon:{codes[maria.id].id}:reminder"
    assert reminder.content["body"]["discount_code"] == codes[maria.id].code
    assert drain(lambda: len(_sent(sandbox, "coupon_reminder")) == 1)

    assert coupons.queue_due(utcnow() + timedelta(days=4)) == 0  # one reminder, never a second
    assert coupons.queue_due(utcnow() + timedelta(days=6, hours=13)) == 0
    assert len(_sent(sandbox, "coupon_reminder")) == 1


def test_no_reminder_for_a_code_about_to_expire_or_when_off(client, fake_shopify, shop, drain, sandbox):
    record_discounts(fake_shopify)
    switch_on(shop, abandoned_cart={**CART, "enabled": True, "discount_valid_days": 3},
              coupon_reminder={"after_days": 3, "min_hours_left": 12})
    make_contact(shop, PHONE)
    apply(shop, checkout("cart-1", phone=PHONE))
    assert drain(lambda: len(_sent(sandbox, "cart_reminder_discount")) == 1)
    assert coupons.queue_due(utcnow() + timedelta(days=3, minutes=1)) == 0  # it expires within 12 hours then

    switch_on(shop, abandoned_cart={**CART, "enabled": True}, coupon_reminder={"enabled": False})
    assert coupons.queue_due(utcnow() + timedelta(days=1)) == 0


def test_woocommerce_coupon_lines_are_the_orders_discount_codes():
    payload = load("order.created__sample")
    payload["coupon_lines"] = [{"id": 7, "code": "wa3f9k2q7m1x", "discount": "5.00", "discount_tax": "0.00"},
                               {"id": 8, "code": "freeship"}]
    orders = [event.order for event in parse("order.created", json.loads(json.dumps(payload)), CONTEXT)
              if hasattr(event, "order")]
    assert orders and all(order.discount_codes == ("wa3f9k2q7m1x", "freeship") for order in orders)
    plain = [event.order for event in parse("order.created", load("order.created__sample"), CONTEXT)
             if hasattr(event, "order")]
    assert plain and all(order.discount_codes == () for order in plain)
