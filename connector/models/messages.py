"""The outbox: one row per WhatsApp message, written before anything is sent."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, Numeric, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId, Timestamps, UTCDateTime


class MessageStatus(StrEnum):
    QUEUED = "queued"  # waiting for its due time or for the governor
    SENDING = "sending"  # claimed by a sender; handed (or about to be handed) to the Cloud API
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"  # the Cloud API refused it or reported it failed
    SUPPRESSED = "suppressed"  # the governor will never send it (no consent, outside the window)
    CANCELLED = "cancelled"  # withdrawn before sending (order placed, shop uninstalled)
    PAUSED = "paused"  # held by its paused campaign: never claimed until the campaign resumes


class Purpose(StrEnum):
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"
    #: a reply inside the 24-hour customer-service window
    SERVICE = "service"
    #: the double opt-in question itself: only while the shopper's marketing opt-in is pending
    CONFIRMATION = "confirmation"


class MessageKind(StrEnum):
    TEMPLATE = "template"
    TEXT = "text"
    DOCUMENT = "document"


#: delivery progress; a status only ever moves up this ladder (read implies delivered)
STATUS_RANK = {MessageStatus.SENT: 1, MessageStatus.DELIVERED: 2, MessageStatus.READ: 3}
OPEN_STATUSES = (MessageStatus.QUEUED, MessageStatus.SENDING)


class Message(Timestamps, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("shop_id", "idempotency_key"),
        Index("ix_messages_ready", "shop_id", "status", "due_at"),
        Index("ix_messages_contact_sent", "contact_id", "sent_at"),
        Index("ix_messages_campaign", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    automation: Mapped[str] = mapped_column(String(50))
    purpose: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    template_name: Mapped[str | None] = mapped_column(String(512))
    language: Mapped[str | None] = mapped_column(String(16))
    #: what to send: {"components": [...]}, {"text": "..."} or {"document": {...}}
    content: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.QUEUED)
    #: why it waits, was suppressed or failed ("quiet_hours", "no_marketing_consent", "error:131026")
    status_reason: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_title: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    deferrals: Mapped[int] = mapped_column(Integer, default=0)
    #: 0 transactional before 1 marketing when both are due
    priority: Mapped[int] = mapped_column(SmallInteger, default=1)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: while status is "sending": the sender's lease; past it, the sweep treats the row as in doubt
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wamid: Mapped[str | None] = mapped_column(String(128), unique=True)
    #: sent business-initiated, outside the shopper's service window: counts toward the tier
    counts_toward_tier: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the campaign it belongs to (connector/campaigns): pause, resume and cancel act on these rows
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    #: what Meta charges for it by the rate card (connector/messaging/costs.py), set when it is
    #: first recorded as sent; an estimate, in ``cost_currency``
    estimated_cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    cost_currency: Mapped[str | None] = mapped_column(String(3))
