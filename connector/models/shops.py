"""A shop: one connected store (Shopify or WooCommerce) and its WhatsApp number."""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connector.crypto import EncryptedText
from connector.models.base import Base, BigId, Timestamps, UTCDateTime

PLATFORMS = ("shopify", "woocommerce", "demo")


def new_shop_key() -> str:
    """The unguessable public key of a shop, used in webhook and storefront URLs.

    Lowercase hex (96 random bits): it survives tools that lowercase what they store, such
    as WordPress's ``sanitize_key``, and URLs of any case-folding proxy.
    """
    return secrets.token_hex(12)


class Shop(Timestamps, Base):
    __tablename__ = "shops"
    __table_args__ = (UniqueConstraint("platform", "domain"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    domain: Mapped[str] = mapped_column(String(255))
    shop_key: Mapped[str] = mapped_column(String(32), unique=True, default=new_shop_key)
    name: Mapped[str | None] = mapped_column(String(255))
    #: platform credentials as encrypted JSON (access/refresh tokens, consumer keys, webhook secret)
    credentials_encrypted: Mapped[str | None] = mapped_column("credentials", EncryptedText)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    country: Mapped[str | None] = mapped_column(String(2))
    currency: Mapped[str | None] = mapped_column(String(3))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sending_paused_reason: Mapped[str | None] = mapped_column(String(255))
    sending_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: platform sync bookkeeping (catch-up cursors, subscribed webhook ids), never secrets
    sync_state: Mapped[dict | None] = mapped_column(JSON)

    whatsapp: Mapped["WhatsAppAccount | None"] = relationship(back_populates="shop", uselist=False)

    @property
    def credentials(self) -> dict:
        return json.loads(self.credentials_encrypted) if self.credentials_encrypted else {}

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_encrypted = json.dumps(value, sort_keys=True) if value else None

    @property
    def is_sending_paused(self) -> bool:
        return self.sending_paused_at is not None


class WhatsAppAccount(Timestamps, Base):
    """The shop's WhatsApp Business number on the Cloud API."""

    __tablename__ = "whatsapp_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), unique=True)
    phone_number_id: Mapped[str] = mapped_column(String(64), unique=True)
    waba_id: Mapped[str | None] = mapped_column(String(64))
    display_phone_number: Mapped[str | None] = mapped_column(String(32))
    access_token: Mapped[str] = mapped_column(EncryptedText)
    #: Cloud API throughput of this number, messages per second (80 by default, up to 1,000)
    throughput_per_second: Mapped[int] = mapped_column(Integer, default=80)
    #: business-initiated unique recipients per rolling 24 h; None means unlimited (new numbers
    #: start at 1,000 in `shops.set_whatsapp`: no column default, which would turn None into it)
    messaging_limit: Mapped[int | None] = mapped_column(Integer)
    #: the portfolio accepted the Marketing Messages API's terms: marketing templates go to
    #: ``/{phone_number_id}/marketing_messages`` instead of ``/messages`` (set by the operator)
    marketing_messages_onboarded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    shop: Mapped[Shop] = relationship(back_populates="whatsapp")


class SettingsChange(Base):
    """One saved change of a shop's settings (connector/shop_settings.py): who, when, and
    each setting's value before and after, as ``[{"path", "before", "after"}]``."""

    __tablename__ = "settings_changes"
    __table_args__ = (Index("ix_settings_changes_shop", "shop_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    #: the session token's ``sub``: the Shopify staff member's (or WordPress user's) id
    changed_by: Mapped[str | None] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changes: Mapped[list] = mapped_column(JSON)
