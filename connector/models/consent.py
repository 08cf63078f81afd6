"""The consent ledger, the inbound conversation and data exports.

The consent ledger: every change of a contact's consent, append-only, with its evidence.

The contact's ``marketing_consent`` / ``transactional_consent`` columns are a cache of the
latest entry per purpose, written in the same transaction (``connector.consent.record``), so
the governor reads one row; ``connector.consent.derived_state`` recomputes them from here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.crypto import EncryptedText
from connector.models.base import Base, BigId, UTCDateTime, utcnow


class ConsentEvent(Base):
    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_contact", "shop_id", "contact_id", "purpose", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))  # marketing | transactional
    #: the state this entry moves the purpose to: pending | granted | revoked | none (expired, declined)
    state: Mapped[str] = mapped_column(String(16))
    #: why: widget_popup, checkout_checkbox, back_in_stock_form, keyword, admin_import,
    #: platform_consent, order, whatsapp_user_preferences, whatsapp_error_131050, double_opt_in, expiry
    source: Mapped[str] = mapped_column(String(64))
    #: the exact text the shopper was shown when they opted in (None for opt-outs)
    text_shown: Mapped[str | None] = mapped_column(Text)
    #: proof: the confirmation message's id, the reply's wamid, the webhook receipt, ...
    evidence: Mapped[dict | None] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundRecord(Base):
    """A message a shopper sent to the shop's number, kept so the merchant can read the
    conversation (and so a redaction can erase it). Bodies are purged after the retention period."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("shop_id", "wamid"),
        Index("ix_inbound_messages_contact", "shop_id", "contact_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    wamid: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    reply_id: Mapped[str | None] = mapped_column(String(256))
    reply_title: Mapped[str | None] = mapped_column(String(256))
    #: the wamid of our message this one answers
    context_wamid: Mapped[str | None] = mapped_column(String(128))
    #: what the connector did with it: opt_out, opt_in, optin_confirmed, cod_confirm, auto_reply, ...
    handled_as: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DataExport(Base):
    """Everything held about one customer, produced for a data request; encrypted at rest."""

    __tablename__ = "data_exports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    #: the platform's request id (Shopify ``data_request.id``) or "cli"
    request_ref: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
