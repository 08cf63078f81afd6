"""WooCommerce webhook verification and parsing, against the REST API docs' payloads.

Fixtures live in ``fixtures/payloads/woocommerce/<topic>__<variant>.json``; SOURCES.md there
says where each comes from and which fields were changed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.events import (
    CheckoutUpdated,
    Customer,
    FulfillmentStatus,
    FulfillmentUpdated,
    LineItem,
    Order,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    StockChanged,
)
from integrations.base import PayloadError, SignatureInvalidError, SignatureMissingError
from integrations.woocommerce import webhooks
from integrations.woocommerce.webhooks import (
    TOPICS,
    DeliveryHeaders,
    cart_report_consent,
    delivery_headers,
    is_ping,
    load_json,
    parse,
    parse_cart_report,
    parse_variation,
    sign_cart_report,
    signature,
    variation_ids,
    verify,
    verify_cart_report,
)

FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "woocommerce"


@dataclass(frozen=True)
class Context:
    country: str | None = "US"
    locale: str = "en"


CONTEXT = Context()


def load(name: str) -> Any:
    return load_json((FIXTURES / f"{name}.json").read_bytes())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------
# The order of the docs' "Create an order" example (id 727), as parsed
# ---------------------------------------------------------------------------------------

BILLING = {
    "first_name": "John",
    "last_name": "Doe",
    "company": "",
    "address_1": "969 Market",
    "address_2": "",
    "city": "San Francisco",
    "state": "CA",
    "postcode": "94103",
    "country": "US",
    "email": "john.doe@example.com",
    "phone": "(555) 555-5555",
}
SHIPPING = {key: value for key, value in BILLING.items() if key not in ("email", "phone")}

ORDER_727 = Order(
    platform="woocommerce",
    order_id="727",
    name="#727",
    created_at=utc("2017-03-22T19:28:02"),
    updated_at=utc("2017-03-22T19:28:08"),
    # "(555) 555-5555" is not a possible US number: dropped, never raised
    customer=Customer(email="john.doe@example.com", first_name="John", last_name="Doe", country="US"),
    lines=(
        LineItem(
            product_id="93",
            variant_id=None,
            title="Woo Single #1",
            quantity=2,
            unit_price=Decimal("3.00"),
            tax=Decimal("0.45"),
        ),
        LineItem(
            product_id="22",
            variant_id="23",
            title="Ship Your Idea \u2013 Color: Black, Size: M Test",  # &ndash; unescaped
            quantity=1,
            unit_price=Decimal("12.00"),
            sku="Bar3",
            tax=Decimal("0.90"),
        ),
    ),
    currency="USD",
    subtotal=Decimal("18.00"),
    shipping=Decimal("10.00"),
    tax=Decimal("1.35"),
    discount=Decimal("0.00"),
    total=Decimal("29.35"),
    financial_status="processing",
    payment_method="bacs",
    billing_address=BILLING,
    shipping_address=SHIPPING,
)

ORDER_727_PROCESSING = dataclasses.replace(
    ORDER_727,
    customer=Customer(
        phone="+4915123456789",
        email="john.doe@example.com",
        first_name="John",
        last_name="Doe",
        locale="de",
        country="DE",
        whatsapp_opt_in=True,
        whatsapp_consent_text="Send me order updates on WhatsApp",  # the box's text, for the ledger
    ),
    cart_tokens=("t_5f2b9c0e7a",),
    billing_address={**BILLING, "country": "DE", "phone": "0151 23456789"},
    note_attributes={
        "whatsapp_opt_in": "yes",
        "consent_text": "Send me order updates on WhatsApp",
        "cart_token": "t_5f2b9c0e7a",
    },
)

ORDER_727_CANCELLED = dataclasses.replace(
    ORDER_727,
    updated_at=utc("2017-03-22T20:02:40"),
    financial_status="cancelled",
    payment_method="cod",
    billing_address={**BILLING, "phone": "not a phone"},
)

ORDER_727_COMPLETED = dataclasses.replace(
    ORDER_727, updated_at=utc("2017-03-22T19:30:35"), financial_status="completed"
)

ORDER_727_COD = dataclasses.replace(ORDER_727, payment_method="cod")


def shipped(fulfillment_id: str, occurred_at: datetime, order: Order = ORDER_727_COMPLETED,
            **fields: Any) -> FulfillmentUpdated:
    return FulfillmentUpdated(
        platform="woocommerce",
        order_id="727",
        fulfillment_id=fulfillment_id,
        status=FulfillmentStatus.SHIPPED,
        occurred_at=occurred_at,
        customer=order.customer,
        order_name="#727",
        **fields,
    )


# ---------------------------------------------------------------------------------------
# Every fixture → the exact events it produces
# ---------------------------------------------------------------------------------------

EXPECTED: dict[str, list[Any]] = {
    "order.created__sample": [OrderPlaced(ORDER_727), OrderPaid(ORDER_727)],
    # COD gets date_paid on "processing" without any money: placed, never paid
    "order.created__cod": [OrderPlaced(ORDER_727_COD)],
    "order.updated__processing": [OrderPlaced(ORDER_727_PROCESSING), OrderPaid(ORDER_727_PROCESSING)],
    "order.updated__cancelled": [OrderCancelled(ORDER_727_CANCELLED)],
    "order.updated__completed": [
        OrderPlaced(ORDER_727_COMPLETED),
        OrderPaid(ORDER_727_COMPLETED),
        shipped("727-completed", utc("2017-03-22T19:30:35")),
    ],
    "order.updated__completed_with_tracking": [
        OrderPlaced(ORDER_727_COMPLETED),
        OrderPaid(ORDER_727_COMPLETED),
        shipped(
            "a3c1a0b5e6f0d7c2b9e8f1a2b3c4d5e6",
            datetime.fromtimestamp(1490227200, tz=UTC),
            tracking_company="usps",
            tracking_numbers=("9400111899223344556677",),
        ),
        shipped(
            "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
            datetime.fromtimestamp(1490313600, tz=UTC),
            tracking_company="Dropp",
            tracking_numbers=("DR157XBLJS584",),
            tracking_urls=("https://dropp.is/track/DR157XBLJS584",),
        ),
    ],
    # TrackShip's shipment_status meta, one entry per tracking item: carrier statuses and their times
    "order.updated__trackship_statuses": [
        OrderPlaced(ORDER_727_COMPLETED),
        OrderPaid(ORDER_727_COMPLETED),
        dataclasses.replace(shipped(
            "a3c1a0b5e6f0d7c2b9e8f1a2b3c4d5e6",
            utc("2017-03-24T09:12:44"),
            tracking_company="usps",
            tracking_numbers=("9400111899223344556677",),
        ), status=FulfillmentStatus.DELIVERED),
        dataclasses.replace(shipped(
            "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
            utc("2017-03-23T16:40:02"),
            tracking_company="Dropp",
            tracking_numbers=("DR157XBLJS584",),
            tracking_urls=("https://dropp.is/track/DR157XBLJS584",),
        ), status=FulfillmentStatus.OUT_FOR_DELIVERY),
    ],
    "product.updated__simple_instock": [
        StockChanged(
            platform="woocommerce",
            product_id="794",
            variant_id="794",
            available=True,
            quantity=None,  # manage_stock is false
            occurred_at=utc("2017-03-23T20:01:14"),
            title="Premium Quality",
            image_url="https://example.com/wp-content/uploads/2017/03/T_2_front-4.jpg",
            price=Decimal("21.99"),
        )
    ],
    "product.updated__simple_outofstock": [
        StockChanged(
            platform="woocommerce",
            product_id="794",
            variant_id="794",
            available=False,
            quantity=0,
            occurred_at=utc("2017-03-24T12:15:00"),
            title="Premium Quality",
            image_url="https://example.com/wp-content/uploads/2017/03/T_2_front-4.jpg",
            price=Decimal("21.99"),
        )
    ],
    # a variable product's stock is in its variations: fetched and parsed separately
    "product.updated__variable": [],
}


def test_every_fixture_has_expectations():
    names = {path.stem for path in FIXTURES.glob("*.json")}
    assert names == set(EXPECTED) | {"variation__sample"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_gives_exact_events(name):
    topic = name.split("__")[0]
    assert parse(topic, load(name), CONTEXT) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parsing_is_deterministic(name):
    topic = name.split("__")[0]
    assert parse(topic, load(name), CONTEXT) == parse(topic, load(name), CONTEXT)


def test_order_created_and_updated_describe_the_same_state():
    payload = load("order.created__sample")
    assert parse("order.created", payload, CONTEXT) == parse("order.updated", payload, CONTEXT)


def test_money_is_decimal_never_float():
    order = parse("order.created", load("order.created__sample"), CONTEXT)[0].order
    for value in (order.total, order.subtotal, order.tax, order.lines[0].unit_price):
        assert type(value) is Decimal


def test_variable_product_exposes_its_variation_ids():
    assert variation_ids(load("product.updated__variable")) == ["732", "733"]
    assert variation_ids(load("product.updated__simple_instock")) == []
    assert variation_ids("garbage") == []


def test_parse_variation():
    assert parse_variation(load("variation__sample"), "22", CONTEXT) == StockChanged(
        platform="woocommerce",
        product_id="22",
        variant_id="732",
        available=True,
        quantity=None,
        occurred_at=utc("2017-03-23T03:36:38"),
        title="Black",  # no name in the docs' example: the attribute options
        image_url="https://example.com/wp-content/uploads/2016/10/T_4_front-12.jpg",
        price=Decimal("9.00"),
    )
    assert parse_variation({"id": 5}, "22", CONTEXT) is None  # no date
    assert parse_variation([], "22", CONTEXT) is None


def test_variation_delivered_on_product_updated_names_its_parent():
    payload = {**load("variation__sample"), "type": "variation", "parent_id": 22, "manage_stock": "parent",
               "stock_quantity": 4}
    [event] = parse("product.updated", payload, CONTEXT)
    assert (event.product_id, event.variant_id, event.quantity) == ("22", "732", 4)


def test_backorder_counts_as_available():
    payload = {**load("product.updated__simple_instock"), "stock_status": "onbackorder"}
    assert parse("product.updated", payload, CONTEXT)[0].available is True


# ---------------------------------------------------------------------------------------
# Tolerance
# ---------------------------------------------------------------------------------------


def test_unknown_topic_gives_nothing():
    assert parse("coupon.created", {"id": 1}, CONTEXT) == []


@pytest.mark.parametrize("payload", [[], "x", None, {}, {"id": None}, {"id": True}])
def test_known_topic_without_an_object_id_is_a_payload_error(payload):
    with pytest.raises(PayloadError):
        parse("order.updated", payload, CONTEXT)


def test_garbage_inside_an_order_never_raises():
    payload = load("order.created__sample")
    payload.update(
        billing="x", shipping=None, meta_data=[1, {"key": 2}, {"key": "_wcc_whatsapp_opt_in", "value": {"a": 1}}],
        line_items=[None, {"quantity": "x", "subtotal": "abc"}], total="NaN", currency=7,
    )
    [placed, paid] = parse("order.updated", payload, CONTEXT)
    assert placed.order.customer.phone is None
    assert placed.order.customer.whatsapp_opt_in is None
    assert placed.order.total == Decimal("0")
    assert placed.order.lines == (
        LineItem(product_id=None, variant_id=None, title="", quantity=0, unit_price=Decimal("0")),)


def test_pending_and_failed_orders_are_not_placed_yet():
    for status in ("pending", "failed", "refunded"):
        payload = {**load("order.created__sample"), "status": status}
        assert parse("order.created", payload, CONTEXT) == []


def test_on_hold_is_placed_not_paid():
    payload = {**load("order.created__sample"), "status": "on-hold", "date_paid": None, "date_paid_gmt": None}
    assert [type(event) for event in parse("order.created", payload, CONTEXT)] == [OrderPlaced]


def test_shipping_phone_is_used_when_billing_has_none():
    payload = load("order.created__sample")
    payload["billing"]["phone"] = ""
    payload["shipping"].update(phone="020 7946 0018", country="GB")
    customer = parse("order.created", payload, CONTEXT)[0].order.customer
    assert (customer.phone, customer.country) == ("+442079460018", "GB")


def test_national_phone_falls_back_to_the_shop_country():
    payload = load("order.created__sample")
    payload["billing"].update(phone="0151 23456789", country="")
    customer = parse("order.created", payload, Context(country="DE"))[0].order.customer
    assert customer.phone == "+4915123456789"


def test_tracking_items_as_a_php_object_with_gaps():
    payload = load("order.updated__completed_with_tracking")
    items = payload["meta_data"][-1]["value"]
    payload["meta_data"][-1]["value"] = {"1": items[0], "3": items[1]}
    assert parse("order.updated", payload, CONTEXT) == EXPECTED["order.updated__completed_with_tracking"]


def test_tracking_item_without_id_gets_a_stable_one():
    payload = load("order.updated__completed_with_tracking")
    del payload["meta_data"][-1]["value"][0]["tracking_id"]
    events = parse("order.updated", payload, CONTEXT)
    assert events[2].fulfillment_id == "727-9400111899223344556677"


@pytest.mark.parametrize(
    ("meta", "locale"),
    [
        ({"_wcc_locale": "pt_BR", "wpml_language": "de"}, "pt-BR"),
        ({"wpml_language": "fr"}, "fr"),
        ({"_wcc_locale": "not a locale"}, None),
    ],
)
def test_locale_from_meta(meta, locale):
    payload = load("order.created__sample")
    payload["meta_data"] = [{"id": index, "key": key, "value": value}
                            for index, (key, value) in enumerate(meta.items())]
    assert parse("order.created", payload, CONTEXT)[0].order.customer.locale == locale


def test_load_json_refuses_garbage():
    with pytest.raises(PayloadError):
        load_json(b"{not json")


# ---------------------------------------------------------------------------------------
# Signatures, pings and delivery headers
# ---------------------------------------------------------------------------------------


def test_woocommerce_core_signature_vector():
    # woocommerce/woocommerce@6147c5e685a97beb873ac2548044cf04d2a48a66:
    # plugins/woocommerce/tests/legacy/unit-tests/webhooks/crud.php test_generate_signature:
    # a new WC_Webhook (secret '') signs the payload 'secret'.
    assert signature(b"secret", "") == "GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs="


def test_verify_accepts_a_genuine_delivery_with_any_header_case():
    body = (FIXTURES / "order.created__sample.json").read_bytes()
    sig = signature(body, "s3cret")
    verify(body, {"X-WC-Webhook-Signature": sig}, "s3cret")
    verify(body, {"x-wc-webhook-signature": sig}, "s3cret")


def test_verify_rejects_a_changed_body_or_wrong_secret():
    body = b'{"id": 727}'
    sig = signature(body, "s3cret")
    with pytest.raises(SignatureInvalidError):
        verify(body + b" ", {"X-WC-Webhook-Signature": sig}, "s3cret")
    with pytest.raises(SignatureInvalidError):
        verify(body, {"X-WC-Webhook-Signature": sig}, "other")


@pytest.mark.parametrize("headers", [{}, {"X-WC-Webhook-Signature": ""}, {"X-WC-Webhook-Signature": "not base64!"},
                                     {"X-WC-Webhook-Signature": "c2hvcnQ="}])
def test_verify_missing_or_malformed_signature(headers):
    with pytest.raises(SignatureMissingError):
        verify(b"{}", headers, "s3cret")


def test_verify_refuses_an_empty_secret():
    with pytest.raises(ValueError):
        verify(b"secret", {"X-WC-Webhook-Signature": "GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs="}, "")


def test_ping_detection():
    assert is_ping(b"webhook_id=142", {"Content-Type": "application/x-www-form-urlencoded"})
    assert not is_ping(b"webhook_id=142", {"X-WC-Webhook-Topic": "order.updated"})
    assert not is_ping(b"webhook_id=142", {"X-WC-Webhook-Signature": "abc"})
    assert not is_ping(b'{"id": 142}', {})
    assert not is_ping(b"webhook_id=abc", {})
    assert not is_ping(b"webhook_id=1&x=2", {})
    assert not is_ping(b"\xff\xfe", {})


def test_delivery_headers():
    headers = {
        "x-wc-webhook-source": "https://store.example/",
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "updated",
        "X-WC-Webhook-ID": "142",
        "X-WC-Webhook-Delivery-ID": "7d5b0a8f0e3c",
    }
    assert delivery_headers(headers) == DeliveryHeaders(
        topic="order.updated",
        resource="order",
        event="updated",
        delivery_id="7d5b0a8f0e3c",
        webhook_id="142",
        source="https://store.example/",
    )
    assert delivery_headers({}) == DeliveryHeaders(None, None, None, None, None, None)


def test_topics():
    assert TOPICS == ("order.created", "order.updated", "product.updated")


def test_conforms_to_the_store_webhooks_protocol():
    assert set(webhooks.TOPICS) <= set(webhooks._TOPIC_PARSERS)
    assert callable(webhooks.verify) and callable(webhooks.parse)


# ---------------------------------------------------------------------------------------
# Cart reports from the WordPress plugin
# ---------------------------------------------------------------------------------------

CART_REPORT = {
    "version": 1,
    "store": "store-key-1",
    "cart_token": "t_5f2b9c0e7a",
    "created_at": "2026-05-01T10:00:00Z",
    "updated_at": "2026-05-01T10:02:13Z",
    "currency": "EUR",
    "locale": "de_DE",
    "customer_id": 0,
    "email": "kim@example.com",
    "phone": "0151 23456789",
    "first_name": "Kim",
    "last_name": "Lee",
    "country": "DE",
    "whatsapp_opt_in": True,
    "consent_text": "Send me order updates on WhatsApp",
    "lines": [
        {"product_id": 93, "variation_id": 0, "quantity": 2, "price": "3.00", "title": "Woo Single #1", "sku": "",
         "image_url": ""},
        {"product_id": 22, "variation_id": 23, "quantity": 1, "price": "12.00",
         "title": "Ship Your Idea &ndash; Black", "sku": "Bar3"},
    ],
    "subtotal": "18.00",
    "total": "28.00",
    "recovery_url": "https://store.example/?wcc-cart=93:2,23:1",
    "completed": False,
}


def test_parse_cart_report():
    raw = json.dumps(CART_REPORT).encode()
    assert parse_cart_report(load_json(raw), CONTEXT) == CheckoutUpdated(
        platform="woocommerce",
        cart_token="t_5f2b9c0e7a",
        updated_at=datetime(2026, 5, 1, 10, 2, 13, tzinfo=UTC),
        customer=Customer(
            phone="+4915123456789",
            email="kim@example.com",
            first_name="Kim",
            last_name="Lee",
            locale="de-DE",
            country="DE",
            whatsapp_opt_in=True,
            whatsapp_consent_text="Send me order updates on WhatsApp",
        ),
        lines=(
            LineItem(product_id="93", variant_id=None, title="Woo Single #1", quantity=2, unit_price=Decimal("3.00")),
            LineItem(product_id="22", variant_id="23", title="Ship Your Idea \u2013 Black", quantity=1,
                     unit_price=Decimal("12.00"), sku="Bar3"),
        ),
        currency="EUR",
        subtotal=Decimal("18.00"),
        total=Decimal("28.00"),
        recovery_url="https://store.example/?wcc-cart=93:2,23:1",
        created_at=datetime(2026, 5, 1, 10, 0, tzinfo=UTC),
    )
    assert cart_report_consent(CART_REPORT) == webhooks.CartConsent(True, "Send me order updates on WhatsApp", "de-DE")


def test_cart_report_completed_and_bad_phone():
    report = {**CART_REPORT, "completed": True, "phone": "12"}
    checkout = parse_cart_report(report, CONTEXT)
    assert checkout.completed_at == checkout.updated_at
    assert checkout.customer.phone is None


@pytest.mark.parametrize("missing", ["cart_token", "updated_at"])
def test_cart_report_needs_token_and_time(missing):
    with pytest.raises(PayloadError):
        parse_cart_report({key: value for key, value in CART_REPORT.items() if key != missing}, CONTEXT)


def test_cart_report_signature_roundtrip():
    raw = json.dumps(CART_REPORT).encode()
    header = sign_cart_report(raw, "shared-secret")
    assert header == signature(raw, "shared-secret")
    verify_cart_report(raw, {"X-WCC-Signature": header}, "shared-secret")
    with pytest.raises(SignatureInvalidError):
        verify_cart_report(raw + b"\n", {"X-WCC-Signature": header}, "shared-secret")
    with pytest.raises(SignatureMissingError):
        verify_cart_report(raw, {}, "shared-secret")
    with pytest.raises(ValueError):
        sign_cart_report(raw, "")
