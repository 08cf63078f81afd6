"""How a shopper's storefront call reaches us: straight (CORS for the shop's own origins only),
through a Shopify shop's app proxy (Shopify's signature), or forwarded by a WooCommerce store's
plugin (signed with the store's shared secret). A call that fails its check stores nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from connector.extensions import db
from connector.models import ConsentEvent, Contact, Message, Shop, WhatsAppAccount
from integrations.base import SignatureInvalidError
from integrations.shopify.app_proxy import AppProxyError, proxy_signature, verify_proxy_query
from integrations.woocommerce.storefront import forward_signature, verify_forward
from tests.factories import make_shop

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "integrations" / "woocommerce" / "wordpress-plugin" / "whatsapp-commerce-connector"
FUNCTIONS = PLUGIN / "includes" / "functions.php"
PHP = shutil.which("php")
PHONE = "+4915123456789"
CONSENT_TEXT = "Send me offers and news on WhatsApp. Reply STOP to unsubscribe."
#: Shopify's own example (shopify.dev, "Authenticate app proxies"), shared secret "hush"
DOCUMENTED_QUERY = ("extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1"
                    "&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555"
                    "&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb")
WOO_SECRET = "woo-shared-secret-" + "w" * 32


def stored_nothing() -> bool:
    db.session.expire_all()
    return (db.session.scalar(select(func.count()).select_from(Contact)) == 0
            and db.session.scalar(select(func.count()).select_from(Message)) == 0
            and db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 0)


def opt_in_body(**extra) -> dict:
    return {"phone": PHONE, "consent_text": CONSENT_TEXT, "locale": "de", "country": "DE", **extra}


# --- the app proxy signature -----------------------------------------------------------------


def test_shopifys_documented_example_verifies():
    proxied = verify_proxy_query(DOCUMENTED_QUERY, "hush", now=1317327555)
    assert (proxied.shop_domain, proxied.customer_id, proxied.path_prefix) == (
        "shop-name.myshopify.com", "1", "/apps/awesome_reviews")


@pytest.mark.parametrize(("query", "now"), [
    (DOCUMENTED_QUERY.replace("extra=2", "extra=3"), 1317327555),  # a value changed
    (DOCUMENTED_QUERY.replace("logged_in_customer_id=1", "logged_in_customer_id=2"), 1317327555),
    (DOCUMENTED_QUERY.replace("&extra=2", ""), 1317327555),  # a repeated value dropped
    (DOCUMENTED_QUERY.split("&signature=")[0], 1317327555),  # no signature
    (DOCUMENTED_QUERY + "&signature=00", 1317327555),  # two signatures
    (DOCUMENTED_QUERY, 1317327555 + 301),  # stale
    (DOCUMENTED_QUERY, 1317327555 - 301),  # from the future
], ids=["changed", "other-customer", "dropped-repeat", "unsigned", "two-signatures", "stale", "future"])
def test_forged_missing_or_stale_proxy_signatures_fail(query, now):
    with pytest.raises(AppProxyError):
        verify_proxy_query(query, "hush", now=now)
    with pytest.raises(AppProxyError):
        verify_proxy_query(DOCUMENTED_QUERY, "not-hush", now=1317327555)


def signed_proxy_query(shop_domain: str, secret: str, *, timestamp: int | None = None, **extra) -> str:
    pairs = [("shop", shop_domain), ("logged_in_customer_id", ""), ("path_prefix", "/apps/whatsapp"),
             ("timestamp", str(int(timestamp if timestamp is not None else time.time()))), *extra.items()]
    return urlencode([*pairs, ("signature", proxy_signature(pairs, secret))])


def test_an_opt_in_through_the_app_proxy_takes_the_signed_shop(client, fake_shopify):
    shop = make_shop(fake_shopify.shop_domain)
    query = signed_proxy_query(shop.domain, fake_shopify.api_secret)
    response = client.post(f"/storefront/proxy/api/opt-in?{query}", json=opt_in_body(),
                            headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 202, response.get_json()
    contact = db.session.scalars(select(Contact).where(Contact.phone_e164 == PHONE)).one()
    assert contact.shop_id == shop.id
    # a body naming another shop than the signed one is refused
    other = make_shop("other-shop.myshopify.com", phone_number_id="1000002")
    named = client.post(f"/storefront/proxy/api/opt-in?{query}",
                        json=opt_in_body(shop_key=other.shop_key, phone="+4915123456780"))
    assert named.status_code == 400 and named.get_json()["field"] == "shop_key"


@pytest.mark.parametrize("forge", ["unsigned", "wrong-secret", "stale", "unknown-shop", "tampered"])
def test_a_proxy_call_that_fails_the_signature_is_401_and_stores_nothing(client, fake_shopify, forge):
    shop = make_shop(fake_shopify.shop_domain)
    query = {
        "unsigned": f"shop={shop.domain}&timestamp={int(time.time())}",
        "wrong-secret": signed_proxy_query(shop.domain, "someone-elses-secret-" + "x" * 20),
        "stale": signed_proxy_query(shop.domain, fake_shopify.api_secret, timestamp=int(time.time()) - 3600),
        "unknown-shop": signed_proxy_query("not-installed.myshopify.com", fake_shopify.api_secret),
        "tampered": signed_proxy_query(shop.domain, fake_shopify.api_secret).replace(
            f"shop={shop.domain}", "shop=other-shop.myshopify.com"),
    }[forge]
    response = client.post(f"/storefront/proxy/api/opt-in?{query}", json=opt_in_body())
    assert response.status_code == 401
    assert stored_nothing()


def test_the_rate_limit_counts_the_shopper_behind_the_proxy_not_shopifys_edge(client, fake_shopify):
    make_shop(fake_shopify.shop_domain)
    edge = {"REMOTE_ADDR": "23.227.38.1"}  # every proxied call arrives from Shopify
    answers = []
    for number in range(6):
        query = signed_proxy_query(fake_shopify.shop_domain, fake_shopify.api_secret)
        answers.append(client.post(f"/storefront/proxy/api/opt-in?{query}", environ_base=edge,
                                   json=opt_in_body(phone=f"+491512345670{number}"),
                                   headers={"X-Forwarded-For": f"198.51.100.{number + 1}"}).status_code)
    assert answers == [202] * 6  # six shoppers, six addresses
    same = []
    for number in range(6):
        query = signed_proxy_query(fake_shopify.shop_domain, fake_shopify.api_secret)
        # a shopper who writes their own X-Forwarded-For: Shopify appends the address it saw
        same.append(client.post(f"/storefront/proxy/api/opt-in?{query}", environ_base=edge,
                                json=opt_in_body(phone=f"+491512345671{number}"),
                                headers={"X-Forwarded-For": f"10.0.0.{number}, 198.51.100.50"}).status_code)
    assert same == [202] * 5 + [429]


# --- CORS on the direct routes ---------------------------------------------------------------


def woo_shop(url: str = "https://store.example") -> Shop:
    shop = Shop(platform="woocommerce", domain=url, settings={}, time_zone="UTC", locale="en", country="DE")
    shop.credentials = {"webhook_secret": WOO_SECRET}
    db.session.add(shop)
    db.session.flush()
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id="pn-woo", waba_id="WABA1",
                                   access_token="EAAG-test-token", throughput_per_second=80, messaging_limit=1000))
    db.session.commit()
    return shop


def preflight(client, shop_key: str, origin: str):
    return client.open(f"/storefront/api/opt-in?shop={shop_key}", method="OPTIONS",
                       headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                "Access-Control-Request-Headers": "content-type"})


def test_preflights_are_answered_for_the_shops_own_origins_only(client):
    shopify = make_shop("cors-shop.myshopify.com")
    shopify.sync_state = {"primary_host": "www.cors-shop.example"}
    woo = woo_shop("https://store.example/shop")
    db.session.commit()
    for shop, origin in ((shopify, "https://cors-shop.myshopify.com"), (shopify, "https://www.cors-shop.example"),
                         (woo, "https://store.example")):
        answer = preflight(client, shop.shop_key, origin)
        assert answer.status_code == 204, origin
        assert answer.headers["Access-Control-Allow-Origin"] == origin
        assert "POST" in answer.headers["Access-Control-Allow-Methods"]
        assert "Origin" in answer.headers.get_all("Vary")
    for shop, origin in ((shopify, "https://evil.example"), (shopify, "https://store.example"),
                         (woo, "https://cors-shop.myshopify.com"), (woo, "http://store.example"),
                         (woo, "null")):
        answer = preflight(client, shop.shop_key, origin)
        assert answer.status_code == 403, origin
        assert "Access-Control-Allow-Origin" not in answer.headers
    assert preflight(client, "no-such-key", "https://store.example").status_code == 403


def test_a_post_from_another_origin_is_refused_before_anything_is_stored(client):
    shop = make_shop("cors-shop.myshopify.com")
    foreign = client.post("/storefront/api/opt-in", json=opt_in_body(shop_key=shop.shop_key),
                          headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and "Access-Control-Allow-Origin" not in foreign.headers
    assert stored_nothing()
    own = client.post("/storefront/api/opt-in", json=opt_in_body(shop_key=shop.shop_key),
                      headers={"Origin": "https://cors-shop.myshopify.com"})
    assert own.status_code == 202
    assert own.headers["Access-Control-Allow-Origin"] == "https://cors-shop.myshopify.com"


# --- forwarded by the WordPress plugin -------------------------------------------------------


def php_forward_headers(secret: str, store_key: str, timestamp: int, visitor: str, name: str, body: str) -> dict:
    code = (f"require {json.dumps(str(FUNCTIONS))}; echo json_encode(wcc_forward_headers("
            f"{json.dumps(secret)}, {json.dumps(store_key)}, {timestamp}, {json.dumps(visitor)}, {json.dumps(name)}, "
            f"{json.dumps(body)}));")
    result = subprocess.run([PHP, "-r", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.skipif(PHP is None, reason="php not installed: apt-get install php-cli (.ci/run does)")
def test_a_call_the_plugin_forwarded_and_signed_in_php_is_accepted(client):
    shop = woo_shop()
    body = json.dumps(opt_in_body())
    headers = php_forward_headers(WOO_SECRET, shop.shop_key, int(time.time()), "198.51.100.23", "opt-in", body)
    assert headers["X-WCC-Forward-Signature"] == forward_signature(
        WOO_SECRET, shop.shop_key, int(headers["X-WCC-Timestamp"]), "198.51.100.23", "opt-in", body.encode())
    response = client.post("/storefront/signed/api/opt-in", data=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    contact = db.session.scalars(select(Contact).where(Contact.phone_e164 == PHONE)).one()
    assert contact.shop_id == shop.id
    # the same signature does not carry another call's name or another body
    assert client.post("/storefront/signed/api/back-in-stock", data=body, headers=headers).status_code == 401


@pytest.mark.parametrize("forge", ["no-signature", "wrong-secret", "stale", "tampered-body", "other-visitor",
                                   "unknown-store"])
def test_a_forward_that_fails_its_signature_is_401_and_stores_nothing(client, forge):
    shop = woo_shop()
    body = json.dumps(opt_in_body()).encode()
    stamp = int(time.time()) - (3600 if forge == "stale" else 0)
    secret = "wrong-secret-" + "z" * 32 if forge == "wrong-secret" else WOO_SECRET
    headers = {"Content-Type": "application/json", "X-WCC-Store": shop.shop_key, "X-WCC-Timestamp": str(stamp),
               "X-WCC-Visitor": "198.51.100.23",
               "X-WCC-Forward-Signature": forward_signature(secret, shop.shop_key, stamp, "198.51.100.23", "opt-in",
                                                            body)}
    if forge == "no-signature":
        del headers["X-WCC-Forward-Signature"]
    if forge == "tampered-body":
        body = json.dumps(opt_in_body(phone="+4915199999999")).encode()
    if forge == "other-visitor":
        headers["X-WCC-Visitor"] = "198.51.100.24"
    if forge == "unknown-store":
        headers["X-WCC-Store"] = "not-a-store"
    response = client.post("/storefront/signed/api/opt-in", data=body, headers=headers)
    assert response.status_code == 401
    assert stored_nothing()


def test_the_forward_verifier_alone():
    body = b'{"phone": "+4915123456789"}'
    signed = {"X-WCC-Store": "k", "X-WCC-Timestamp": "1800000000", "X-WCC-Visitor": "",
              "X-WCC-Forward-Signature": forward_signature("s" * 32, "k", 1800000000, "", "opt-in", body)}
    assert verify_forward(signed, "opt-in", body, "s" * 32, now=1800000100).store_key == "k"
    with pytest.raises(SignatureInvalidError):
        verify_forward({**signed, "X-WCC-Visitor": "<script>"}, "opt-in", body, "s" * 32, now=1800000100)


def test_an_unknown_call_name_is_404_on_every_transport(client):
    for path in ("/storefront/api/nope", "/storefront/proxy/api/nope", "/storefront/signed/api/nope"):
        assert client.post(path, json={}).status_code == 404, path
