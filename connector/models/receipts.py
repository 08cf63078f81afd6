"""Webhook receipts: every accepted delivery, stored before it is acknowledged."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId, UTCDateTime, utcnow


class WebhookReceipt(Base):
    __tablename__ = "webhook_receipts"
    __table_args__ = (UniqueConstraint("platform", "dedupe_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    #: the vendor's delivery/event id, or a digest of the body when the vendor sends none
    dedupe_key: Mapped[str] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(String(64))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    #: a drainer holds the receipt until then; past it, another drainer may take it over
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: what processing concluded: "processed", or why it was skipped ("stale", "unknown_topic", ...)
    outcome: Mapped[str | None] = mapped_column(String(32))


class ResourceVersion(Base):
    """The newest vendor ``updated_at`` applied per resource, so a late, older delivery of the
    same resource is recognised as stale (vendors retry for hours and do not keep order)."""

    __tablename__ = "resource_versions"
    __table_args__ = (UniqueConstraint("shop_id", "resource", "resource_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(40))  # e.g. "checkout", "product", "inventory_level"
    resource_id: Mapped[str] = mapped_column(String(128))
    version_at: Mapped[datetime] = mapped_column(UTCDateTime)
