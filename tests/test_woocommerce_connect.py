"""Connecting a WooCommerce store end to end against the fake store over real HTTP:
``GET /woocommerce/connect`` → the store's ``/wc-auth/v1/authorize`` → the store POSTs keys
to ``POST /woocommerce/callback`` → the set-up job checks them with a REST call and creates
our webhooks (which the store pings). And the refusals, which keep nothing."""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, text

from connector.extensions import db, get_redis
from connector.models import Shop
from tests.woocommerce_support import app_url, pending_connections, receipts, store  # noqa: F401 (fixtures)

TOPICS = {"order.created", "order.updated", "product.updated"}


def start(client, store_url: str):
    return client.get("/woocommerce/connect", query_string={"store_url": store_url})


def test_connect_flow_end_to_end(client, app_url, store, drain):
    answer = start(client, store.base_url + "/")
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == store.base_url + "/wc-auth/v1/authorize"
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["scope"] == "read_write" and query["app_name"]
    assert query["callback_url"] == f"{app_url}/woocommerce/callback"
    assert query["return_url"] == f"{app_url}/woocommerce/return"
    user_id = query["user_id"]
    assert len(user_id) >= 32  # unguessable
    pending = f"connector:woocommerce:pending:{user_id}"
    assert json.loads(get_redis().get(pending))["store_url"] == store.base_url
    assert 3500 < get_redis().ttl(pending) <= 3600

    # the merchant approves at the store: it POSTs the keys to our callback, then redirects
    approved = httpx.get(answer.headers["Location"], follow_redirects=False, timeout=30)
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    assert back.path == "/woocommerce/return"
    assert parse_qs(back.query) == {"success": ["1"], "user_id": [user_id]}
    assert get_redis().get(pending) is None  # single use

    shop = db.session.scalars(select(Shop).where(Shop.platform == "woocommerce")).one()
    assert shop.domain == store.base_url
    credentials = shop.credentials
    assert store.state.keys[credentials["consumer_key"]] == credentials["consumer_secret"]  # the keys the store issued
    raw_column = db.session.execute(text("SELECT credentials FROM shops WHERE id = :id"), {"id": shop.id}).scalar()
    assert credentials["consumer_secret"] not in raw_column and "consumer_key" not in raw_column  # encrypted at rest
    assert set(shop.sync_state["cursors"]) == {"orders", "products"}

    # the set-up job: the REST check, then the webhooks (pinged by the store, answered 200)
    assert drain(lambda: len(store.webhooks()) == 3)
    checks = [request for request in store.requests if request.path == "/wp-json/wc/v3/system_status"]
    assert checks and all(request.authorization.startswith("Basic ") for request in checks)
    hooks = store.webhooks()
    assert {hook["topic"] for hook in hooks} == TOPICS
    for hook in hooks:
        assert hook["status"] == "active"
        assert hook["delivery_url"] == f"{app_url}/webhooks/woocommerce/{shop.shop_key}"
        assert store.state.webhooks[hook["id"]]["_secret"] == credentials["webhook_secret"]
    assert [status for _, status in store.pings] == [200, 200, 200]
    assert receipts() == 0  # pings are answered, not kept
    db.session.refresh(shop)
    assert shop.sync_state["verified_at"] and shop.sync_state["woocommerce_version"] == store.version
    assert shop.sync_state["webhooks"] == {hook["topic"]: hook["id"] for hook in hooks}

    assert client.get(approved.headers["Location"].replace(app_url, "")).status_code == 200


def test_reconnecting_keeps_the_secret_and_does_not_duplicate_webhooks(client, app_url, store, drain):
    from connector.stores.woocommerce_connect import start_reconnect

    approved = httpx.get(start(client, store.base_url).headers["Location"], follow_redirects=False, timeout=30)
    assert "success=1" in approved.headers["Location"]
    drain(lambda: len(store.webhooks()) >= 3)
    shop = db.session.scalars(select(Shop).where(Shop.platform == "woocommerce")).one()
    # a connected store is reconnected by the operator (or the plugin's signed start), not by /connect
    assert start(client, store.base_url).status_code == 409
    approved = httpx.get(start_reconnect(shop), follow_redirects=False, timeout=30)
    assert "success=1" in approved.headers["Location"]
    drain(lambda: len(store.webhooks()) >= 3)
    db.session.expire_all()
    assert len(store.webhooks()) == 3
    assert ({store.state.webhooks[hook["id"]]["_secret"] for hook in store.webhooks()}
            == {shop.credentials["webhook_secret"]})
    assert store.state.keys[shop.credentials["consumer_key"]]  # the newest keys are kept


@pytest.mark.parametrize("store_url", ["", "ftp://store.example.com", "http://store.example.com", "not a url",
                                       "https://user:pw@store.example.com", "https://store"])
def test_bad_store_url_is_a_400_and_nothing_is_pending(client, app_url, store_url):
    answer = start(client, store_url)
    assert answer.status_code == 400
    assert answer.json["error"] == "invalid_store_url"
    assert pending_connections() == []


def test_callback_url_must_be_https_outside_loopback(client, ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "CONNECTOR", dataclasses.replace(ctx.config["CONNECTOR"],
                                                                     app_url="http://connector.example"))
    answer = start(client, "https://store.example.com")
    assert (answer.status_code, answer.json["error"]) == (500, "app_url_not_https")
    assert pending_connections() == []


def test_a_forged_callback_is_refused_and_the_store_revokes_the_keys(client, app_url, store):
    # a callback for a user_id we never handed out: refused, so WooCommerce deletes the keys
    answer = store.approve({"user_id": "guessed", "scope": "read_write",
                            "callback_url": f"{app_url}/woocommerce/callback",
                            "return_url": f"{app_url}/woocommerce/return"})
    assert "success=0" in answer.headers["Location"]
    assert store.state.keys == {}
    assert db.session.scalars(select(Shop)).all() == []


def test_a_used_or_unknown_user_id_is_403_and_changes_nothing(client, app_url, store):
    approved = httpx.get(start(client, store.base_url).headers["Location"], follow_redirects=False, timeout=30)
    user_id = parse_qs(urlsplit(approved.headers["Location"]).query)["user_id"][0]
    shop = db.session.scalars(select(Shop)).one()
    before = shop.credentials
    replay = {"key_id": 9, "user_id": user_id, "consumer_key": "ck_" + "1" * 40, "consumer_secret": "cs_" + "2" * 40,
              "key_permissions": "read_write"}
    answer = client.post("/woocommerce/callback", json=replay)
    assert (answer.status_code, answer.json["error"]) == (403, "connection_unknown")
    db.session.expire_all()
    assert db.session.get(Shop, shop.id).credentials == before


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", json.dumps({"user_id": "x"}).encode(),
                                  json.dumps({"key_id": 1, "user_id": "x", "consumer_key": "nope",
                                              "consumer_secret": "cs_" + "2" * 40,
                                              "key_permissions": "read_write"}).encode()])
def test_malformed_callback_is_400_and_keeps_nothing(client, app_url, body):
    answer = client.post("/woocommerce/callback", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert db.session.scalars(select(Shop)).all() == []


def test_keys_the_store_refuses_are_recorded_not_retried_forever(client, app_url, store, drain):
    # the store revokes the keys between the callback and the set-up job
    store.auto_approve = True
    approved = httpx.get(start(client, store.base_url).headers["Location"], follow_redirects=False, timeout=30)
    assert "success=1" in approved.headers["Location"]
    shop = db.session.scalars(select(Shop)).one()
    store.revoke_keys(shop.credentials["consumer_key"])
    assert drain(lambda: (db.session.get(Shop, shop.id).sync_state or {}).get("last_error"))
    state = db.session.get(Shop, shop.id).sync_state
    assert state["last_error"].startswith("auth:") and not state.get("verified_at")
    assert store.webhooks() == []
