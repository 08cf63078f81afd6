"""What shoppers answered to a review request: a rating, perhaps a comment (migration 0015)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId, Timestamps, UTCDateTime


class ReviewAnswer(Timestamps, Base):
    """One contact's answer about one order: the 1–5 rating tapped on the request (a later tap
    replaces it), the comment written after it, and whether the merchant should look (1–2)."""

    __tablename__ = "review_answers"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_id", "contact_id"),
        Index("ix_review_answers_shop_flagged", "shop_id", "flagged", "id"),
        Index("ix_review_answers_contact", "shop_id", "contact_id", "rated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(64))
    #: the products of the order when it was rated (``orders.product_ids``)
    product_ids: Mapped[list] = mapped_column(JSON, default=list)
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    #: a low rating (1–2): shown to the merchant at once
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    commented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def site_link_key(order_id: str) -> str:
    """The short link to the review site made with an order's review request
    (``connector.automations.reviews``), sent after a rating of 4–5 (``connector.conversations.reviews``)."""
    return f"order:{order_id}:review:site"
