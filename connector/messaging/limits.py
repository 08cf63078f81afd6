"""The shop's messaging limit, as Meta says it is.

Meta caps the unique users a business reaches outside a customer-service window in a moving
24 hours. Since October 2025 the cap belongs to the business portfolio and every number in
it shares it; the phone number node reports it as ``whatsapp_business_manager_messaging_limit``
(``messaging_limit_tier`` is deprecated and read only as a fallback), and changes arrive as
``business_capability_update`` and ``phone_number_quality_update`` webhooks.
https://developers.facebook.com/docs/whatsapp/messaging-limits

``WhatsAppAccount.messaging_limit`` stays the one number the governor reads. It is Meta's
limit, capped by the operator's own ceiling when ``connector whatsapp set --messaging-limit N``
gave one (0 removes it): a merchant may choose to reach fewer people than Meta allows, never
more (docs/adr/0015-messaging-limit-from-meta.md). What Meta said, when, and the ceiling are
kept in ``Shop.sync_state["whatsapp_limit"]``.

Meta is read when the number is set, once a day (``schedule_limit_refreshes``, called by the
sweep) and whenever one of the two webhooks arrives. A limit that rises releases the messages
the governor had deferred with reason ``messaging_limit``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from connector.extensions import db, settings
from connector.models import Message, MessageStatus, Shop, WhatsAppAccount, utcnow
from connector.queues import MAINTENANCE, enqueue
from connector.wakeups import kick_dispatcher
from integrations.whatsapp.client import WhatsAppClient
from integrations.whatsapp.errors import WhatsAppApiError, WhatsAppTransportError
from integrations.whatsapp.types import parse_messaging_limit

log = logging.getLogger(__name__)

STATE_KEY = "whatsapp_limit"
#: portfolio limit first; the deprecated per-number tier only when Meta no longer sends the first
PHONE_FIELDS = ("whatsapp_business_manager_messaging_limit", "messaging_limit_tier", "quality_rating")
REFRESH_EVERY = timedelta(hours=24)
#: the governor's reason for messages held back by the tier limit
TIER_REASON = "messaging_limit"


def limit_state(shop: Shop) -> dict:
    """What is known about the shop's limit: ``meta`` (None = unlimited), ``meta_known``,
    ``source``, ``learnt_at``, ``checked_at``, ``override``, ``last_error``."""
    return dict((shop.sync_state or {}).get(STATE_KEY) or {})


def set_override(shop: Shop, account: WhatsAppAccount, ceiling: int | None) -> None:
    """The operator's own ceiling (None removes it); the effective limit follows at once."""
    state = limit_state(shop)
    state["override"] = ceiling
    _apply(shop, account, state)


def record_limit(shop: Shop, account: WhatsAppAccount, limit: int | None, *, source: str,
                 at: datetime | None = None) -> bool:
    """Store a limit Meta reported (None = unlimited); True when the effective limit rose.

    A report older than the one already stored (a late webhook after a newer read) is ignored.
    """
    now = utcnow()
    at = at or now
    state = limit_state(shop)
    learnt = state.get("learnt_at")
    if learnt and datetime.fromisoformat(learnt) > at:
        log.info("limits.stale_report_ignored", extra={"shop_id": shop.id, "source": source})
        return False
    before = account.messaging_limit
    state.update(meta=limit, meta_known=True, source=source, learnt_at=at.isoformat(), checked_at=now.isoformat(),
                 last_error=None)
    _apply(shop, account, state)
    log.info("limits.learnt", extra={"shop_id": shop.id, "source": source, "limit": limit,
                                     "effective": account.messaging_limit})
    return _rose(before, account.messaging_limit)


def refresh_from_meta(shop: Shop, account: WhatsAppAccount) -> str | None:
    """Read the number's limit from Graph and store it; commits. Returns None, or why it failed."""
    config = settings()
    try:
        with WhatsAppClient(access_token=account.access_token, phone_number_id=account.phone_number_id,
                            base_url=config.whatsapp_api_base_url) as client:
            node = client.phone_number(PHONE_FIELDS)
    except (WhatsAppApiError, WhatsAppTransportError) as error:
        return _failed(shop, f"{type(error).__name__}: {getattr(error, 'title', '') or error}"[:255])
    for field in PHONE_FIELDS[:2]:
        limit = parse_messaging_limit(node.get(field))
        if limit is not None:
            rose = record_limit(shop, account, limit.recipients, source=f"graph:{field}")
            db.session.commit()
            if rose:
                release_deferred(shop.id)
            return None
    return _failed(shop, "Meta reported no messaging limit for the number")


def on_messaging_limit_changed(shop_id: int, event) -> None:
    """Handler of ``MessagingLimitChanged`` (one call per shop of the event's WABA)."""
    shop = db.session.get(Shop, shop_id)
    account = db.session.scalars(select(WhatsAppAccount).where(WhatsAppAccount.shop_id == shop_id)).first()
    if shop is None or account is None:
        return
    if not event.known:  # a throughput change only: worth knowing, no limit in it
        state = limit_state(shop)
        state["throughput_event"] = event.throughput_event
        shop.sync_state = {**(shop.sync_state or {}), STATE_KEY: state}
        log.info("limits.throughput_event", extra={"shop_id": shop_id, "event": event.throughput_event})
        return
    rose = record_limit(shop, account, event.limit, source=f"webhook:{event.source}", at=event.occurred_at)
    db.session.commit()  # the dispatcher it wakes must read the new limit
    if rose:
        release_deferred(shop_id)


def release_deferred(shop_id: int) -> None:
    """Messages the tier limit held back are due now; wake the dispatcher (after the commit)."""
    now = utcnow()
    db.session.execute(update(Message).where(
        Message.shop_id == shop_id, Message.status == MessageStatus.QUEUED,
        Message.status_reason == TIER_REASON, Message.due_at > now).values(due_at=now, updated_at=now))
    db.session.commit()
    kick_dispatcher(shop_id)


def refresh_messaging_limit(shop_id: int) -> dict:
    """Job: read one shop's limit from Meta (idempotent; a failure waits for the next day)."""
    shop = db.session.get(Shop, shop_id)
    account = db.session.scalars(select(WhatsAppAccount).where(WhatsAppAccount.shop_id == shop_id)).first()
    if shop is None or account is None or not shop.is_active:
        return {"shop_id": shop_id, "skipped": True}
    error = refresh_from_meta(shop, account)
    return {"shop_id": shop_id, "limit": account.messaging_limit, "error": error}


def schedule_limit_refreshes(now: datetime | None = None) -> int:
    """Enqueue ``refresh_messaging_limit`` for every account not checked in the last 24 h.

    Meant for the periodic sweep; the job id is per shop and day, so calling it every sweep
    enqueues each shop at most once a day. Returns how many were enqueued.
    """
    now = now or utcnow()
    rows = db.session.execute(select(Shop.id, Shop.sync_state).join(WhatsAppAccount, WhatsAppAccount.shop_id == Shop.id)
                              .where(Shop.is_active.is_(True))).all()
    enqueued = 0
    for shop_id, sync_state in rows:
        checked = ((sync_state or {}).get(STATE_KEY) or {}).get("checked_at")
        if checked and now - datetime.fromisoformat(checked) < REFRESH_EVERY:
            continue
        job = enqueue(refresh_messaging_limit, shop_id, queue=MAINTENANCE, timeout=60,
                      job_id=f"limits-{shop_id}-{now:%Y%m%d}", unique=True)
        enqueued += job is not None
    return enqueued


def _apply(shop: Shop, account: WhatsAppAccount, state: dict) -> None:
    ceiling = state.get("override")
    if state.get("meta_known"):
        meta = state.get("meta")
        account.messaging_limit = ceiling if meta is None else (meta if ceiling is None else min(meta, ceiling))
    elif ceiling is not None:
        account.messaging_limit = ceiling
    shop.sync_state = {**(shop.sync_state or {}), STATE_KEY: state}


def _failed(shop: Shop, why: str) -> str:
    state = limit_state(shop)
    state.update(last_error=why, checked_at=utcnow().isoformat())
    shop.sync_state = {**(shop.sync_state or {}), STATE_KEY: state}
    db.session.commit()
    log.warning("limits.read_failed", extra={"shop_id": shop.id, "error": why})
    return why


def _rose(before: int | None, after: int | None) -> bool:
    if before is None:
        return False
    return after is None or after > before
