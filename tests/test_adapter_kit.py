"""The adapter kit (integrations/kit.py): one reader per job, the same answer on every platform."""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connector.events import OrderPlaced, StockChanged
from integrations import kit
from integrations.base import PayloadError, SignatureInvalidError, SignatureMissingError
from integrations.shopify import webhooks as shopify
from integrations.woocommerce import webhooks as woocommerce

ROOT = Path(__file__).parent.parent
SECRET = "kit-secret-0123456789"
BODY = b'{"id": 1, "total": "19.99"}'
RECEIVED = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Context:
    country: str | None = "US"
    locale: str = "en"
    shop_domain: str | None = "demo.myshopify.com"
    received_at: datetime = RECEIVED


CONTEXT = Context()

#: (input, to_int answer)
INTS = [
    (7, 7),
    (-2, -2),
    (0, 0),
    (10**30, 10**30),
    ("7", 7),
    (" 7 ", 7),
    ("-2", -2),
    (Decimal("3"), 3),
    (Decimal("3.00"), 3),
    (Decimal("-4"), -4),
    (Decimal("3.5"), None),
    (Decimal("1E+5000"), None),  # beyond Python's int(str) limit: no count of anything
    (Decimal("NaN"), None),
    (Decimal("Infinity"), None),
    (3.0, 3),
    (2.5, None),
    (float("inf"), None),
    (float("nan"), None),
    (True, None),
    (False, None),
    (None, None),
    ("", None),
    ("  ", None),
    ("abc", None),
    ("3.0", None),
    ("1e3", None),
    ("+5", None),
    ("--5", None),
    ("\u0663", None),  # ARABIC-INDIC DIGIT THREE: not ASCII
    ("9" * 5000, None),
    ([1], None),
]

#: (input, money_or_none answer)
AMOUNTS = [
    ("19.99", Decimal("19.99")),
    (" 19.99 ", Decimal("19.99")),
    (Decimal("19.99"), Decimal("19.99")),
    (19.99, Decimal("19.99")),
    (0.1, Decimal("0.1")),
    (5, Decimal(5)),
    ("-3.5", Decimal("-3.5")),
    (-3.5, Decimal("-3.5")),
    ("1e400", Decimal("1e400")),  # the reader keeps it; storable() refuses it
    (10**20, Decimal(10**20)),
    (True, None),
    (False, None),
    (None, None),
    ("", None),
    ("abc", None),
    ("NaN", None),
    ("Infinity", None),
    (Decimal("NaN"), None),
    (float("nan"), None),
    (float("-inf"), None),
    ({"amount": "1"}, None),
]

#: (input, id_text answer)
IDS = [
    (12, "12"),
    (2**64 + 1, str(2**64 + 1)),
    ("12", "12"),
    (" 12 ", "12"),
    ("gid://shopify/Order/1", "gid://shopify/Order/1"),
    (0, "0"),
    (-1, "-1"),
    (True, None),
    (None, None),
    ("", None),
    ("   ", None),
    (12.0, None),
    (Decimal("12"), None),
    ([12], None),
]


# -- the kit's readers -------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), INTS)
def test_to_int(value: object, expected: int | None) -> None:
    result = kit.to_int(value)
    assert result == expected
    assert result is None or type(result) is int


@pytest.mark.parametrize(("value", "expected"), AMOUNTS)
def test_money_or_none(value: object, expected: Decimal | None) -> None:
    result = kit.money_or_none(value)
    assert result == expected
    assert result is None or isinstance(result, Decimal)


@pytest.mark.parametrize(("value", "expected"), AMOUNTS)
def test_money_is_zero_without_an_amount(value: object, expected: Decimal | None) -> None:
    assert kit.money(value) == (expected if expected is not None else Decimal(0))


def test_a_float_keeps_its_shortest_digits() -> None:
    assert str(kit.money(19.99)) == "19.99"
    assert str(kit.money(0.1 + 0.2)) == "0.30000000000000004"  # what the float is, not a rounded guess


@pytest.mark.parametrize(("value", "expected"), IDS)
def test_id_text(value: object, expected: str | None) -> None:
    assert kit.id_text(value) == expected


def test_ids_skip_what_is_no_id() -> None:
    assert kit.ids([1, " 2 ", "", None, True, 3.0, "x"]) == ["1", "2", "x"]
    assert kit.ids("1,2") == []
    assert kit.ids(None) == []


def test_header_in_any_case_stripped() -> None:
    headers = {"x-wc-webhook-topic": " order.created ", "Blank": "  ", "Number": 5, 7: "seven"}
    assert kit.header(headers, "X-WC-Webhook-Topic") == "order.created"
    assert kit.header(headers, "blank") is None
    assert kit.header(headers, "Number") is None
    assert kit.header(headers, "Missing") is None
    assert kit.header({}, "X") is None


def test_load_json_keeps_numbers_exact() -> None:
    body = kit.load_json(b'{"id": 12345678901234567890, "total": 19.99, "name": "a\\u0000b"}')
    assert body == {"id": 12345678901234567890, "total": Decimal("19.99"), "name": "ab"}
    assert type(body["total"]) is Decimal


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
                                 b'{"a": ' + b"9" * 5000 + b"}"])
def test_load_json_refuses_what_is_not_json(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        kit.load_json(raw)


def test_hmac_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    expected = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    assert kit.hmac_signature(BODY, SECRET) == expected
    kit.verify_hmac(BODY, expected, SECRET, "X-Sig")
    kit.verify_hmac(BODY, f"  {expected}\n", SECRET, "X-Sig")


# -- both platforms give the same answers ------------------------------------------------------


def test_both_adapters_read_through_the_kit() -> None:
    assert shopify.load_json is kit.load_json
    assert woocommerce.load_json is kit.load_json
    assert shopify.sign(BODY, SECRET) == woocommerce.signature(BODY, SECRET) == kit.hmac_signature(BODY, SECRET)


def test_no_adapter_keeps_its_own_copy_of_a_kit_reader() -> None:
    shared = {"_header", "_int", "_money", "_money_or_none", "_id", "_ids", "load_json", "_digest",
              "_b64_digest", "_check_signature", "_id_text"}
    for platform in ("shopify", "woocommerce"):
        for path in (ROOT / "integrations" / platform).glob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
            assert not defined & shared, f"{path.name} defines {sorted(defined & shared)}"


def _verify_both(headers: dict[str, str], secret: str = SECRET) -> list[type[BaseException] | None]:
    outcomes: list[type[BaseException] | None] = []
    for verify, name in ((shopify.verify, "X-Shopify-Hmac-Sha256"), (woocommerce.verify, "X-WC-Webhook-Signature")):
        try:
            verify(BODY, {name if key == "SIG" else key: value for key, value in headers.items()}, secret)
        except (SignatureMissingError, SignatureInvalidError, ValueError) as error:
            outcomes.append(type(error))
        else:
            outcomes.append(None)
    return outcomes


GOOD = kit.hmac_signature(BODY, SECRET)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"SIG": GOOD}, None),
        ({}, SignatureMissingError),
        ({"SIG": ""}, SignatureMissingError),
        ({"SIG": "   "}, SignatureMissingError),
        ({"SIG": "not base64!!"}, SignatureMissingError),
        ({"SIG": GOOD[:-4]}, SignatureMissingError),  # base64, but not 32 bytes
        ({"SIG": base64.b64encode(b"\x00" * 31).decode()}, SignatureMissingError),
        ({"SIG": base64.b64encode(b"\x00" * 33).decode()}, SignatureMissingError),
        ({"SIG": base64.b64encode(b"\x00" * 32).decode()}, SignatureInvalidError),
        ({"SIG": kit.hmac_signature(BODY + b" ", SECRET)}, SignatureInvalidError),
        ({"SIG": kit.hmac_signature(BODY, SECRET + "x")}, SignatureInvalidError),
    ],
)
def test_both_platforms_verify_alike(headers: dict[str, str], expected: type[BaseException] | None) -> None:
    assert _verify_both(headers) == [expected, expected]


def test_both_platforms_match_the_header_in_any_case() -> None:
    assert shopify.verify(BODY, {"x-shopify-hmac-sha256": GOOD}, SECRET) is None
    assert woocommerce.verify(BODY, {"x-wc-webhook-signature": GOOD}, SECRET) is None


def test_both_platforms_refuse_an_empty_secret() -> None:
    assert _verify_both({"SIG": GOOD}, secret="") == [ValueError, ValueError]
    assert _verify_both({}, secret="") == [ValueError, ValueError]


def _shopify_stock(quantity: object, price: object) -> StockChanged:
    payload = {"id": 1, "updated_at": "2026-05-01T10:00:00Z", "title": "Tea", "variants": [
        {"id": 2, "inventory_management": "shopify", "inventory_quantity": quantity, "price": price}]}
    [event] = shopify.parse("products/update", payload, CONTEXT)
    return event


def _woocommerce_stock(quantity: object, price: object) -> StockChanged:
    payload = {"id": 2, "type": "simple", "name": "Tea", "date_modified_gmt": "2026-05-01T10:00:00",
               "manage_stock": True, "stock_quantity": quantity, "stock_status": "instock", "price": price}
    [event] = woocommerce.parse("product.updated", payload, CONTEXT)
    return event


@pytest.mark.parametrize(("value", "expected"), INTS)
def test_both_platforms_read_a_stock_quantity_alike(value: object, expected: int | None) -> None:
    assert _shopify_stock(value, "1.00").quantity == _woocommerce_stock(value, "1.00").quantity == expected


@pytest.mark.parametrize(("value", "expected"), [(v, e) for v, e in AMOUNTS if e is None or abs(e) < 10**12])
def test_both_platforms_read_a_price_alike(value: object, expected: Decimal | None) -> None:
    assert _shopify_stock(1, value).price == _woocommerce_stock(1, value).price == expected


@pytest.mark.parametrize("value", ["1e400", 10**20, "1000000000000"])
def test_both_platforms_refuse_an_amount_no_column_holds(value: object) -> None:
    for stock in (_shopify_stock, _woocommerce_stock):
        with pytest.raises(PayloadError):
            stock(1, value)


def _shopify_order_id(value: object) -> str:
    [event] = shopify.parse("orders/create", {"id": value, "created_at": "2026-05-01T10:00:00Z"}, CONTEXT)
    assert isinstance(event, OrderPlaced)
    return event.order.order_id


def _woocommerce_order_id(value: object) -> str:
    payload = {"id": value, "status": "processing", "date_created_gmt": "2026-05-01T10:00:00"}
    [event] = woocommerce.parse("order.created", payload, CONTEXT)
    assert isinstance(event, OrderPlaced)
    return event.order.order_id


@pytest.mark.parametrize(("value", "expected"), IDS)
def test_both_platforms_read_an_order_id_alike(value: object, expected: str | None) -> None:
    if expected is None:
        for order_id in (_shopify_order_id, _woocommerce_order_id):
            with pytest.raises(PayloadError):
                order_id(value)
    else:
        assert _shopify_order_id(value) == _woocommerce_order_id(value) == expected


def test_both_platforms_read_id_lists_alike() -> None:
    odd = [1, " 2 ", "", None, True, 3.5, "x"]
    redact = shopify.parse("customers/redact", {"customer": {"id": 9}, "orders_to_redact": odd}, CONTEXT)
    assert (list(redact[0].order_ids) == woocommerce.variation_ids({"type": "variable", "variations": odd})
            == ["1", "2", "x"])
