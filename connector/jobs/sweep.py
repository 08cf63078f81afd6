"""The sweep: the periodic safety net, as named steps run in order.

Each step brings back work that Redis or a dead worker lost, or does slow housekeeping:
in-doubt sends, lost dispatcher wake-ups, unprocessed receipts, lapsed opt-ins, privacy
retention, stalled restocks, store catch-up, lost inventory look-ups, messaging-limit reads,
and the lifecycle automations' due reminders (repurchase, unused coupons).
A step takes the sweep's clock and returns a figure for the report. The sweep reschedules
itself whatever happens (``connector.wakeups.schedule_sweep``), so a failing step cannot end
the chain.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import func, or_, select, update

from connector.automations import coupons, repurchase
from connector.automations.back_in_stock import resume_stalled_restocks
from connector.automations.winback import send_winbacks
from connector.campaigns import control as campaigns_control
from connector.extensions import db, get_redis, settings
from connector.jobs.ingest import RECEIPT_MAX_ATTEMPTS
from connector.jobs.inventory import kick_pending_lookups
from connector.messaging.limits import schedule_limit_refreshes
from connector.models import Message, MessageStatus, Shop, WebhookReceipt, WhatsAppAccount, utcnow
from connector.optin import expire_pending
from connector.privacy import purge_expired
from connector.stores.platforms import PLATFORMS
from connector.wakeups import SWEEP_LAST_SUCCESS_KEY, enqueue_drainer, kick_dispatcher, schedule_sweep

log = logging.getLogger(__name__)

#: privacy retention runs at most this often (its queries read whole tables)
PURGE_INTERVAL_SECONDS = 3600


def requeue_in_doubt(now: datetime) -> int:
    """Rows left "sending" by a dead worker: their sends may or may not have reached Meta.

    A status webhook echoing the row id settles those that did. So a row is put back only
    when its lease is over AND every WhatsApp webhook its shop has received has been
    processed (a pending one may be the proof that it went out).
    """
    pending_shops = select(WebhookReceipt.shop_id).where(
        WebhookReceipt.platform == "whatsapp",
        WebhookReceipt.processed_at.is_(None),
        WebhookReceipt.attempts < RECEIPT_MAX_ATTEMPTS,
        WebhookReceipt.shop_id.is_not(None),
    )
    requeued = db.session.execute(
        update(Message)
        .where(Message.status == MessageStatus.SENDING, Message.claimed_until < now, Message.wamid.is_(None),
               Message.shop_id.not_in(pending_shops))
        .values(status=MessageStatus.QUEUED, claimed_until=None, status_reason="in_doubt_requeued", updated_at=now)
        .returning(Message.id)
    ).scalars().all()
    db.session.commit()
    if requeued:
        log.warning("sweep.requeued_in_doubt", extra={"count": len(requeued)})
    return len(requeued)


def kick_due_shops(now: datetime) -> int:
    """Shops with due messages: make sure a dispatcher is coming."""
    shops = db.session.scalars(
        select(Message.shop_id).distinct()
        .join(Shop, Shop.id == Message.shop_id)
        .join(WhatsAppAccount, WhatsAppAccount.shop_id == Message.shop_id)
        .where(Message.status == MessageStatus.QUEUED, Message.due_at <= now, Shop.is_active.is_(True),
               Shop.sending_paused_at.is_(None))
    ).all()
    db.session.commit()
    for shop_id in shops:
        kick_dispatcher(shop_id)
    return len(shops)


def drain_waiting_receipts(now: datetime) -> int:
    """Receipts whose drainer was lost (Redis restarted, worker killed) or that wait for a retry."""
    waiting = db.session.scalar(
        select(func.count()).select_from(WebhookReceipt).where(
            WebhookReceipt.processed_at.is_(None),
            WebhookReceipt.received_at < now - timedelta(seconds=settings().receipt_retry_seconds),
            WebhookReceipt.attempts < RECEIPT_MAX_ATTEMPTS,
            or_(WebhookReceipt.claimed_until.is_(None), WebhookReceipt.claimed_until < now),
        )
    ) or 0
    db.session.commit()
    if waiting:
        enqueue_drainer()  # bypasses the kick flag: it may be left over from a drainer that never ran
    return waiting


def purge_hourly(now: datetime) -> dict[str, int] | None:
    """Privacy retention (message bodies, webhook bodies, exports, uninstalled shops), hourly."""
    if not get_redis().set("connector:privacy:purge", 1, nx=True, ex=PURGE_INTERVAL_SECONDS):
        return None
    return purge_expired(now)


def _catchups(now: datetime) -> int:
    """Platform catch-up, for the platforms that need one (WooCommerce never retries a failed webhook)."""
    return sum(platform.schedule_catchups() for platform in PLATFORMS.values() if platform.schedule_catchups)


#: (name in the report, step), in the order they run
STEPS: tuple[tuple[str, Callable[[datetime], Any]], ...] = (
    ("requeued_in_doubt", requeue_in_doubt),
    ("kicked_shops", kick_due_shops),
    ("receipts_waiting", drain_waiting_receipts),
    ("expired_optins", expire_pending),  # marketing opt-ins never confirmed lapse
    ("privacy_purged", purge_hourly),
    ("resumed_restocks", resume_stalled_restocks),  # back-in-stock batches whose job was lost
    ("catchups", _catchups),
    ("inventory_lookups", kick_pending_lookups),  # look-ups run off the receipt's path (ADR 0012)
    ("limit_reads", schedule_limit_refreshes),  # each number's messaging limit, read once a day
    ("campaigns", campaigns_control.tend),  # planners whose job was lost; campaigns that finished
    ("repurchase_reminders", repurchase.queue_due),  # lifecycle: due reminders, in batches per shop
    ("coupon_reminders", coupons.queue_due),
    ("winbacks", send_winbacks),  # lapsed customers with consent: one win-back per period
)


def sweep() -> dict:
    """Run every step in order; the report maps each step's name to its figure."""
    now = utcnow()
    try:
        report = {name: step(now) for name, step in STEPS}
        get_redis().set(SWEEP_LAST_SUCCESS_KEY, repr(time.time()))
        return report
    finally:
        schedule_sweep(delay_seconds=settings().sweep_interval_seconds)
