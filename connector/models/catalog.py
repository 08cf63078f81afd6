"""What the connector knows of a shop's products: one row per variant.

Two uses: Shopify's ``inventory_levels/update`` names an inventory item, not a variant, so
the item → variant map is kept here (filled from ``products/update`` and from GraphQL look-ups);
and back-in-stock needs the last known availability to see "unavailable → available".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId, Timestamps, UTCDateTime


class Variant(Timestamps, Base):
    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("shop_id", "variant_id"),
        Index("ix_variants_shop_id_inventory_item_id", "shop_id", "inventory_item_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    variant_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str | None] = mapped_column(String(64))
    inventory_item_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(255))
    #: last known sellable state; None until the first stock event
    available: Mapped[bool | None] = mapped_column(Boolean)
    quantity: Mapped[int | None] = mapped_column(Integer)
    stock_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
