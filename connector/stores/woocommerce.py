"""The connector's side of a WooCommerce store: connecting it, its webhooks, its catch-up,
and turning its stored receipts into neutral events.

The adapter (``integrations/woocommerce``) knows WooCommerce's protocols and payloads; this
module knows our tables and Redis. What it keeps per shop:

- ``Shop.credentials`` (encrypted): ``consumer_key``, ``consumer_secret``, ``webhook_secret``
  (ours, per store: it signs WooCommerce's deliveries and the plugin's cart reports),
  ``key_id`` and ``key_permissions`` from wc-auth.
- ``Shop.sync_state``: ``cursors`` (catch-up position per resource, ``catchup.Cursor``),
  ``webhooks`` (topic → id of our active webhook), ``verified_at``, ``woocommerce_version``,
  ``last_catchup_at``, ``last_error``.
- ``Shop.sync_state`` when the store is in trouble (``STORE_PROBLEM_FIELDS``): ``last_error``,
  ``failing_since``, ``failure_count``, ``next_try_at``; cleared by the next success.
- Redis: a pending connection per wc-auth ``user_id`` (one hour, single use), the per-shop
  catch-up lock and slot flags.

Connecting and reconnecting (who may, with what proof) is ``woocommerce_connect.py``.

See docs/woocommerce.md for the whole picture and the reasons.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
import zlib
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from redis.exceptions import LockError
from sqlalchemy import func, select

from connector.events import FulfillmentStatus, FulfillmentUpdated
from connector.extensions import db, get_redis, settings
from connector.models import Shop, WebhookReceipt, utcnow
from connector.queues import INGEST, MAINTENANCE, enqueue
from connector.receipts import ReceiptResult, record_and_enqueue
from connector.stores.context import ShopContext
from integrations.base import SignatureInvalidError
from integrations.egress import EgressPolicy
from integrations.woocommerce import catchup
from integrations.woocommerce import webhooks as wc_webhooks
from integrations.woocommerce.profile import store_profile
from integrations.woocommerce.client import (
    WooCommerceAddressRefusedError,
    WooCommerceApiError,
    WooCommerceAuthError,
    WooCommerceClient,
)

log = logging.getLogger(__name__)

PLATFORM = "woocommerce"
#: what the merchant sees on WooCommerce's "connect an app" screen
APP_NAME = "WhatsApp Commerce Connector"
#: each store is caught up once per slot of this length (WooCommerce never retries deliveries)
CATCHUP_INTERVAL_SECONDS = 300
CATCHUP_JOB_TIMEOUT_SECONDS = 600
#: the job that runs ``catch_up`` for one store, by dotted name (the job layer sits above this one)
CATCHUP_JOB = "connector.jobs.catchup.catch_up_woocommerce_store"
#: a store in trouble is tried again after this, doubling per failure, at most the cap
RETRY_FIRST_SECONDS = CATCHUP_INTERVAL_SECONDS
RETRY_CAP_SECONDS = 3600
#: the sync_state fields that describe a store in trouble; a success removes them
STORE_PROBLEM_FIELDS = ("last_error", "failing_since", "failure_count", "next_try_at")
#: the cursor is saved after every this many listed items, so a long catch-up keeps its progress
CURSOR_CHECKPOINT = 100
#: receipts of the WordPress plugin's cart reports
CART_TOPIC = "cart.updated"
#: catch-up listings, as (cursor name, topic their items are parsed as, dedupe-key word)
POLLED = (("orders", "order.updated", "order"), ("products", "product.updated", "product"))

_LOCK_KEY = "connector:woocommerce:catchup:lock:{}"
_SLOT_KEY = "connector:woocommerce:catchup:slot:{}:{}"
#: X-WC-Webhook-Delivery-ID is wp_hash() output (hex); anything else is replaced by a digest
_DELIVERY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


# -- connecting: connector/stores/woocommerce_connect.py --------------------------------------

def new_webhook_secret() -> str:
    """A per-store secret. Alphanumeric on purpose: WooCommerce passes the stored secret
    through ``wp_specialchars_decode`` before signing, which must not change it."""
    return secrets.token_hex(32)


def start_cursors() -> dict:
    """Catch-up cursors of a store connected now: its past orders are not news."""
    start = catchup.Cursor.start(utcnow().replace(microsecond=0)).to_json()
    return {name: dict(start) for name, _, _ in POLLED}


# -- finding a store --------------------------------------------------------------------------

def shop_by_key(shop_key: str) -> Shop | None:
    """The WooCommerce shop with this exact public key (webhook URLs carry the key we made)."""
    if not shop_key or len(shop_key) > 64:
        return None
    return db.session.scalars(select(Shop).where(Shop.shop_key == shop_key, Shop.platform == PLATFORM)).first()


def shop_by_plugin_key(store_key: str | None) -> Shop | None:
    """The shop of a key typed into the WordPress plugin's settings.

    Keys are lowercase hex now and the plugin keeps them as typed; an older plugin build
    lowercased them (``sanitize_key()``) and older keys are mixed case. So an exact match
    first, then a case-insensitive one that must be unambiguous.
    """
    if not store_key or len(store_key) > 64:
        return None
    shop = shop_by_key(store_key)
    if shop is not None:
        return shop
    found = db.session.scalars(
        select(Shop).where(func.lower(Shop.shop_key) == store_key.lower(), Shop.platform == PLATFORM).limit(2)
    ).all()
    return found[0] if len(found) == 1 else None


def webhook_secret(shop: Shop) -> str:
    secret = shop.credentials.get("webhook_secret")
    if not secret:
        # nothing can be genuine before the store's set-up made a secret
        raise SignatureInvalidError("the store has no webhook secret yet")
    return secret


def delivery_url(shop: Shop) -> str:
    """Where the store's webhooks deliver."""
    return f"{settings().app_url}/webhooks/woocommerce/{shop.shop_key}"


def egress_policy() -> EgressPolicy:
    """Where store calls may go: public addresses, and loopback when ALLOW_LOOPBACK_STORES."""
    return EgressPolicy(allow_loopback=settings().allow_loopback_stores)


def client_for(shop: Shop) -> WooCommerceClient:
    """The store's REST client (every connection through the SSRF guard)."""
    credentials = shop.credentials
    return WooCommerceClient(shop.domain, credentials.get("consumer_key", ""), credentials.get("consumer_secret", ""),
                             egress=egress_policy())


# -- receiving --------------------------------------------------------------------------------

def delivery_dedupe_key(shop: Shop, delivery_id: str | None, raw_body: bytes) -> str:
    """``{shop_key}:{delivery id}``; a digest of the body when the id is absent or odd.

    WooCommerce never retries a delivery, so an id comes at most once; the same order
    version delivered again (or polled) gets a new key here and is recognised as stale
    by ``connector.ordering`` when processed.
    """
    if delivery_id and _DELIVERY_ID.fullmatch(delivery_id):
        return f"{shop.shop_key}:{delivery_id}"
    return f"{shop.shop_key}:sha256:{hashlib.sha256(raw_body).hexdigest()}"


def record_delivery(shop: Shop, topic: str, raw_body: bytes, delivery_id: str | None) -> ReceiptResult:
    return record_and_enqueue(platform=PLATFORM, dedupe_key=delivery_dedupe_key(shop, delivery_id, raw_body),
                              topic=topic, body=raw_body, shop_id=shop.id)


def check_cart_report(shop: Shop, payload: Any) -> None:
    """Raise ``PayloadError`` for a report the worker could never turn into an event."""
    wc_webhooks.parse_cart_report(payload, ParseContext(shop))


def record_cart_report(shop: Shop, raw_body: bytes) -> ReceiptResult:
    if not (shop.sync_state or {}).get("plugin_seen_at"):
        # the plugin is installed: its multi-item cart link (?wcc-cart=) can be used
        _update_state(shop, plugin_seen_at=utcnow().isoformat())
        db.session.commit()
    # the plugin sends no id; the same report sent twice is the same report
    return record_and_enqueue(platform=PLATFORM, dedupe_key=f"{shop.shop_key}:cart:{hashlib.sha256(raw_body).hexdigest()}",
                              topic=CART_TOPIC, body=raw_body, shop_id=shop.id)


# -- receipts → events ------------------------------------------------------------------------

ParseContext = ShopContext  # WooCommerce's parser needs nothing beyond the shop


def receipt_events(receipt: WebhookReceipt, shop: Shop) -> list:
    """Parse a stored delivery, catch-up item or cart report into neutral events.

    A variable product's body lists only its variations' ids, and its own stock is a
    summary: its variations are fetched from the store and each gives a StockChanged.
    """
    payload = wc_webhooks.load_json(receipt.body)
    context = ParseContext(shop)
    if receipt.topic == CART_TOPIC:
        return [wc_webhooks.parse_cart_report(payload, context)]
    events = wc_webhooks.parse(receipt.topic, payload, context)
    if not (shop.sync_state or {}).get("shipment_statuses_seen_at") and any(
            isinstance(event, FulfillmentUpdated) and event.status != FulfillmentStatus.SHIPPED for event in events):
        # a tracking plugin reports carrier statuses here: out for delivery and delivered can go out
        _update_state(shop, shipment_statuses_seen_at=utcnow().isoformat())
        db.session.commit()
    if receipt.topic == "product.updated" and wc_webhooks.variation_ids(payload):
        events.extend(_variation_events(shop, str(payload["id"]), context))
    return events


def _variation_events(shop: Shop, product_id: str, context: ParseContext) -> list:
    with client_for(shop) as client:
        variations = list(client.product_variations(product_id))
    events = (wc_webhooks.parse_variation(variation, product_id, context) for variation in variations)
    return [event for event in events if event is not None]


# -- catch-up ---------------------------------------------------------------------------------

def schedule_catchups() -> int:
    """Queue the catch-up of every WooCommerce store that is due; returns how many.

    Called by the sweep (every 30 s). Each store is due once per
    ``CATCHUP_INTERVAL_SECONDS`` slot, its slots offset by its id so that stores do not all
    hit the queue at once; a Redis flag per slot keeps the sweep from re-enqueueing.
    """
    rows = db.session.execute(
        select(Shop.id, Shop.sync_state).where(Shop.platform == PLATFORM, Shop.is_active.is_(True)).order_by(Shop.id)
    ).all()
    db.session.commit()
    moment = utcnow()
    # a store in trouble waits for its next try (back-off), whatever its slot says
    shop_ids = [shop_id for shop_id, state in rows if not _waits(state or {}, moment)]
    if not shop_ids:
        return 0
    now = int(time.time())
    slots = {shop_id: (now + _slot_offset(shop_id)) // CATCHUP_INTERVAL_SECONDS for shop_id in shop_ids}
    pipe = get_redis().pipeline(transaction=False)
    for shop_id, slot in slots.items():
        pipe.set(_SLOT_KEY.format(shop_id, slot), 1, nx=True, ex=CATCHUP_INTERVAL_SECONDS * 2)
    queued = 0
    for (shop_id, slot), is_due in zip(slots.items(), pipe.execute()):
        if is_due and enqueue(CATCHUP_JOB, shop_id, queue=MAINTENANCE,
                              timeout=CATCHUP_JOB_TIMEOUT_SECONDS, job_id=f"woocommerce-catchup-{shop_id}-{slot}",
                              unique=True) is not None:
            queued += 1
    return queued


def _waits(state: Mapping[str, Any], now: datetime) -> bool:
    next_try = _moment(state.get("next_try_at"))
    return next_try is not None and next_try > now


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=utcnow().tzinfo)


def _slot_offset(shop_id: int) -> int:
    return zlib.crc32(str(shop_id).encode()) % CATCHUP_INTERVAL_SECONDS


def catch_up(shop_id: int) -> dict:
    """Check the keys (first run), repair our webhooks, feed what changed since the cursor.

    One run per store at a time (a Redis lock; a second run finds it taken and leaves).
    A store that does not answer (no connection, timeout, DNS failure, 429, 5xx), whose
    address the SSRF guard refuses, or that rejects the keys is a state of the shop, not a
    failed job: :func:`_record_trouble` keeps it in ``sync_state`` with the next try, and the
    run ends. Anything else (a bug) raises and fails the job.
    """
    lock = get_redis().lock(_LOCK_KEY.format(shop_id), timeout=CATCHUP_JOB_TIMEOUT_SECONDS + 60)
    if not lock.acquire(blocking=False):
        return {"outcome": "busy"}
    try:
        return _catch_up(shop_id)
    finally:
        try:
            lock.release()
        except LockError:  # expired while we worked: another run may hold it now
            pass


def _catch_up(shop_id: int) -> dict:
    shop = db.session.get(Shop, shop_id)
    if shop is None or shop.platform != PLATFORM or not shop.is_active:
        return {"outcome": "skipped"}
    credentials = shop.credentials
    if not (credentials.get("consumer_key") and credentials.get("consumer_secret")):
        return {"outcome": "no_keys"}
    if not credentials.get("webhook_secret"):  # a store added by hand (`connector shops add woocommerce`)
        shop.credentials = {**credentials, "webhook_secret": new_webhook_secret()}
        db.session.commit()
    report: dict[str, Any] = {"outcome": "done"}
    with client_for(shop) as client:
        try:
            if not (shop.sync_state or {}).get("verified_at"):
                environment = client.system_status().get("environment") or {}
                _update_state(shop, verified_at=utcnow().isoformat(), woocommerce_version=environment.get("version"))
                db.session.commit()
                log.info("woocommerce.keys_verified", extra={"shop_id": shop.id})
            report["profile"] = refresh_profile(shop, client)
            report["webhooks"] = repair_webhooks(shop, client)
            for name, topic, word in POLLED:
                report[name] = _poll(shop, client, name, topic, word)
        except WooCommerceAuthError as error:
            _record_trouble(shop, f"auth: {error}", verified_at=None)
            log.warning("woocommerce.keys_refused", extra={"shop_id": shop.id, "status": error.status})
            return {"outcome": "auth_failed"}
        except WooCommerceAddressRefusedError as error:
            _record_trouble(shop, f"refused: {error}")
            log.warning("woocommerce.store_refused", extra={"shop_id": shop.id})
            return {"outcome": "refused"}
        except WooCommerceApiError as error:
            if not error.is_retryable:  # a 4xx we caused: a bug, not the store's state
                raise
            count = _record_trouble(shop, f"unreachable: {error}")
            log.warning("woocommerce.store_unreachable", extra={"shop_id": shop.id, "status": error.status,
                                                               "failure_count": count})
            return {"outcome": "unreachable"}
    shop.sync_state = {name: value for name, value in (shop.sync_state or {}).items() if name not in STORE_PROBLEM_FIELDS}
    _update_state(shop, last_catchup_at=utcnow().isoformat())
    db.session.commit()
    return report


def refresh_profile(shop: Shop, client: WooCommerceClient | None = None) -> bool:
    """Name, time zone, locale, country and currency of the store (``integrations/woocommerce/
    profile.py`` says where each comes from); what the store does not say is kept as it was.

    Called when a store is connected and on every catch-up. The site index is public and
    best effort (a site may turn it off); ``system_status`` and ``settings/general`` use the
    keys, and their trouble is the caller's (the catch-up records it as the store's state).
    """
    if client is None:
        with client_for(shop) as own:
            return refresh_profile(shop, own)
    status = client.system_status()
    try:
        general = client.general_settings()
    except WooCommerceApiError as error:
        if isinstance(error, WooCommerceAuthError | WooCommerceAddressRefusedError) or error.is_retryable:
            raise  # the store's state: the caller records it
        log.warning("woocommerce.settings_unavailable", extra={"shop_id": shop.id, "status": error.status})
        general = []  # e.g. a security plugin hiding the route: country and currency stay as they are
    try:
        index = client.site_index()
    except WooCommerceApiError as error:
        log.info("woocommerce.site_index_unavailable", extra={"shop_id": shop.id, "status": error.status})
        index = {}
    profile = store_profile(status, general, index)
    shop.name = profile["name"] or shop.name
    shop.time_zone = profile["time_zone"] or shop.time_zone or "UTC"
    shop.locale = profile["locale"] or shop.locale
    shop.country = profile["country"] or shop.country
    shop.currency = profile["currency"] or shop.currency
    version = _dict_get(status, "environment", "version")
    _update_state(shop, profile_read_at=utcnow().isoformat(),
                  **({"woocommerce_version": version} if isinstance(version, str) and version else {}))
    db.session.commit()
    return True


def _dict_get(body: Any, *path: str) -> Any:
    for name in path:
        body = body.get(name) if isinstance(body, dict) else None
    return body


def _record_trouble(shop: Shop, error: str, **changes: Any) -> int:
    """Keep the store's trouble on the shop: the error, since when, how often, the next try
    (``RETRY_FIRST_SECONDS`` doubling per failure, at most ``RETRY_CAP_SECONDS``); commit."""
    state = shop.sync_state or {}
    now = utcnow()
    count = int(state.get("failure_count") or 0) + 1
    wait = min(RETRY_CAP_SECONDS, RETRY_FIRST_SECONDS * 2 ** min(count - 1, 16))
    _update_state(shop, last_error=error[:300], failing_since=state.get("failing_since") or now.isoformat(),
                  failure_count=count, next_try_at=(now + timedelta(seconds=wait)).isoformat(), **changes)
    db.session.commit()
    return count


def store_problem(shop: Shop) -> dict | None:
    """The store's recorded trouble (``STORE_PROBLEM_FIELDS``), or ``None`` when it is fine."""
    state = shop.sync_state or {}
    if not state.get("last_error"):
        return None
    return {name: state.get(name) for name in STORE_PROBLEM_FIELDS}


def repair_webhooks(shop: Shop, client: WooCommerceClient) -> dict:
    """Make sure each topic has one active webhook of ours (``catchup.webhooks_to_repair``).

    A reactivated webhook gets our current secret again: a webhook WooCommerce disabled
    because we refused its signatures would otherwise fail the same way.
    """
    url, secret = delivery_url(shop), webhook_secret(shop)
    existing = client.list_webhooks()
    to_reactivate, to_create = catchup.webhooks_to_repair(existing, wc_webhooks.TOPICS, url)
    active: dict[str, Any] = {
        hook["topic"]: hook.get("id") for hook in existing
        if hook.get("status") == "active" and str(hook.get("delivery_url", "")).rstrip("/") == url
    }
    for hook_id in to_reactivate:
        hook = client.update_webhook(hook_id, "active", secret=secret)
        active[hook.get("topic")] = hook.get("id")
    for topic in to_create:
        hook = client.create_webhook(topic, url, secret, name=f"{APP_NAME}: {topic}")
        active[topic] = hook.get("id")
    _update_state(shop, webhooks={topic: active[topic] for topic in wc_webhooks.TOPICS if topic in active})
    db.session.commit()
    if to_reactivate or to_create:
        log.warning("woocommerce.webhooks_repaired", extra={"shop_id": shop.id, "reactivated_count": len(to_reactivate),
                                                           "created_count": len(to_create)})
    return {"reactivated": len(to_reactivate), "created": len(to_create)}


def _poll(shop: Shop, client: WooCommerceClient, name: str, topic: str, word: str) -> int:
    """Feed every item modified since the cursor as a receipt; returns how many were new.

    The cursor moves only after the receipts it covers are committed (record_and_enqueue
    commits each), so a run that dies part-way repeats items, never skips them; repeats
    are stopped by the receipt key, then by ``connector.ordering``.
    """
    saved = ((shop.sync_state or {}).get("cursors") or {}).get(name)
    if saved is None:
        _save_cursor(shop, name, catchup.Cursor.start(utcnow().replace(microsecond=0)))
        return 0
    cursor = catchup.Cursor.from_json(saved)
    listing: Iterator[dict] = (client.orders_modified_since if name == "orders" else client.products_modified_since)(
        catchup.query_after(cursor))
    fed, batch = 0, []
    for item in listing:
        batch.append(item)
        if catchup.is_new(item, cursor):
            body = encode_item(item)
            modified = item.get("date_modified_gmt")
            key = (f"{shop.shop_key}:poll:{word}:{item.get('id')}:{modified}" if isinstance(modified, str)
                   else f"{shop.shop_key}:poll:{word}:sha256:{hashlib.sha256(body).hexdigest()}")
            result = record_and_enqueue(platform=PLATFORM, dedupe_key=key, topic=topic, body=body,
                                        shop_id=shop.id)
            fed += 0 if result.is_duplicate else 1
        if len(batch) >= CURSOR_CHECKPOINT:
            cursor = catchup.next_cursor(batch, cursor) or cursor
            _save_cursor(shop, name, cursor)
            batch = []
    cursor = catchup.next_cursor(batch, cursor) or cursor
    _save_cursor(shop, name, cursor)
    if fed:
        log.info("woocommerce.caught_up", extra={"shop_id": shop.id, "resource": name, "fed": fed})
    return fed


def encode_item(item: Mapping[str, Any]) -> bytes:
    """A listed REST item as a receipt body (the client reads fractions as Decimal)."""
    return json.dumps(item, default=_json_default, separators=(",", ":")).encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # the parser reads money and quantities from strings too
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _save_cursor(shop: Shop, name: str, cursor: catchup.Cursor) -> None:
    cursors = dict((shop.sync_state or {}).get("cursors") or {})
    cursors[name] = cursor.to_json()
    _update_state(shop, cursors=cursors)
    db.session.commit()


def _update_state(shop: Shop, **changes: Any) -> None:
    # a new dict: the JSON column tracks assignment, not mutation
    shop.sync_state = {**(shop.sync_state or {}), **changes}


#: what the admin says about a store that never reported a status after "shipped"
NO_SHIPMENT_STATUSES = ("This store has not reported any shipment status after \"shipped\": WooCommerce itself "
                        "records none. Out-for-delivery and delivered messages, and the review request after "
                        "delivery, need a tracking plugin that stores carrier statuses on the order (Advanced "
                        "Shipment Tracking Pro / TrackShip) or AST's \"Delivered\" order status.")


def shipment_statuses(shop: Shop) -> dict:
    """Whether the store reports carrier statuses (out for delivery, delivered) or only "shipped"."""
    seen = (shop.sync_state or {}).get("shipment_statuses_seen_at")
    if seen:
        return {"reported": True, "since": seen, "note": None}
    return {"reported": False, "since": None, "note": NO_SHIPMENT_STATUSES}


def link_capabilities(shop: Shop) -> tuple[bool, bool]:
    """(shareable checkout links, the plugin's multi-item link) for this store's cart links.

    Checkout links (``/checkout-link/``) arrived with WooCommerce 10.0; the version is read by
    the set-up job. The plugin's endpoint is used once the plugin has reported a cart. The
    shop settings ``woocommerce.checkout_link`` / ``woocommerce.plugin_endpoint`` override both.
    """
    state = shop.sync_state or {}
    overrides = (shop.settings or {}).get("woocommerce") or {}
    version = str(state.get("woocommerce_version") or "")
    try:
        major = int(version.split(".")[0])
    except ValueError:
        major = 0
    checkout_link = overrides.get("checkout_link", major >= 10)
    plugin = overrides.get("plugin_endpoint", bool(state.get("plugin_seen_at")))
    return bool(checkout_link), bool(plugin)


def enqueue_setup(shop_id: int, *, key_id: str) -> None:
    """Set the store up right after its keys arrived (one job per key grant).

    On ``ingest``, not ``maintenance``: the merchant has just clicked Approve and waits for
    the connection to work, and maintenance runs only when the other queues are empty.
    """
    enqueue(CATCHUP_JOB, shop_id, queue=INGEST, timeout=CATCHUP_JOB_TIMEOUT_SECONDS,
            job_id=f"woocommerce-setup-{shop_id}-{hashlib.sha256(key_id.encode()).hexdigest()[:16]}", unique=True)
