"""Out-of-hours auto-reply: off by default; when on, a shopper writing outside the shop's
opening hours (in the shop's time zone) gets one answer with the hours, at most once per
twelve hours.

Shop setting ``auto_reply``::

    {"enabled": true,
     "hours": {"mon": "09:00-17:00", "tue": "09:00-17:00", ..., "sat": "10:00-14:00"},  # missing day = closed
     "hours_text": "Mon–Fri 9–17, Sat 10–14"}
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from zoneinfo import ZoneInfo

from connector import shop_settings
from connector.messaging import catalogue
from connector.messaging.outbox import queue_message
from connector.models import Contact, Shop

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ONCE_PER_SECONDS = 12 * 3600


def is_open(hours: dict, moment: datetime, time_zone: str) -> bool:
    local = moment.astimezone(ZoneInfo(time_zone or "UTC"))
    spans = hours.get(DAYS[local.weekday()])
    for span in ([spans] if isinstance(spans, str) else spans or []):
        try:
            start, end = (time.fromisoformat(part.strip()) for part in span.split("-", 1))
        except ValueError:
            log.warning("auto_reply.bad_hours", extra={"span": span})
            continue
        if start <= local.time() < end:
            return True
    return False


def auto_reply(shop: Shop, contact: Contact, at: datetime) -> str | None:
    config = shop_settings.effective(shop)["auto_reply"]
    if not config["enabled"] or config["hours"] is None:
        return None
    if is_open(config["hours"], at, shop.time_zone):
        return None

    text = catalogue.texts(contact.locale, shop.locale)["out_of_hours"].format(
        hours=config["hours_text"], shop_name=shop.name or shop.domain)
    queued = queue_message(shop=shop, contact=contact, automation="auto_reply", purpose="service", kind="text",
                           idempotency_key=f"auto-reply:{contact.id}:{int(at.timestamp()) // ONCE_PER_SECONDS}",
                           content={"text": text})
    return "auto_reply" if queued.is_new else None
