"""What shoppers' replies set in motion besides consent: cash-on-delivery decisions carried
out in the store, and the out-of-hours auto-reply (off by default)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from sqlalchemy import func, select

from connector.extensions import db
from connector.messaging.auto_reply import is_open
from connector.models import InboundRecord, OrderRecord, utcnow
from tests.factories import make_contact, make_shop

WA_ID = "4915112345678"


def _button(sandbox, payload: str, wamid: str) -> None:
    assert sandbox.post_inbound("1000001", {
        "contacts": [{"wa_id": WA_ID, "profile": {"name": "Maria"}}],
        "messages": [{"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), "type": "button",
                      "button": {"payload": payload, "text": "Confirm"}}]}) == 200


def _text(sandbox, body: str, wamid: str) -> None:
    assert sandbox.post_inbound("1000001", {
        "contacts": [{"wa_id": WA_ID, "profile": {"name": "Maria"}}],
        "messages": [{"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                      "text": {"body": body}}]}) == 200


def _shopify_shop(fake_shopify):
    shop = make_shop(domain=fake_shopify.shop_domain)
    shop.credentials = {"kind": "custom_app", "access_token": fake_shopify.issue_token(expiring=False).access_token}
    db.session.commit()
    return shop


def _handled(count: int):
    return lambda: db.session.scalar(select(func.count()).select_from(InboundRecord)) == count


def test_cod_confirm_and_cancel_are_carried_out_in_shopify(client, drain, sandbox, fake_shopify):
    seen: list[tuple[str, dict]] = []

    def store(query: str, variables: dict):
        if "tagsAdd" in query:
            seen.append(("tagsAdd", variables))
            return {"tagsAdd": {"userErrors": []}}
        if "orderCancel" in query:
            seen.append(("orderCancel", variables))
            return {"orderCancel": {"orderCancelUserErrors": []}}
        return None

    fake_shopify.graphql_handlers.append(store)
    shop = _shopify_shop(fake_shopify)
    contact = make_contact(shop)
    for order_id in ("1001", "1002"):
        db.session.add(OrderRecord(shop_id=shop.id, contact_id=contact.id, order_id=order_id, name=f"#{order_id}",
                                   placed_at=utcnow()))
    db.session.commit()

    _button(sandbox, "cod_confirm:1001", "wamid.cod-1")
    _button(sandbox, "cod_cancel:1002", "wamid.cod-2")
    assert drain(_handled(2))
    assert seen == [("tagsAdd", {"id": "gid://shopify/Order/1001", "tags": ["whatsapp-cod-confirmed"]}),
                    ("orderCancel", {"orderId": "gid://shopify/Order/1002"})]
    handled = dict(db.session.execute(select(InboundRecord.wamid, InboundRecord.handled_as)).all())
    assert handled == {"wamid.cod-1": "cod_confirm", "wamid.cod-2": "cod_cancel"}
    assert db.session.scalars(select(OrderRecord.cancelled_at).where(OrderRecord.order_id == "1002")).one()


def test_a_cod_decision_on_someone_elses_order_does_nothing(client, drain, sandbox, fake_shopify):
    calls: list[str] = []
    fake_shopify.graphql_handlers.append(lambda query, variables: calls.append(query) or None)
    shop = _shopify_shop(fake_shopify)
    make_contact(shop)
    other = make_contact(shop, "+4915199999999")
    db.session.add(OrderRecord(shop_id=shop.id, contact_id=other.id, order_id="2001", placed_at=utcnow()))
    db.session.commit()
    _button(sandbox, "cod_cancel:2001", "wamid.cod-x")
    assert drain(_handled(1))
    assert calls == []
    assert db.session.scalars(select(InboundRecord.handled_as)).one() is None


HOURS = {"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00",
         "fri": "09:00-17:00"}


def test_opening_hours_in_the_shops_time_zone():
    monday_10_berlin = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)  # 10:00 in Berlin
    assert is_open(HOURS, monday_10_berlin, "Europe/Berlin")
    assert not is_open(HOURS, monday_10_berlin, "America/New_York")  # 04:00 there
    assert not is_open(HOURS, datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc), "Europe/Berlin")  # Sunday


def test_auto_reply_is_off_by_default_and_once_per_spell_when_on(client, drain, sandbox):
    shop = make_shop()
    make_contact(shop)
    _text(sandbox, "Hello, is the blue mug back?", "wamid.q1")
    assert drain(_handled(1))
    time.sleep(0.2)
    assert sandbox.messages() == []  # off by default

    always_closed = {"enabled": True, "hours": {}, "hours_text": "Mon–Fri 9:00–17:00"}
    shop.settings = {**shop.settings, "auto_reply": always_closed}
    db.session.commit()
    _text(sandbox, "Anyone there?", "wamid.q2")
    _text(sandbox, "Hello??", "wamid.q3")
    assert drain(lambda: len(sandbox.messages()) == 1 and _handled(3)())
    time.sleep(0.3)
    (reply,) = sandbox.messages()
    assert "Mon–Fri 9:00–17:00" in reply["payload"]["text"]["body"]
    assert db.session.scalars(select(InboundRecord.handled_as).order_by(InboundRecord.id)).all() == [
        None, "auto_reply", None]
