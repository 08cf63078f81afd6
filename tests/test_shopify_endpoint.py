"""Shopify webhooks through the real endpoint: HMAC on the raw body, dedupe, stale states,
the stored receipt drained by a real RQ worker into neutral events; and what uninstall and
shop redaction do. Payloads are Shopify's published samples (tests/fixtures/payloads/shopify)."""

from __future__ import annotations

import json
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector import events as ev
from connector.extensions import db, get_redis
from connector.models import Message, MessageStatus, Shop, Variant, WebhookReceipt
from integrations.shopify import webhooks as shopify_webhooks
from tests.factories import make_contact, order_confirmation

FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "shopify"

#: fixture → the event types it must produce, in order
EXPECTED = {
    "app_uninstalled__sample": [ev.ShopUninstalled],
    "checkouts_create__phone_in_shipping_only": [ev.CheckoutUpdated],
    "checkouts_create__sample": [ev.CheckoutUpdated],
    "checkouts_update__sample": [ev.CheckoutUpdated],
    "checkouts_update__unparseable_phone": [ev.CheckoutUpdated],
    "customers_data_request__sample": [ev.CustomerDataRequest],
    "customers_redact__sample": [ev.CustomerRedact],
    "fulfillment_events_create__sample": [ev.FulfillmentUpdated],
    "fulfillments_create__sample": [ev.FulfillmentUpdated],
    "fulfillments_update__out_for_delivery": [ev.FulfillmentUpdated],
    "fulfillments_update__sample": [ev.FulfillmentUpdated],
    "inventory_levels_update__sample": [ev.StockChanged],
    "orders_cancelled__sample": [ev.OrderCancelled],
    "orders_create__sample": [ev.OrderPlaced],
    "orders_paid__big_ids_cod": [ev.OrderPaid],
    "orders_paid__sample": [ev.OrderPaid],
    "shop_redact__sample": [ev.ShopRedact],
}


def _topic(fixture: str) -> str:
    resource, _, action = fixture.split("__")[0].rpartition("_")
    if fixture.startswith(("fulfillment_events", "inventory_levels", "customers_data_request")):
        return {"fulfillment_events_create": "fulfillment_events/create",
                "inventory_levels_update": "inventory_levels/update",
                "customers_data_request": "customers/data_request"}[fixture.split("__")[0]]
    return f"{resource}/{action}"


@pytest.fixture
def shop(ctx, fake_shopify):
    token = fake_shopify.issue_token()
    row = Shop(platform="shopify", domain=fake_shopify.shop_domain, settings={}, time_zone="Europe/Berlin",
               locale="de", country="DE")
    row.credentials = {"kind": "oauth", "access_token": token.access_token, "refresh_token": token.refresh_token,
                       "expires_at": _iso(token.expires_at), "refresh_token_expires_at": _iso(token.refresh_expires_at)}
    db.session.add(row)
    db.session.commit()
    return row


def _iso(epoch: float | None) -> str | None:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat() if epoch else None


@pytest.fixture
def recorded(monkeypatch):
    """Every neutral event the pipeline produces, instead of running the automations."""
    from connector import routing as automations

    seen: list = []
    for event_type in list(automations.EVENT_HANDLERS) + [ev.CheckoutUpdated, ev.OrderPlaced, ev.OrderPaid,
                                                          ev.OrderCancelled, ev.FulfillmentUpdated,
                                                          ev.CustomerRedact, ev.CustomerDataRequest]:
        monkeypatch.setitem(automations.EVENT_HANDLERS, event_type, (lambda shop_id, event: seen.append(event),))
    return seen


def deliver(client, body: bytes, *, topic: str, shop_domain: str, secret: str, event_id: str = "evt-1",
            hmac: str | None = None, extra: dict | None = None):
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Triggered-At": "2026-11-24T10:00:00.000Z",
    }
    signature = shopify_webhooks.sign(body, secret) if hmac is None else hmac
    if signature:
        headers["X-Shopify-Hmac-Sha256"] = signature
    headers.update(extra or {})
    return client.post("/webhooks/shopify", data=body, headers=headers)


def _nothing_stored() -> bool:
    from connector.queues import all_queues

    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WebhookReceipt)) == 0 and \
        all(queue.count == 0 for queue in all_queues())


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_every_sample_payload_becomes_its_neutral_event(fixture, client, shop, fake_shopify, recorded, run_worker):
    body = (FIXTURES / f"{fixture}.json").read_bytes()
    topic = _topic(fixture)
    assert topic in shopify_webhooks.TOPICS
    payload = shopify_webhooks.load_json(body)
    if topic == "inventory_levels/update":
        # not in our cache: the variant is looked up through GraphQL at the (fake) shop
        fake_shopify.inventory_items[str(payload["inventory_item_id"])] = ("632910392", "808950810")

    response = deliver(client, body, topic=topic, shop_domain=shop.domain, secret=fake_shopify.api_secret,
                       event_id=f"evt-{fixture}")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "accepted"}
    run_worker()

    assert [type(event) for event in recorded] == EXPECTED[fixture]
    receipt = db.session.scalars(select(WebhookReceipt)).one()
    assert receipt.outcome == "processed" and receipt.processed_at is not None
    event = recorded[0]
    if isinstance(event, ev.CheckoutUpdated):
        assert event.cart_token == payload["token"]  # checkouts are keyed on token: samples have no id
        assert event.lines and all(isinstance(line.unit_price, type(event.total)) for line in event.lines)
    if isinstance(event, ev.OrderPlaced | ev.OrderPaid | ev.OrderCancelled):
        assert event.order.order_id == str(payload["id"])  # exact, even beyond 2**53
        assert event.order.name == payload["name"]
    if isinstance(event, ev.StockChanged) and topic == "inventory_levels/update":
        assert (event.product_id, event.variant_id) == ("632910392", "808950810")
        assert event.available is (payload["available"] > 0)
        assert any(call.path.endswith("/graphql.json") for call in fake_shopify.calls)


def test_big_ids_stay_exact_and_phones_are_normalised(client, shop, fake_shopify, recorded, run_worker):
    body = (FIXTURES / "orders_paid__big_ids_cod.json").read_bytes()
    raw_id = json.loads(body.decode(), parse_int=str)["id"]
    assert int(raw_id) > 2 ** 53
    deliver(client, body, topic="orders/paid", shop_domain=shop.domain, secret=fake_shopify.api_secret)
    run_worker()
    (event,) = recorded
    assert event.order.order_id == raw_id
    assert event.order.payment_method == "cod"
    assert event.order.customer.phone is None or event.order.customer.phone.startswith("+")


def test_products_update_fills_the_inventory_item_cache(client, shop, fake_shopify, recorded, run_worker):
    body = (FIXTURES / "products_update__stock_quirks.json").read_bytes()
    deliver(client, body, topic="products/update", shop_domain=shop.domain, secret=fake_shopify.api_secret)
    run_worker()
    mapping = shopify_webhooks.inventory_item_map(shopify_webhooks.load_json(body))
    assert mapping, "the quirks sample carries inventory item ids"
    cached = dict(db.session.execute(select(Variant.inventory_item_id, Variant.variant_id)
                                     .where(Variant.shop_id == shop.id)).all())
    assert {item: variant for item, (_, variant) in mapping.items()}.items() <= cached.items()
    assert all(isinstance(event, ev.StockChanged) for event in recorded) and recorded


# -- refusals: a clear status and nothing stored or queued ----------------------------------------

def test_wrong_hmac_is_401_and_nothing_is_stored(client, shop, fake_shopify):
    body = (FIXTURES / "orders_paid__sample.json").read_bytes()
    response = deliver(client, body, topic="orders/paid", shop_domain=shop.domain, secret="not-the-secret")
    assert response.status_code == 401
    assert _nothing_stored()


def test_missing_hmac_is_401(client, shop, fake_shopify):
    body = (FIXTURES / "orders_paid__sample.json").read_bytes()
    assert deliver(client, body, topic="orders/paid", shop_domain=shop.domain, secret="", hmac="").status_code == 401
    assert _nothing_stored()


def test_a_body_changed_after_signing_is_401(client, shop, fake_shopify):
    body = (FIXTURES / "orders_paid__sample.json").read_bytes()
    signature = shopify_webhooks.sign(body, fake_shopify.api_secret)
    response = deliver(client, body.replace(b'"total_price"', b'"total_price" '), topic="orders/paid",
                       shop_domain=shop.domain, secret="", hmac=signature)
    assert response.status_code == 401
    assert _nothing_stored()


def test_missing_topic_header_is_400(client, shop, fake_shopify):
    body = (FIXTURES / "orders_paid__sample.json").read_bytes()
    response = deliver(client, body, topic="", shop_domain=shop.domain, secret=fake_shopify.api_secret)
    assert response.status_code == 400
    assert _nothing_stored()


def test_the_same_event_id_twice_is_stored_and_processed_once(client, shop, fake_shopify, recorded, run_worker):
    body = (FIXTURES / "orders_paid__sample.json").read_bytes()
    first = deliver(client, body, topic="orders/paid", shop_domain=shop.domain, secret=fake_shopify.api_secret)
    replay = deliver(client, body, topic="orders/paid", shop_domain=shop.domain, secret=fake_shopify.api_secret,
                     extra={"X-Shopify-Webhook-Id": "another-delivery"})
    assert first.get_json() == {"status": "accepted"} and replay.get_json() == {"status": "duplicate"}
    run_worker()
    assert len(recorded) == 1
    assert db.session.scalar(select(func.count()).select_from(WebhookReceipt)) == 1


def test_a_genuine_webhook_for_a_foreign_shop_is_acknowledged_and_dropped(client, shop, fake_shopify):
    body = (FIXTURES / "orders_paid__sample.json").read_bytes()
    response = deliver(client, body, topic="orders/paid", shop_domain="someone-else.myshopify.com",
                       secret=fake_shopify.api_secret)
    assert response.status_code == 200 and response.get_json() == {"status": "ignored"}
    assert _nothing_stored()


def test_an_unknown_topic_is_acknowledged_and_dropped(client, shop, fake_shopify):
    body = b'{"id": 1}'
    response = deliver(client, body, topic="collections/update", shop_domain=shop.domain,
                       secret=fake_shopify.api_secret)
    assert response.status_code == 200 and response.get_json() == {"status": "ignored"}
    assert _nothing_stored()


def test_malformed_json_is_400(client, shop, fake_shopify):
    response = deliver(client, b'{"id": 1,', topic="orders/paid", shop_domain=shop.domain,
                       secret=fake_shopify.api_secret)
    assert response.status_code == 400
    assert _nothing_stored()


def test_a_receipt_the_database_cannot_take_is_503_so_shopify_delivers_again(client, shop, fake_shopify, monkeypatch):
    from connector.receipts import ReceiptNotWritten

    def down(**_):
        raise ReceiptNotWritten("no commit within 25 s")

    monkeypatch.setattr("connector.web.webhooks.record_receipt", down)
    response = deliver(client, b'{"id": 1}', topic="orders/paid", shop_domain=shop.domain,
                       secret=fake_shopify.api_secret)
    assert response.status_code == 503 and response.get_json()["error"] == "receipt_not_written"
    assert _nothing_stored()


def test_json_nested_too_deeply_to_parse_is_400_not_500(client, shop, fake_shopify):
    deep = b'{"id": 1, "a": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001  # valid, but deeper than any parser goes
    response = deliver(client, deep, topic="orders/paid", shop_domain=shop.domain, secret=fake_shopify.api_secret)
    assert response.status_code == 400 and "nested too deeply" in response.get_json()["message"]
    assert _nothing_stored()


def test_a_2_mb_forged_body_is_401_and_an_oversized_one_413(client, shop, fake_shopify):
    two_mb = b'{"padding": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert deliver(client, two_mb, topic="orders/paid", shop_domain=shop.domain,
                   secret="forged").status_code == 401
    four_mb = b'{"padding": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    assert deliver(client, four_mb, topic="orders/paid", shop_domain=shop.domain,
                   secret=fake_shopify.api_secret).status_code == 413
    assert _nothing_stored()


def test_an_older_checkout_state_arriving_late_is_stale(client, shop, fake_shopify, recorded, run_worker):
    payload = json.loads((FIXTURES / "checkouts_update__sample.json").read_text())
    newer = dict(payload, updated_at="2026-11-24T12:00:00-05:00")
    older = dict(payload, updated_at="2026-11-24T11:00:00-05:00")
    for event_id, body in (("new", newer), ("old", older)):
        deliver(client, json.dumps(body).encode(), topic="checkouts/update", shop_domain=shop.domain,
                secret=fake_shopify.api_secret, event_id=event_id)
    run_worker()
    assert len(recorded) == 1 and recorded[0].updated_at.utcoffset() is not None
    assert recorded[0].updated_at.astimezone(timezone.utc).hour == 17  # the newer one: 12:00 -05:00
    outcomes = db.session.scalars(select(WebhookReceipt.outcome).order_by(WebhookReceipt.id)).all()
    assert outcomes == ["processed", "stale"]


# -- uninstall and shop redaction ------------------------------------------------------------------

def test_uninstall_stops_sending_cancels_scheduled_steps_and_drops_tokens(client, shop, fake_shopify, run_worker):
    from connector.models import WhatsAppAccount, utcnow

    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id="1000001", access_token="EAAG-test",
                                   messaging_limit=1000))
    db.session.commit()
    contact = make_contact(shop)
    later = order_confirmation(shop, contact, key="cart:1:step:2", due_at=utcnow() + timedelta(hours=24)).message
    body = (FIXTURES / "app_uninstalled__sample.json").read_bytes()
    assert deliver(client, body, topic="app/uninstalled", shop_domain=shop.domain,
                   secret=fake_shopify.api_secret).status_code == 200
    run_worker()

    db.session.expire_all()
    row = db.session.get(Shop, shop.id)
    assert row.is_active is False and row.uninstalled_at is not None
    assert row.credentials == {} and row.credentials_encrypted is None
    message = db.session.get(Message, later.id)
    assert message.status == MessageStatus.CANCELLED and message.status_reason == "shop_uninstalled"


def test_shop_redact_removes_the_shop_and_everything_it_owned(client, shop, fake_shopify, run_worker):
    shop_id, domain = shop.id, shop.domain
    contact = make_contact(shop)
    order_confirmation(shop, contact)
    deliver(client, (FIXTURES / "app_uninstalled__sample.json").read_bytes(), topic="app/uninstalled",
            shop_domain=domain, secret=fake_shopify.api_secret, event_id="u")
    deliver(client, (FIXTURES / "shop_redact__sample.json").read_bytes(), topic="shop/redact",
            shop_domain=domain, secret=fake_shopify.api_secret, event_id="r")
    run_worker()

    db.session.expunge_all()
    assert db.session.get(Shop, shop_id) is None
    for model in (Message,):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0
    kept = db.session.scalars(select(WebhookReceipt)).all()
    assert [(r.topic, r.shop_id, r.outcome) for r in kept] == [("shop/redact", None, "processed")]
    assert not get_redis().keys("connector:dispatch:*")


def test_a_webhook_after_the_shop_was_redacted_is_dropped_even_if_cached(client, shop, fake_shopify):
    body = (FIXTURES / "orders_paid__sample.json").read_bytes()
    shop_id, domain = shop.id, shop.domain
    assert deliver(client, body, topic="orders/paid", shop_domain=domain, secret=fake_shopify.api_secret,
                   event_id="before").get_json() == {"status": "accepted"}  # the shop is now cached
    db.session.execute(WebhookReceipt.__table__.delete())
    db.session.execute(Shop.__table__.delete().where(Shop.id == shop_id))  # as another process's redaction would
    db.session.commit()
    db.session.expunge_all()
    response = deliver(client, body, topic="orders/paid", shop_domain=domain, secret=fake_shopify.api_secret,
                       event_id="after")
    assert response.status_code == 200 and response.get_json() == {"status": "ignored"}
    assert _nothing_stored_but_queue_may_hold_the_first_kick()


def _nothing_stored_but_queue_may_hold_the_first_kick() -> bool:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WebhookReceipt)) == 0
