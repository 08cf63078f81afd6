"""Issue 13 point 3: hostile bodies, paths and queries get a clear 4xx, never a 500 and never a
traceback in the log, on SQLite and on PostgreSQL (``TEST_DATABASE_URL``).

The cases are the ones a fuzzing campaign found: NUL characters that reach a query
(PostgreSQL refuses NUL in text), lone surrogates (psycopg cannot encode them), JSON nested
thousands deep (the standard library's parser raises ``RecursionError``), integers longer than
Python's 4,300-digit conversion limit (``json.loads`` raises a plain ``ValueError``), and the
cart report, which must check its signature before it parses its body.
"""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select

from connector.extensions import db
from connector.models import Contact, WebhookReceipt
from integrations.whatsapp.webhooks import sign as whatsapp_sign
from integrations.woocommerce.webhooks import sign_cart_report
from integrations.woocommerce.webhooks import signature as woocommerce_signature
from tests.factories import make_shop
from tests.woocommerce_support import connected_shop, store  # noqa: F401 (fixture)

WHATSAPP_SECRET = "test-app-secret"
DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000  # valid JSON, deeper than the standard library's parser goes
HUGE_INTEGER = b"1" + b"0" * 5000  # beyond int()'s 4,300-digit limit
PHONE = "+4915112345678"
CONSENT_TEXT = "Yes, send me offers on WhatsApp."


@pytest.fixture
def tracebacks(caplog):
    """Log records at WARNING or above that carry a traceback (an unhandled error)."""
    caplog.set_level(logging.WARNING)
    return lambda: [r for r in caplog.records if r.levelno >= logging.WARNING and r.exc_info]


@pytest.fixture
def woo_shop(ctx, store):  # noqa: F811 (fixture)
    return connected_shop(store, catch_up=False)


def receipts() -> int:
    return db.session.scalar(select(func.count()).select_from(WebhookReceipt))


def contacts() -> int:
    return db.session.scalar(select(func.count()).select_from(Contact))


# -- NUL and lone surrogates in path and query values -------------------------------------------

@pytest.mark.parametrize("path", [
    "/l/%00", "/l/ab%00cd", "/l/invoice/%00", "/l/invoice/x%00y", "/webhooks/woocommerce/%00",
    "/webhooks/woocommerce/abc%00", "/admin/api/data-exports/%00",
])
def test_13_3_nul_in_a_path_value_is_404(client, tracebacks, path):
    method = client.post if path.startswith("/webhooks/") else client.get
    answer = method(path, data=b"{}")
    assert answer.status_code == 404
    assert tracebacks() == []


@pytest.mark.parametrize("path", ["/l/%ED%B3%BF", "/l/invoice/%ED%A0%80x", "/webhooks/woocommerce/%ED%B3%BF"])
def test_13_3_surrogate_bytes_in_a_path_value_are_404(client, tracebacks, path):
    # a WSGI path is bytes: werkzeug decodes what is not UTF-8 (a surrogate's bytes included) to U+FFFD
    method = client.post if path.startswith("/webhooks/") else client.get
    answer = method(path, data=b"{}")
    assert answer.status_code == 404
    assert tracebacks() == []


@pytest.mark.parametrize("query", [
    "store_url=https%3A%2F%2Fshop%00.example", "store_url=%00", "store_url=https://a.example&x=%00",
])
def test_13_3_nul_in_a_query_value_is_400(client, tracebacks, query):
    answer = client.get(f"/woocommerce/connect?{query}")
    assert answer.status_code == 400
    assert tracebacks() == []


# -- the storefront API (unauthenticated) ----------------------------------------------------------

STOREFRONT = ["/storefront/api/opt-in", "/storefront/api/back-in-stock"]


def _storefront_body(route: str, shop_key: str) -> dict:
    body = {"shop_key": shop_key, "phone": PHONE}
    body.update({"consent_text": CONSENT_TEXT} if route.endswith("opt-in") else {"variant_id": "111"})
    return body


@pytest.mark.parametrize("route", STOREFRONT)
@pytest.mark.parametrize("escape", [b"\\u0000", b"\\udfff", b"ab\\u0000cd", b"\\ud800x"])
def test_13_3_storefront_shop_key_with_nul_or_surrogate_is_400(client, tracebacks, route, escape):
    make_shop()
    body = _storefront_body(route, "KEY")
    raw = json.dumps(body).encode().replace(b'"KEY"', b'"' + escape + b'"')
    answer = client.post(route, data=raw, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"] in ("invalid", "bad_request_body")
    assert contacts() == 0 and tracebacks() == []


@pytest.mark.parametrize("route", STOREFRONT)
@pytest.mark.parametrize("field", ["phone", "consent_text", "locale", "variant_id"])
def test_13_3_storefront_text_fields_with_nul_are_400_and_write_nothing(client, tracebacks, route, field):
    shop = make_shop()
    body = _storefront_body(route, shop.shop_key)
    body[field] = "X"
    raw = json.dumps(body).encode().replace(b'"X"', b'"12\\u0000"')
    answer = client.post(route, data=raw, content_type="application/json")
    assert answer.status_code == 400
    assert contacts() == 0 and tracebacks() == []


@pytest.mark.parametrize("route", STOREFRONT)
@pytest.mark.parametrize("body", [DEEP, b"[" * 5000 + b"]" * 5000, b'{"shop_key": ' + HUGE_INTEGER + b"}"])
def test_13_3_storefront_deep_or_huge_json_is_400(client, tracebacks, route, body):
    answer = client.post(route, data=body, content_type="application/json")
    assert answer.status_code == 400
    assert tracebacks() == []


# -- vendor webhooks (signed) ------------------------------------------------------------------------

@pytest.mark.parametrize("body", [DEEP, b'{"object": "whatsapp_business_account", "entry": [{"id": '
                                  + HUGE_INTEGER + b"}]}"])
def test_13_3_whatsapp_deep_or_huge_json_is_400(client, tracebacks, body):
    make_shop()
    answer = client.post("/webhooks/whatsapp", data=body, content_type="application/json",
                         headers={"X-Hub-Signature-256": whatsapp_sign(body, WHATSAPP_SECRET)})
    assert answer.status_code == 400
    assert receipts() == 0 and tracebacks() == []


@pytest.mark.parametrize("where", ["phone_number_id", "waba_id"])
@pytest.mark.parametrize("escape", ["\\u0000", "\\udfff", "1000001\\u0000"])
def test_13_3_whatsapp_ids_with_nul_or_surrogate_are_no_shops_number(client, tracebacks, where, escape):
    make_shop()
    number = "PNID" if where == "phone_number_id" else "1000001-not-ours"
    waba = "WABA" if where == "waba_id" else "WABA-not-ours"
    body = (b'{"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages",'
            b' "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "PNID"}}}]}]}')
    body = body.replace(b'"PNID"', b'"' + (escape.encode() if where == "phone_number_id" else number.encode()) + b'"')
    body = body.replace(b'"WABA"', b'"' + (escape.encode() if where == "waba_id" else waba.encode()) + b'"')
    answer = client.post("/webhooks/whatsapp", data=body, content_type="application/json",
                         headers={"X-Hub-Signature-256": whatsapp_sign(body, WHATSAPP_SECRET)})
    assert (answer.status_code, answer.get_json()["status"]) == (200, "ignored")
    assert receipts() == 0 and tracebacks() == []


@pytest.mark.parametrize("body", [DEEP, b'{"id": ' + HUGE_INTEGER + b"}"])
def test_13_3_woocommerce_webhook_deep_or_huge_json_is_400(client, tracebacks, woo_shop, body):
    answer = client.post(f"/webhooks/woocommerce/{woo_shop.shop_key}", data=body, content_type="application/json",
                         headers={"X-WC-Webhook-Signature": woocommerce_signature(
                             body, woo_shop.credentials["webhook_secret"]),
                             "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "1"})
    assert answer.status_code == 400
    assert receipts() == 0 and tracebacks() == []


# -- the plugin's cart report: signature first, then the body ------------------------------------

def _cart(shop_key: str, extra: bytes = b"") -> bytes:
    return (b'{"version": 1, "store": "' + shop_key.encode() + b'", "cart_token": "t_1", '
            b'"updated_at": "2026-05-01T10:02:13Z"' + extra + b"}")


@pytest.mark.parametrize("with_header", [True, False])
@pytest.mark.parametrize("extra", [b', "x": ' + HUGE_INTEGER, b', "x": ' + DEEP])
def test_13_3_cart_report_signature_is_checked_before_the_body_is_parsed(client, tracebacks, woo_shop,
                                                                       with_header, extra):
    body = _cart(woo_shop.shop_key, extra)
    headers = {"X-WCC-Store-Key": woo_shop.shop_key} if with_header else {}
    unsigned = client.post("/storefront/api/cart", data=body, content_type="application/json", headers=headers)
    assert unsigned.status_code == 401  # not parsed: an unsigned body costs no parse
    forged = client.post("/storefront/api/cart", data=body, content_type="application/json",
                         headers={**headers, "X-WCC-Signature": sign_cart_report(body, "not-the-secret")})
    assert forged.status_code == 403
    signed = client.post("/storefront/api/cart", data=body, content_type="application/json",
                         headers={**headers, "X-WCC-Signature": sign_cart_report(
                             body, woo_shop.credentials["webhook_secret"])})
    assert signed.status_code == 400  # genuine, but not JSON the connector can read
    assert receipts() == 0 and tracebacks() == []


@pytest.mark.parametrize("escape", [b"\\u0000", b"\\udfff", b"abc\\u0000"])
def test_13_3_cart_report_naming_a_store_with_nul_or_surrogate_is_400(client, tracebacks, woo_shop, escape):
    body = _cart("NAMED").replace(b'"NAMED"', b'"' + escape + b'"')
    answer = client.post("/storefront/api/cart", data=body, content_type="application/json",
                         headers={"X-WCC-Store-Key": woo_shop.shop_key,
                                  "X-WCC-Signature": sign_cart_report(body, woo_shop.credentials["webhook_secret"])})
    assert answer.status_code == 400
    assert receipts() == 0 and tracebacks() == []


def test_13_3_cart_report_finds_its_store_in_the_body_without_a_header(client, woo_shop):
    body = _cart(woo_shop.shop_key.upper())  # an older plugin build's mixed-case key
    answer = client.post("/storefront/api/cart", data=body, content_type="application/json",
                         headers={"X-WCC-Signature": sign_cart_report(body, woo_shop.credentials["webhook_secret"])})
    assert (answer.status_code, answer.get_json()["status"]) == (200, "accepted")
    assert receipts() == 1
