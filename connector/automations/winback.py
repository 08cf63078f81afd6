"""Win-back: a customer with granted marketing consent whose last order is ``days`` (90) old
gets one message, and no second one within ``days``.

A sweep step (``connector.jobs.sweep``, ``winbacks``) selects the contacts in SQL, per shop
with the automation on, at most ``BATCH`` per shop and run, and queues template ``winback``
(marketing) under ``winback:{contact id}:{period}``, ``period`` being the number of whole
``days`` since the epoch: two sweeps racing queue one message. The outbox and the governor do
the rest (consent checked again when it is sent, quiet hours, caps, tier). A run that found a
full batch anywhere lets the next sweep go on; otherwise the step rests ``IDLE_SECONDS``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select

from connector import shop_settings
from connector.automations import links
from connector.automations.common import queue_template
from connector.contacts import first_name
from connector.extensions import db, get_redis
from connector.models import Contact, Message, OrderRecord, Shop
from connector.models.contacts import CONSENT_GRANTED

log = logging.getLogger(__name__)

AUTOMATION = "winback"
TEMPLATE = "winback"
BATCH = 500
IDLE_SECONDS = 300
IDLE_KEY = "connector:winback:idle"


def period_of(now: datetime, days: int) -> int:
    return int(now.timestamp() // (days * 86400))


def due_contacts(shop_id: int, days: int, now: datetime, limit: int = BATCH) -> list[int]:
    """Contacts of the shop with granted marketing consent, an order, none in ``days``, and no
    win-back message in ``days``; at most ``limit``, by id."""
    cutoff = now - timedelta(days=days)
    lapsed = (select(OrderRecord.contact_id)
              .where(OrderRecord.shop_id == shop_id, OrderRecord.contact_id.is_not(None))
              .group_by(OrderRecord.contact_id)
              .having(func.max(OrderRecord.placed_at) < cutoff)
              .subquery())
    recent = exists().where(Message.shop_id == shop_id, Message.contact_id == Contact.id,
                            Message.automation == AUTOMATION, Message.created_at >= cutoff)
    return list(db.session.scalars(
        select(Contact.id).join(lapsed, lapsed.c.contact_id == Contact.id)
        .where(Contact.shop_id == shop_id, Contact.marketing_consent == CONSENT_GRANTED,
               Contact.redacted_at.is_(None), ~recent)
        .order_by(Contact.id).limit(limit)))


def queue_winbacks(shop: Shop, now: datetime) -> int:
    """One batch for one shop; how many messages were queued."""
    options = shop_settings.automation(shop, AUTOMATION)
    days = int(options["days"])
    ids = due_contacts(shop.id, days, now)
    period = period_of(now, days)
    target = links.safe_target(shop, options.get("url"))
    queued = 0
    for contact_id in ids:
        contact = db.session.get(Contact, contact_id)
        if contact is None:
            continue
        queue_template(shop=shop, contact=contact, automation=AUTOMATION, template=TEMPLATE,
                       key=f"winback:{contact_id}:{period}",
                       params={"customer_name": first_name(contact, "👋"), "shop_name": shop.name or shop.domain},
                       links=[target])
        queued += 1
    if ids:
        log.info("winback.queued", extra={"shop_id": shop.id, "count": queued})
    return queued


def send_winbacks(now: datetime) -> int:
    """The sweep step: a batch for every active shop with win-back on."""
    if get_redis().exists(IDLE_KEY):
        return 0
    total, full = 0, False
    shops = db.session.scalars(select(Shop).where(Shop.is_active.is_(True), Shop.sending_paused_at.is_(None))
                               .order_by(Shop.id)).all()
    for shop in shops:
        if not shop_settings.automation(shop, AUTOMATION)["enabled"]:
            continue
        count = queue_winbacks(shop, now)
        total += count
        full = full or count >= BATCH
    db.session.commit()
    if not full:
        get_redis().set(IDLE_KEY, 1, ex=IDLE_SECONDS)
    return total
