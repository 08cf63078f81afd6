"""Daily rollups: what happened per shop, day, automation and fact, counted as it happens.

One row per (shop, day in the shop's time zone, automation, metric, dimension): ``count``
facts and ``amount``: revenue for attributed orders, the estimated cost for ``cost``. The
dashboard reads these rows, never the outbox; ``connector.rollups`` writes them in the
transaction of each fact and rebuilds them from the source tables.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Date, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId


class DailyRollup(Base):
    __tablename__ = "daily_rollups"

    shop_id: Mapped[int] = mapped_column(BigId, ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    #: the calendar day in the shop's time zone (``shops.time_zone``) when the fact happened
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    #: the automation the fact belongs to; "" for facts of no automation (opt-ins, opt-outs)
    automation: Mapped[str] = mapped_column(String(50), primary_key=True)
    #: sent, delivered, read, failed, deferred, clicked, orders, cost, optins, optouts, test_requested
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: what the metric is broken down by: the failure's reason, the deferral's reason, the
    #: opt-in's source, the order's (or the cost's) currency; "" when it has none
    dimension: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 6), default=Decimal("0"))
