"""A contact: one shopper of one shop, keyed by their E.164 phone number."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId, Timestamps, UTCDateTime

# Consent states per purpose. Marketing needs ``granted`` (double opt-in confirmed);
# transactional messages need ``granted`` too (the shopper gave the number for order updates).
CONSENT_NONE = "none"
CONSENT_PENDING = "pending"
CONSENT_GRANTED = "granted"
CONSENT_REVOKED = "revoked"


class Contact(Timestamps, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("shop_id", "phone_e164"),
        Index("ix_contacts_shop_user", "shop_id", "wa_user_id"),
        # the same store customer under another phone (carts.same_customer_query, on every order)
        Index("ix_contacts_shop_customer", "shop_id", "platform_customer_id"),
        Index("ix_contacts_shop_email", "shop_id", "email_hash"),
        # the admin's contact search (?q=): any part of a name or a phone, by trigrams on PostgreSQL
        # (pg_trgm, migration 0011); elsewhere plain indexes that the search does not need
        Index("ix_contacts_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
        Index("ix_contacts_phone_trgm", "phone_e164", postgresql_using="gin",
              postgresql_ops={"phone_e164": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    #: None once the contact is forgotten (redacted): the row stays for anonymous counts
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    #: WhatsApp business-scoped user id (BSUID) for shoppers who use a username
    wa_user_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(16))
    country: Mapped[str | None] = mapped_column(String(2))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    marketing_consent: Mapped[str] = mapped_column(String(16), default=CONSENT_NONE)
    marketing_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    marketing_consent_source: Mapped[str | None] = mapped_column(String(64))
    transactional_consent: Mapped[str] = mapped_column(String(16), default=CONSENT_NONE)
    transactional_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    transactional_consent_source: Mapped[str | None] = mapped_column(String(64))
    #: Meta refused marketing to this person (131049); hold marketing until then
    marketing_paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: last message the shopper sent us: opens the 24-hour customer-service window
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the platform's customer id, to find the contact for a redaction or data request
    platform_customer_id: Mapped[str | None] = mapped_column(String(64))
    email_hash: Mapped[str | None] = mapped_column(String(64))  # sha256 of the lowercased email
    #: when the contact's personal data was erased (customers/redact, `connector contacts forget`)
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
