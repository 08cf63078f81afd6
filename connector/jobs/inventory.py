"""Shopify inventory look-ups, in a job of their own (ADR 0012).

``inventory_levels/update`` names an inventory item, not a variant. When the item is not in
our cache, the receipt does not call Shopify: it ends as ``lookup_pending`` and, once its
transaction commits, this module's hook (``install_lookup_hooks``) kicks ``resolve_inventory_lookups`` for the shop
(one queued job per shop is enough for any number of items). The job asks Shopify with
short timeouts behind the shop's circuit breaker and re-applies the waiting receipts; when
Shopify does not answer it schedules itself for later. The sweep kicks shops whose job was
lost (``kick_pending_lookups``). The job runs on ``ingest``, never on a sending worker: a
look-up that waits for its timeout holds up receipts a little, never a send.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from connector.extensions import db, get_redis
from connector.models import Shop, utcnow
from connector.queues import INGEST, enqueue
from connector.routing import process_store_receipt
from connector.stores import shopify as shopify_store
from connector.stores import shopify_lookups
from connector.stores.context import WAITING_OUTCOMES

log = logging.getLogger(__name__)

KICK_TTL_SECONDS = 60
LOCK_SECONDS = 90
JOB_TIMEOUT_SECONDS = 120


def _kick_key(shop_id: int) -> str:
    return f"connector:shopify:lookups:kick:{shop_id}"


def kick_inventory_lookups(shop_id: int, *, in_seconds: float = 0) -> None:
    """Make sure a look-up job is coming for the shop, now or in ``in_seconds``."""
    if in_seconds > 0:
        second = math.ceil((utcnow() + timedelta(seconds=in_seconds)).timestamp())
        enqueue(resolve_inventory_lookups, shop_id, queue=INGEST, timeout=JOB_TIMEOUT_SECONDS,
                job_id=f"inventory-lookups-{shop_id}-at-{second}", at=datetime.fromtimestamp(second, utcnow().tzinfo),
                unique=True)
        return
    if get_redis().set(_kick_key(shop_id), 1, nx=True, ex=KICK_TTL_SECONDS):
        enqueue(resolve_inventory_lookups, shop_id, queue=INGEST, timeout=JOB_TIMEOUT_SECONDS)


def resolve_inventory_lookups(shop_id: int) -> dict:
    """Job: resolve the shop's pending inventory items and re-apply the receipts waiting for them."""
    redis = get_redis()
    shop = db.session.get(Shop, shop_id)
    if shop is None or not shop.is_active:
        return {"skipped": "no_shop"}
    lock = redis.lock(f"connector:shopify:lookups:lock:{shop_id}", timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        kick_inventory_lookups(shop_id, in_seconds=2)  # another worker is on it; look again after it
        return {"skipped": "busy"}
    try:
        waiting = shopify_lookups.ShopBreaker(redis, shop_id).open_for()
        if waiting:
            # kicks from new receipts would only find the breaker open: hold them until it closes
            redis.set(_kick_key(shop_id), 1, px=max(1, int(waiting * 1000)))
            kick_inventory_lookups(shop_id, in_seconds=waiting)
            return {"breaker_open_s": round(waiting, 1)}
        redis.delete(_kick_key(shop_id))  # receipts deferred from now on kick the next run
        report = shopify_lookups.resolve_lookups(shop, process_store_receipt)
    finally:
        try:
            lock.release()
        except RedisError:
            pass
    if report.retry_in_seconds:
        redis.set(_kick_key(shop_id), 1, px=max(1, int(report.retry_in_seconds * 1000)))
        kick_inventory_lookups(shop_id, in_seconds=report.retry_in_seconds)
    elif report.more:
        kick_inventory_lookups(shop_id)
    return vars(report)


#: the sweep looks for lost look-up jobs at most this often (the query reads a day of receipts);
#: the flag goes with Redis, so a Redis that comes back empty gets the search at its first sweep
PENDING_SEARCH_SECONDS = 300


def kick_pending_lookups(now: datetime) -> int | None:
    """For the sweep: kick every shop that still has receipts waiting for a look-up (None: not searched)."""
    if not get_redis().set("connector:shopify:lookups:searched", 1, nx=True, ex=PENDING_SEARCH_SECONDS):
        return None
    shops = shopify_lookups.pending_lookup_shops(now)
    db.session.commit()
    for shop_id in shops:
        kick_inventory_lookups(shop_id)
    return len(shops)


def install_lookup_hooks() -> None:
    """Listen to every session's commits and rollbacks (``create_app`` calls this; twice is a no-op)."""
    for name, hook in (("after_commit", _kick_after_commit), ("after_rollback", _forget_after_rollback)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


def _kick_after_commit(session: Session) -> None:
    shops = session.info.pop(shopify_store.DEFERRED_LOOKUPS, None)
    session.info.pop(WAITING_OUTCOMES, None)
    if not shops:
        return
    try:
        for shop_id in shops:
            kick_inventory_lookups(shop_id)
    except RedisError:  # the receipts are committed as pending: the sweep kicks them later
        log.warning("shopify.lookup_kick_failed", exc_info=True)


def _forget_after_rollback(session: Session) -> None:
    session.info.pop(shopify_store.DEFERRED_LOOKUPS, None)
    session.info.pop(WAITING_OUTCOMES, None)
