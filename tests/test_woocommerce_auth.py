"""Connecting a store: authorize URL, store URL normalisation and the key callback."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.base import PayloadError
from integrations.woocommerce.auth import WooCommerceKeys, authorize_url, normalise_store_url, parse_callback

KEY = "ck_" + "a" * 40
SECRET = "cs_" + "b" * 40


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Store.Example.com/", "https://store.example.com"),
        ("store.example.com", "https://store.example.com"),
        ("http://store.example.com/shop/?a=1#top", "http://store.example.com/shop"),
        ("  https://store.example.com:8443/  ", "https://store.example.com:8443"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://localhost:8080/", "http://localhost:8080"),
        # one spelling per store (13.1: no second shop for a variant of a connected store's URL)
        ("https://store.example.com:443/", "https://store.example.com"),
        ("http://store.example.com:80", "http://store.example.com"),
        ("https://Store.Example.COM./shop//", "https://store.example.com/shop"),
        ("https://store.example.com//shop///", "https://store.example.com/shop"),
    ],
)
def test_normalise_store_url(raw, expected):
    assert normalise_store_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "ftp://store.example.com", "https://", "https://user:pw@store.example.com", "not a url",
     "https://store", "https://-bad-.example.com", "javascript:alert(1)", "https://store.example.com:99999",
     "https://store..example.com", "https://store.example.com/a/../admin"],
)
def test_normalise_store_url_rejects_non_urls(raw):
    with pytest.raises(ValueError):
        normalise_store_url(raw)


def test_authorize_url():
    url = authorize_url(
        "https://store.example.com/",
        app_name="WhatsApp Commerce",
        user_id="u_8f3a",
        return_url="https://connector.example/woocommerce/return",
        callback_url="https://connector.example/woocommerce/callback",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "store.example.com", "/wc-auth/v1/authorize")
    assert parse_qs(parts.query) == {
        "app_name": ["WhatsApp Commerce"],
        "scope": ["read_write"],
        "user_id": ["u_8f3a"],
        "return_url": ["https://connector.example/woocommerce/return"],
        "callback_url": ["https://connector.example/woocommerce/callback"],
    }


def test_authorize_url_refuses_http_callback_except_on_loopback():
    common = dict(app_name="A", user_id="u", return_url="https://c.example/r")
    with pytest.raises(ValueError, match="https"):
        authorize_url("https://store.example.com", callback_url="http://connector.example/cb", **common)
    for host in ("127.0.0.1:5000", "localhost"):
        authorize_url("http://127.0.0.1:1", callback_url=f"http://{host}/cb", **common)
    with pytest.raises(ValueError):
        authorize_url("https://store.example.com", callback_url="https://c.example/cb", scope="admin", **common)
    with pytest.raises(ValueError):
        authorize_url("https://store.example.com", callback_url="https://c.example/cb", app_name="A", user_id="",
                      return_url="x")


def test_parse_callback():
    body = {"key_id": 1, "user_id": 123, "consumer_key": KEY, "consumer_secret": SECRET,
            "key_permissions": "read_write"}
    keys = parse_callback(json.dumps(body).encode(), expected_user_id="123")
    assert keys == WooCommerceKeys(key_id="1", user_id="123", consumer_key=KEY, consumer_secret=SECRET,
                                   key_permissions="read_write")
    assert parse_callback(body) == keys
    assert SECRET not in repr(keys)


@pytest.mark.parametrize(
    "change",
    [
        {"consumer_key": "xx_" + "a" * 40},
        {"consumer_secret": "ck_" + "b" * 40},
        {"consumer_key": None},
        {"key_permissions": "admin"},
        {"key_id": None},
        {"user_id": "someone-else"},
    ],
)
def test_parse_callback_rejects(change):
    body = {"key_id": 1, "user_id": "123", "consumer_key": KEY, "consumer_secret": SECRET, "key_permissions": "read"}
    body.update(change)
    with pytest.raises(PayloadError):
        parse_callback(body, expected_user_id="123")


@pytest.mark.parametrize("raw", [b"not json", b"[]", "\"x\""])
def test_parse_callback_rejects_non_objects(raw):
    with pytest.raises(PayloadError):
        parse_callback(raw)
