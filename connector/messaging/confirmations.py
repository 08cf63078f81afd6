"""The free-form confirmation a consent change earns (opt-in confirmed or declined, opt-out, resumed).

Messaging's own: a status webhook with error 131050 (the shopper blocked marketing) is
confirmed from ``messaging.statuses``, the keyword and double opt-in flows from
``connector.optin``. Sent only while the 24-hour window is open; the key makes it once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from connector.messaging import catalogue
from connector.messaging.outbox import QueuedMessage, queue_message
from connector.models import Contact, Shop, utcnow

log = logging.getLogger(__name__)


def confirm(shop: Shop, contact: Contact, text_key: str, *, key: str) -> QueuedMessage | None:
    """One free-form confirmation (the key makes it once); only inside the 24-hour window."""
    if contact.last_inbound_at is None or utcnow() - contact.last_inbound_at >= timedelta(hours=24):
        log.info("consent.confirmation_skipped", extra={"shop_id": shop.id, "contact_id": contact.id,
                                                        "reason": "window_closed", "text": text_key})
        return None
    text = catalogue.texts(contact.locale, shop.locale)[text_key].format(shop_name=shop.name or shop.domain,
                                                                       hours="")
    return queue_message(shop=shop, contact=contact, idempotency_key=key, automation="consent",
                         purpose="service", kind="text", content={"text": text})
