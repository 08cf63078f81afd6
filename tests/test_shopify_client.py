"""The Shopify HTTP client against the fake Shopify (tests/fakes/shopify.py), over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.shopify.client import (
    GraphQLClient,
    TokenSet,
    admin_base_url,
    exchange_code,
    gid,
    migrate_to_expiring,
    numeric_id,
    refresh,
    token_exchange,
)
from integrations.shopify.errors import (
    InvalidShopDomainError,
    ShopifyApiError,
    ShopifyAuthError,
    ShopifyTransportError,
    ShopifyUserError,
)
from integrations.shopify.operations import create_webhook_subscriptions, variant_for_inventory_item
from tests.fakes import FakeShopify

SHOP = "demo.myshopify.com"
NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server():
    with FakeShopify() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeShopify) -> FakeShopify:
    server.reset()
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client_for(fake: FakeShopify, token: str, sleeps: list[float], **kwargs) -> GraphQLClient:
    return GraphQLClient(SHOP, token, base_url=fake.base_url, sleep=sleeps.append, **kwargs)


# ---------------------------------------------------------------------------------------
# Token grants
# ---------------------------------------------------------------------------------------


def test_exchange_code_gets_an_expiring_offline_token(fake: FakeShopify) -> None:
    tokens = exchange_code(SHOP, fake.issue_code(), fake.api_key, fake.api_secret, base_url=fake.base_url, now=NOW)
    assert tokens.access_token in fake.tokens
    assert tokens.expires_at == NOW + timedelta(hours=1)
    assert tokens.refresh_token and tokens.refresh_token_expires_at == NOW + timedelta(days=90)
    assert "read_orders" in tokens.scopes
    [call] = fake.calls_to("/admin/oauth/access_token")
    assert call.body["expiring"] == "1" and "grant_type" not in call.body


def test_exchange_code_non_expiring_and_reused_code(fake: FakeShopify) -> None:
    code = fake.issue_code()
    tokens = exchange_code(SHOP, code, fake.api_key, fake.api_secret, expiring=False, base_url=fake.base_url, now=NOW)
    assert (tokens.expires_at, tokens.refresh_token, tokens.is_expiring) == (None, None, False)
    assert not tokens.needs_refresh(NOW + timedelta(days=3650))
    with pytest.raises(ShopifyAuthError) as raised:
        exchange_code(SHOP, code, fake.api_key, fake.api_secret, base_url=fake.base_url)
    assert raised.value.status == 400


def test_wrong_client_secret_is_an_auth_error(fake: FakeShopify) -> None:
    with pytest.raises(ShopifyAuthError, match="invalid_client"):
        exchange_code(SHOP, fake.issue_code(), fake.api_key, "wrong", base_url=fake.base_url)


def test_refresh_rotates_the_refresh_token(fake: FakeShopify) -> None:
    first = exchange_code(SHOP, fake.issue_code(), fake.api_key, fake.api_secret, base_url=fake.base_url, now=NOW)
    second = refresh(SHOP, first.refresh_token, fake.api_key, fake.api_secret, base_url=fake.base_url, now=NOW)
    assert second.access_token != first.access_token and second.refresh_token != first.refresh_token
    assert fake.calls_to("access_token")[-1].body["grant_type"] == "refresh_token"
    with pytest.raises(ShopifyAuthError, match="invalid_grant"):
        refresh(SHOP, first.refresh_token, fake.api_key, fake.api_secret, base_url=fake.base_url)


def test_token_exchange_with_a_session_token(fake: FakeShopify) -> None:
    tokens = token_exchange(SHOP, fake.session_token(), fake.api_key, fake.api_secret, base_url=fake.base_url, now=NOW)
    assert tokens.is_expiring
    body = fake.calls_to("access_token")[-1].body
    assert body["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert body["subject_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
    assert body["requested_token_type"] == "urn:shopify:params:oauth:token-type:offline-access-token"
    assert body["expiring"] == "1"


def test_token_exchange_with_an_expired_session_token_is_refused(fake: FakeShopify) -> None:
    stale = fake.session_token(now=NOW.timestamp() - 3600)
    with pytest.raises(ShopifyAuthError) as raised:
        token_exchange(SHOP, stale, fake.api_key, fake.api_secret, base_url=fake.base_url)
    assert (raised.value.status, raised.value.error) == (400, "invalid_subject_token")


def test_migrate_a_non_expiring_token(fake: FakeShopify) -> None:
    legacy = fake.issue_token(expiring=False)
    tokens = migrate_to_expiring(SHOP, legacy.access_token, fake.api_key, fake.api_secret, base_url=fake.base_url)
    assert tokens.is_expiring and fake.tokens[legacy.access_token].revoked
    body = fake.calls_to("access_token")[-1].body
    assert body["subject_token_type"] == body["requested_token_type"] == (
        "urn:shopify:params:oauth:token-type:offline-access-token"
    )


def test_token_set_refresh_rules() -> None:
    tokens = TokenSet.from_response(
        {"access_token": "a", "scope": "read_orders", "expires_in": 3600, "refresh_token": "r",
         "refresh_token_expires_in": 7776000},
        NOW,
    )
    assert not tokens.needs_refresh(NOW + timedelta(minutes=54))
    assert tokens.needs_refresh(NOW + timedelta(minutes=55))
    assert tokens.needs_refresh(NOW + timedelta(minutes=59), margin=timedelta(0)) is False
    assert tokens.can_refresh(NOW + timedelta(days=89)) and not tokens.can_refresh(NOW + timedelta(days=90))
    with pytest.raises(ShopifyApiError):
        TokenSet.from_response({"scope": "x"}, NOW)


def test_unreachable_shopify_is_a_transport_error() -> None:
    with pytest.raises(ShopifyTransportError):
        exchange_code(SHOP, "c", "k", "s", base_url="http://127.0.0.1:9")


def test_shop_domain_is_validated_before_any_request() -> None:
    with pytest.raises(InvalidShopDomainError):
        exchange_code("evil.com/x", "c", "k", "s")
    assert admin_base_url(SHOP) == "https://demo.myshopify.com"
    assert admin_base_url(SHOP, "http://127.0.0.1:5000/{shop}/") == "http://127.0.0.1:5000/demo.myshopify.com"


# ---------------------------------------------------------------------------------------
# GraphQL
# ---------------------------------------------------------------------------------------


def test_graphql_sends_the_token_and_pinned_version(fake: FakeShopify, sleeps: list[float]) -> None:
    token = fake.issue_token().access_token
    fake.inventory_items["271878346596884015"] = ("788032119674292922", "642667041472713922")
    with client_for(fake, token, sleeps) as client:
        assert variant_for_inventory_item(client, 271878346596884015) == ("788032119674292922", "642667041472713922")
        assert variant_for_inventory_item(client, "1") is None
        assert client.last_cost["throttleStatus"]["currentlyAvailable"] == 1990
    [call, _] = fake.calls_to("graphql.json")
    assert call.path == "/admin/api/2026-07/graphql.json"
    assert call.headers["X-Shopify-Access-Token"] == token
    assert call.body["variables"] == {"id": "gid://shopify/InventoryItem/271878346596884015"}


def test_throttled_waits_for_the_bucket_then_retries(fake: FakeShopify, sleeps: list[float]) -> None:
    fake.inventory_items["5"] = ("1", "2")
    fake.throttle_next(2, requested=50, available=10, restore_rate=100)
    client = client_for(fake, fake.issue_token().access_token, sleeps)
    assert variant_for_inventory_item(client, 5) == ("1", "2")
    assert sleeps == [pytest.approx(0.45), pytest.approx(0.45)]  # (50 - 10) / 100 + margin


def test_throttled_beyond_the_bound_raises_retryable(fake: FakeShopify, sleeps: list[float]) -> None:
    fake.throttle_next(3)
    client = client_for(fake, fake.issue_token().access_token, sleeps, max_throttle_retries=2)
    with pytest.raises(ShopifyApiError) as raised:
        variant_for_inventory_item(client, 5)
    assert raised.value.is_retryable and len(sleeps) == 2


@pytest.mark.parametrize("status", [429, 500, 503])
def test_5xx_and_429_are_retried_a_bounded_number_of_times(fake: FakeShopify, sleeps: list[float], status: int) -> None:
    fake.inventory_items["5"] = ("1", "2")
    fake.fail_next(status, 2)
    client = client_for(fake, fake.issue_token().access_token, sleeps, max_retries=2)
    assert variant_for_inventory_item(client, 5) == ("1", "2")
    assert sleeps == [0.5, 1.0]
    fake.fail_next(status, 3)
    with pytest.raises(ShopifyApiError) as raised:
        variant_for_inventory_item(client, 5)
    assert (raised.value.status, raised.value.is_retryable) == (status, True)


def test_401_calls_on_unauthorized_once_then_retries(fake: FakeShopify, sleeps: list[float]) -> None:
    fake.inventory_items["5"] = ("1", "2")
    old, new = fake.issue_token(), fake.issue_token()
    fake.expire_access_token(old.access_token)
    asked: list[str] = []

    def renew() -> str:
        asked.append("renew")
        return new.access_token

    client = client_for(fake, old.access_token, sleeps, on_unauthorized=renew)
    assert variant_for_inventory_item(client, 5) == ("1", "2")
    assert asked == ["renew"] and client.access_token == new.access_token


def test_401_without_a_new_token_raises(fake: FakeShopify, sleeps: list[float]) -> None:
    token = fake.issue_token()
    fake.expire_access_token(token.access_token)
    with pytest.raises(ShopifyAuthError):
        variant_for_inventory_item(client_for(fake, token.access_token, sleeps), 5)
    with pytest.raises(ShopifyAuthError):  # the hook's token is rejected too: no loop
        variant_for_inventory_item(client_for(fake, token.access_token, sleeps, on_unauthorized=lambda: "nope"), 5)


def test_graphql_errors_are_api_errors(fake: FakeShopify, sleeps: list[float]) -> None:
    client = client_for(fake, fake.issue_token().access_token, sleeps)
    with pytest.raises(ShopifyApiError) as raised:
        client.execute("{ shop { name } }")
    assert not raised.value.is_retryable and raised.value.errors


def test_network_failure_is_retried_then_raised(sleeps: list[float]) -> None:
    client = GraphQLClient(SHOP, "t", base_url="http://127.0.0.1:9", sleep=sleeps.append, max_retries=2)
    with pytest.raises(ShopifyTransportError):
        client.execute("{ shop { name } }")
    assert len(sleeps) == 2


# ---------------------------------------------------------------------------------------
# Webhook subscriptions
# ---------------------------------------------------------------------------------------

CALLBACK = "https://app.example.com/webhooks/shopify"


def test_create_webhook_subscriptions_is_idempotent(fake: FakeShopify, sleeps: list[float]) -> None:
    client = client_for(fake, fake.issue_token().access_token, sleeps)
    topics = ["checkouts/create", "ORDERS_PAID", "orders/cancelled", "app/uninstalled"]
    fake.webhook_subscriptions.append({"id": "gid://shopify/WebhookSubscription/900", "topic": "ORDERS_PAID",
                                       "uri": "https://old.example.com/hooks"})
    first = create_webhook_subscriptions(client, CALLBACK, topics)
    assert list(first) == ["CHECKOUTS_CREATE", "ORDERS_PAID", "ORDERS_CANCELLED", "APP_UNINSTALLED"]
    assert len(fake.webhook_subscriptions) == 5  # the one at another URL is left alone
    creates = [c for c in fake.calls_to("graphql") if "webhookSubscriptionCreate" in c.body["query"]]
    assert creates[0].body["variables"] == {
        "topic": "CHECKOUTS_CREATE",
        "webhookSubscription": {"uri": CALLBACK, "format": "JSON"},
    }
    second = create_webhook_subscriptions(client, CALLBACK, topics)
    assert second == first and len(fake.webhook_subscriptions) == 5


def test_compliance_topics_cannot_be_created_via_the_api(fake: FakeShopify, sleeps: list[float]) -> None:
    client = client_for(fake, fake.issue_token().access_token, sleeps)
    with pytest.raises(ShopifyApiError):
        create_webhook_subscriptions(client, CALLBACK, ["customers/redact"])


def test_user_errors_are_raised(fake: FakeShopify, sleeps: list[float]) -> None:
    client = client_for(fake, fake.issue_token().access_token, sleeps)
    with pytest.raises(ShopifyUserError, match="Address is invalid"):
        create_webhook_subscriptions(client, "http://insecure.example.com", ["orders/paid"])


def test_gid_helpers() -> None:
    assert gid("InventoryItem", 9007199254740993) == "gid://shopify/InventoryItem/9007199254740993"
    assert numeric_id("gid://shopify/ProductVariant/9007199254740993") == "9007199254740993"
    assert numeric_id("gid://shopify/InventoryLevel/24826418?inventory_item_id=1") == "24826418"
    assert numeric_id("gid://other/X/1") is None and numeric_id(None) is None
