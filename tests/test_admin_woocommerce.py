"""The admin app for WooCommerce stores: the WordPress plugin mints the bearer token (its REST
route, for users with manage_woocommerce and a valid nonce), the connector verifies it with the
store's shared secret, and the page may be framed by the store's own origin only.

The tokens here come from the plugin's own PHP (tests/php/woocommerce_plugin_admin_token_test.php
loads the real plugin file with a stand-in for WordPress), so the two languages are held to
the same claims.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import jwt
import pytest

from connector.extensions import db
from connector.models import Shop, WhatsAppAccount
from integrations.woocommerce.admin_tokens import (
    AUDIENCE,
    AdminTokenError,
    is_admin_token,
    store_key_of,
    verify_admin_token,
)

ROOT = Path(__file__).resolve().parent.parent
ROUTE_TEST = ROOT / "tests" / "php" / "woocommerce_plugin_admin_token_test.php"
PHP = shutil.which("php")
STORE_URL = "https://store.example"
SECRET = "shared-secret-of-the-store-" + "s" * 32

SECOND_SECRET = "second-secret-" + "t" * 32
needs_php = pytest.mark.skipif(PHP is None, reason="php not installed: apt-get install php-cli (.ci/run does)")


def plugin_route(**case) -> dict:
    """What the plugin's GET /wp-json/whatsapp-commerce-connector/v1/admin-token answers."""
    result = subprocess.run([PHP, str(ROUTE_TEST), json.dumps(case)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def woo_shop(domain: str = STORE_URL, key: str = "store-key-1", secret: str = SECRET) -> Shop:
    shop = Shop(platform="woocommerce", domain=domain, shop_key=key, settings={}, time_zone="UTC", locale="en")
    shop.credentials = {"consumer_key": "ck_" + "a" * 40, "consumer_secret": "cs_" + "b" * 40, "webhook_secret": secret}
    db.session.add(shop)
    db.session.flush()
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id=f"pn-{key}", waba_id="WABA1",
                                   access_token="EAAG-test-token", throughput_per_second=80, messaging_limit=1000))
    db.session.commit()
    return shop


def mint(secret: str = SECRET, **claims) -> str:
    issued = int(time.time())
    body = {"iss": STORE_URL, "dest": "store-key-1", "aud": AUDIENCE, "sub": "7", "iat": issued,
            "exp": issued + 300} | claims
    return jwt.encode(body, secret, algorithm="HS256")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- the plugin's route ---------------------------------------------------------------------


@needs_php
def test_the_route_mints_a_token_for_a_store_manager_that_the_connector_verifies():
    answer = plugin_route(nonce="good", user_id=7,
                          settings={"connector_url": "https://connector.example", "store_key": "store-key-1",
                                    "shared_secret": SECRET})
    assert answer["status"] == 200 and answer["methods"] == "GET"
    assert answer["headers"] == {"Cache-Control": "no-store"}
    token = answer["body"]["token"]
    verified = verify_admin_token(token, SECRET, store_key="store-key-1", store_url=STORE_URL)
    assert verified.user_id == "7"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["exp"] - claims["iat"] == 300 and answer["body"]["expires_at"] == claims["exp"]
    assert claims["iss"] == STORE_URL and claims["dest"] == "store-key-1"


@needs_php
@pytest.mark.parametrize(("case", "status", "code"), [
    ({"nonce": "good", "capability": False}, 403, "wcc_forbidden"),
    ({"nonce": "good", "capability": False, "user_id": 0}, 401, "wcc_forbidden"),
    ({"nonce": "forged"}, 403, "wcc_bad_nonce"),
    ({}, 403, "wcc_bad_nonce"),
    ({"nonce": "good", "settings": {"connector_url": "https://connector.example", "store_key": "k",
                                    "shared_secret": ""}}, 409, "wcc_not_configured"),
], ids=["no-capability", "logged-out", "forged-nonce", "no-nonce", "no-secret"])
def test_the_route_refuses_without_capability_nonce_or_secret(case, status, code):
    answer = plugin_route(**case)
    assert (answer["status"], answer["body"]) == (status, {"code": code})


@needs_php
def test_the_menu_page_sits_under_woocommerce_and_frames_the_app_with_the_hand_off():
    answer = plugin_route(nonce="good")
    assert answer["menu"] == [["woocommerce", "manage_woocommerce", "wcc-app"]]
    assert answer["app_url"] == ("https://connector.example/admin/?platform=woocommerce"
                                 "&store=https%3A%2F%2Fstore.example&locale=de_DE")
    assert answer["scripts"]["wcc-admin-app"].endswith("/assets/admin-app.js")
    assert answer["localized"]["wccAdminApp"] == {
        "connectorOrigin": "https://connector.example",
        "tokenUrl": "https://store.example/wp-json/whatsapp-commerce-connector/v1/admin-token",
        "nonce": "good",
    }


# --- the connector's side -------------------------------------------------------------------


@needs_php
def test_a_plugin_token_opens_the_admin_api_of_its_store_and_names_the_wordpress_user(client, ctx):
    shop = woo_shop()
    token = plugin_route(nonce="good", user_id=12, settings={
        "connector_url": "https://connector.example", "store_key": shop.shop_key, "shared_secret": SECRET,
    })["body"]["token"]
    response = client.get("/admin/api/shop", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["shop"]["id"] == shop.id
    patched = client.patch("/admin/api/settings", json={"retention_days": 45},
                           headers={**bearer(token), "Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200
    history = client.get("/admin/api/settings/history", headers=bearer(token)).get_json()["history"]
    assert history[0]["changed_by"] == "wordpress:12"


@pytest.mark.parametrize("claims", [
    {"exp": int(time.time()) - 60, "iat": int(time.time()) - 120},
    {"exp": int(time.time()) + 3600},
    {"aud": "someone-else"},
    {"iss": "https://other-store.example"},
    {"sub": ""},
], ids=["expired", "lives-an-hour", "other-audience", "other-store-url", "no-user"])
def test_a_token_that_is_not_current_or_not_for_this_store_is_refused(client, ctx, claims):
    woo_shop()
    response = client.get("/admin/api/shop", headers=bearer(mint(**claims)))
    assert response.status_code == 401


def test_a_token_signed_with_another_secret_or_for_another_store_is_refused(client, ctx):
    woo_shop()
    woo_shop(domain="https://second.example", key="store-key-2", secret=SECOND_SECRET)
    assert client.get("/admin/api/shop", headers=bearer(mint())).status_code == 200
    assert client.get("/admin/api/shop", headers=bearer(mint(secret="a-guess-" + "g" * 32))).status_code == 401
    # the second store's secret cannot speak for the first store, nor its key with the first URL
    assert client.get("/admin/api/shop", headers=bearer(mint(secret=SECOND_SECRET))).status_code == 401
    assert client.get("/admin/api/shop", headers=bearer(
        mint(secret=SECOND_SECRET, dest="store-key-2"))).status_code == 401
    second = client.get("/admin/api/shop", headers=bearer(
        mint(secret=SECOND_SECRET, dest="store-key-2", iss="https://second.example")))
    assert second.status_code == 200 and second.get_json()["shop"]["domain"] == "https://second.example"


def test_an_unsigned_token_or_an_uninstalled_store_is_refused(client, ctx):
    shop = woo_shop()
    unsigned = jwt.encode({"iss": STORE_URL, "dest": "store-key-1", "aud": AUDIENCE, "sub": "7",
                           "iat": int(time.time()), "exp": int(time.time()) + 60}, None, algorithm="none")
    assert client.get("/admin/api/shop", headers=bearer(unsigned)).status_code == 401
    shop.is_active = False
    db.session.commit()
    assert client.get("/admin/api/shop", headers=bearer(mint())).status_code == 401


def test_the_verifier_checks_each_claim():
    now = 1_800_000_000
    good = jwt.encode({"iss": STORE_URL + "/", "dest": "k", "aud": AUDIENCE, "sub": "7", "iat": now, "exp": now + 300},
                      SECRET, algorithm="HS256")
    assert is_admin_token(good) and store_key_of(good) == "k"
    assert verify_admin_token(good, SECRET, store_key="k", store_url=STORE_URL, now=now + 10).user_id == "7"
    with pytest.raises(AdminTokenError):
        verify_admin_token(good, SECRET, store_key="k", store_url=STORE_URL, now=now + 400)
    with pytest.raises(AdminTokenError):
        verify_admin_token(good, SECRET, store_key="k", store_url=STORE_URL, now=now - 60)
    with pytest.raises(AdminTokenError):
        verify_admin_token(good, SECRET, store_key="other", store_url=STORE_URL, now=now)
    with pytest.raises(AdminTokenError):
        verify_admin_token(good, "", store_key="k", store_url=STORE_URL, now=now)
    without_iat = jwt.encode({"iss": STORE_URL, "dest": "k", "aud": AUDIENCE, "sub": "7", "exp": now + 60},
                             SECRET, algorithm="HS256")
    with pytest.raises(AdminTokenError):
        verify_admin_token(without_iat, SECRET, store_key="k", store_url=STORE_URL, now=now)
    assert not is_admin_token("not.a.jwt") and not is_admin_token("x" * 5000)


def test_the_page_may_be_framed_by_the_connected_store_only(client, ctx):
    woo_shop()
    framed = client.get("/admin/?platform=woocommerce&store=https%3A%2F%2Fstore.example%2F&locale=de_DE")
    assert framed.status_code == 200
    assert framed.headers["Content-Security-Policy"] == "frame-ancestors https://admin.shopify.com https://store.example;"
    stranger = client.get("/admin/?platform=woocommerce&store=https%3A%2F%2Fevil.example")
    assert stranger.headers["Content-Security-Policy"] == "frame-ancestors https://admin.shopify.com;"
    junk = client.get("/admin/?platform=woocommerce&store=javascript:alert(1)")
    assert junk.status_code == 200
    assert junk.headers["Content-Security-Policy"] == "frame-ancestors https://admin.shopify.com;"
    assert client.get("/admin/?platform=woocommerce&store=%00").status_code == 400
