"""What the lifecycle automations remember: the discount codes we issued and whether they were
used, the customers' personal referral codes, and each friend's order made with one.

Every row belongs to a shop (``ON DELETE CASCADE``); codes are unique per shop.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId, UTCDateTime


class IssuedCode(Base):
    """A single-use discount code we made for one contact (popup incentive, cart discount,
    referral reward), with the message that gives it to them; ``used_at``/``order_id`` once an
    order carried it."""

    __tablename__ = "issued_codes"
    __table_args__ = (
        UniqueConstraint("shop_id", "code"),
        # the unused-coupon sweep: unused codes of a shop by age
        Index("ix_issued_codes_unused", "shop_id", "used_at", "issued_at"),
    )

    POPUP = "popup"
    CART = "cart"
    REFERRAL_REWARD = "referral_reward"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))  # upper case
    source: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    order_id: Mapped[str | None] = mapped_column(String(64))
    #: the outbox message carrying the code: the follow-up counts from when it was sent
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    #: when the unused-coupon reminder was queued
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReferralCode(Base):
    """A customer's personal code to forward to friends: many friends, each once."""

    __tablename__ = "referral_codes"
    __table_args__ = (UniqueConstraint("shop_id", "code"), UniqueConstraint("shop_id", "contact_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))  # upper case
    #: sha256 of each normalised shipping address the referrer ordered to (the self-referral rule)
    address_hashes: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Referral(Base):
    """A friend's order made with a referral code: attributed to the referrer, or refused
    (``reason``: ``same_phone``, ``same_email``, ``same_address``, ``same_customer``)."""

    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("shop_id", "friend_order_id"),
        Index("ix_referrals_shop_id_referrer", "shop_id", "referrer_contact_id"),
    )

    ATTRIBUTED = "attributed"
    REWARDED = "rewarded"
    REFUSED = "refused"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    referrer_contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    friend_order_id: Mapped[str] = mapped_column(String(64))
    friend_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    #: the referrer's reward code (``issued_codes``), when one was made
    reward_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
