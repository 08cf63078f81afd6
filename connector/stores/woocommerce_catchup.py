"""The WooCommerce catch-up: each store visited every few minutes, its webhooks repaired and
what changed since the last visit fed into the receipt pipeline.

WooCommerce never retries a failed delivery and disables a webhook after about five
failures in a row. ``schedule_catchups`` (a sweep step) queues one ``catch_up`` per store and
slot; the job (``connector.jobs.catchup``) is named by its dotted path, since the job layer
sits above this one. The set-up after a wc-auth connection is the same job run at once
(``enqueue_setup``). A store that does not answer is not a failed job: the run records it on
the shop (``sync_state``: ``last_error``, ``failing_since``, ``next_try_at`` with back-off up
to an hour) and ends.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from redis.exceptions import LockError
from sqlalchemy import select

from connector.extensions import db, get_redis
from connector.models import Shop, utcnow
from connector.queues import INGEST, MAINTENANCE, enqueue
from connector.receipts import record_receipt
from connector.stores.woocommerce import (
    APP_NAME,
    PLATFORM,
    POLLED,
    STORE_PROBLEM_FIELDS,
    client_for,
    delivery_url,
    new_webhook_secret,
    refresh_profile,
    update_sync_state,
    webhook_secret,
)
from integrations.woocommerce import catchup
from integrations.woocommerce import webhooks as wc_webhooks
from integrations.woocommerce.client import (
    WooCommerceAddressRefusedError,
    WooCommerceApiError,
    WooCommerceAuthError,
    WooCommerceClient,
)

log = logging.getLogger(__name__)


#: each store is caught up once per slot of this length (WooCommerce never retries deliveries)
CATCHUP_INTERVAL_SECONDS = 300


CATCHUP_JOB_TIMEOUT_SECONDS = 600


#: the job that runs ``catch_up`` for one store, by dotted name (the job layer sits above this one)
CATCHUP_JOB = "connector.jobs.catchup.catch_up_woocommerce_store"


#: a store in trouble is tried again after this, doubling per failure, at most the cap
RETRY_FIRST_SECONDS = CATCHUP_INTERVAL_SECONDS


RETRY_CAP_SECONDS = 3600


#: the cursor is saved after every this many listed items, so a long catch-up keeps its progress
CURSOR_CHECKPOINT = 100


#: catch-up listings, as (cursor name, topic their items are parsed as, dedupe-key word)


_LOCK_KEY = "connector:woocommerce:catchup:lock:{}"


_SLOT_KEY = "connector:woocommerce:catchup:slot:{}:{}"


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
    for (shop_id, slot), is_due in zip(slots.items(), pipe.execute(), strict=True):
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
                update_sync_state(shop, verified_at=utcnow().isoformat(),
                                  woocommerce_version=environment.get("version"))
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
    shop.sync_state = {name: value for name, value in (shop.sync_state or {}).items()
                       if name not in STORE_PROBLEM_FIELDS}
    update_sync_state(shop, last_catchup_at=utcnow().isoformat())
    db.session.commit()
    return report


def _record_trouble(shop: Shop, error: str, **changes: Any) -> int:
    """Keep the store's trouble on the shop: the error, since when, how often, the next try
    (``RETRY_FIRST_SECONDS`` doubling per failure, at most ``RETRY_CAP_SECONDS``); commit."""
    state = shop.sync_state or {}
    now = utcnow()
    count = int(state.get("failure_count") or 0) + 1
    wait = min(RETRY_CAP_SECONDS, RETRY_FIRST_SECONDS * 2 ** min(count - 1, 16))
    update_sync_state(shop, last_error=error[:300], failing_since=state.get("failing_since") or now.isoformat(),
                  failure_count=count, next_try_at=(now + timedelta(seconds=wait)).isoformat(), **changes)
    db.session.commit()
    return count


def repair_webhooks(shop: Shop, client: WooCommerceClient) -> dict:
    """Make sure each topic has one active webhook of ours (``catchup.webhooks_to_repair``).

    A reactivated webhook gets our current secret again: a webhook WooCommerce disabled
    because we refused its signatures would otherwise fail the same way.
    """
    url, secret = delivery_url(shop), webhook_secret(shop)
    existing = client.list_webhooks()
    to_reactivate, to_create = catchup.webhooks_to_repair(existing, wc_webhooks.TOPICS, url)
    active: dict[str | None, Any] = {  # by topic, as WooCommerce answered it
        hook["topic"]: hook.get("id") for hook in existing
        if hook.get("status") == "active" and str(hook.get("delivery_url", "")).rstrip("/") == url
    }
    for hook_id in to_reactivate:
        hook = client.update_webhook(hook_id, "active", secret=secret)
        active[hook.get("topic")] = hook.get("id")
    for topic in to_create:
        hook = client.create_webhook(topic, url, secret, name=f"{APP_NAME}: {topic}")
        active[topic] = hook.get("id")
    update_sync_state(shop, webhooks={topic: active[topic] for topic in wc_webhooks.TOPICS if topic in active})
    db.session.commit()
    if to_reactivate or to_create:
        log.warning("woocommerce.webhooks_repaired", extra={"shop_id": shop.id, "reactivated_count": len(to_reactivate),
                                                           "created_count": len(to_create)})
    return {"reactivated": len(to_reactivate), "created": len(to_create)}


def _poll(shop: Shop, client: WooCommerceClient, name: str, topic: str, word: str) -> int:
    """Feed every item modified since the cursor as a receipt; returns how many were new.

    The cursor moves only after the receipts it covers are committed (record_receipt
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
            result = record_receipt(platform=PLATFORM, dedupe_key=key, topic=topic, body=body,
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
    update_sync_state(shop, cursors=cursors)
    db.session.commit()


def enqueue_setup(shop_id: int, *, key_id: str) -> None:
    """Set the store up right after its keys arrived (one job per key grant).

    On ``ingest``, not ``maintenance``: the merchant has just clicked Approve and waits for
    the connection to work, and maintenance runs only when the other queues are empty.
    """
    enqueue(CATCHUP_JOB, shop_id, queue=INGEST, timeout=CATCHUP_JOB_TIMEOUT_SECONDS,
            job_id=f"woocommerce-setup-{shop_id}-{hashlib.sha256(key_id.encode()).hexdigest()[:16]}", unique=True)
