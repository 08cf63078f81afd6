"""Read-side views of the outbox for the CLI and, later, the admin dashboard."""

from __future__ import annotations

from sqlalchemy import select

from connector.extensions import db
from connector.models import Message


def outbox_rows(shop_id: int, *, status: str | None = None, limit: int = 100) -> list[dict]:
    """The shop's messages, newest first, as plain dicts (no phone numbers, no message text)."""
    query = select(Message).where(Message.shop_id == shop_id)
    if status:
        query = query.where(Message.status == status)
    query = query.order_by(Message.id.desc()).limit(limit)
    iso = lambda value: value.isoformat() if value else None  # noqa: E731
    return [
        {
            "id": m.id,
            "contact_id": m.contact_id,
            "idempotency_key": m.idempotency_key,
            "automation": m.automation,
            "purpose": m.purpose,
            "kind": m.kind,
            "template": m.template_name,
            "language": m.language,
            "status": m.status,
            "status_reason": m.status_reason,
            "error_code": m.error_code,
            "attempts": m.attempts,
            "wamid": m.wamid,
            "created_at": iso(m.created_at),
            "due_at": iso(m.due_at),
            "sent_at": iso(m.sent_at),
            "delivered_at": iso(m.delivered_at),
            "read_at": iso(m.read_at),
        }
        for m in db.session.scalars(query)
    ]
