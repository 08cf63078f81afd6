"""The connector's side of a Shopify shop: its tokens, its Admin API client, its webhooks.

The adapter (``integrations/shopify``) knows Shopify's protocols and payloads; this module
knows our tables. It keeps each shop's offline token valid (expiring tokens are refreshed
ahead of expiry and after a 401; a legacy non-expiring token of an OAuth install is
migrated once), subscribes token-connected shops to their webhooks, and turns a stored
webhook receipt into neutral events for the automations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select

from connector.dbutil import insert_or_ignore
from connector.extensions import db, get_redis, settings
from connector.models import Shop, Variant, WebhookReceipt, utcnow
from connector.stores.context import WAITING_OUTCOMES, ShopContext
from integrations.shopify import client as shopify_client
from integrations.shopify import operations as shopify_operations
from integrations.shopify import webhooks as shopify_webhooks
from integrations.shopify.app_proxy import AppProxyError, ProxyRequest, verify_proxy_query
from integrations.shopify.carts import cart_permalink
from integrations.shopify.client import GraphQLClient, TokenSet
from integrations.shopify.errors import SessionTokenError, ShopifyAuthError, ShopifyError
from integrations.shopify.session_tokens import ExtensionToken, verify_extension_token

log = logging.getLogger(__name__)

PLATFORM = "shopify"
#: refresh an expiring token this long before it runs out (it lives 60 minutes)
REFRESH_MARGIN = timedelta(minutes=5)
#: credentials "kind" of a shop connected with a custom app's Admin API token (no OAuth client)
CUSTOM_APP = "custom_app"
OAUTH = "oauth"


class ShopNotConnectedError(RuntimeError):
    """The shop has no usable Admin API token (uninstalled, or the grant was revoked)."""


# -- tokens -----------------------------------------------------------------------------------

def store_tokens(shop: Shop, tokens: TokenSet, *, kind: str = OAUTH) -> None:
    """Keep a token set on the shop, encrypted with the rest of its credentials."""
    credentials = dict(shop.credentials)
    credentials.update(
        kind=kind,
        access_token=tokens.access_token,
        scope=tokens.scope,
        expires_at=tokens.expires_at.isoformat() if tokens.expires_at else None,
        refresh_token=tokens.refresh_token,
        refresh_token_expires_at=(tokens.refresh_token_expires_at.isoformat()
                                  if tokens.refresh_token_expires_at else None),
    )
    shop.credentials = credentials


def token_set(shop: Shop) -> TokenSet | None:
    credentials = shop.credentials
    if not credentials.get("access_token"):
        return None
    return TokenSet(
        access_token=credentials["access_token"],
        scope=credentials.get("scope") or "",
        expires_at=_datetime(credentials.get("expires_at")),
        refresh_token=credentials.get("refresh_token"),
        refresh_token_expires_at=_datetime(credentials.get("refresh_token_expires_at")),
    )


def access_token(shop: Shop, *, force_refresh: bool = False) -> str:
    """A token that works now: refreshed when close to expiry (or when Shopify said 401).

    Refresh tokens rotate on every use, so two workers refreshing at once would leave one
    holding a spent token: refreshes of one shop are serialised by a Redis lock, and the
    second worker re-reads the token the first one stored.
    """
    tokens = token_set(shop)
    if tokens is None:
        raise ShopNotConnectedError(f"shop {shop.id} has no Admin API token")
    kind = shop.credentials.get("kind", CUSTOM_APP)
    now = utcnow()
    needs = force_refresh or tokens.needs_refresh(now, REFRESH_MARGIN) or (kind == OAUTH and not tokens.is_expiring)
    if not needs or kind == CUSTOM_APP:
        return tokens.access_token
    config = settings()
    if not (config.shopify_api_key and config.shopify_api_secret):
        return tokens.access_token  # nothing to refresh with; Shopify will say if it stopped working
    with get_redis().lock(f"connector:shopify:refresh:{shop.id}", timeout=30, blocking_timeout=30):
        db.session.refresh(shop)
        fresh = token_set(shop)
        if fresh is not None and fresh.access_token != tokens.access_token:
            return fresh.access_token  # another worker refreshed while we waited
        new = _renew(shop, tokens, now)
        store_tokens(shop, new, kind=OAUTH)
        db.session.commit()
        log.info("shopify.token_renewed", extra={"shop_id": shop.id, "expires_at": str(new.expires_at)})
        return new.access_token


def _renew(shop: Shop, tokens: TokenSet, now: datetime) -> TokenSet:
    config = settings()
    assert config.shopify_api_key and config.shopify_api_secret  # access_token() renews only with both
    options: dict[str, Any] = dict(base_url=config.shopify_admin_base_url, now=now)
    if not tokens.is_expiring:
        # a legacy non-expiring offline token: swapped once for an expiring one
        return shopify_client.migrate_to_expiring(shop.domain, tokens.access_token, config.shopify_api_key,
                                                  config.shopify_api_secret, **options)
    if not tokens.can_refresh(now):
        raise ShopNotConnectedError(f"shop {shop.id}: the refresh token has expired; the merchant must open the app")
    assert tokens.refresh_token is not None  # can_refresh() says there is one
    return shopify_client.refresh(shop.domain, tokens.refresh_token, config.shopify_api_key,
                                  config.shopify_api_secret, **options)


def graphql(shop: Shop, **options) -> GraphQLClient:
    """The shop's Admin GraphQL client; a 401 triggers one refresh and one retry."""
    def on_unauthorized() -> str | None:
        try:
            return access_token(shop, force_refresh=True)
        except (ShopifyAuthError, ShopNotConnectedError):
            return None

    return GraphQLClient(shop.domain, access_token(shop), base_url=settings().shopify_admin_base_url,
                         on_unauthorized=on_unauthorized, **options)


# -- connecting -------------------------------------------------------------------------------

def connect_oauth(domain: str, tokens: TokenSet) -> Shop:
    """Create or revive the shop of an OAuth install (or a token exchange) with its tokens."""
    shop = db.session.scalars(select(Shop).where(Shop.platform == PLATFORM, Shop.domain == domain)).first()
    if shop is None:
        shop = Shop(platform=PLATFORM, domain=domain, settings={})
        db.session.add(shop)
    store_tokens(shop, tokens, kind=OAUTH)
    shop.is_active = True
    shop.uninstalled_at = None
    db.session.commit()
    log.info("shopify.connected", extra={"shop_id": shop.id, "expiring": tokens.is_expiring})
    refresh_profile(shop)
    return shop


def refresh_profile(shop: Shop) -> bool:
    """Name, currency, time zone, country and primary locale of the shop, from the Admin API.

    They matter: the country reads national phone numbers, the time zone is the governor's
    fallback for quiet hours, the name greets shoppers in templates. Best effort: a shop whose
    profile cannot be read keeps working with what it has, and the next connect tries again.
    """
    try:
        with graphql(shop) as client:
            profile = shopify_operations.shop_profile(client)
    except (ShopifyError, ShopNotConnectedError) as error:
        log.warning("shopify.profile_unavailable", extra={"shop_id": shop.id, "error": type(error).__name__})
        return False
    shop.name = (profile["name"] or shop.name or "")[:255] or None
    shop.currency = (profile["currency"] or shop.currency or "")[:3] or None
    shop.time_zone = profile["time_zone"] or shop.time_zone or "UTC"
    shop.country = profile["country"] or shop.country
    if profile["locale"]:
        shop.locale = profile["locale"][:16]
    if profile.get("primary_host") and profile["primary_host"] != shop.domain:
        # the custom domain shoppers see: the storefront widget's calls come from its origin
        shop.sync_state = {**(shop.sync_state or {}), "primary_host": profile["primary_host"][:255]}
    db.session.commit()
    return True


def storefront_origins(shop: Shop) -> list[str]:
    """The origins a shop's storefront pages are served from: its myshopify.com domain and
    the primary (custom) domain Shopify reported."""
    hosts = [shop.domain, (shop.sync_state or {}).get("primary_host")]
    return [f"https://{host}" for host in dict.fromkeys(hosts) if isinstance(host, str) and host]


def checkout_extension_shop(token: str) -> tuple[Shop, ExtensionToken]:
    """The shop of a checkout UI extension's request (its session token, verified); raise
    ``SessionTokenError`` when the token does not hold or names no connected shop."""
    config = settings()
    if not (config.shopify_api_key and config.shopify_api_secret):
        raise SessionTokenError("SHOPIFY_API_KEY/SECRET are not set")
    verified = verify_extension_token(token, config.shopify_api_key, config.shopify_api_secret)
    shop = db.session.scalars(select(Shop).where(Shop.platform == PLATFORM,
                                                 Shop.domain == verified.shop_domain)).first()
    if shop is None or not shop.is_active:
        raise SessionTokenError("the shop is not connected")
    return shop, verified


def proxy_shop(query_string: bytes | str) -> tuple[Shop, ProxyRequest]:
    """The shop of a request that came through its app proxy; raise ``AppProxyError`` when
    the proxy signature does not hold or names no connected shop."""
    secret = settings().shopify_api_secret
    if not secret:
        raise AppProxyError("SHOPIFY_API_SECRET is not set")
    proxied = verify_proxy_query(query_string, secret)
    shop = db.session.scalars(select(Shop).where(Shop.platform == PLATFORM, Shop.domain == proxied.shop_domain)).first()
    if shop is None or not shop.is_active:
        raise AppProxyError("the shop is not connected")
    return shop, proxied


def subscribe_webhooks(shop: Shop) -> dict[str, str]:
    """Create the webhook subscriptions of a shop connected by token (OAuth apps get theirs
    from shopify.app.toml). Compliance topics cannot be created through the API."""
    topics = [topic for topic in shopify_webhooks.TOPICS if topic not in shopify_webhooks.COMPLIANCE_TOPICS]
    with graphql(shop) as client:
        created = shopify_operations.create_webhook_subscriptions(
            client, f"{settings().app_url}/webhooks/shopify", topics)
    state = dict(shop.sync_state or {})
    state["webhook_subscriptions"] = created
    shop.sync_state = state
    db.session.commit()
    return created


# -- webhooks → events ------------------------------------------------------------------------

@dataclass(frozen=True)
class ParseContext(ShopContext):
    """Shopify's parser also takes the delivery's shop domain and time, and looks up variants."""
    shop_domain: str | None = None
    received_at: datetime | None = None
    receipt_id: int | None = None

    def variant_for_inventory_item(self, inventory_item_id: str) -> tuple[str, str] | None:
        return variant_for_inventory_item(self.shop, inventory_item_id, receipt_id=self.receipt_id)


def variant_for_inventory_item(shop: Shop, inventory_item_id: str, *, receipt_id: int | None = None
                               ) -> tuple[str, str] | None:
    """(product id, variant id) of an inventory item from the cache; else ``None``, with the
    look-up deferred to its own job (``resolve_lookups``).

    Never calls Shopify: a receipt must not wait for a vendor (ADR 0012). The receipt that
    asked ends as ``lookup_pending``; the job re-applies it once the item is known.
    """
    row = db.session.execute(
        select(Variant.product_id, Variant.variant_id)
        .where(Variant.shop_id == shop.id, Variant.inventory_item_id == str(inventory_item_id))
    ).first()
    if row is not None:
        return row.product_id, row.variant_id
    defer_lookup(db.session, shop.id, receipt_id)
    return None


# -- inventory look-ups, off the receipt's path (ADR 0012; the look-ups: shopify_lookups.py) --

#: outcome of a receipt whose stock event waits for its inventory item's variant
LOOKUP_PENDING = "lookup_pending"
#: ``Session.info`` key: shops with receipts deferred in the transaction (kicked after commit)
DEFERRED_LOOKUPS = "shopify_deferred_lookups"


def defer_lookup(session, shop_id: int, receipt_id: int | None) -> None:
    """Note that the transaction leaves a receipt of ``shop_id`` waiting for a look-up."""
    session.info.setdefault(DEFERRED_LOOKUPS, set()).add(shop_id)
    if receipt_id is not None:
        session.info.setdefault(WAITING_OUTCOMES, {})[receipt_id] = LOOKUP_PENDING


def remember_variants(shop: Shop, items: dict[str, tuple[str, str]]) -> None:
    """Cache inventory item → (product, variant), as ``products/update`` reveals it."""
    now = utcnow()
    for item_id, (product_id, variant_id) in items.items():
        inserted = insert_or_ignore(db.session, Variant, {
            "shop_id": shop.id, "variant_id": variant_id, "product_id": product_id, "inventory_item_id": item_id,
            "created_at": now, "updated_at": now}, conflict=("shop_id", "variant_id"))
        if inserted is None:
            db.session.execute(
                cast(Table, Variant.__table__).update()
                .where(Variant.shop_id == shop.id, Variant.variant_id == variant_id)
                .values(inventory_item_id=item_id, product_id=product_id, updated_at=now))


def receipt_events(receipt: WebhookReceipt, shop: Shop) -> list:
    """Parse a stored Shopify delivery (caching what it teaches about inventory items)."""
    payload = shopify_webhooks.load_json(receipt.body)
    if receipt.topic == "products/update":
        remember_variants(shop, shopify_webhooks.inventory_item_map(payload))
    context = ParseContext(shop=shop, shop_domain=shop.domain, received_at=receipt.received_at, receipt_id=receipt.id)
    return shopify_webhooks.parse(receipt.topic, payload, context)


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# -- what the automations ask of a Shopify store (connector.stores.platforms) -----------------

def cart_url(shop: Shop, lines: list[tuple[str, int]], discount: str | None) -> str:
    """A cart permalink on the shop's domain: checkout opens with exactly ``lines``."""
    return cart_permalink(shop.domain, lines, discount=discount)


def create_discount_code(shop: Shop, code: str, percent: Decimal, valid_for: timedelta) -> None:
    """A single-use code through ``discountCodeBasicCreate``; a code that exists already is ours."""
    now = utcnow()
    with graphql(shop) as client:
        shopify_operations.create_code_discount(client, code=code, title=f"WhatsApp cart reminder {code}",
                                                percent=percent, starts_at=now, ends_at=now + valid_for)


def create_referral_code(shop: Shop, code: str, percent: Decimal, valid_for: timedelta) -> None:
    """A customer's code to forward: any number of friends, each once; a code that exists already is ours."""
    now = utcnow()
    with graphql(shop) as client:
        shopify_operations.create_code_discount(client, code=code, title=f"WhatsApp referral {code}", percent=percent,
                                                starts_at=now, ends_at=now + valid_for, usage_limit=None)


#: the tag a confirmed cash-on-delivery order gets
COD_CONFIRMED_TAG = "whatsapp-cod-confirmed"


def apply_cod_decision(shop: Shop, order_id: str, confirm: bool) -> None:
    """The shopper's COD answer: tag the order, or cancel it (restocked, not refunded)."""
    with graphql(shop) as client:
        if confirm:
            shopify_operations.add_order_tags(client, order_id, [COD_CONFIRMED_TAG])
        else:
            shopify_operations.cancel_order(client, order_id)
