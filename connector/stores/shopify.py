"""The connector's side of a Shopify shop: its tokens, its Admin API client, its webhooks.

The adapter (``integrations/shopify``) knows Shopify's protocols and payloads; this module
knows our tables. It keeps each shop's offline token valid (expiring tokens are refreshed
ahead of expiry and after a 401; a legacy non-expiring token of an OAuth install is
migrated once), subscribes token-connected shops to their webhooks, and turns a stored
webhook receipt into neutral events for the automations.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from connector.dbutil import insert_or_ignore
from connector.extensions import db, get_redis, settings
from connector.models import Shop, Variant, WebhookReceipt, utcnow
from connector.stores import WAITING_OUTCOMES, ShopContext, process_store_receipt
from integrations.shopify import client as shopify_client
from integrations.shopify import webhooks as shopify_webhooks
from integrations.shopify.client import GraphQLClient, TokenSet
from integrations.base import PayloadError
from integrations.shopify.errors import ShopifyApiError, ShopifyAuthError, ShopifyError

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
        refresh_token_expires_at=tokens.refresh_token_expires_at.isoformat() if tokens.refresh_token_expires_at else None,
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
    options = dict(base_url=config.shopify_admin_base_url, now=now)
    if not tokens.is_expiring:
        # a legacy non-expiring offline token: swapped once for an expiring one
        return shopify_client.migrate_to_expiring(shop.domain, tokens.access_token, config.shopify_api_key,
                                                  config.shopify_api_secret, **options)
    if not tokens.can_refresh(now):
        raise ShopNotConnectedError(f"shop {shop.id}: the refresh token has expired; the merchant must open the app")
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


_PROFILE = """
query ShopProfile {
  shop { name currencyCode ianaTimezone billingAddress { countryCodeV2 } }
  shopLocales(published: true) { locale primary }
}
"""


def refresh_profile(shop: Shop) -> bool:
    """Name, currency, time zone, country and primary locale of the shop, from the Admin API.

    They matter: the country reads national phone numbers, the time zone is the governor's
    fallback for quiet hours, the name greets shoppers in templates. Best effort: a shop whose
    profile cannot be read keeps working with what it has, and the next connect tries again.
    """
    from integrations.shopify.errors import ShopifyError

    try:
        with graphql(shop) as client:
            data = client.execute(_PROFILE)
    except (ShopifyError, ShopNotConnectedError) as error:
        log.warning("shopify.profile_unavailable", extra={"shop_id": shop.id, "error": type(error).__name__})
        return False
    profile = data.get("shop") or {}
    shop.name = (profile.get("name") or shop.name or "")[:255] or None
    shop.currency = (profile.get("currencyCode") or shop.currency or "")[:3] or None
    shop.time_zone = profile.get("ianaTimezone") or shop.time_zone or "UTC"
    country = (profile.get("billingAddress") or {}).get("countryCodeV2")
    shop.country = country[:2] if isinstance(country, str) and len(country) == 2 else shop.country
    primary = next((entry.get("locale") for entry in data.get("shopLocales") or [] if entry.get("primary")), None)
    if isinstance(primary, str) and primary:
        shop.locale = primary[:16]
    db.session.commit()
    return True


def subscribe_webhooks(shop: Shop) -> dict[str, str]:
    """Create the webhook subscriptions of a shop connected by token (OAuth apps get theirs
    from shopify.app.toml). Compliance topics cannot be created through the API."""
    topics = [topic for topic in shopify_webhooks.TOPICS if topic not in shopify_webhooks.COMPLIANCE_TOPICS]
    with graphql(shop) as client:
        created = shopify_client.create_webhook_subscriptions(client, f"{settings().app_url}/webhooks/shopify", topics)
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


# -- inventory look-ups, off the receipt's path (ADR 0012) ------------------------------------

#: outcome of a receipt whose stock event waits for its inventory item's variant
LOOKUP_PENDING = "lookup_pending"
#: Shopify answered that the item has no variant (deleted, or not ours)
LOOKUP_UNKNOWN = "variant_unknown"
#: the shop cannot be asked (no token, grant revoked): nothing to wait for
LOOKUP_IMPOSSIBLE = "lookup_impossible"
#: ``Session.info`` key: shops with receipts deferred in the transaction (kicked after commit)
DEFERRED_LOOKUPS = "shopify_deferred_lookups"
#: pending receipts older than this are no longer retried (their bodies are purged later anyway)
LOOKUP_MAX_AGE = timedelta(days=1)
LOOKUP_BATCH = 200
LOOKUP_TIME_BUDGET_SECONDS = 20.0
#: a look-up that fails is tried again after this long (unless the breaker says longer)
LOOKUP_RETRY_SECONDS = 5.0


def defer_lookup(session, shop_id: int, receipt_id: int | None) -> None:
    """Note that the transaction leaves a receipt of ``shop_id`` waiting for a look-up."""
    session.info.setdefault(DEFERRED_LOOKUPS, set()).add(shop_id)
    if receipt_id is not None:
        session.info.setdefault(WAITING_OUTCOMES, {})[receipt_id] = LOOKUP_PENDING


class ShopBreaker:
    """A per-shop circuit breaker in Redis, shared by every worker.

    ``FAILURES`` failures within ``WINDOW_SECONDS`` open it for ``COOLDOWN_SECONDS``: calls to
    the shop are skipped (``open_for()`` says how long). After the cool-down one call goes
    through (half-open): a success closes the breaker, a failure opens it again at once.
    """

    FAILURES = 3
    WINDOW_SECONDS = 60
    COOLDOWN_SECONDS = 30.0

    def __init__(self, redis, shop_id: int):
        self.redis = redis
        self._failures = f"connector:shopify:breaker:{shop_id}:failures"
        self._open = f"connector:shopify:breaker:{shop_id}:open"
        self._tripped = f"connector:shopify:breaker:{shop_id}:tripped"

    def open_for(self) -> float:
        """Seconds the breaker stays open (0 when calls may go through)."""
        remaining = self.redis.pttl(self._open)
        return remaining / 1000 if remaining and remaining > 0 else 0.0

    def record_success(self) -> None:
        self.redis.delete(self._failures, self._tripped)

    def record_failure(self) -> bool:
        """Count a failure; True when it opened the breaker."""
        failures = self.redis.incr(self._failures)
        if failures == 1:
            self.redis.expire(self._failures, self.WINDOW_SECONDS)
        if failures < self.FAILURES and not self.redis.exists(self._tripped):
            return False
        cooldown_ms = max(1, int(self.COOLDOWN_SECONDS * 1000))
        pipeline = self.redis.pipeline()
        pipeline.set(self._open, 1, px=cooldown_ms)
        pipeline.set(self._tripped, 1, px=cooldown_ms * 10)  # half-open: one more failure reopens
        pipeline.delete(self._failures)
        pipeline.execute()
        return True


@dataclass
class LookupReport:
    """What one run of ``resolve_lookups`` did, and when the next run is wanted."""

    resolved: int = 0
    reapplied: int = 0
    unknown: int = 0
    failed: int = 0
    retry_in_seconds: float | None = None
    more: bool = False


def resolve_lookups(shop: Shop) -> LookupReport:
    """Look up the inventory items the shop's pending receipts wait for, and re-apply them.

    One GraphQL call per unknown item, with short timeouts and no in-call retries, behind
    the shop's breaker. A failure stops the run (the next item would most likely fail the
    same way) and asks for a retry; an item Shopify does not know ends its receipts as
    ``variant_unknown``.
    """
    report = LookupReport()
    breaker = ShopBreaker(get_redis(), shop.id)
    waiting = breaker.open_for()
    if waiting:
        report.retry_in_seconds = waiting
        return report
    pending = _pending_by_item(shop)
    report.more = sum(len(receipts) for receipts in pending.values()) >= LOOKUP_BATCH
    started = time.monotonic()
    client = None
    try:
        for item_id, receipts in pending.items():
            if time.monotonic() - started > LOOKUP_TIME_BUDGET_SECONDS:
                report.more = True
                break
            if not _is_cached(shop, item_id):
                try:
                    client = client or graphql(shop, timeout=shopify_client.LOOKUP_TIMEOUT, max_retries=0,
                                               max_throttle_retries=1, max_wait_seconds=2.0)
                    found = shopify_client.variant_for_inventory_item(client, item_id)
                except (ShopNotConnectedError, ShopifyAuthError):
                    _finish(receipts, LOOKUP_IMPOSSIBLE)
                    report.failed += len(receipts)
                    continue
                except ShopifyError as error:
                    if isinstance(error, ShopifyApiError) and not error.is_retryable:
                        _finish(receipts, LOOKUP_IMPOSSIBLE)
                        report.failed += len(receipts)
                        continue
                    opened = breaker.record_failure()
                    report.retry_in_seconds = breaker.open_for() if opened else LOOKUP_RETRY_SECONDS
                    log.warning("shopify.lookup_failed", extra={"shop_id": shop.id, "error": type(error).__name__,
                                                                "breaker_open": opened})
                    return report
                breaker.record_success()
                if found is None:
                    _finish(receipts, LOOKUP_UNKNOWN)
                    report.unknown += len(receipts)
                    continue
                remember_variants(shop, {item_id: found})
                db.session.commit()
                report.resolved += 1
            for receipt in receipts:
                report.reapplied += _reapply(receipt)
    finally:
        if client is not None:
            client.close()
    return report


def pending_lookup_shops(now: datetime) -> list[int]:
    """Shops with receipts still waiting for a look-up (for the sweep, after a lost job)."""
    return list(db.session.scalars(
        select(WebhookReceipt.shop_id).distinct().where(
            WebhookReceipt.outcome == LOOKUP_PENDING, WebhookReceipt.platform == PLATFORM,
            WebhookReceipt.processed_at > now - LOOKUP_MAX_AGE, WebhookReceipt.shop_id.is_not(None))))


def _pending_by_item(shop: Shop) -> dict[str, list[WebhookReceipt]]:
    receipts = db.session.scalars(
        select(WebhookReceipt).where(
            WebhookReceipt.shop_id == shop.id, WebhookReceipt.platform == PLATFORM,
            WebhookReceipt.outcome == LOOKUP_PENDING, WebhookReceipt.processed_at > utcnow() - LOOKUP_MAX_AGE)
        .order_by(WebhookReceipt.id).limit(LOOKUP_BATCH)).all()
    by_item: dict[str, list[WebhookReceipt]] = {}
    for receipt in receipts:
        try:
            payload = shopify_webhooks.load_json(receipt.body)
        except PayloadError:
            payload = None
        item_id = payload.get("inventory_item_id") if isinstance(payload, dict) else None
        if item_id is None or isinstance(item_id, bool | dict | list):
            _finish([receipt], LOOKUP_IMPOSSIBLE)  # body purged or unreadable: nothing to look up
            continue
        by_item.setdefault(str(item_id), []).append(receipt)
    return by_item


def _is_cached(shop: Shop, item_id: str) -> bool:
    return db.session.scalar(select(Variant.id).where(
        Variant.shop_id == shop.id, Variant.inventory_item_id == item_id).limit(1)) is not None


def _reapply(receipt: WebhookReceipt) -> int:
    """Run a pending receipt through the store pipeline again, now that its item is cached."""
    outcome = process_store_receipt(receipt)
    receipt.outcome = outcome[:32]
    db.session.commit()
    return int(outcome != LOOKUP_PENDING)


def _finish(receipts: list[WebhookReceipt], outcome: str) -> None:
    for receipt in receipts:
        receipt.outcome = outcome
    db.session.commit()


def remember_variants(shop: Shop, items: dict[str, tuple[str, str]]) -> None:
    """Cache inventory item → (product, variant), as ``products/update`` reveals it."""
    now = utcnow()
    for item_id, (product_id, variant_id) in items.items():
        inserted = insert_or_ignore(db.session, Variant, {
            "shop_id": shop.id, "variant_id": variant_id, "product_id": product_id, "inventory_item_id": item_id,
            "created_at": now, "updated_at": now}, conflict=("shop_id", "variant_id"))
        if inserted is None:
            db.session.execute(
                Variant.__table__.update()
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
