"""Cart permalinks (https://shopify.dev/docs/apps/build/checkout/create-cart-permalinks)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from integrations.shopify.carts import cart_permalink, checkout_recovery_url
from integrations.shopify.webhooks import load_json
from tests.test_shopify_webhooks import FIXTURES


def test_minimal_permalink() -> None:
    assert cart_permalink("demo.myshopify.com", [(808950810, 1)]) == "https://demo.myshopify.com/cart/808950810:1"


def test_every_option() -> None:
    url = cart_permalink(
        "https://Shop.Example.com/",
        [("9007199254740993", 2), (808950810, 1)],
        locale="pt-BR",
        default_locale="en",
        discount=["WELCOME10", "FREESHIP"],
        ref="wa-cart-42",
        note="Gift & wrap",
        attributes={"wa ref": "cart/42", "utm_source": "whatsapp"},
        checkout={"email": "ana+1@example.com", "first_name": "Ana", "zip": "01310-100", "country": "Brazil"},
        access_token="storefront-token",
    )
    parts = urlsplit(url)
    assert parts.netloc == "shop.example.com"
    assert parts.path == "/pt-BR/cart/9007199254740993:2,808950810:1"
    assert parse_qsl(parts.query) == [
        ("discount", "WELCOME10,FREESHIP"),
        ("checkout[email]", "ana+1@example.com"),
        ("checkout[shipping_address][first_name]", "Ana"),
        ("checkout[shipping_address][zip]", "01310-100"),
        ("checkout[shipping_address][country]", "Brazil"),
        ("attributes[wa ref]", "cart/42"),
        ("attributes[utm_source]", "whatsapp"),
        ("note", "Gift & wrap"),
        ("ref", "wa-cart-42"),
        ("access_token", "storefront-token"),
    ]
    # reserved characters are escaped, so no value can add a parameter
    assert "ana%2B1%40example.com" in url and "Gift%20%26%20wrap" in url and "attributes%5Bwa%20ref%5D" in url


def test_default_locale_gets_no_prefix() -> None:
    assert "/en/" not in cart_permalink("demo.myshopify.com", [(1, 1)], locale="EN", default_locale="en")
    assert "/de/cart/" in cart_permalink("demo.myshopify.com", [(1, 1)], locale="de")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lines": []},
        {"lines": [("abc", 1)]},
        {"lines": [(1, 0)]},
        {"lines": [(1, True)]},
        {"discount": "A,B"},
        {"checkout": {"phone": "+4915123456789"}},
        {"locale": "../admin"},
        {"shop": "evil.com/path"},
        {"shop": "shop.example.com:8080"},
    ],
)
def test_refusals(kwargs: dict) -> None:
    shop = kwargs.pop("shop", "demo.myshopify.com")
    lines = kwargs.pop("lines", [(1, 1)])
    with pytest.raises(ValueError):
        cart_permalink(shop, lines, **kwargs)


def test_checkout_recovery_url_from_the_sample() -> None:
    payload = load_json((FIXTURES / "checkouts_create__sample.json").read_bytes())
    assert checkout_recovery_url(payload) == (
        "https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token"
    )
    assert checkout_recovery_url({"abandoned_checkout_url": "javascript:alert(1)"}) is None
    assert checkout_recovery_url({}) is None
