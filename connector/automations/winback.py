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
import secrets
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, exists, func, select, update

from connector import shop_settings
from connector.automations import links
from connector.contacts import first_name
from connector.dbutil import insert_rows_ignoring
from connector.extensions import db, get_redis
from connector.messaging import catalogue
from connector.messaging.outbox import OutboxItem, queue_messages
from connector.models import Contact, Message, OrderRecord, Shop, ShortLink, utcnow
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
    """One batch for one shop, in a few statements and one commit; how many were new.

    What ``common.queue_template`` does per message, for the batch at once: the contact's
    language, a tracked short link per message (``winback:…:button:0``, one multi-row INSERT;
    a retried batch finds the links it made), the outbox rows (``queue_messages``) and the
    links attached to their rows (one UPDATE)."""
    options = shop_settings.automation(shop, AUTOMATION)
    days = int(options["days"])
    ids = due_contacts(shop.id, days, now)
    if not ids:
        return 0
    period = period_of(now, days)
    target = links.with_utm(links.safe_target(shop, options.get("url")), automation=AUTOMATION, template=TEMPLATE)
    contacts = db.session.scalars(select(Contact).where(Contact.shop_id == shop.id, Contact.id.in_(ids))
                                  .order_by(Contact.id)).all()
    keys = {contact.id: f"winback:{contact.id}:{period}" for contact in contacts}
    stamp = utcnow()
    insert_rows_ignoring(db.session, cast(Table, ShortLink.__table__), [
        {"shop_id": shop.id, "code": secrets.token_urlsafe(links.CODE_BYTES), "link_key": f"{key}:button:0",
         "target_url": target, "automation": AUTOMATION, "template_name": TEMPLATE, "contact_id": contact_id,
         "clicks": 0, "created_at": stamp, "updated_at": stamp} for contact_id, key in keys.items()],
        conflict=("shop_id", "link_key"), returning=("id",))
    codes: dict[str, str] = {link_key: code for link_key, code in db.session.execute(
        select(ShortLink.link_key, ShortLink.code).where(
            ShortLink.shop_id == shop.id, ShortLink.link_key.in_([f"{key}:button:0" for key in keys.values()])))}
    definition = catalogue.load_catalogue().get(TEMPLATE)
    items = []
    for contact in contacts:
        language = catalogue.choose_language(definition, contact.locale, shop.locale)
        content = catalogue.render_content(definition, language, {
            "customer_name": first_name(contact, "👋"), "shop_name": shop.name or shop.domain},
            button_suffixes=[codes[f"{keys[contact.id]}:button:0"]])
        items.append(OutboxItem(shop=shop, contact=contact, idempotency_key=keys[contact.id], automation=AUTOMATION,
                                purpose=definition.purpose, kind="template", content=content, template_name=TEMPLATE,
                                language=language))
    queued = queue_messages(items)  # commits
    db.session.execute(update(ShortLink).where(
        ShortLink.shop_id == shop.id, ShortLink.message_id.is_(None), Message.shop_id == shop.id,
        Message.idempotency_key.in_(list(keys.values())),
        ShortLink.link_key == Message.idempotency_key + ":button:0").values(message_id=Message.id)
        .execution_options(synchronize_session=False))
    db.session.commit()
    new = sum(1 for row in queued if row.is_new)
    log.info("winback.queued", extra={"shop_id": shop.id, "count": new})
    return new


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
