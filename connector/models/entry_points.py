"""Click-to-chat entry points: named ``wa.me`` links (and their QR codes) whose prefilled
text carries a short reference, so a shopper who sends it is known to have come from there."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId, Timestamps, UTCDateTime

#: letters and digits nobody misreads on a parcel insert (no 0/O, 1/I/L)
REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REF_LENGTH = 6


def new_ref() -> str:
    return "".join(secrets.choice(REF_ALPHABET) for _ in range(REF_LENGTH))


class EntryPoint(Timestamps, Base):
    __tablename__ = "entry_points"
    __table_args__ = (
        UniqueConstraint("shop_id", "ref"),
        Index("ix_entry_points_shop", "shop_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    ref: Mapped[str] = mapped_column(String(REF_LENGTH), default=new_ref)
    #: what the shopper's message says before the reference: it is their opt-in, kept as proof
    text: Mapped[str] = mapped_column(String(500))
    #: archived points leave the admin's list but keep working: their QR codes are in print
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
