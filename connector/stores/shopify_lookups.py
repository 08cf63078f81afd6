"""Shopify inventory look-ups, off the receipt's path (ADR 0012), behind a per-shop breaker.

A receipt whose inventory item is not cached ends as ``lookup_pending``
(``connector.stores.shopify.variant_for_inventory_item``); ``resolve_lookups`` (run by the job
in ``connector/jobs/inventory.py``) asks Shopify for the items and re-applies those receipts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select

from connector.extensions import db, get_redis
from connector.models import Shop, Variant, WebhookReceipt, utcnow
from connector.stores.shopify import LOOKUP_PENDING, PLATFORM, ShopNotConnectedError, graphql, remember_variants
from integrations.base import PayloadError
from integrations.shopify import client as shopify_client
from integrations.shopify import operations as shopify_operations
from integrations.shopify import webhooks as shopify_webhooks
from integrations.shopify.errors import ShopifyApiError, ShopifyAuthError, ShopifyError

log = logging.getLogger(__name__)

#: Shopify answered that the item has no variant (deleted, or not ours)
LOOKUP_UNKNOWN = "variant_unknown"
#: the shop cannot be asked (no token, grant revoked): nothing to wait for
LOOKUP_IMPOSSIBLE = "lookup_impossible"
#: pending receipts older than this are no longer retried (their bodies are purged later anyway)
LOOKUP_MAX_AGE = timedelta(days=1)
LOOKUP_BATCH = 200
LOOKUP_TIME_BUDGET_SECONDS = 20.0
#: a look-up that fails is tried again after this long (unless the breaker says longer)
LOOKUP_RETRY_SECONDS = 5.0


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


def resolve_lookups(shop: Shop, reapply: Callable[[WebhookReceipt], str]) -> LookupReport:
    """Look up the inventory items the shop's pending receipts wait for, and re-apply them.

    One GraphQL call per unknown item, with short timeouts and no in-call retries, behind
    the shop's breaker. A failure stops the run (the next item would most likely fail the
    same way) and asks for a retry; an item Shopify does not know ends its receipts as
    ``variant_unknown``. ``reapply`` runs a waiting receipt through the store pipeline again
    (the router's ``process_store_receipt``: it sits above this layer, so the job hands it in).
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
                    found = shopify_operations.variant_for_inventory_item(client, item_id)
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
                report.reapplied += _reapply(receipt, reapply)
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


def _reapply(receipt: WebhookReceipt, reapply: Callable[[WebhookReceipt], str]) -> int:
    """Run a pending receipt through the store pipeline again, now that its item is cached."""
    outcome = reapply(receipt)
    receipt.outcome = outcome[:32]
    db.session.commit()
    return int(outcome != LOOKUP_PENDING)


def _finish(receipts: list[WebhookReceipt], outcome: str) -> None:
    for receipt in receipts:
        receipt.outcome = outcome
    db.session.commit()
