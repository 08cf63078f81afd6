"""What the automations remember about a shop's commerce: carts, orders, shipments,
invoices, tracked links and their clicks, back-in-stock subscriptions, template approvals.

Every row belongs to a shop (``ON DELETE CASCADE``), and every natural key is unique per
shop, so a duplicate webhook finds the row it already made instead of making another.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, Numeric, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId, Timestamps, UTCDateTime

Money = Numeric(14, 2)


class Cart(Timestamps, Base):
    """An abandoned-cart candidate: one store checkout/cart, and where its sequence stands."""

    __tablename__ = "carts"
    __table_args__ = (
        UniqueConstraint("shop_id", "cart_token"),
        Index("ix_carts_shop_id_contact_id", "shop_id", "contact_id"),
    )

    OPEN = "open"
    CONVERTED = "converted"
    STOPPED = "stopped"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    cart_token: Mapped[str] = mapped_column(String(128))
    #: other tokens an order may carry for this cart (Shopify's ``cart_token`` of a checkout)
    alt_tokens: Mapped[list] = mapped_column(JSON, default=list)
    lines: Mapped[list] = mapped_column(JSON, default=list)  # [[variant or product id, quantity], ...]
    currency: Mapped[str | None] = mapped_column(String(3))
    total: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    status_reason: Mapped[str | None] = mapped_column(String(64))
    converted_order_id: Mapped[str | None] = mapped_column(String(64))
    checkout_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrderRecord(Timestamps, Base):
    """An order as the automations saw it, with the message it is attributed to."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_id"),
        Index("ix_orders_shop_id_contact_id", "shop_id", "contact_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    order_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str | None] = mapped_column(String(3))
    total: Mapped[Decimal | None] = mapped_column(Money)
    status_url: Mapped[str | None] = mapped_column(String(2000))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the outbox message credited with this order; "click" or "read" says how it was found
    attributed_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    attributed_automation: Mapped[str | None] = mapped_column(String(50))
    attribution: Mapped[str | None] = mapped_column(String(16))
    #: the product ids of its lines (review answers, post-purchase content; migration 0015)
    product_ids: Mapped[list | None] = mapped_column(JSON)


class Shipment(Timestamps, Base):
    """One fulfillment: the furthest status reached, so an older one is never announced later."""

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("shop_id", "fulfillment_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(64))
    fulfillment_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32))
    status_rank: Mapped[int] = mapped_column(SmallInteger, default=0)


class Invoice(Timestamps, Base):
    """The invoice PDF of an order, stored once; served through a signed, expiring URL.

    Made when the order arrives as ``draft`` (what the PDF shows: the order, the seller, the
    locale and the number, as they were then); the PDF is rendered from it when it is first
    downloaded, then stored in ``pdf`` and the draft dropped (connector/automations/invoices.py).
    """

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("shop_id", "order_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(128))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    draft: Mapped[dict | None] = mapped_column(JSON)


class ShortLink(Timestamps, Base):
    """A tracked link ``/l/<code>``: where it goes (with UTM added), for which message."""

    __tablename__ = "short_links"
    __table_args__ = (UniqueConstraint("code"), UniqueConstraint("shop_id", "link_key"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    #: deterministic per intent (the message's idempotency key and button), so retries reuse it
    link_key: Mapped[str] = mapped_column(String(220))
    target_url: Mapped[str] = mapped_column(String(2000))
    automation: Mapped[str] = mapped_column(String(50))
    template_name: Mapped[str | None] = mapped_column(String(512))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    last_clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LinkClick(Base):
    """One click on a short link (attribution looks for the contact's last one)."""

    __tablename__ = "link_clicks"
    __table_args__ = (Index("ix_link_clicks_shop_id_contact_id_clicked_at", "shop_id", "contact_id", "clicked_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    link_id: Mapped[int] = mapped_column(ForeignKey("short_links.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StockSubscription(Timestamps, Base):
    """"Tell me on WhatsApp when this variant is back": used once, expires."""

    __tablename__ = "stock_subscriptions"
    __table_args__ = (
        # NULL once used or expired: one *active* subscription per contact and variant
        UniqueConstraint("shop_id", "active_key"),
        Index("ix_stock_subscriptions_waiting", "shop_id", "variant_id", "status", "created_at"),
    )

    ACTIVE = "active"
    NOTIFIED = "notified"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    variant_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    active_key: Mapped[str | None] = mapped_column(String(160))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))


class TemplateApproval(Timestamps, Base):
    """A catalogue template as submitted to the shop's WABA, and Meta's verdict on it."""

    __tablename__ = "template_approvals"
    __table_args__ = (UniqueConstraint("shop_id", "name", "language"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))  # PENDING, APPROVED, REJECTED, PAUSED, ...
    reason: Mapped[str | None] = mapped_column(String(255))
    meta_template_id: Mapped[str | None] = mapped_column(String(64))


class OrderLine(Base):
    """One product line of a recorded order (written once, with the order): what a contact
    bought and when. The repurchase reminder and the campaigns' ``bought_product`` read it."""

    __tablename__ = "order_lines"
    __table_args__ = (
        Index("ix_order_lines_shop_id_product_id", "shop_id", "product_id"),
        Index("ix_order_lines_shop_id_contact_id", "shop_id", "contact_id"),
        Index("ix_order_lines_shop_id_order_id", "shop_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(64))  # the store's order id, as ``OrderRecord.order_id``
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    product_id: Mapped[str] = mapped_column(String(64))
    variant_id: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(255))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
