"""Shopify OAuth helpers: shop domains, query HMACs (Shopify's published vectors), state."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.shopify.errors import InvalidShopDomainError
from integrations.shopify.oauth import (
    authorize_url,
    is_fresh,
    is_valid_shop_domain,
    new_nonce,
    normalise_shop_domain,
    query_hmac,
    sign_state,
    verify_query_hmac,
    verify_state,
)

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)

# ---------------------------------------------------------------------------------------
# Shop domains
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("my-shop.myshopify.com", "my-shop.myshopify.com"),
        ("My-Shop.MyShopify.com", "my-shop.myshopify.com"),
        ("  demo.myshopify.com\n", "demo.myshopify.com"),
        ("0shop.myshopify.com", "0shop.myshopify.com"),
    ],
)
def test_normalise_accepts_myshopify_domains(raw: str, expected: str) -> None:
    assert normalise_shop_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "store.myshopify.com.evil.com",
        "evil.com/.myshopify.com",
        "evil.com#.myshopify.com",
        "evil.com?.myshopify.com",
        "https://my-shop.myshopify.com",
        "my-shop.myshopify.com/admin",
        "my-shop.myshopify.com:443",
        "user@my-shop.myshopify.com",
        "my-shop.myshopify.com.",
        "-shop.myshopify.com",
        "my_shop.myshopify.com",
        "my.shop.myshopify.com",
        ".myshopify.com",
        "myshopify.com",
        "my-shop",
        "my-shop.myshopify.io",
        "foo.bar.myshopify.io",
        "%0a123.myshopify.io",
        "my-shop.myshopify.com\nx",
        "",
        None,
        42,
    ],
)
def test_normalise_rejects_everything_else(raw: object) -> None:
    assert not is_valid_shop_domain(raw)
    with pytest.raises(InvalidShopDomainError):
        normalise_shop_domain(raw)


def test_invalid_shop_domain_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        normalise_shop_domain("evil.com")


# ---------------------------------------------------------------------------------------
# Query HMAC
# ---------------------------------------------------------------------------------------

# Shopify's published vectors: Shopify/shopify_python_api@307fa92c92e08036f379bc039abc937fc20a1ebf
# test/session_test.py, ``test_hmac_validation`` (secret "hush", shop/code/timestamp →
# 2cb1a277…, "the parameter examples given in the Shopify API documentation") and
# ``test_param_validation_of_param_values_with_lists`` (shop plus ``ids[]`` [2, 1] → b93b9f82…,
# signed as ``ids=["2", "1"]&shop=…``).
HUSH = "hush"
VECTOR_PLAIN = {
    "shop": "some-shop.myshopify.com",
    "code": "a94a110d86d2452eb3e2af4cfb8a3828",
    "timestamp": "1337178173",
    "hmac": "2cb1a277650a659f1b11e92a4a64275b128e037f2c3390e3c8fd2d8721dac9e2",
}
VECTOR_ARRAY = {
    "shop": "some-shop.myshopify.com",
    "ids[]": ["2", "1"],
    "hmac": "b93b9f82996f6f8bf9f1b7bbddec284c8fabacdc4e12dc80550b4705f3003b1e",
}


def test_published_vector_plain_parameters() -> None:
    assert verify_query_hmac(VECTOR_PLAIN, HUSH)


def test_published_vector_array_parameters() -> None:
    assert verify_query_hmac(VECTOR_ARRAY, HUSH)


def test_published_vectors_as_raw_query_strings() -> None:
    plain = (
        "code=a94a110d86d2452eb3e2af4cfb8a3828&hmac=2cb1a277650a659f1b11e92a4a64275b128e037f2c3390e3c8fd2d8721dac9e2"
        "&shop=some-shop.myshopify.com&timestamp=1337178173"
    )
    array = (
        "shop=some-shop.myshopify.com&ids%5B%5D=2&ids%5B%5D=1"
        "&hmac=b93b9f82996f6f8bf9f1b7bbddec284c8fabacdc4e12dc80550b4705f3003b1e"
    )
    assert verify_query_hmac(plain, HUSH)
    assert verify_query_hmac("?" + array, HUSH)


def test_published_vectors_as_pairs_in_any_order() -> None:
    pairs = [("ids[]", "2"), ("hmac", VECTOR_ARRAY["hmac"]), ("shop", "some-shop.myshopify.com"), ("ids[]", "1")]
    assert verify_query_hmac(pairs, HUSH)


def test_array_order_matters() -> None:
    # Shopify signs the ids in the order it sent them
    assert not verify_query_hmac({**VECTOR_ARRAY, "ids[]": ["1", "2"]}, HUSH)


def test_special_characters_are_escaped_like_shopify_python_api() -> None:
    # same file, ``test_hmac_with_special_characters``: {"a": "1&b=2", "c=3&d": "4"} signs
    # "a=1%26b=2&c%3D3%26d=4", so a value cannot smuggle in another parameter
    expected = hmac.new(b"secret", b"a=1%26b=2&c%3D3%26d=4", hashlib.sha256).hexdigest()
    assert query_hmac({"a": "1&b=2", "c=3&d": "4"}, "secret") == expected
    assert verify_query_hmac({"a": "1&b=2", "c=3&d": "4", "hmac": expected}, "secret")
    assert not verify_query_hmac({"a": "1", "b": "2", "c=3&d": "4", "hmac": expected}, "secret")


def test_raw_query_string_signed_with_percent_20() -> None:
    # shopify-app-js signs the percent-encoded form, spaces as %20 ("Shopify signs with %20, not +")
    message = "shop=demo.myshopify.com&state=a%20b&timestamp=1"
    digest = hmac.new(b"s3cret", message.encode(), hashlib.sha256).hexdigest()
    assert verify_query_hmac(f"state=a+b&shop=demo.myshopify.com&timestamp=1&hmac={digest}", "s3cret")


@pytest.mark.parametrize(
    "change",
    [
        {"shop": "other-shop.myshopify.com"},
        {"timestamp": "1337178174"},
        {"hmac": VECTOR_PLAIN["hmac"].upper()[:-1] + "0"},
        {"hmac": ""},
        {"extra": "1"},
    ],
)
def test_any_change_breaks_the_hmac(change: dict) -> None:
    assert not verify_query_hmac({**VECTOR_PLAIN, **change}, HUSH)


def test_wrong_secret_missing_or_repeated_hmac_fail() -> None:
    assert not verify_query_hmac(VECTOR_PLAIN, "not-hush")
    assert not verify_query_hmac({k: v for k, v in VECTOR_PLAIN.items() if k != "hmac"}, HUSH)
    pairs = [*VECTOR_PLAIN.items(), ("hmac", VECTOR_PLAIN["hmac"])]
    assert not verify_query_hmac(pairs, HUSH)


def test_uppercase_hex_and_signature_parameter_are_tolerated() -> None:
    assert verify_query_hmac({**VECTOR_PLAIN, "hmac": VECTOR_PLAIN["hmac"].upper(), "signature": "x"}, HUSH)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        verify_query_hmac(VECTOR_PLAIN, "")


@pytest.mark.parametrize(
    ("timestamp", "fresh"),
    [
        (str(int(NOW.timestamp())), True),
        (int(NOW.timestamp()) - 299, True),
        (str(int(NOW.timestamp()) + 60), True),
        (str(int(NOW.timestamp()) - 301), False),
        (int(NOW.timestamp()) + 3600, False),
        ("1337178173", False),
        ("soon", False),
        (None, False),
        (True, False),
    ],
)
def test_is_fresh(timestamp: object, fresh: bool) -> None:
    assert is_fresh(timestamp, NOW) is fresh


def test_is_fresh_custom_max_age() -> None:
    assert not is_fresh(int(NOW.timestamp()) - 100, NOW, max_age=timedelta(seconds=90))


# ---------------------------------------------------------------------------------------
# Authorize URL and state
# ---------------------------------------------------------------------------------------


def test_authorize_url_asks_for_an_offline_token() -> None:
    url = authorize_url(
        "Demo.myshopify.com", "key123", ["read_orders", "write_discounts"], "https://app.example.com/cb?x=1", "n0nce"
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "demo.myshopify.com", "/admin/oauth/authorize")
    assert parse_qs(parts.query) == {
        "client_id": ["key123"],
        "scope": ["read_orders,write_discounts"],
        "redirect_uri": ["https://app.example.com/cb?x=1"],
        "state": ["n0nce"],
    }
    assert "grant_options" not in url
    assert "%2C" in url and "%3A%2F%2F" in url  # escaped, not raw


def test_authorize_url_without_scopes_leaves_them_to_the_toml() -> None:
    assert "scope=" not in authorize_url("demo.myshopify.com", "k", [], "https://a/cb", "s")


def test_authorize_url_refuses_a_bad_shop() -> None:
    with pytest.raises(InvalidShopDomainError):
        authorize_url("evil.com", "k", "read_orders", "https://a/cb", "s")


def test_state_round_trip() -> None:
    nonce = new_nonce()
    assert len(nonce) == 64
    value = sign_state(nonce, "our-secret", NOW)
    assert verify_state(value, "our-secret", NOW + timedelta(seconds=599)) == nonce


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v.replace(v.split(".")[0], "f" * 64),
        lambda v: v.rsplit(".", 1)[0] + "." + "0" * 64,
        lambda v: ".".join([v.split(".")[0], str(int(v.split(".")[1]) + 1000), v.split(".")[2]]),
        lambda v: v + ".x",
        lambda v: "",
    ],
)
def test_state_tampering_is_refused(tamper) -> None:
    value = sign_state("abc", "our-secret", NOW)
    assert verify_state(tamper(value), "our-secret", NOW) is None


def test_state_expiry_future_and_secret() -> None:
    value = sign_state("abc", "our-secret", NOW)
    assert verify_state(value, "our-secret", NOW + timedelta(seconds=601)) is None
    assert verify_state(value, "our-secret", NOW - timedelta(minutes=1)) is None
    assert verify_state(value, "other-secret", NOW) is None
    assert verify_state(None, "our-secret", NOW) is None
    assert verify_state(value, "our-secret", NOW + timedelta(seconds=30), max_age=10) is None


def test_state_nonce_must_not_contain_the_separator() -> None:
    with pytest.raises(ValueError):
        sign_state("a.b", "our-secret", NOW)
