"""Shipping updates: one per status reached, at most once, never backwards."""

from __future__ import annotations

from sqlalchemy import select

from connector.extensions import db
from connector.models import Message, ShortLink
from tests.automation_events import OrderPaid, apply, fulfillment, now, order, timedelta
from tests.factories import make_shop


def _keys():
    return [m.idempotency_key for m in db.session.scalars(select(Message).where(
        Message.automation == "shipping_updates").order_by(Message.id))]


def test_each_status_once_and_never_an_older_one_after_a_newer(ctx, drain, sandbox):
    shop = make_shop()
    apply(shop, OrderPaid(order("5001")))
    t = now()
    apply(shop, fulfillment("shipped", at=t))
    apply(shop, fulfillment("shipped", at=t + timedelta(seconds=1)))  # the status arriving twice
    apply(shop, fulfillment("in_transit", at=t + timedelta(seconds=2)))  # no template: silent
    apply(shop, fulfillment("delivered", at=t + timedelta(seconds=4)))
    apply(shop, fulfillment("out_for_delivery", at=t + timedelta(seconds=5)))  # late news: older than delivered
    assert _keys() == ["fulfillment:f-1:shipped", "fulfillment:f-1:delivered"]
    assert drain(lambda: len(sandbox.messages()) == 3, timeout=20)  # confirmation + 2 updates
    shipped = db.session.scalars(select(Message).where(Message.idempotency_key == "fulfillment:f-1:shipped")).one()
    assert shipped.content["body"]["carrier"] == "UPS" and shipped.content["body"]["tracking_number"] == "1Z999"
    assert shipped.language == "de"
    link = db.session.scalars(select(ShortLink).where(ShortLink.message_id == shipped.id)).one()
    # the carrier's site is not the shop's: the button leads to the order status page instead
    assert link.target_url.startswith("https://demo-shop.myshopify.com/orders/5001?")
    assert shipped.content["buttons"][0]["url_suffix"] == link.code


def test_attempted_delivery_and_carrier_domain_allowed_by_admin(ctx):
    shop = make_shop(settings={"link_domains": ["www.ups.com"], "governor": {"quiet_hours": {"enabled": False}}})
    apply(shop, fulfillment("shipped"), fulfillment("attempted_delivery", at=now() + timedelta(seconds=1)))
    assert _keys() == ["fulfillment:f-1:shipped", "fulfillment:f-1:attempted_delivery"]
    link = db.session.scalars(select(ShortLink).order_by(ShortLink.id)).first()
    assert link.target_url.startswith("https://www.ups.com/track?n=1Z999&utm_source=whatsapp")


def test_review_request_is_off_by_default_and_scheduled_when_on(ctx):
    shop = make_shop()
    apply(shop, fulfillment("delivered"))
    assert _keys() == ["fulfillment:f-1:delivered"]
    assert db.session.scalars(select(Message).where(Message.automation == "review_request")).all() == []
    other = make_shop("other.myshopify.com", phone_number_id="2000002", settings={
        "automations": {"review_request": {"enabled": True, "delay_seconds": 3600}}})
    apply(other, fulfillment("delivered", fulfillment_id="f-9", order_id="77"))
    review = db.session.scalars(select(Message).where(Message.automation == "review_request")).one()
    assert review.shop_id == other.id and review.status == "queued"
    assert review.due_at > now() + timedelta(minutes=59)
