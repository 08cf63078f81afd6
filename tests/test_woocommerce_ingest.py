"""``POST /webhooks/woocommerce/<shop_key>`` and ``POST /storefront/api/cart``: real example
payloads delivered by the fake store with real signatures through the running app, into
the neutral events the automations see; the ping; and bad input that gets a precise 4xx
and leaves no receipt and no job behind."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connector.events import CheckoutUpdated, FulfillmentUpdated, OrderCancelled, OrderPaid, OrderPlaced, StockChanged
from connector.extensions import db
from connector.models import Shop, WebhookReceipt
from integrations.woocommerce.webhooks import signature
from tests.woocommerce_support import (  # noqa: F401 (fixtures)
    app_url,
    connected_shop,
    fixture,
    queued_jobs,
    receipts,
    recorder,
    store,
)

PLUGIN = Path(__file__).parent.parent / "integrations/woocommerce/wordpress-plugin/whatsapp-commerce-connector"
PHP = shutil.which("php")


@pytest.fixture
def shop(app_url, store, recorder):
    # the recorder stands in for the automations: these tests are about what reaches them
    return connected_shop(store)


def processed(drain) -> bool:
    def done() -> bool:
        rows = db.session.query(WebhookReceipt).all()
        return bool(rows) and all(row.processed_at is not None for row in rows)

    return drain(done)


def outcomes() -> list[str]:
    db.session.expire_all()
    return [row.outcome for row in db.session.query(WebhookReceipt).order_by(WebhookReceipt.id)]


# -- real payloads, delivered by the store ------------------------------------------------------

ORDER_CASES = [
    # fixture, event types in order
    ("order.created__sample", [OrderPlaced, OrderPaid]),
    ("order.created__cod", [OrderPlaced]),  # cash on delivery: placed, never "paid"
    ("order.updated__processing", [OrderPlaced, OrderPaid]),
    ("order.updated__cancelled", [OrderCancelled]),
    ("order.updated__completed", [OrderPlaced, OrderPaid, FulfillmentUpdated]),
    ("order.updated__completed_with_tracking", [OrderPlaced, OrderPaid, FulfillmentUpdated, FulfillmentUpdated]),
]


@pytest.mark.parametrize(("name", "expected"), ORDER_CASES)
def test_order_payloads_become_neutral_events(shop, store, recorder, drain, name, expected):
    topic = name.split("__")[0]
    (delivery,) = store.deliver(topic, fixture(name))
    assert delivery.status_code == 200
    assert processed(drain)
    got = [event for events in recorder.events.values() for _, event in events]
    assert sorted(type(event).__name__ for event in got) == sorted(kind.__name__ for kind in expected)
    assert all(shop_id == shop.id for events in recorder.events.values() for shop_id, _ in events)
    receipt = db.session.query(WebhookReceipt).one()
    assert (receipt.platform, receipt.topic, receipt.shop_id) == ("woocommerce", topic, shop.id)
    assert receipt.dedupe_key == f"{shop.shop_key}:{delivery.delivery_id}"


def test_processing_order_details(shop, store, recorder, drain):
    store.deliver("order.updated", fixture("order.updated__processing"))
    assert processed(drain)
    (paid,) = recorder.of(OrderPaid)
    order = paid.order
    assert (order.platform, order.order_id, order.name) == ("woocommerce", "727", "#727")
    assert order.updated_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    assert order.customer.phone == "+4915123456789"  # national number read with the billing country
    assert order.customer.locale == "de" and order.customer.whatsapp_opt_in is True
    assert order.cart_tokens and order.total > 0


def test_tracking_numbers(shop, store, recorder, drain):
    store.deliver("order.updated", fixture("order.updated__completed_with_tracking"))
    assert processed(drain)
    shipments = recorder.of(FulfillmentUpdated)
    assert all(len(event.tracking_numbers) == 1 for event in shipments)
    assert any(event.tracking_urls for event in shipments)


@pytest.mark.parametrize(("name", "available", "quantity"), [
    ("product.updated__simple_instock", True, None),
    ("product.updated__simple_outofstock", False, 0),
])
def test_simple_product_stock(shop, store, recorder, drain, name, available, quantity):
    store.deliver("product.updated", fixture(name))
    assert processed(drain)
    (event,) = recorder.of(StockChanged)
    assert (event.product_id, event.variant_id, event.available, event.quantity) == ("794", "794", available, quantity)


def test_variable_product_fetches_its_variations(shop, store, recorder, drain):
    product = fixture("product.updated__variable")
    store.add_product(product)
    store.add_variation(799, fixture("variation__sample"))
    store.add_variation(799, {**fixture("variation__sample"), "id": 733, "stock_status": "outofstock",
                              "manage_stock": True, "stock_quantity": 0})
    store.deliver("product.updated", product)
    assert processed(drain)
    events = sorted(recorder.of(StockChanged), key=lambda event: event.variant_id)
    assert [(e.product_id, e.variant_id, e.available, e.quantity) for e in events] == [
        ("799", "732", True, None), ("799", "733", False, 0)]
    assert any(request.path == "/wp-json/wc/v3/products/799/variations" for request in store.requests)


def test_the_same_delivery_twice_is_stored_once(shop, store, client):
    (delivery,) = store.deliver("order.updated", fixture("order.updated__processing"))
    again = client.post(f"/webhooks/woocommerce/{shop.shop_key}", data=delivery.body, headers=delivery.headers)
    assert (again.status_code, again.json["status"]) == (200, "duplicate")
    assert receipts() == 1


def test_the_same_version_delivered_again_is_stale(shop, store, recorder, drain):
    store.deliver("order.updated", fixture("order.updated__processing"))
    store.deliver("order.updated", fixture("order.updated__processing"))  # a new delivery id, same order version
    assert processed(drain)
    assert receipts() == 2 and outcomes() == ["processed", "stale"]
    assert len(recorder.of(OrderPaid)) == 1


# -- signatures ---------------------------------------------------------------------------------

def test_core_signature_vector():
    # WooCommerce core's test_generate_signature: empty secret, body "secret"
    assert signature(b"secret", "") == "GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs="


@pytest.mark.skipif(PHP is None, reason="PHP is not installed: cannot sign with WooCommerce's own expression")
def test_a_signature_made_by_woocommerces_php_expression_passes_the_endpoint(shop, client):
    body = json.dumps(fixture("order.updated__processing")).encode()
    secret = shop.credentials["webhook_secret"]
    # WC_Webhook::generate_signature:
    # base64_encode( hash_hmac( 'sha256', $payload, wp_specialchars_decode( $secret, ENT_QUOTES ), true ) )
    code = ("$body = stream_get_contents(STDIN); $secret = $argv[1];"
            "echo base64_encode(hash_hmac('sha256', 'secret', '', true)), PHP_EOL;"
            "echo base64_encode(hash_hmac('sha256', $body, htmlspecialchars_decode($secret, ENT_QUOTES), true));")
    vector, signed = subprocess.run([PHP, "-r", code, secret], input=body, capture_output=True,
                                    check=True).stdout.decode().split()
    assert vector == "GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs="
    answer = client.post(f"/webhooks/woocommerce/{shop.shop_key}", data=body, headers={
        "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Signature": signed,
        "X-WC-Webhook-Delivery-ID": "d41d8cd98f00b204e9800998ecf8427e"})
    assert (answer.status_code, answer.json["status"]) == (200, "accepted")


# -- the ping and the refusals -------------------------------------------------------------------

def test_ping_is_answered_and_ignored(shop, client):
    answer = client.post(f"/webhooks/woocommerce/{shop.shop_key}", data=b"webhook_id=1234",
                         content_type="application/x-www-form-urlencoded")
    assert (answer.status_code, answer.json["status"]) == (200, "ping")
    assert receipts() == 0 and queued_jobs() == 0


def _signed(shop, body: bytes, topic: str = "order.updated", **headers) -> dict:
    return {"Content-Type": "application/json", "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Signature": signature(body, shop.credentials["webhook_secret"]),
            "X-WC-Webhook-Delivery-ID": "0123456789abcdef", **headers}


ORDER = json.dumps(fixture("order.updated__processing")).encode()


@pytest.mark.parametrize(("case", "status", "error"), [
    ("no signature", 401, "signature_missing"),
    ("malformed signature", 401, "signature_missing"),
    ("signature of another body", 403, "signature_invalid"),
    ("signature with another secret", 403, "signature_invalid"),
    ("not json", 400, "bad_request_body"),
    ("json array", 400, "bad_request_body"),
    ("object without id", 400, "bad_request_body"),
    ("unknown store key", 404, "unknown_store"),
    ("too large", 413, "request_entity_too_large"),
])
def test_bad_deliveries_are_refused_and_leave_nothing(shop, client, case, status, error):
    key, body = shop.shop_key, ORDER
    headers = _signed(shop, body)
    if case == "no signature":
        del headers["X-WC-Webhook-Signature"]
    elif case == "malformed signature":
        headers["X-WC-Webhook-Signature"] = "not base64!"
    elif case == "signature of another body":
        headers["X-WC-Webhook-Signature"] = signature(b"{}", shop.credentials["webhook_secret"])
    elif case == "signature with another secret":
        headers["X-WC-Webhook-Signature"] = signature(body, "someone-elses-secret")
    elif case in ("not json", "json array", "object without id"):
        body = {"not json": b"{not json", "json array": b"[1, 2]",
                "object without id": b'{"status": "processing"}'}[case]
        headers = _signed(shop, body)
    elif case == "unknown store key":
        key = "x" * 24
    elif case == "too large":
        body = b'{"id": 1, "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
        headers = _signed(shop, body)
    answer = client.post(f"/webhooks/woocommerce/{key}", data=body, headers=headers)
    assert answer.status_code == status
    assert answer.json["error"] == error
    assert receipts() == 0 and queued_jobs() == 0


def test_unknown_topic_is_200_and_ignored(shop, client):
    body = json.dumps({"id": 5, "code": "spring"}).encode()
    answer = client.post(f"/webhooks/woocommerce/{shop.shop_key}", data=body,
                         headers=_signed(shop, body, "coupon.created"))
    assert (answer.status_code, answer.json["status"]) == (200, "ignored")
    assert receipts() == 0 and queued_jobs() == 0


def test_a_disconnected_store_is_refused_so_woocommerce_disables_the_hook(shop, client):
    shop.is_active = False
    db.session.commit()
    answer = client.post(f"/webhooks/woocommerce/{shop.shop_key}", data=ORDER, headers=_signed(shop, ORDER))
    assert answer.status_code == 410
    assert receipts() == 0 and queued_jobs() == 0


# -- cart reports from the WordPress plugin ----------------------------------------------------

def cart_report(shop: Shop, **changes) -> dict:
    report = {
        "version": 1, "store": shop.shop_key.lower(),  # the plugin saves the key with sanitize_key()
        "cart_token": "t_5f2b", "updated_at": "2026-05-01T10:02:13Z", "currency": "EUR", "locale": "de_DE",
        "customer_id": 0, "email": "maria@example.com", "phone": "0151 23456789", "first_name": "Maria",
        "last_name": "Muster", "country": "DE", "whatsapp_opt_in": True, "consent_text": "Send me WhatsApp updates",
        "lines": [{"product_id": 93, "variation_id": 0, "quantity": 2, "price": "3.00", "title": "Woo Single #1",
                   "sku": "", "image_url": ""}],
        "subtotal": "6.00", "total": "16.00", "completed": False,
    }
    report.update(changes)
    return report


def post_cart(client, shop: Shop, body: bytes, signature_value: str | None = "auto", **headers):
    if signature_value == "auto":
        signature_value = signature(body, shop.credentials["webhook_secret"])
    if signature_value is not None:
        headers["X-WCC-Signature"] = signature_value
    return client.post("/storefront/api/cart", data=body, headers={"Content-Type": "application/json", **headers})


def test_cart_report_becomes_checkout_updated(shop, client, recorder, drain):
    body = json.dumps(cart_report(shop)).encode()
    answer = post_cart(client, shop, body)
    assert (answer.status_code, answer.json["status"]) == (200, "accepted")
    assert post_cart(client, shop, body).json["status"] == "duplicate"
    assert processed(drain)
    (event,) = recorder.of(CheckoutUpdated)
    assert (event.platform, event.cart_token, event.total) == ("woocommerce", "t_5f2b", Decimal("16.00"))
    assert event.customer.phone == "+4915123456789" and event.customer.whatsapp_opt_in is True
    assert event.customer.locale == "de-DE"
    receipt = db.session.query(WebhookReceipt).one()
    assert (receipt.platform, receipt.topic, receipt.shop_id) == ("woocommerce", "cart.updated", shop.id)


@pytest.mark.skipif(PHP is None, reason="PHP is not installed: cannot build the report with the plugin's own code")
def test_cart_report_built_and_signed_by_the_plugin_code(shop, client, recorder, drain):
    # the plugin's pure functions build, encode and sign the report exactly as it sends it
    code = """
        require $argv[1];
        $report = wcc_build_cart_report(array(
            'store' => strtolower($argv[2]), 'cart_token' => 'wc_sess_42', 'updated_at' => 1777629733,
            'currency' => 'EUR', 'locale' => 'de_DE', 'customer_id' => 0, 'phone' => '+49 151 23456789',
            'country' => 'DE', 'whatsapp_opt_in' => true, 'consent_text' => 'Yes, WhatsApp',
            'lines' => array(array('product_id' => 93, 'variation_id' => 0, 'quantity' => 2, 'price' => 3,
                                   'title' => 'Woo Single #1')),
            'subtotal' => 6, 'total' => 16, 'completed' => false, 'decimals' => 2));
        $body = wcc_encode_report($report);
        echo wcc_sign($body, $argv[3]), "\\n", $body;
    """
    out = subprocess.run([PHP, "-r", code, str(PLUGIN / "includes/functions.php"), shop.shop_key,
                          shop.credentials["webhook_secret"]], capture_output=True, check=True).stdout
    signed, body = out.split(b"\n", 1)
    answer = post_cart(client, shop, body, signed.decode())
    assert (answer.status_code, answer.json["status"]) == (200, "accepted")
    assert processed(drain)
    (event,) = recorder.of(CheckoutUpdated)
    assert event.cart_token == "wc_sess_42" and event.customer.phone == "+4915123456789"
    assert event.lines[0].quantity == 2 and event.lines[0].unit_price == Decimal("3.00")


@pytest.mark.parametrize(("case", "status"), [
    ("no signature", 401), ("wrong signature", 403), ("unknown store", 404), ("no store", 400),
    ("no cart token", 400), ("not json", 400), ("header names another store", 400),
])
def test_bad_cart_reports_are_refused_and_leave_nothing(shop, client, store, case, status):
    report, headers, signature_value = cart_report(shop), {}, "auto"
    if case == "unknown store":
        report["store"] = "nobody"
    elif case == "no store":
        del report["store"]
    elif case == "no cart token":
        del report["cart_token"]
    elif case == "header names another store":
        other = connected_shop(store, catch_up=False, domain="https://other.example")
        headers["X-WCC-Store-Key"] = shop.shop_key  # signed with this store's secret, body names the other
        report["store"] = other.shop_key
    body = b"{nope" if case == "not json" else json.dumps(report).encode()
    if case == "no signature":
        signature_value = None
    elif case == "wrong signature":
        signature_value = signature(body, "someone-elses-secret")
    answer = post_cart(client, shop, body, signature_value, **headers)
    assert answer.status_code == status
    assert "error" in answer.json
    assert receipts() == 0 and queued_jobs() == 0
