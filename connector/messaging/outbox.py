"""The outbox: every WhatsApp message is a row here before anything is sent.

``queue_message`` writes the row under its idempotency key (``cart:123:step:2``,
``order:456:confirmation``); a second call with the same key returns the first row, so a
duplicate webhook, a retried job or a double click cannot produce a second message.
After the commit it wakes the shop's dispatcher.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from connector.dbutil import insert_or_ignore
from connector.extensions import db
from connector.models import Contact, Message, MessageKind, MessageStatus, Purpose, Shop, utcnow
from integrations.whatsapp import payloads

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    message: Message
    is_new: bool


def queue_message(
    *,
    shop: Shop,
    contact: Contact,
    idempotency_key: str,
    automation: str,
    purpose: Purpose | str,
    kind: MessageKind | str,
    content: dict[str, Any],
    template_name: str | None = None,
    language: str | None = None,
    due_at: datetime | None = None,
) -> QueuedMessage:
    """Write the message to the outbox (once per key), commit, and wake the dispatcher."""
    if contact.shop_id != shop.id:
        raise ValueError("contact belongs to another shop")
    purpose, kind = Purpose(purpose), MessageKind(kind)
    # Fail now, not in the sender: content that cannot become a Cloud API body is a bug.
    payloads.message_payload(to=contact.phone_e164, kind=kind, content=content, template_name=template_name, language=language)
    now = utcnow()
    message_id = insert_or_ignore(
        db.session,
        Message,
        {
            "shop_id": shop.id,
            "contact_id": contact.id,
            "idempotency_key": idempotency_key,
            "automation": automation,
            "purpose": purpose,
            "kind": kind,
            "template_name": template_name,
            "language": language,
            "content": content,
            "status": MessageStatus.QUEUED,
            "attempts": 0,
            "deferrals": 0,
            "priority": 1 if purpose == Purpose.MARKETING else 0,
            "due_at": due_at or now,
            "counts_toward_tier": False,
            "created_at": now,
            "updated_at": now,
        },
        conflict=("shop_id", "idempotency_key"),
    )
    db.session.commit()
    message = db.session.scalars(
        select(Message).where(Message.shop_id == shop.id, Message.idempotency_key == idempotency_key)
    ).one()
    if message_id is None:
        log.info("outbox.duplicate", extra={"shop_id": shop.id, "message_id": message.id, "automation": automation})
        return QueuedMessage(message, False)
    log.info("outbox.queued", extra={"shop_id": shop.id, "message_id": message.id, "automation": automation})
    from connector.jobs import kick_dispatcher

    kick_dispatcher(shop.id, at=message.due_at if message.due_at > now else None)
    return QueuedMessage(message, True)
