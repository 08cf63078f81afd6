"""A contact's WhatsApp conversation as the merchant reads it: what the shopper wrote (kept in
``inbound_messages``) and what the shop sent (the outbox), in time order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from connector.extensions import db
from connector.messaging import catalogue, shop_catalogue
from connector.models import InboundRecord, Message


def thread(shop_id: int, contact_id: int, *, limit: int = 200) -> list[dict]:
    inbound = db.session.scalars(
        select(InboundRecord).where(InboundRecord.shop_id == shop_id, InboundRecord.contact_id == contact_id)
        .order_by(InboundRecord.received_at.desc()).limit(limit)).all()
    outbound = db.session.scalars(
        select(Message).where(Message.shop_id == shop_id, Message.contact_id == contact_id)
        .order_by(Message.created_at.desc()).limit(limit)).all()
    entries: list[dict[str, Any]]
    entries = [{"at": record.received_at, "_order": (0, record.id), "direction": "in", "kind": record.kind,
                "text": record.text or record.reply_title, "handled_as": record.handled_as}
               for record in inbound]
    entries += [{"at": message.sent_at or message.created_at, "_order": (1, message.id), "direction": "out",
                 "kind": message.kind,
                 "text": _outbound_text(message), "status": message.status, "automation": message.automation}
                for message in outbound]
    # WhatsApp timestamps are whole seconds: ties keep arrival order (row ids)
    entries.sort(key=lambda entry: (entry["at"], entry["_order"]))
    return [{key: (_iso(value) if key == "at" else value) for key, value in entry.items() if key != "_order"}
            for entry in entries[-limit:]]


def _outbound_text(message: Message) -> str | None:
    content = message.content or {}
    if message.kind == "text":
        return content.get("text")
    if message.template_name:
        try:
            definition = shop_catalogue.template_for(message.shop_id, message.template_name)
            body = content.get("body")
            body = body if isinstance(body, dict) else {}
            return catalogue.preview_text(definition, message.language or "en", body)
        except Exception:  # an old or purged row: say which template it was
            return f"[template {message.template_name}]"
    return None


def _iso(moment: datetime) -> str:
    return moment.isoformat()
