"""Cash on delivery (issue 14.1): the store's COD order gets the Confirm / Cancel question and
one reminder, through the real webhook endpoints, a real worker and the sandbox; the answer is
carried out in the store, and a cancel the store refuses is recorded as refused, with the
order's revenue still counted. Shopify (its sample COD payload, over the fake Admin API) and
WooCommerce (its sample ``cod`` order, over the fake store)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from connector.automations.attribution import funnel
from connector.extensions import db
from connector.messaging.outbox import queue_message
from connector.models import InboundRecord, Message, OrderRecord, WebhookReceipt, WhatsAppAccount, utcnow
from tests.factories import make_contact, make_shop
from tests.test_shopify_endpoint import deliver
from tests.woocommerce_support import app_url, connected_shop, fresh_order, store  # noqa: F401  (fixtures)

SHOPIFY_FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "shopify"
GOVERNOR = {"quiet_hours": {"enabled": False}, "pair_interval_seconds": 0.2}


def _cod_sends(sandbox, order_id: str) -> list[dict]:
    """What reached the sandbox of the COD template for this order (its buttons carry the id)."""
    return [m for m in sandbox.messages()
            if m["payload"].get("template", {}).get("name") == "cod_confirmation"
            and f"cod_cancel:{order_id}" in json.dumps(m["payload"])]


def _rows(order_id: str) -> dict[str, Message]:
    keys = {f"order:{order_id}:cod_confirmation": "question", f"order:{order_id}:cod_reminder": "reminder"}
    return {keys[m.idempotency_key]: m for m in db.session.scalars(
        select(Message).where(Message.idempotency_key.in_(list(keys))))}


def _tap(sandbox, wa_id: str, payload: str, wamid: str) -> None:
    assert sandbox.post_inbound("1000001", {
        "contacts": [{"wa_id": wa_id, "profile": {"name": "Shopper"}}],
        "messages": [{"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "button",
                      "button": {"payload": payload, "text": "Cancel order"}}]}) == 200


def _receipts_done() -> bool:
    return all(r.processed_at is not None for r in db.session.scalars(select(WebhookReceipt)))


def _handled(wamid: str):
    def check() -> bool:
        row = db.session.scalars(select(InboundRecord).where(InboundRecord.wamid == wamid)).first()
        return row is not None and row.handled_as is not None
    return check


def _handled_as(wamid: str) -> str | None:
    return db.session.scalars(select(InboundRecord.handled_as).where(InboundRecord.wamid == wamid)).one()


def _read_reminder(shop, contact) -> None:
    """A cart reminder she read a minute ago: the order that follows is credited to it."""
    queued = queue_message(shop=shop, contact=contact, idempotency_key="cart:1:step:1", automation="abandoned_cart",
                           purpose="marketing", kind="template", template_name="cart_reminder_1", language="en",
                           content={"body": {"customer_name": "Jo", "shop_name": "Demo"}})
    row = queued.message
    row.status, row.sent_at, row.read_at = "read", utcnow() - timedelta(minutes=2), utcnow() - timedelta(minutes=1)
    db.session.commit()


def _revenue(shop_id: int) -> dict:
    return next(row for row in funnel(shop_id) if row["automation"] == "abandoned_cart")


def _shopify_order(order_id: int, at: datetime) -> bytes:
    payload = json.loads((SHOPIFY_FIXTURES / "orders_paid__big_ids_cod.json").read_text())
    assert payload["payment_gateway_names"] == ["Cash on Delivery (COD)"]  # Shopify's manual COD method
    stamp = at.isoformat()
    payload.update(id=order_id, name=f"#{order_id}", created_at=stamp, updated_at=stamp, processed_at=stamp)
    return json.dumps(payload).encode()


def test_14_1_shopify_cod_order_gets_question_and_one_reminder_and_a_refused_cancel_stays_counted(
        client, drain, sandbox, fake_shopify):
    decisions: list[tuple[str, dict]] = []

    def store_api(query: str, variables: dict):
        if "orderCancel" in query:  # Shopify refuses: the order was already paid, say
            decisions.append(("orderCancel", variables))
            return {"orderCancel": {"job": None, "orderCancelUserErrors": [
                {"field": ["orderId"], "message": "Cannot cancel an order that has been paid", "code": "INVALID"}]}}
        if "tagsAdd" in query:
            decisions.append(("tagsAdd", variables))
            return {"tagsAdd": {"userErrors": []}}
        return None

    fake_shopify.graphql_handlers.append(store_api)
    shop = make_shop(domain=fake_shopify.shop_domain, settings={
        "governor": GOVERNOR, "automations": {"cod_confirmation": {"reminder_delay_seconds": 1}}})
    shop.credentials = {"kind": "custom_app", "access_token": fake_shopify.issue_token(expiring=False).access_token}
    db.session.commit()
    contact = make_contact(shop, "+31612345678")  # the sample order's phone, "+31 6 12345678"
    _read_reminder(shop, contact)

    # 1. a COD order (the sample payload, ids beyond 2**53): the question, and one reminder when unanswered
    big = "9007199254740993"
    body = _shopify_order(int(big), utcnow())
    secret = fake_shopify.api_secret
    assert deliver(client, body, topic="orders/create", shop_domain=shop.domain, secret=secret,
                   event_id="evt-cod-1").status_code == 200
    assert drain(lambda: len(_cod_sends(sandbox, big)) == 2, timeout=30)
    question, reminder = _cod_sends(sandbox, big)
    buttons = json.dumps(question["payload"]["template"]["components"])
    assert f"cod_confirm:{big}" in buttons and f"cod_cancel:{big}" in buttons
    rows = _rows(big)
    assert rows["question"].purpose == "transactional" and rows["reminder"].status in ("sent", "delivered", "read")
    # the same order delivered again (a later state): still one question and one reminder
    later = _shopify_order(int(big), utcnow() + timedelta(seconds=5))
    assert deliver(client, later, topic="orders/create", shop_domain=shop.domain, secret=secret,
                   event_id="evt-cod-1b").status_code == 200
    assert drain(_receipts_done)
    assert len(_cod_sends(sandbox, big)) == 2
    assert len(db.session.scalars(select(Message).where(Message.automation == "cod_confirmation")).all()) == 2

    # 2. she taps Cancel, Shopify refuses (orderCancelUserErrors): refused, never applied; revenue stays
    assert _revenue(shop.id)["orders"] == 1
    _tap(sandbox, "31612345678", f"cod_cancel:{big}", "wamid.cod-cancel")
    assert drain(_handled("wamid.cod-cancel"))
    assert decisions == [("orderCancel", {"orderId": f"gid://shopify/Order/{big}"})]
    assert _handled_as("wamid.cod-cancel") == "cod_cancel_refused"
    record = db.session.scalars(select(OrderRecord).where(OrderRecord.order_id == big)).one()
    assert record.cancelled_at is None and record.attributed_automation == "abandoned_cart"
    revenue = _revenue(shop.id)
    assert revenue["orders"] == 1 and revenue["revenue"] == {"USD": "404.95"}

    # 3. a second COD order, answered before its reminder is due: the reminder is cancelled, the tag added
    shop.settings = {**shop.settings, "automations": {"cod_confirmation": {"reminder_delay_seconds": 3600}}}
    db.session.commit()
    assert deliver(client, _shopify_order(5550002, utcnow()), topic="orders/create", shop_domain=shop.domain,
                   secret=secret, event_id="evt-cod-2").status_code == 200
    assert drain(lambda: len(_cod_sends(sandbox, "5550002")) == 1, timeout=30)
    _tap(sandbox, "31612345678", "cod_confirm:5550002", "wamid.cod-confirm")
    assert drain(_handled("wamid.cod-confirm"))
    assert _handled_as("wamid.cod-confirm") == "cod_confirm"
    assert decisions[-1] == ("tagsAdd", {"id": "gid://shopify/Order/5550002", "tags": ["whatsapp-cod-confirmed"]})
    reminder_row = _rows("5550002")["reminder"]
    assert (reminder_row.status, reminder_row.status_reason) == ("cancelled", "answered")


def test_14_1_woocommerce_cod_order_gets_question_and_reminder_and_a_refused_cancel_stays_counted(
        app_url, store, drain, sandbox):  # noqa: F811
    shop = connected_shop(store)
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id="1000001", access_token="EAAG-test",
                                   messaging_limit=1000))
    shop.settings = {"governor": GOVERNOR, "automations": {"cod_confirmation": {"reminder_delay_seconds": 1}}}
    db.session.commit()
    contact = make_contact(shop, "+4915123456789")
    _read_reminder(shop, contact)

    def cod_order() -> dict:
        sample = fresh_order(store, "order.created__cod")
        assert sample["payment_method"] == "cod" and sample["status"] == "processing"
        return store.update_order(sample["id"], billing={**sample["billing"], "phone": "0151 23456789",
                                                         "country": "DE"})

    # 1. WooCommerce's order.created for a COD order: the question and one reminder; no "paid" for COD
    first = cod_order()
    order_id = str(first["id"])
    assert all(d.status_code == 200 for d in store.deliver("order.created", first))
    assert drain(lambda: len(_cod_sends(sandbox, order_id)) == 2, timeout=30)
    assert store.deliver("order.updated", first)[0].status_code == 200  # the store's own redelivery
    assert drain(_receipts_done)
    assert len(_cod_sends(sandbox, order_id)) == 2

    # 2. she taps Cancel; the store refuses the update (a read-only key: 403): refused, revenue stays
    store.refuse_order_updates = (403, "woocommerce_rest_cannot_edit",
                                  "Sorry, you are not allowed to edit this resource.")
    _tap(sandbox, "4915123456789", f"cod_cancel:{order_id}", "wamid.wc-cancel")
    assert drain(_handled("wamid.wc-cancel"))
    assert _handled_as("wamid.wc-cancel") == "cod_cancel_refused"
    assert store.state.orders[int(order_id)]["status"] == "processing"
    record = db.session.scalars(select(OrderRecord).where(OrderRecord.order_id == order_id)).one()
    assert record.cancelled_at is None
    assert _revenue(shop.id)["orders"] == 1

    # 3. a second COD order, cancelled by the shopper before the reminder: the store cancels it, the
    #    reminder is cancelled and the order no longer earns revenue
    store.refuse_order_updates = None
    shop.settings = {**shop.settings, "automations": {"cod_confirmation": {"reminder_delay_seconds": 3600}}}
    db.session.commit()
    second = cod_order()
    second_id = str(second["id"])
    assert all(d.status_code == 200 for d in store.deliver("order.created", second))
    assert drain(lambda: len(_cod_sends(sandbox, second_id)) == 1, timeout=30)
    _tap(sandbox, "4915123456789", f"cod_cancel:{second_id}", "wamid.wc-cancel-2")
    assert drain(_handled("wamid.wc-cancel-2"))
    assert _handled_as("wamid.wc-cancel-2") == "cod_cancel"
    assert store.state.orders[int(second_id)]["status"] == "cancelled"
    reminder_row = _rows(second_id)["reminder"]
    assert (reminder_row.status, reminder_row.status_reason) == ("cancelled", "answered")


def test_14_1_cod_reminder_stops_when_the_order_is_paid_cancelled_or_fulfilled(ctx):
    from connector.events import OrderCancelled, OrderPaid, OrderPlaced
    from tests.automation_events import apply, fulfillment, order

    shop = make_shop()
    for order_id in ("71", "72", "73"):
        apply(shop, OrderPlaced(order(order_id, payment_method="cod", cart_tokens=())))
    assert {key: row.status for key, row in _rows("71").items()} == {"question": "queued", "reminder": "queued"}
    assert _rows("71")["reminder"].due_at > utcnow() + timedelta(hours=3)  # the default delay: 4 h
    apply(shop, OrderPaid(order("71", payment_method="cod", cart_tokens=(),
                                updated_at=utcnow() + timedelta(seconds=1))))
    apply(shop, OrderCancelled(order("72", payment_method="cod", cart_tokens=(),
                                     updated_at=utcnow() + timedelta(seconds=1))))
    apply(shop, fulfillment("shipped", order_id="73"))
    db.session.expire_all()
    reasons = {order_id: {row.status_reason for row in _rows(order_id).values()} for order_id in ("71", "72", "73")}
    assert reasons == {"71": {"order_paid"}, "72": {"order_cancelled"}, "73": {"order_fulfilled"}}
    # a card order is never asked; and the setting turns the question off
    apply(shop, OrderPlaced(order("74", payment_method="card", cart_tokens=())))
    shop.settings = {**shop.settings, "automations": {"cod_confirmation": {"enabled": False}}}
    db.session.commit()
    apply(shop, OrderPlaced(order("75", payment_method="cod", cart_tokens=())))
    assert _rows("74") == {} and _rows("75") == {}


def test_14_1_shopify_user_errors_under_any_key_are_refusals(fake_shopify):
    from integrations.shopify.client import GraphQLClient
    from integrations.shopify.errors import ShopifyUserError

    fake_shopify.graphql_handlers.append(lambda query, variables: {"orderCancel": {
        "job": None, "orderCancelUserErrors": [{"field": ["orderId"], "message": "Order is already cancelled"}]}})
    token = fake_shopify.issue_token(expiring=False).access_token
    with GraphQLClient(fake_shopify.shop_domain, token, base_url=fake_shopify.base_url) as client:
        try:
            client.execute("mutation { orderCancel(orderId: \"gid://shopify/Order/1\") "
                           "{ orderCancelUserErrors { message } } }")
        except ShopifyUserError as error:
            assert "already cancelled" in str(error)
        else:
            raise AssertionError("orderCancelUserErrors were read as success")
