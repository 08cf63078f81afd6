"""Shopify OAuth end to end against a fake Shopify at the HTTP edge: install redirect, callback,
code exchange for an expiring offline token, refresh ahead of expiry and after a 401, the
migration of a non-expiring token, session-token authentication with token exchange, and the
GraphQL webhook subscriptions of a token-connected shop."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from sqlalchemy import select, text

from connector.extensions import db
from connector.models import Shop
from connector.stores import shopify as shopify_store
from integrations.shopify import oauth


def signed_query(secret: str, **params) -> str:
    params.setdefault("timestamp", str(int(time.time())))
    params["hmac"] = oauth.query_hmac(urlencode(params), secret)
    return urlencode(params)


def _shop(domain: str) -> Shop | None:
    db.session.expire_all()
    return db.session.scalars(select(Shop).where(Shop.domain == domain)).first()


# -- install and callback ---------------------------------------------------------------------------

def test_install_redirects_to_consent_with_a_state_bound_to_the_browser(client, fake_shopify):
    query = signed_query(fake_shopify.api_secret, shop=fake_shopify.shop_domain)
    response = client.get(f"/shopify/install?{query}")
    assert response.status_code == 302
    target = urlparse(response.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", fake_shopify.shop_domain, "/admin/oauth/authorize")
    args = parse_qs(target.query)
    assert args["client_id"] == [fake_shopify.api_key]
    assert args["redirect_uri"][0].endswith("/shopify/callback")
    assert "grant_options[]" not in args  # offline token, not per-user
    cookie = client.get_cookie("shopify_oauth_state", path="/shopify")
    assert cookie is not None and cookie.value.startswith(args["state"][0] + ".")
    assert cookie.http_only


@pytest.mark.parametrize("case", ["bad_hmac", "no_hmac", "stale", "evil_domain", "suffix_domain"])
def test_install_refuses_forged_stale_or_foreign_queries(client, fake_shopify, case):
    secret = fake_shopify.api_secret
    queries = {
        "bad_hmac": signed_query("wrong-secret", shop=fake_shopify.shop_domain),
        "no_hmac": urlencode({"shop": fake_shopify.shop_domain, "timestamp": str(int(time.time()))}),
        "stale": signed_query(secret, shop=fake_shopify.shop_domain, timestamp=str(int(time.time()) - 3600)),
        "evil_domain": signed_query(secret, shop="evil.com"),
        "suffix_domain": signed_query(secret, shop="store.myshopify.com.evil.com"),
    }
    response = client.get(f"/shopify/install?{queries[case]}")
    assert response.status_code == {"evil_domain": 400, "suffix_domain": 400}.get(case, 401)
    assert "Location" not in response.headers


def _install(client, fake_shopify) -> str:
    response = client.get(f"/shopify/install?{signed_query(fake_shopify.api_secret, shop=fake_shopify.shop_domain)}")
    return parse_qs(urlparse(response.headers["Location"]).query)["state"][0]


def test_callback_exchanges_the_code_for_an_expiring_offline_token_stored_encrypted(client, fake_shopify):
    state = _install(client, fake_shopify)
    code = fake_shopify.issue_code()
    query = signed_query(fake_shopify.api_secret, shop=fake_shopify.shop_domain, code=code, state=state)
    response = client.get(f"/shopify/callback?{query}")

    assert response.status_code == 302
    assert response.headers["Location"] == f"https://{fake_shopify.shop_domain}/admin/apps/{fake_shopify.api_key}"
    (grant,) = fake_shopify.calls_to("/admin/oauth/access_token")
    assert grant.body["code"] == code and grant.body["expiring"] == "1"
    shop = _shop(fake_shopify.shop_domain)
    credentials = shop.credentials
    assert credentials["kind"] == "oauth"
    assert credentials["access_token"] in fake_shopify.tokens
    assert credentials["refresh_token"] and credentials["expires_at"]
    raw = db.session.execute(text("SELECT credentials FROM shops WHERE id = :id"), {"id": shop.id}).scalar_one()
    assert credentials["access_token"] not in raw and credentials["refresh_token"] not in raw


def test_callback_with_another_browsers_state_is_refused(client, fake_shopify):
    _install(client, fake_shopify)
    query = signed_query(fake_shopify.api_secret, shop=fake_shopify.shop_domain, code=fake_shopify.issue_code(),
                         state="0" * 64)
    assert client.get(f"/shopify/callback?{query}").status_code == 403
    assert _shop(fake_shopify.shop_domain) is None
    assert not fake_shopify.calls_to("/admin/oauth/access_token")


def test_callback_without_the_state_cookie_is_refused(app, fake_shopify, ctx):
    state = _install(app.test_client(), fake_shopify)  # another browser started it
    query = signed_query(fake_shopify.api_secret, shop=fake_shopify.shop_domain, code=fake_shopify.issue_code(),
                         state=state)
    assert app.test_client().get(f"/shopify/callback?{query}").status_code == 403
    assert _shop(fake_shopify.shop_domain) is None


def test_a_code_shopify_refuses_is_a_clear_error(client, fake_shopify):
    state = _install(client, fake_shopify)
    query = signed_query(fake_shopify.api_secret, shop=fake_shopify.shop_domain, code="never-issued", state=state)
    response = client.get(f"/shopify/callback?{query}")
    assert response.status_code == 403 and response.get_json()["error"] == "code_refused"
    assert _shop(fake_shopify.shop_domain) is None


# -- keeping the token valid -----------------------------------------------------------------------

def _connected(fake_shopify, *, expiring=True) -> Shop:
    issued = fake_shopify.issue_token(expiring=expiring)
    tokens = shopify_store.TokenSet(
        access_token=issued.access_token, scope=fake_shopify.scope,
        expires_at=datetime.fromtimestamp(issued.expires_at, timezone.utc) if issued.expires_at else None,
        refresh_token=issued.refresh_token,
        refresh_token_expires_at=(datetime.fromtimestamp(issued.refresh_expires_at, timezone.utc)
                                  if issued.refresh_expires_at else None))
    return shopify_store.connect_oauth(fake_shopify.shop_domain, tokens)


def test_a_token_close_to_expiry_is_refreshed_ahead_and_the_rotated_pair_stored(ctx, fake_shopify):
    shop = _connected(fake_shopify)
    old = shop.credentials
    credentials = dict(old, expires_at=(datetime.now(timezone.utc) + timedelta(minutes=2)).isoformat())
    shop.credentials = credentials
    db.session.commit()

    token = shopify_store.access_token(shop)
    assert token != old["access_token"] and token in fake_shopify.tokens
    (grant,) = fake_shopify.calls_to("/admin/oauth/access_token")
    assert grant.body["grant_type"] == "refresh_token" and grant.body["refresh_token"] == old["refresh_token"]
    stored = _shop(fake_shopify.shop_domain).credentials
    assert stored["access_token"] == token and stored["refresh_token"] != old["refresh_token"]
    # a fresh token is used as it is: no second refresh
    assert shopify_store.access_token(_shop(fake_shopify.shop_domain)) == token
    assert len(fake_shopify.calls_to("/admin/oauth/access_token")) == 1


def test_a_401_from_graphql_refreshes_once_and_retries(ctx, fake_shopify):
    shop = _connected(fake_shopify)
    fake_shopify.calls.clear()  # connecting read the shop's profile
    fake_shopify.expire_access_token(shop.credentials["access_token"])
    with shopify_store.graphql(shop) as client:
        data = client.execute("{ webhookSubscriptions(first: 10) { edges { node { id } } } }")
    assert "webhookSubscriptions" in data
    assert [c.body["grant_type"] for c in fake_shopify.calls_to("/admin/oauth/access_token")] == ["refresh_token"]
    assert len(fake_shopify.calls_to("graphql.json")) == 2


def test_a_non_expiring_token_of_an_install_is_migrated_once(ctx, fake_shopify):
    legacy = fake_shopify.issue_token(expiring=False).access_token
    shop = shopify_store.connect_oauth(fake_shopify.shop_domain,
                                       shopify_store.TokenSet(access_token=legacy, scope=fake_shopify.scope))
    token = shopify_store.access_token(shop)  # the first Admin call (reading the profile) migrated it
    assert token != legacy
    (grant,) = fake_shopify.calls_to("/admin/oauth/access_token")
    assert grant.body["subject_token"] == legacy and grant.body["expiring"] == "1"
    assert _shop(fake_shopify.shop_domain).credentials["expires_at"]
    shopify_store.access_token(_shop(fake_shopify.shop_domain))
    assert len(fake_shopify.calls_to("/admin/oauth/access_token")) == 1


def test_a_custom_app_token_is_used_as_given(ctx, fake_shopify):
    from connector.shops import add_shopify

    token = fake_shopify.issue_token(expiring=False).access_token
    shop = add_shopify(fake_shopify.shop_domain, token)
    assert shopify_store.access_token(shop) == token
    assert not fake_shopify.calls_to("/admin/oauth/access_token")


# -- embedded admin: session tokens and token exchange --------------------------------------------

def test_a_session_token_for_a_new_shop_is_exchanged_for_an_offline_token(client, fake_shopify):
    session = fake_shopify.session_token()
    response = client.get("/admin/api/shop", headers={"Authorization": f"Bearer {session}"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["shop"]["domain"] == fake_shopify.shop_domain
    (grant,) = fake_shopify.calls_to("/admin/oauth/access_token")
    assert grant.body["subject_token"] == session and grant.body["expiring"] == "1"
    assert _shop(fake_shopify.shop_domain).credentials["access_token"] in fake_shopify.tokens
    # the next request is authenticated without another exchange
    again = client.get("/admin/api/shop", headers={"Authorization": f"Bearer {fake_shopify.session_token()}"})
    assert again.status_code == 200
    assert len(fake_shopify.calls_to("/admin/oauth/access_token")) == 1


@pytest.mark.parametrize("case", ["missing", "expired", "wrong_audience", "dest_iss_disagree"])
def test_bad_session_tokens_are_401_with_the_retry_header(client, fake_shopify, case):
    tokens = {
        "missing": None,
        "expired": fake_shopify.session_token(now=time.time() - 600),
        "wrong_audience": fake_shopify.session_token(aud="someone-else"),
        "dest_iss_disagree": fake_shopify.session_token(dest="https://other.myshopify.com"),
    }
    headers = {"Authorization": f"Bearer {tokens[case]}"} if tokens[case] else {}
    response = client.get("/admin/api/shop", headers=headers)
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert _shop(fake_shopify.shop_domain) is None


# -- subscriptions of a token-connected shop ------------------------------------------------------

@pytest.fixture
def public_app_url(monkeypatch):
    """Shopify only delivers to https addresses; the tests' app URL is a local http one."""
    from dataclasses import replace

    from connector.extensions import settings
    from connector.stores import shopify as module

    public = replace(settings(), app_url="https://connector.example.net")
    monkeypatch.setattr(module, "settings", lambda: public)
    return public.app_url


def test_shops_add_shopify_subscribes_every_topic_once(ctx, fake_shopify, public_app_url):
    from connector.cli import cli

    token = fake_shopify.issue_token(expiring=False).access_token
    runner = ctx.test_cli_runner()
    args = ["shops", "add", "shopify", "--domain", fake_shopify.shop_domain, "--access-token", token]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "11 topic(s) subscribed" in first.output
    topics = sorted(sub["topic"] for sub in fake_shopify.webhook_subscriptions)
    assert len(topics) == 11 and "APP_UNINSTALLED" in topics and "ORDERS_PAID" in topics
    assert {sub["uri"] for sub in fake_shopify.webhook_subscriptions} == {f"{public_app_url}/webhooks/shopify"}

    creations = len([c for c in fake_shopify.calls_to("graphql.json")
                     if "webhookSubscriptionCreate" in c.body["query"]])
    assert creations == 11

    second = runner.invoke(cli, ["shops", "subscribe", "--shop", fake_shopify.shop_domain])
    assert second.exit_code == 0 and "11 topic(s) subscribed" in second.output
    assert len(fake_shopify.webhook_subscriptions) == 11  # nothing duplicated
    assert len([c for c in fake_shopify.calls_to("graphql.json")
                if "webhookSubscriptionCreate" in c.body["query"]]) == 11


def test_a_refused_subscription_says_what_to_do(ctx, fake_shopify, public_app_url):
    from connector.cli import cli

    # checked first (issue 14.14): a refused token is not stored at all; stored unchecked, its
    # subscriptions fail and the command says what to do
    result = ctx.test_cli_runner().invoke(cli, ["shops", "add", "shopify", "--domain", fake_shopify.shop_domain,
                                                "--access-token", "shpat_not_issued", "--no-verify"])
    assert result.exit_code == 1
    assert "NOT created" in result.output and "connector shops subscribe" in result.output


def test_data_exports_are_listed_and_served_only_to_their_own_shop(client, fake_shopify):
    from connector.models import DataExport

    headers = {"Authorization": f"Bearer {fake_shopify.session_token()}"}
    assert client.get("/admin/api/shop", headers=headers).status_code == 200
    own = _shop(fake_shopify.shop_domain)
    other = Shop(platform="shopify", domain="other.myshopify.com", settings={})
    db.session.add(other)
    db.session.flush()
    mine = DataExport(shop_id=own.id, request_ref="dr-1", content='{"contacts": [1]}')
    theirs = DataExport(shop_id=other.id, request_ref="dr-2", content='{"contacts": [2]}')
    db.session.add_all([mine, theirs])
    db.session.commit()

    listing = client.get("/admin/api/data-exports", headers=headers).get_json()["exports"]
    assert [row["request_ref"] for row in listing] == ["dr-1"]
    download = client.get(f"/admin/api/data-exports/{mine.id}", headers=headers)
    assert download.status_code == 200 and download.get_json() == {"contacts": [1]}
    assert download.headers["Cache-Control"] == "no-store"
    assert client.get(f"/admin/api/data-exports/{theirs.id}", headers=headers).status_code == 404
    # the API itself wants a session token; the page downloads through an authenticated fetch
    # (tests/test_admin_page_browser.py)
    assert client.get(f"/admin/api/data-exports/{mine.id}").status_code == 401


def test_the_embedded_page_is_framed_only_by_the_shops_admin_and_loads_app_bridge(client, fake_shopify):
    page = client.get(f"/admin/?shop={fake_shopify.shop_domain}&host=YWRtaW4")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<meta name="shopify-api-key" content="{fake_shopify.api_key}">' in html
    assert "cdn.shopify.com/shopifycloud/app-bridge.js" in html
    assert page.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://admin.shopify.com https://{fake_shopify.shop_domain};")
    forged = client.get("/admin/?shop=evil.com")
    assert forged.headers["Content-Security-Policy"] == "frame-ancestors https://admin.shopify.com;"


def test_the_report_api_answers_with_the_funnel(client, fake_shopify):
    headers = {"Authorization": f"Bearer {fake_shopify.session_token()}"}
    response = client.get("/admin/api/report", headers=headers)
    assert response.status_code == 200 and response.get_json() == {"automations": []}


def test_a_dead_refresh_token_is_repaired_by_opening_the_app(client, fake_shopify):
    shop = _connected(fake_shopify)
    credentials = dict(shop.credentials, expires_at=(datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat(),
                       refresh_token_expires_at=(datetime.now(timezone.utc) - timedelta(days=1)).isoformat())
    shop.credentials = credentials
    db.session.commit()
    response = client.get("/admin/api/shop", headers={"Authorization": f"Bearer {fake_shopify.session_token()}"})
    assert response.status_code == 200
    grants = [c.body.get("grant_type") for c in fake_shopify.calls_to("/admin/oauth/access_token")]
    assert grants == ["urn:ietf:params:oauth:grant-type:token-exchange"]
    assert _shop(fake_shopify.shop_domain).credentials["access_token"] != credentials["access_token"]


def test_connecting_reads_the_shops_profile(ctx, fake_shopify):
    fake_shopify.graphql_handlers.append(lambda query, variables: {
        "shop": {"name": "Kaffee Kontor", "currencyCode": "EUR", "ianaTimezone": "Europe/Berlin",
                 "billingAddress": {"countryCodeV2": "DE"}},
        "shopLocales": [{"locale": "en", "primary": False}, {"locale": "de", "primary": True}],
    } if "ShopProfile" in query else None)
    shop = _connected(fake_shopify)
    assert (shop.name, shop.currency, shop.time_zone, shop.country, shop.locale) == (
        "Kaffee Kontor", "EUR", "Europe/Berlin", "DE", "de")


def test_an_unreadable_profile_does_not_stop_the_connection(ctx, fake_shopify):
    shop = _connected(fake_shopify)  # the fake knows no ShopProfile query: an error answer
    assert shop.is_active and shop.credentials["access_token"]
    assert shop.time_zone == "UTC"
