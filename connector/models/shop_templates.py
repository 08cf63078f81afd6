"""A merchant's own WhatsApp templates, stored per shop beside the file catalogue.

``definition`` is one template in exactly the catalogue's JSON format (what a
``connector/templates/whatsapp/<name>.json`` file holds), its ``version`` field kept equal to
the row's. An edit that changes it bumps ``version``; every version, the current one too, is a
row of ``shop_template_versions`` (append-only: what Meta was sent, and when, stays
readable after later edits). Meta's verdicts are ``template_approvals`` rows like the
catalogue's, by name and language. Validation and lookup: ``connector.messaging.shop_catalogue``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId, Timestamps, UTCDateTime, utcnow

#: what a shop template may be; marketing is what campaigns send, utility what a merchant's flows might
SHOP_TEMPLATE_CATEGORIES = ("MARKETING", "UTILITY")


class ShopTemplate(Timestamps, Base):
    __tablename__ = "shop_templates"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(512))
    version: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(32))
    definition: Mapped[dict] = mapped_column(JSON)
    #: who wrote the current version: the admin's session subject, or ``cli``
    created_by: Mapped[str] = mapped_column(String(255))


class ShopTemplateVersion(Base):
    """One version of a shop template as it was stored; never changed afterwards."""

    __tablename__ = "shop_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("shop_templates.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
