"""Shopify webhook verification and parsing, against Shopify's published sample payloads.

Fixtures live in ``fixtures/payloads/shopify/<topic>__<variant>.json``; SOURCES.md there
says where each comes from.
"""

from __future__ import annotations

import json
import logging
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.events import (
    CheckoutUpdated,
    Customer,
    CustomerDataRequest,
    CustomerRedact,
    FulfillmentStatus,
    FulfillmentUpdated,
    LineItem,
    Order,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    ShopRedact,
    ShopUninstalled,
    StockChanged,
)
from integrations import base
from integrations.shopify import webhooks
from integrations.shopify.consts import API_VERSION
from integrations.shopify.webhooks import (
    COMPLIANCE_TOPICS,
    TOPICS,
    DeliveryHeaders,
    delivery_headers,
    inventory_item_map,
    load_json,
    parse,
    sign,
    updated_at_of,
    verify,
)

FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "shopify"
APP_TOML = Path(__file__).parent.parent / "integrations" / "shopify" / "shopify.app.toml"
SECRET = "test-api-secret-0123456789abcdef"
EST = timezone(timedelta(hours=-5))
CET = timezone(timedelta(hours=1))
SAMPLE_TIME = datetime(2021, 12, 31, 19, 0, tzinfo=EST)


@dataclass
class Context:
    """What the core passes to ``parse``."""

    country: str | None = "US"
    locale: str = "en"
    shop_domain: str | None = "demo.myshopify.com"
    lookups: dict[str, tuple[str, str]] = field(default_factory=dict)

    def variant_for_inventory_item(self, inventory_item_id: str) -> tuple[str, str] | None:
        return self.lookups.get(inventory_item_id)


def load(name: str) -> Any:
    return load_json((FIXTURES / f"{name}.json").read_bytes())


def topic_of(name: str) -> str:
    stem = name.split("__", 1)[0]
    for topic in TOPICS:
        if topic.replace("/", "_") == stem:
            return topic
    raise AssertionError(f"no topic for fixture {name}")


# ---------------------------------------------------------------------------------------
# Expected events, built from what the samples say
# ---------------------------------------------------------------------------------------

IPOD = LineItem(
    product_id="632910392",
    variant_id="808950810",
    title="IPod Nano - 8GB",
    quantity=1,
    unit_price=Decimal("199.00"),
    variant_title="Pink",
    sku="IPOD2008PINK",
    tax=Decimal("11.94"),
)

CHECKOUT = CheckoutUpdated(
    platform="shopify",
    cart_token="123123123",
    updated_at=SAMPLE_TIME,
    customer=Customer(
        platform_customer_id="603851970716743426",
        email="example@email.com",
        first_name="John",
        last_name="Smith",
        country="US",  # the sample's phones are not valid numbers: country of the shipping address
    ),
    lines=(IPOD, IPOD),
    currency="USD",
    subtotal=Decimal("398.00"),
    total=Decimal("421.88"),
    recovery_url="https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token",
    alt_tokens=("eeafa272cebfd4b22385bc4b645e762c",),
    created_at=SAMPLE_TIME,
)


def order_line(id_product: str | None, title: str, price: str, sku: str, variant_id: str | None = None) -> LineItem:
    return LineItem(
        product_id=id_product, variant_id=variant_id, title=title, quantity=1, unit_price=Decimal(price), sku=sku
    )


SHIP_ADDRESS = {
    "first_name": "Steve",
    "last_name": "Shipper",
    "name": "Steve Shipper",
    "company": "Shipping Company",
    "address1": "123 Shipping Street",
    "city": "Shippington",
    "province": "Kentucky",
    "province_code": "KY",
    "zip": "40003",
    "country": "United States",
    "country_code": "US",
    "phone": "555-555-SHIP",
}

ORDER = Order(
    platform="shopify",
    order_id="820982911946154508",
    name="#9999",
    created_at=SAMPLE_TIME,
    updated_at=SAMPLE_TIME,
    customer=Customer(
        platform_customer_id="115310627314723954",
        email="jon@example.com",
        first_name="John",
        last_name="Smith",
        locale="en",
        country="US",
    ),
    lines=(
        order_line("788032119674292922", "Aviator sunglasses", "89.99", "SKU2006-001"),
        order_line(None, "Lens Protection Plan (2 Year)", "19.99", "LENS-PROTECT-2YR"),
        order_line(None, "Premium Leather Case", "24.99", "CASE-LEATHER-PREM"),
        order_line("788032119674292922", "Mid-century lounger", "159.99", "SKU2006-020"),
        order_line("788032119674292922", "Coffee table", "119.99", "SKU2006-035"),
    ),
    currency="USD",
    subtotal=Decimal("404.95"),
    shipping=Decimal("10.00"),
    tax=Decimal("0.00"),
    discount=Decimal("20.00"),
    total=Decimal("404.95"),
    financial_status="voided",
    status_url="https://jsmith.myshopify.com/548380009/orders/123456abcd/authenticate?key=abcdefg",
    payment_method="visa",
    billing_address=SHIP_ADDRESS,
    shipping_address=SHIP_ADDRESS,
)

FULFILLMENT = FulfillmentUpdated(
    platform="shopify",
    order_id="820982911946154508",
    fulfillment_id="123456",
    status=FulfillmentStatus.PENDING,
    occurred_at=SAMPLE_TIME,
    tracking_company="UPS",
    tracking_numbers=("1z827wk74630",),
    tracking_urls=("https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=1z827wk74630",),
    customer=Customer(email="jon@example.com", first_name="Steve", last_name="Shipper", country="US"),
    order_name="#9999",
)

SMALL, MEDIUM, LARGE = "642667041472713922", "757650484644203962", "9007199254741003"
PRODUCT = "788032119674292922"


def stock(variant_id: str, size: str, available: bool, quantity: int | None, at: datetime, **more: Any) -> StockChanged:
    return StockChanged(
        platform="shopify",
        product_id=PRODUCT,
        variant_id=variant_id,
        available=available,
        quantity=quantity,
        occurred_at=at,
        title=f"Example T-Shirt - {size}",
        price=more.pop("price", Decimal("19.99")),
        **more,
    )


QUIRKS_TIME = datetime(2022, 1, 5, 12, 0, tzinfo=EST)

EXPECTED: dict[str, list[Any]] = {
    "checkouts_create__sample": [CHECKOUT],
    "checkouts_update__sample": [CHECKOUT],
    "checkouts_create__phone_in_shipping_only": [
        CheckoutUpdated(
            **{
                **{f: getattr(CHECKOUT, f) for f in CheckoutUpdated.__dataclass_fields__},
                "updated_at": datetime(2022, 1, 2, 10, 15, tzinfo=CET),
                "customer": Customer(
                    platform_customer_id="603851970716743426",
                    phone="+4915123456789",
                    email="example@email.com",
                    first_name="John",
                    last_name="Smith",
                    locale="de",
                    country="DE",
                    platform_marketing_consent="subscribed",
                ),
            }
        )
    ],
    "checkouts_update__unparseable_phone": [
        CheckoutUpdated(
            **{
                **{f: getattr(CHECKOUT, f) for f in CheckoutUpdated.__dataclass_fields__},
                "completed_at": datetime(2022, 1, 1, 10, 0, tzinfo=EST),
            }
        )
    ],
    "orders_create__sample": [OrderPlaced(order=ORDER)],
    "orders_paid__sample": [OrderPaid(order=ORDER)],
    "orders_cancelled__sample": [OrderCancelled(order=ORDER, reason="customer")],
    "orders_paid__big_ids_cod": [
        OrderPaid(
            order=Order(
                **{
                    **{f: getattr(ORDER, f) for f in Order.__dataclass_fields__},
                    "order_id": "9007199254740993",
                    "customer": Customer(
                        platform_customer_id="9007199254740995",
                        phone="+31612345678",
                        email="jon@example.com",
                        first_name="John",
                        last_name="Smith",
                        locale="en",
                        country="NL",
                        platform_marketing_consent="subscribed",
                    ),
                    "lines": (
                        order_line(
                            "9007199254740999", "Aviator sunglasses", "89.99", "SKU2006-001", "9007199254740997"
                        ),
                        *ORDER.lines[1:],
                    ),
                    "financial_status": "pending",
                    "cart_tokens": ("123123123", "eeafa272cebfd4b22385bc4b645e762c"),
                    "payment_method": "cod",
                    "note_attributes": {"wa_ref": "cart-42"},
                }
            )
        )
    ],
    "fulfillments_create__sample": [FULFILLMENT],
    "fulfillments_update__sample": [FULFILLMENT],
    "fulfillments_update__out_for_delivery": [
        FulfillmentUpdated(
            **{
                **{f: getattr(FULFILLMENT, f) for f in FulfillmentUpdated.__dataclass_fields__},
                "status": FulfillmentStatus.OUT_FOR_DELIVERY,
                "occurred_at": datetime(2022, 1, 3, 9, 30, tzinfo=CET),
                "customer": Customer(
                    phone="+4915123456789", email="jon@example.com", first_name="Steve", last_name="Shipper",
                    country="DE"
                ),
            }
        )
    ],
    "fulfillment_events_create__sample": [
        FulfillmentUpdated(
            platform="shopify",
            order_id="820982911946154508",
            fulfillment_id="123456",
            status=FulfillmentStatus.IN_TRANSIT,
            occurred_at=SAMPLE_TIME,
        )
    ],
    # the lookup knows the sample's inventory item (see Context in test_parse_fixture)
    "inventory_levels_update__sample": [
        StockChanged(
            platform="shopify",
            product_id=PRODUCT,
            variant_id=SMALL,
            available=True,
            quantity=10,
            occurred_at=SAMPLE_TIME,
            inventory_item_id="271878346596884015",
        )
    ],
    "products_update__sample": [
        stock(SMALL, "Small", True, 75, datetime(2021, 12, 30, 19, 0, tzinfo=EST)),
        stock(MEDIUM, "Medium", True, 50, SAMPLE_TIME),
    ],
    "products_update__stock_quirks": [
        stock(SMALL, "Small", False, 0, QUIRKS_TIME, inventory_item_id="271878346596884015"),
        stock(MEDIUM, "Medium", True, 0, QUIRKS_TIME, inventory_item_id="9007199254741001"),
        stock(LARGE, "Large", True, None, QUIRKS_TIME, inventory_item_id="9007199254741005", price=Decimal("21.50")),
    ],
    "app_uninstalled__sample": [ShopUninstalled(platform="shopify", shop_domain="demo.myshopify.com")],
    "shop_redact__sample": [ShopRedact(platform="shopify", shop_domain="demo.myshopify.com")],
    "customers_redact__sample": [
        CustomerRedact(
            platform="shopify",
            customer_id="191167",
            phone=None,  # 555-625-1199 is not a valid number anywhere
            email="john@example.com",
            order_ids=("299938", "280263", "220458"),
        )
    ],
    "customers_data_request__sample": [
        CustomerDataRequest(
            platform="shopify",
            customer_id="191167",
            phone=None,
            email="john@example.com",
            order_ids=("299938", "280263", "220458"),
            request_id="9999",
        )
    ],
}


def test_every_fixture_has_expectations_and_every_topic_a_fixture() -> None:
    names = {path.stem for path in FIXTURES.glob("*.json")}
    assert names == set(EXPECTED)
    assert {topic_of(name) for name in names} == set(TOPICS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parse_fixture(name: str) -> None:
    context = Context(lookups={"271878346596884015": (PRODUCT, SMALL)})
    assert parse(topic_of(name), load(name), context) == EXPECTED[name]


# ---------------------------------------------------------------------------------------
# Quirks
# ---------------------------------------------------------------------------------------


def test_ids_beyond_2_53_stay_exact() -> None:
    payload = load("orders_paid__big_ids_cod")
    assert payload["id"] == 2**53 + 1
    [event] = parse("orders/paid", payload, Context())
    assert event.order.order_id == str(2**53 + 1)


def test_load_json_never_makes_floats() -> None:
    payload = load_json(b'{"rate": 0.06, "price": 1.10, "id": 9007199254740993}')
    assert payload == {"rate": Decimal("0.06"), "price": Decimal("1.10"), "id": 9007199254740993}
    with pytest.raises(base.PayloadError):
        load_json(b"{not json")


def test_inventory_level_without_lookup_gives_nothing(caplog: pytest.LogCaptureFixture) -> None:
    @dataclass
    class Bare:
        country: str | None = "US"
        locale: str = "en"

    caplog.set_level(logging.DEBUG, logger=webhooks.__name__)
    assert parse("inventory_levels/update", load("inventory_levels_update__sample"), Bare()) == []
    assert parse("inventory_levels/update", load("inventory_levels_update__sample"), Context()) == []
    assert any(record.msg == "shopify.inventory_level.variant_unknown" for record in caplog.records)


def test_inventory_level_zero_and_untracked() -> None:
    context = Context(lookups={"271878346596884015": (PRODUCT, SMALL)})
    payload = load("inventory_levels_update__sample")
    [empty] = parse("inventory_levels/update", {**payload, "available": 0}, context)
    [untracked] = parse("inventory_levels/update", {**payload, "available": None}, context)
    assert (empty.available, empty.quantity) == (False, 0)
    assert (untracked.available, untracked.quantity) == (True, None)


def test_inventory_item_map() -> None:
    assert inventory_item_map(load("products_update__sample")) == {}  # the sample's items are null
    assert inventory_item_map(load("products_update__stock_quirks")) == {
        "271878346596884015": (PRODUCT, SMALL),
        "9007199254741001": (PRODUCT, MEDIUM),
        "9007199254741005": (PRODUCT, LARGE),
    }
    assert inventory_item_map(None) == {}


def test_archived_product_is_not_available() -> None:
    payload = load("products_update__sample") | {"status": "archived"}
    assert [event.available for event in parse("products/update", payload, Context())] == [False, False]


@pytest.mark.parametrize(
    ("status", "shipment_status", "expected"),
    [
        ("success", None, FulfillmentStatus.SHIPPED),
        ("open", None, FulfillmentStatus.PENDING),
        ("success", "label_printed", FulfillmentStatus.PENDING),
        ("success", "confirmed", FulfillmentStatus.PENDING),
        ("success", "carrier_picked_up", FulfillmentStatus.SHIPPED),
        ("success", "in_transit", FulfillmentStatus.IN_TRANSIT),
        ("success", "OUT_FOR_DELIVERY", FulfillmentStatus.OUT_FOR_DELIVERY),
        ("success", "attempted_delivery", FulfillmentStatus.ATTEMPTED_DELIVERY),
        ("success", "delayed", FulfillmentStatus.DELAYED),
        ("success", "ready_for_pickup", FulfillmentStatus.READY_FOR_PICKUP),
        ("success", "delivered", FulfillmentStatus.DELIVERED),
        ("success", "picked_up", FulfillmentStatus.DELIVERED),
        ("success", "failure", FulfillmentStatus.FAILURE),
        ("success", "something_new", FulfillmentStatus.SHIPPED),
        ("cancelled", "in_transit", FulfillmentStatus.CANCELLED),
        ("error", None, FulfillmentStatus.FAILURE),
    ],
)
def test_fulfillment_status_mapping(status: str, shipment_status: str | None, expected: str) -> None:
    payload = load("fulfillments_update__sample") | {"status": status, "shipment_status": shipment_status}
    [event] = parse("fulfillments/update", payload, Context())
    assert event.status == expected


def test_unknown_fulfillment_event_status_gives_nothing() -> None:
    payload = load("fulfillment_events_create__sample") | {"status": "teleported"}
    assert parse("fulfillment_events/create", payload, Context()) == []


@pytest.mark.parametrize(
    ("gateways", "method"),
    [
        (["Cash on Delivery (COD)"], "cod"),
        (["cash_on_delivery"], "cod"),
        (["COD"], "cod"),
        (["Contra reembolso"], "cod"),
        (["shopify_payments"], "shopify_payments"),
        (["codigo promo"], "codigo promo"),
        ([], None),
        (None, None),
    ],
)
def test_cod_detection(gateways: object, method: str | None) -> None:
    payload = load("orders_create__sample") | {"payment_gateway_names": gateways}
    [event] = parse("orders/create", payload, Context())
    assert event.order.payment_method == method


def test_phone_from_shop_country_when_address_has_none() -> None:
    payload = load("checkouts_create__sample")
    payload["phone"] = "0151 23456789"
    for address in ("billing_address", "shipping_address"):
        payload[address]["country_code"] = None
    [event] = parse("checkouts/create", payload, Context(country="DE"))
    assert (event.customer.phone, event.customer.country) == ("+4915123456789", "DE")


def test_checkout_without_token_falls_back_to_id_then_refuses() -> None:
    payload = load("checkouts_create__sample")
    del payload["token"]
    payload["id"] = 981820079255243537
    [event] = parse("checkouts/update", payload, Context())
    assert event.cart_token == "981820079255243537"
    del payload["id"]
    with pytest.raises(base.PayloadError):
        parse("checkouts/update", payload, Context())


@pytest.mark.parametrize("topic", TOPICS)
def test_non_object_payload_is_a_payload_error(topic: str) -> None:
    with pytest.raises(base.PayloadError):
        parse(topic, ["not", "an", "object"], Context())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mangled_fields_never_crash(name: str) -> None:
    # every nested value replaced by a wrong type: parse raises PayloadError or returns events
    payload = {key: ([1] if isinstance(value, dict) else {"x": 1}) for key, value in load(name).items()}
    for key in ("id", "token", "order_id", "fulfillment_id", "inventory_item_id"):
        if key in load(name):
            payload[key] = load(name)[key]
    try:
        parse(topic_of(name), payload, Context(shop_domain=None))
    except base.PayloadError:
        pass


def test_unknown_topic_gives_nothing() -> None:
    assert parse("orders/updated", {"id": 1}, Context()) == []


def test_shop_domain_without_context_comes_from_payload() -> None:
    @dataclass
    class Bare:
        country: str | None = None
        locale: str = "en"

    [event] = parse("shop/redact", load("shop_redact__sample"), Bare())
    assert event == ShopRedact(platform="shopify", shop_domain="{shop}.myshopify.com")
    with pytest.raises(base.PayloadError):
        parse("app/uninstalled", load("app_uninstalled__sample"), Bare())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("checkouts_create__sample", SAMPLE_TIME),
        ("orders_paid__sample", SAMPLE_TIME),
        ("products_update__stock_quirks", QUIRKS_TIME),
        ("fulfillment_events_create__sample", SAMPLE_TIME),
        ("app_uninstalled__sample", None),
        ("shop_redact__sample", None),
    ],
)
def test_updated_at_of(name: str, expected: datetime | None) -> None:
    assert updated_at_of(topic_of(name), load(name)) == expected


def test_updated_at_of_prefers_happened_at_for_fulfillment_events() -> None:
    payload = load("fulfillment_events_create__sample") | {"happened_at": "2022-01-01T00:00:00.000Z"}
    assert updated_at_of("fulfillment_events/create", payload) == datetime(2022, 1, 1, tzinfo=UTC)
    assert updated_at_of("orders/paid", "nope") is None


# ---------------------------------------------------------------------------------------
# Verification and headers
# ---------------------------------------------------------------------------------------


def test_published_webhook_hmac_vector() -> None:
    # shopify-app-js lib/webhooks/__tests__/validate.test.ts with lib/__tests__/test-config.ts:
    # secret "test_secret_key", body '{"foo": "bar"}'
    body = b'{"foo": "bar"}'
    assert sign(body, "test_secret_key") == "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
    verify(body, {"X-Shopify-Hmac-Sha256": "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="}, "test_secret_key")


def test_verify_any_header_case() -> None:
    body = (FIXTURES / "orders_paid__sample.json").read_bytes()
    verify(body, {"x-shopify-hmac-sha256": sign(body, SECRET)}, SECRET)


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, base.SignatureMissingError),
        ({"X-Shopify-Hmac-Sha256": ""}, base.SignatureMissingError),
        ({"X-Shopify-Hmac-Sha256": "not base64!"}, base.SignatureMissingError),
        ({"X-Shopify-Hmac-Sha256": "c2hvcnQ="}, base.SignatureMissingError),
        ({"X-Shopify-Hmac-Sha256": sign(b"other body", SECRET)}, base.SignatureInvalidError),
        ({"X-Shopify-Hmac-Sha256": sign(b'{"foo": "bar"}', "wrong-secret")}, base.SignatureInvalidError),
    ],
)
def test_verify_rejections(headers: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        verify(b'{"foo": "bar"}', headers, SECRET)


def test_verify_refuses_an_empty_secret() -> None:
    with pytest.raises(ValueError):
        verify(b"{}", {"X-Shopify-Hmac-Sha256": sign(b"{}", "x")}, "")


def test_reserialised_json_does_not_verify() -> None:
    raw = (FIXTURES / "orders_paid__sample.json").read_bytes()
    again = json.dumps(json.loads(raw)).encode()
    with pytest.raises(base.SignatureInvalidError):
        verify(again, {"X-Shopify-Hmac-Sha256": sign(raw, SECRET)}, SECRET)


def test_delivery_headers_from_the_reference_example() -> None:
    # the header example of https://shopify.dev/docs/api/webhooks/2026-07, lowercased as HTTP/2 sends them
    headers = {
        "x-shopify-topic": "products/update",
        "x-shopify-hmac-sha256": "xT6yH5jZfQm6Q3lC8nA0r7sV2bP9dK1eL4wG0hM5nYI=",
        "x-shopify-shop-domain": "snowdevil.myshopify.com",
        "x-shopify-api-version": "2026-07",
        "x-shopify-webhook-id": "545ebdd4-b7be-4d3d-b14e-54aa78e0e0f9",
        "x-shopify-triggered-at": "2025-07-10T16:15:47.000000Z",
        "x-shopify-event-id": "59d6d79c-595f-4e7e-bc6f-72f5c3d0c66f",
        "x-shopify-name": "product-sync",
    }
    assert delivery_headers(headers) == DeliveryHeaders(
        topic="products/update",
        shop_domain="snowdevil.myshopify.com",
        event_id="59d6d79c-595f-4e7e-bc6f-72f5c3d0c66f",
        webhook_id="545ebdd4-b7be-4d3d-b14e-54aa78e0e0f9",
        triggered_at=datetime(2025, 7, 10, 16, 15, 47, tzinfo=UTC),
        api_version="2026-07",
    )


def test_delivery_headers_fall_back_and_tolerate_junk() -> None:
    headers = delivery_headers(
        {"X-Shopify-Webhook-Id": "w-1", "X-Shopify-Triggered-At": "yesterday",
         "X-Shopify-Shop-Domain": "Demo.myshopify.com"}
    )
    assert headers == DeliveryHeaders(
        topic=None, shop_domain="demo.myshopify.com", event_id="w-1", webhook_id="w-1", triggered_at=None,
        api_version=None
    )


# ---------------------------------------------------------------------------------------
# The module against the protocol and the app configuration
# ---------------------------------------------------------------------------------------


def test_conforms_to_the_store_webhooks_protocol() -> None:
    module: base.StoreWebhooks = webhooks  # type-checked shape; runtime check of the names below
    assert callable(module.verify) and callable(module.parse) and isinstance(module.TOPICS, tuple)
    assert set(COMPLIANCE_TOPICS) <= set(TOPICS)


def test_app_toml_matches_topics_and_api_version() -> None:
    config = tomllib.loads(APP_TOML.read_text(encoding="utf-8"))
    assert config["webhooks"]["api_version"] == API_VERSION
    subscriptions = config["webhooks"]["subscriptions"]
    topics = [topic for sub in subscriptions for topic in sub.get("topics", [])]
    compliance = [topic for sub in subscriptions for topic in sub.get("compliance_topics", [])]
    assert sorted(topics) == sorted(set(TOPICS) - set(COMPLIANCE_TOPICS))
    assert len(topics) == len(set(topics))
    assert sorted(compliance) == sorted(COMPLIANCE_TOPICS)
    assert all(sub["uri"] == "/webhooks/shopify" for sub in subscriptions)
    assert config["embedded"] is True
    assert "read_orders" in config["access_scopes"]["scopes"].split(",")


def test_no_personal_data_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=webhooks.__name__)
    for name in EXPECTED:
        parse(topic_of(name), load(name), Context())
    parse("fulfillment_events/create", load("fulfillment_events_create__sample") | {"status": "x"}, Context())
    # the message and the fields we attach; not LogRecord's own (timestamps, thread ids), whose
    # digits can contain "555" by chance
    standard = set(logging.LogRecord("x", logging.INFO, "x", 0, "", None, None).__dict__)
    text = " ".join(f"{record.getMessage()} {({k: v for k, v in record.__dict__.items() if k not in standard})}"
                    for record in caplog.records)
    for secret in ("john@example.com", "jon@example.com", "4915123456789", "Smith", "555"):
        assert secret not in text


