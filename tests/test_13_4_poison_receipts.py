"""Issue 13, point 4: a poison receipt is recognised at its first attempt, not retried ten times.

Signed bodies for each platform go through the real endpoints and a real RQ worker. Those
whose text the adapters can clean (NUL, lone surrogates, codes longer than their column)
are processed; those that can never become a storable event (ids longer than their column,
objects where an id belongs) end ``dead`` after exactly one attempt, with their reason, and
``connector receipts --dead`` lists them. Good receipts queued behind them are processed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from connector import receipt_failures
from connector.extensions import db
from connector.models import Contact, Message, WebhookReceipt
from connector.stores import woocommerce as wc_store
from integrations.shopify import webhooks as shopify_webhooks
from integrations.whatsapp import webhooks as whatsapp_webhooks
from integrations.woocommerce.webhooks import signature as woocommerce_signature
from tests.factories import make_shopify_and_woocommerce

FIXTURES = Path(__file__).parent / "fixtures" / "payloads"
NUMBER = "106540352242922"  # the phone_number_id of the WhatsApp fixtures


def _fixture(platform: str, name: str) -> dict:
    return json.loads((FIXTURES / platform / f"{name}.json").read_text())


@pytest.fixture
def shops(ctx, fake_shopify):
    return make_shopify_and_woocommerce(fake_shopify.shop_domain, "https://poison-store.example",
                                        phone_number_id=NUMBER, shopify_time_zone="Europe/Berlin", shopify_locale="de")


def _shopify(client, shop, fake_shopify, topic: str, payload: dict, event_id: str):
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shop.domain,
               "X-Shopify-Event-Id": event_id,
               "X-Shopify-Hmac-Sha256": shopify_webhooks.sign(body, fake_shopify.api_secret)}
    return client.post("/webhooks/shopify", data=body, headers=headers)


def _woocommerce(client, shop, topic: str, payload: dict, delivery_id: str):
    body = json.dumps(payload).encode()
    resource, _, event = topic.partition(".")
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": resource,
               "X-WC-Webhook-Event": event, "X-WC-Webhook-Delivery-ID": delivery_id,
               "X-WC-Webhook-Signature": woocommerce_signature(body, "wc-secret")}
    return client.post(f"/webhooks/woocommerce/{shop.shop_key}", data=body, headers=headers)


def _whatsapp(client, payload: dict):
    body = json.dumps(payload).encode()
    return client.post("/webhooks/whatsapp", data=body, headers={
        "Content-Type": "application/json",
        "X-Hub-Signature-256": whatsapp_webhooks.sign(body, "test-app-secret")})


def _poison_bodies() -> tuple[list[tuple], list[tuple]]:
    """(platform, topic, payload) that must end dead, and those the adapters clean and process."""
    order = _fixture("shopify", "orders_paid__sample")
    checkout = _fixture("shopify", "checkouts_create__sample")
    product = _fixture("shopify", "products_update__sample")
    wc_order = _fixture("woocommerce", "order.created__sample")
    wc_product = _fixture("woocommerce", "product.updated__simple_instock")
    status = _fixture("whatsapp", "statuses__sent")
    inbound = _fixture("whatsapp", "messages__text")

    def changed(payload: dict, edit) -> dict:
        payload = copy.deepcopy(payload)
        edit(payload)
        return payload

    def set_line(payload, key, value):
        payload["line_items"][0][key] = value

    def wa_status(payload, key, value):
        payload["entry"][0]["changes"][0]["value"]["statuses"][0][key] = value

    def wa_message(payload, edit):
        edit(payload["entry"][0]["changes"][0]["value"]["messages"][0])

    dead = [
        ("shopify", "orders/paid", changed(order, lambda p: p.update(id="9" * 80))),  # orders.order_id is 64
        ("shopify", "orders/paid", changed(order, lambda p: p.update(id={"$numberLong": "1"}))),  # object for an id
        ("shopify", "orders/paid", changed(order, lambda p: p.update(id=820982911946154601, total_price="1e20"))),
        ("shopify", "checkouts/create", changed(checkout, lambda p: set_line(p, "variant_id", "7" * 70))),
        ("shopify", "products/update", changed(product, lambda p: p["variants"][0].update(id="5" * 90))),
        ("woocommerce", "order.created", changed(wc_order, lambda p: p.update(id="8" * 70))),
        ("woocommerce", "product.updated", changed(wc_product, lambda p: p.update(id={"id": 17}))),
        ("whatsapp", "messages", changed(status, lambda p: wa_status(p, "id", "wamid." + "A" * 200))),
    ]
    cleaned = [
        ("shopify", "orders/paid", changed(order, lambda p: p.update(
            id=820982911946154600, currency="EURO-LONG", presentment_currency="\udfffX\x00",
            customer={**p.get("customer", {}), "first_name": "Ma\x00ria\udfff"}))),
        ("shopify", "checkouts/create", changed(checkout, lambda p: p.update(currency="EUROPEAN", token="tok\x00en"))),
        ("woocommerce", "order.created", changed(wc_order, lambda p: (p.update(currency="EURO\x00"),
                                                                      p["billing"].update(first_name="\udfff\x00")))),
        ("whatsapp", "messages", changed(inbound, lambda p: wa_message(
            p, lambda m: m["text"].update(body="hi\x00 there \udfff")))),
    ]
    return dead, cleaned


def _post(client, shops, fake_shopify, platform, topic, payload, index):
    shopify, woo = shops
    if platform == "shopify":
        return _shopify(client, shopify, fake_shopify, topic, payload, f"evt-poison-{index}")
    if platform == "woocommerce":
        return _woocommerce(client, woo, topic, payload, f"delivery-poison-{index}")
    return _whatsapp(client, payload)


def _retry_round(run_worker) -> None:
    """Make every backed-off receipt due again and run a drainer over them."""
    from connector.jobs.ingest import drain_receipts
    from connector.queues import INGEST, enqueue
    from connector.wakeups import DRAIN_TIME_BUDGET_SECONDS

    db.session.execute(update(WebhookReceipt).values(claimed_until=None))
    db.session.commit()
    enqueue(drain_receipts, queue=INGEST, timeout=int(DRAIN_TIME_BUDGET_SECONDS) * 2)
    run_worker()


def _receipts() -> list[WebhookReceipt]:
    db.session.expire_all()
    return db.session.scalars(select(WebhookReceipt).order_by(WebhookReceipt.id)).all()


def test_13_4_poison_receipts_end_dead_after_one_attempt_and_good_ones_behind_them_are_processed(
        client, shops, fake_shopify, run_worker):
    dead, cleaned = _poison_bodies()
    for index, (platform, topic, payload) in enumerate(dead + cleaned):
        response = _post(client, shops, fake_shopify, platform, topic, payload, index)
        assert response.status_code == 200, (platform, topic, response.get_json())
        assert response.get_json() == {"status": "accepted"}
    # a good order, queued behind all of them
    good = _fixture("shopify", "orders_paid__sample")
    good["id"] = 450789469000001
    assert _shopify(client, shops[0], fake_shopify, "orders/paid", good, "evt-good").status_code == 200

    run_worker()
    _retry_round(run_worker)  # whatever was told to back off is due again: a poison receipt must not come back

    receipts = _receipts()[:len(dead) + len(cleaned) + 1]  # later ones: the sandbox's status webhooks
    poison, fixed, last = receipts[:len(dead)], receipts[len(dead):-1], receipts[-1]
    for receipt, (platform, topic, _) in zip(poison, dead, strict=True):
        assert (receipt.platform, receipt.outcome, receipt.attempts) == (platform, "dead", 1), \
            (platform, topic, receipt.outcome, receipt.attempts, receipt.error)
        assert receipt.processed_at is not None and receipt.claimed_until is None
        assert receipt.error and "PayloadError" in receipt.error, receipt.error
    for receipt, (platform, topic, _) in zip(fixed, cleaned, strict=True):
        assert (receipt.outcome, receipt.attempts, receipt.error) == ("processed", 1, None), \
            (platform, topic, receipt.outcome, receipt.attempts, receipt.error)
    assert (last.outcome, last.attempts) == ("processed", 1)
    # the good order got its confirmation; the cleaned inbound text kept its words, not its NUL
    keys = set(db.session.scalars(select(Message.idempotency_key)))
    assert any(key.startswith("order:450789469000001:") for key in keys), keys
    names = set(db.session.scalars(select(Contact.name)))
    assert not any("\x00" in (name or "") for name in names)


def test_13_4_connector_receipts_lists_dead_receipts_with_their_reason(client, shops, fake_shopify, run_worker):
    from connector.cli import cli

    shopify, woo = shops
    dead, _ = _poison_bodies()
    platform, topic, payload = dead[0]
    assert _post(client, shops, fake_shopify, platform, topic, payload, 0).status_code == 200
    run_worker()
    runner = client.application.test_cli_runner()

    listing = runner.invoke(cli, ["receipts", "--shop", shopify.domain, "--dead"])
    assert listing.exit_code == 0, listing.output
    assert "orders/paid" in listing.output and "dead" in listing.output
    assert "PayloadError: order_id is longer than 64 characters" in listing.output

    rows = [json.loads(line) for line in runner.invoke(
        cli, ["receipts", "--shop", str(shopify.id), "--dead", "--json"]).output.splitlines()]
    assert [(row["topic"], row["state"], row["attempts"]) for row in rows] == [("orders/paid", "dead", 1)]
    assert rows[0]["error"].startswith("PayloadError")

    empty = runner.invoke(cli, ["receipts", "--shop", woo.shop_key, "--dead"])
    assert empty.exit_code == 0 and "no dead receipts" in empty.output
    assert runner.invoke(cli, ["receipts", "--shop", "no-such-shop"]).exit_code == 2


@pytest.mark.parametrize(("error", "kind"), [
    (ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), receipt_failures.DETERMINISTIC),
    (KeyError("id"), receipt_failures.DETERMINISTIC),
    (TimeoutError("read timed out"), receipt_failures.TRANSIENT),
    (ConnectionRefusedError(), receipt_failures.TRANSIENT),
    (RuntimeError("something else"), receipt_failures.UNKNOWN),
])
def test_13_4_failures_are_classified_by_what_a_retry_can_change(error, kind):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from integrations.shopify.errors import ShopifyApiError, ShopifyTransportError

    assert receipt_failures.classify(error) == kind
    assert receipt_failures.classify(RedisConnectionError()) == receipt_failures.TRANSIENT
    assert receipt_failures.classify(ShopifyTransportError("no answer")) == receipt_failures.TRANSIENT
    assert (receipt_failures.classify(ShopifyApiError("503", status=503, is_retryable=True))
            == receipt_failures.TRANSIENT)


def test_13_4_a_woocommerce_store_receipt_dies_once_not_ten_times(client, shops, run_worker):
    """A store that sends an id the column cannot hold: one attempt, then ``dead``; the store's next order goes on."""
    _, woo = shops
    bad = _fixture("woocommerce", "order.created__sample")
    bad["id"] = "4" * 65
    assert _woocommerce(client, woo, "order.created", bad, "d-1").status_code == 200
    good = _fixture("woocommerce", "order.created__sample")
    good["id"] = 9911
    assert _woocommerce(client, woo, "order.created", good, "d-2").status_code == 200
    run_worker()
    for _ in range(3):
        _retry_round(run_worker)
    first, second = _receipts()
    assert (first.outcome, first.attempts) == ("dead", 1) and "order_id" in first.error
    assert (second.outcome, second.attempts) == ("processed", 1)
    assert second.platform == wc_store.PLATFORM and second.error is None
