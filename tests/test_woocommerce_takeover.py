"""Issue 13.1: nobody but a store's own admin connects or reconnects a WooCommerce store.

Every attack goes through the real endpoints: ``GET /woocommerce/connect`` hands out a
``user_id`` to anyone, and ``POST /woocommerce/callback`` is unsigned by WooCommerce's design,
so the proof has to come from elsewhere: keys that authenticate against the store (a real REST
call before anything is kept), a reconnect signed by the WordPress plugin with the store's
current shared secret, or the operator's CLI.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from connector.extensions import db, get_redis
from connector.models import Shop
from tests.woocommerce_support import app_url, pending_connections, store  # noqa: F401 (fixtures)

PLUGIN_FUNCTIONS = (Path(__file__).resolve().parent.parent / "integrations" / "woocommerce" / "wordpress-plugin"
                    / "whatsapp-commerce-connector" / "includes" / "functions.php")
FORGED = {"key_id": 9, "consumer_key": "ck_" + "1" * 40, "consumer_secret": "cs_" + "2" * 40,
          "key_permissions": "read_write"}


def start(client, store_url: str):
    return client.get("/woocommerce/connect", query_string={"store_url": store_url})


def user_id_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["user_id"][0]


def connect_for_real(client, store) -> Shop:
    approved = httpx.get(start(client, store.base_url).headers["Location"], follow_redirects=False, timeout=30)
    assert "success=1" in approved.headers["Location"]
    return db.session.scalars(select(Shop).where(Shop.platform == "woocommerce")).one()


def credentials_of(shop_id: int) -> dict:
    db.session.expire_all()
    return dict(db.session.get(Shop, shop_id).credentials)


def shop_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Shop))


def test_13_1_a_second_connect_cannot_replace_a_live_stores_keys(client, app_url, store):
    shop = connect_for_real(client, store)
    before = credentials_of(shop.id)

    # the attack of the issue: start another connect for the same store, post other keys
    second = start(client, store.base_url)
    if second.status_code == 302:  # the code before the fix handed out a user_id for a live store
        forged = client.post("/woocommerce/callback",
                             json={**FORGED, "user_id": user_id_of(second.headers["Location"])})
        assert forged.status_code != 200, "a stranger replaced the keys of a live store"
    assert (second.status_code, second.json["error"]) == (409, "store_connected")
    assert credentials_of(shop.id) == before
    assert pending_connections() == []


@pytest.mark.parametrize("variant", ["{base}/", "{base}//", "{upper}", "{upper}/", "  {base}/  "])
def test_13_1_url_variants_of_a_live_store_are_the_same_store(client, app_url, store, variant):
    shop = connect_for_real(client, store)
    url = variant.format(base=store.base_url, upper=store.base_url.upper().replace("HTTP://", "http://"))
    answer = start(client, url)
    assert (answer.status_code, answer.json["error"]) == (409, "store_connected")
    assert credentials_of(shop.id)["consumer_key"] == shop.credentials["consumer_key"]


def test_13_1_keys_that_do_not_authenticate_never_replace_working_ones(client, app_url, store, ctx):
    shop = connect_for_real(client, store)
    before = credentials_of(shop.id)
    # even a pending reconnect made the proper way (the operator's) gives nothing to a forger
    from connector.stores.woocommerce_connect import start_reconnect

    user_id = user_id_of(start_reconnect(shop))
    forged = client.post("/woocommerce/callback", json={**FORGED, "user_id": user_id})
    assert (forged.status_code, forged.json["error"]) == (403, "keys_refused")
    assert credentials_of(shop.id) == before
    # and the pending connection is spent: no second try with the same id
    assert client.post("/woocommerce/callback", json={**FORGED, "user_id": user_id}).status_code == 403
    # the store's REST API was asked with the forged keys before anything was kept
    assert any(request.authorization and request.path == "/wp-json/wc/v3/system_status" for request in store.requests)


def test_13_1_nobody_squats_a_new_store_url(client, app_url, store):
    # a stranger starts the first connection of a store that is not connected yet ...
    answer = start(client, store.base_url)
    assert answer.status_code == 302
    forged = client.post("/woocommerce/callback", json={**FORGED, "user_id": user_id_of(answer.headers["Location"])})
    # ... but cannot make up keys the store accepts: no shop is stored
    assert forged.status_code == 403 and forged.json["error"] == "keys_refused"
    assert shop_count() == 0
    # the store's own admin connects afterwards as if nothing happened
    assert connect_for_real(client, store).domain == store.base_url


def test_13_1_a_stranger_with_keys_of_another_store_gets_nothing(client, app_url, store):
    from tests.fakes.woocommerce import FakeWooCommerce

    with FakeWooCommerce() as own_store:
        key, secret = own_store.issue_keys()  # genuine keys, of the attacker's own store
        answer = start(client, store.base_url)  # a pending connection for the victim's store
        forged = client.post("/woocommerce/callback", json={"key_id": 1,
                                                            "user_id": user_id_of(answer.headers["Location"]),
                                                            "consumer_key": key, "consumer_secret": secret,
                                                            "key_permissions": "read_write"})
    assert forged.status_code == 403
    assert shop_count() == 0


def test_13_1_an_expired_pending_connection_is_refused(client, app_url, store):
    answer = start(client, store.base_url)
    user_id = user_id_of(answer.headers["Location"])
    get_redis().delete(f"connector:woocommerce:pending:{user_id}")  # what the TTL does after an hour
    key, secret = store.issue_keys()
    late = client.post("/woocommerce/callback", json={"key_id": 1, "user_id": user_id, "consumer_key": key,
                                                      "consumer_secret": secret, "key_permissions": "read_write"})
    assert (late.status_code, late.json["error"]) == (403, "connection_unknown")
    assert shop_count() == 0


def signed_reconnect(shop: Shop, secret: str | None = None, *, timestamp: int | None = None,
                     nonce: str | None = None, store_key: str | None = None) -> dict:
    from integrations.woocommerce.auth import (
        reconnect_signature,  # (imported here so the tests run on the code before 13.1)
    )

    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(16)
    store_key = store_key or shop.shop_key
    signature = reconnect_signature(secret or shop.credentials["webhook_secret"], store_key, timestamp, nonce)
    return {"store": store_key, "ts": str(timestamp), "nonce": nonce, "sig": signature}


def test_13_1_the_plugin_signed_reconnect_replaces_the_keys(client, app_url, store, drain):
    shop = connect_for_real(client, store)
    old_key = shop.credentials["consumer_key"]
    query = signed_reconnect(shop)
    answer = client.get("/woocommerce/reconnect", query_string=query)
    assert answer.status_code == 302
    approved = httpx.get(answer.headers["Location"], follow_redirects=False, timeout=30)
    assert "success=1" in approved.headers["Location"]
    credentials = credentials_of(shop.id)
    assert credentials["consumer_key"] != old_key and store.state.keys[credentials["consumer_key"]]
    assert credentials["webhook_secret"] == shop.credentials["webhook_secret"]  # the webhooks stay valid
    assert shop_count() == 1

    # replayed: the nonce is spent
    assert client.get("/woocommerce/reconnect", query_string=query).status_code == 403


@pytest.mark.parametrize("tamper", ["wrong_secret", "expired", "future", "other_store", "bad_sig"])
def test_13_1_a_reconnect_without_proof_is_refused(client, app_url, store, tamper):
    shop = connect_for_real(client, store)
    other = Shop(platform="woocommerce", domain="https://other.example", settings={}, time_zone="UTC", locale="en")
    other.credentials = {"webhook_secret": "b" * 64, "consumer_key": "ck_x", "consumer_secret": "cs_x"}
    db.session.add(other)
    db.session.commit()
    now = int(time.time())
    query = {
        "wrong_secret": lambda: signed_reconnect(shop, "a" * 64),
        "expired": lambda: signed_reconnect(shop, timestamp=now - 3600),
        "future": lambda: signed_reconnect(shop, timestamp=now + 3600),
        # signed by the other store for itself, sent as this store
        "other_store": lambda: {**signed_reconnect(other, store_key=other.shop_key), "store": shop.shop_key},
        "bad_sig": lambda: {**signed_reconnect(shop), "sig": "!" * 10},
    }[tamper]()
    answer = client.get("/woocommerce/reconnect", query_string=query)
    assert answer.status_code == (401 if tamper == "bad_sig" else 403)  # malformed: missing; else: invalid
    assert pending_connections() == []


def test_13_1_the_operator_reconnects_from_the_cli(ctx, client, app_url, store, monkeypatch):
    from connector.cli import cli

    shop = connect_for_real(client, store)
    old_key = shop.credentials["consumer_key"]
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    result = ctx.test_cli_runner().invoke(cli, ["shops", "reconnect", "--shop", str(shop.id)])
    assert result.exit_code == 0, result.output
    url = next(word for word in result.output.split() if word.startswith("http"))
    approved = httpx.get(url, follow_redirects=False, timeout=30)
    assert "success=1" in approved.headers["Location"]
    new_key = credentials_of(shop.id)["consumer_key"]
    assert new_key != old_key and store.state.keys[new_key]


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"key_id": ' + b"9" * 5000 + b"}",
                                  b'{"user_id": "' + b"u" * 10_000 + b'"}'])
def test_13_1_hostile_callback_bodies_are_400(client, app_url, body):
    answer = client.post("/woocommerce/callback", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert shop_count() == 0


@pytest.mark.skipif(shutil.which("php") is None,
                    reason="php not installed: apt-get install php-cli to test the WordPress plugin")
def test_13_1_the_link_the_plugin_signs_starts_a_reconnect(client, app_url, store):
    shop = connect_for_real(client, store)
    code = (f"require {json.dumps(str(PLUGIN_FUNCTIONS))}; echo wcc_reconnect_url('https://connector.example', "
            f"{json.dumps(shop.shop_key)}, {json.dumps(shop.credentials['webhook_secret'])}, "
            "time(), bin2hex(random_bytes(16)));")
    link = subprocess.run([shutil.which("php"), "-r", code], capture_output=True, text=True, timeout=30,
                          check=True).stdout
    parts = urlsplit(link)
    assert parts.path == "/woocommerce/reconnect"
    answer = client.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 302 and "/wc-auth/v1/authorize" in answer.headers["Location"]
    assert client.get(f"{parts.path}?{parts.query}").status_code == 403  # once only
