"""A campaign's report: each variant's funnel and revenue per recipient, against the holdout.

Revenue is counted the same way for every group, holdout included, so the groups compare:
a recipient's orders (not cancelled) placed from the moment their message was due until the
shop's attribution window after it (``automations.attribution.window_seconds``). The holdout
was due at the same moments and got nothing.

The test: the difference in mean revenue per recipient between a variant and the holdout
(or, without a holdout, the other variants), with a 95 % confidence interval from Welch's
unequal-variance test in its normal approximation — sound for the group sizes campaigns have;
under ``MIN_GROUP`` recipients in a group the report does not judge. A variant wins when its
interval against the holdout lies above zero and its interval against the runner-up does too;
otherwise the report says there is no winner yet.
"""

from __future__ import annotations

import math
from decimal import Decimal
from statistics import NormalDist
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, select

from connector import shop_settings
from connector.extensions import db
from connector.messaging import costs
from connector.models import Campaign, CampaignRecipient, LinkClick, Message, MessageStatus, OrderRecord, Shop
from connector.models.campaigns import HOLDOUT, REST

CONFIDENCE = 0.95
MIN_GROUP = 30
TEST = "Welch's t-test (normal approximation), 95% confidence interval on the difference in revenue per recipient"
Z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)


def report(campaign: Campaign) -> dict[str, Any]:
    shop = db.session.get(Shop, campaign.shop_id)
    assert shop is not None  # a campaign goes with its shop (ON DELETE CASCADE)
    window = int(shop_settings.automation(shop, "attribution")["window_seconds"])
    names = [spec.get("name", chr(ord("A") + index)) for index, spec in enumerate(campaign.variants or [{}])]
    if not campaign.variants:
        names = ["A"]
    funnel = _funnel(campaign.id)
    revenue = _revenue(campaign.id, campaign.shop_id, window)
    groups = []
    rest_name = f"rest ({campaign.winner})" if campaign.winner else "rest"
    for index, name in [*enumerate(names), (HOLDOUT, "holdout"), (REST, rest_name)]:
        stats = revenue.get(index, {"recipients": 0, "orders": 0, "buyers": 0, "revenue": 0.0, "revenue_sq": 0.0})
        if (index == HOLDOUT and not stats["recipients"] and not campaign.holdout_percent) or \
                (index == REST and not campaign.test_percent):
            continue
        groups.append({"variant": name, "holdout": index == HOLDOUT, "rest": index == REST,
                       **funnel.get(index, _empty_funnel()), **_summary(stats)})
    holdout = next((group for group in groups if group["holdout"]), None)
    variants = [group for group in groups if not group["holdout"] and not group["rest"]]
    sending = [group for group in groups if not group["holdout"]]
    for group in variants:
        group["vs_holdout"] = _difference(group, holdout) if holdout else None
    verdict = _verdict(variants, holdout)
    for group in groups:
        group.pop("_mean", None)
        group.pop("_variance", None)
    totals = {key: sum(group[key] for group in sending)
              for key in ("queued", "sent", "delivered", "read", "clicked", "failed", "suppressed", "cancelled")}
    card = costs.load_rate_card()
    cost = sum((group["cost"] for group in sending), Decimal(0))
    revenue_total = Decimal(str(round(sum(group["revenue"] for group in sending), 2)))
    for group in groups:
        group["cost"] = str(group["cost"].quantize(Decimal("0.0001")))
    return {
        "campaign": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "recipients": campaign.recipients,
        **totals,
        "orders": sum(group["orders"] for group in sending),
        "revenue": round(sum(group["revenue"] for group in sending), 2),
        "currency": shop.currency,
        # estimated from the rate card as each message was sent; comparable with revenue only in one currency
        "cost": str(cost.quantize(Decimal("0.0001"))),
        "cost_currency": card.currency,
        "revenue_per_cost": (str((revenue_total / cost).quantize(Decimal("0.01")))
                             if cost > 0 and shop.currency == card.currency else None),
        "attribution_window_seconds": window,
        "groups": groups,
        "test": TEST,
        **verdict,
    }


def _empty_funnel() -> dict[str, Any]:
    return {"queued": 0, "sent": 0, "delivered": 0, "read": 0, "clicked": 0, "failed": 0, "suppressed": 0,
            "cancelled": 0, "cost": Decimal(0)}


def _funnel(campaign_id: int) -> dict[int, dict[str, Any]]:
    """Per variant: messages by how far they got (read implies delivered implies sent), and clicks."""
    M, R = Message.__table__.c, CampaignRecipient.__table__.c
    went = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    clicked = (select(func.count(func.distinct(LinkClick.message_id))).where(LinkClick.message_id == M.id)
               .correlate(Message.__table__).scalar_subquery())
    rows = db.session.execute(
        select(R.variant,
               func.count().filter(M.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.PAUSED])),
               func.count().filter(M.status.in_(went)),
               func.count().filter(M.delivered_at.is_not(None) | (M.status == MessageStatus.READ)),
               func.count().filter(M.read_at.is_not(None)),
               func.coalesce(func.sum(case((clicked > 0, 1), else_=0)), 0),
               func.count().filter(M.status == MessageStatus.FAILED),
               func.count().filter(M.status == MessageStatus.SUPPRESSED),
               func.count().filter(M.status == MessageStatus.CANCELLED),
               func.coalesce(func.sum(M.estimated_cost), 0))
        .select_from(Message.__table__.join(CampaignRecipient.__table__,
                                            and_(R.campaign_id == M.campaign_id, R.contact_id == M.contact_id)))
        .where(M.campaign_id == campaign_id).group_by(R.variant)).all()
    keys = ("queued", "sent", "delivered", "read", "clicked", "failed", "suppressed", "cancelled")
    return {row[0]: {**dict(zip(keys, (int(value or 0) for value in row[1:-1]), strict=True)),
                     "cost": Decimal(row[-1] or 0)} for row in rows}


def _revenue(campaign_id: int, shop_id: int, window: int) -> dict[int, dict[str, Any]]:
    """Per variant: recipients, buyers, orders, revenue and the sum of squares (for the variance)."""
    R, Ord = CampaignRecipient.__table__.c, OrderRecord.__table__.c
    if db.engine.dialect.name == "postgresql":
        until = R.due_at + func.make_interval(0, 0, 0, 0, 0, 0, literal(window))
        placed_ok = and_(Ord.placed_at >= R.due_at, Ord.placed_at < until)
    else:  # SQLite keeps datetimes as text: compare them as Julian days
        placed_ok = and_(func.julianday(Ord.placed_at) >= func.julianday(R.due_at),
                         func.julianday(Ord.placed_at) < func.julianday(R.due_at) + window / 86400.0)
    per_recipient = (
        select(R.variant, R.contact_id, func.coalesce(func.sum(Ord.total), 0).label("revenue"),
               func.count(Ord.id).label("orders"))
        .select_from(CampaignRecipient.__table__.outerjoin(
            OrderRecord.__table__, and_(Ord.shop_id == shop_id, Ord.contact_id == R.contact_id,
                                        Ord.cancelled_at.is_(None), placed_ok)))
        .where(R.campaign_id == campaign_id).group_by(R.variant, R.contact_id).subquery())
    revenue = cast(per_recipient.c.revenue, Float)
    rows = db.session.execute(
        select(per_recipient.c.variant, func.count(), func.sum(per_recipient.c.orders),
               func.count().filter(per_recipient.c.orders > 0), func.sum(revenue), func.sum(revenue * revenue))
        .group_by(per_recipient.c.variant)).all()
    return {row[0]: {"recipients": int(row[1]), "orders": int(row[2] or 0), "buyers": int(row[3] or 0),
                     "revenue": float(row[4] or 0), "revenue_sq": float(row[5] or 0)} for row in rows}


def _summary(stats: dict[str, Any]) -> dict[str, Any]:
    n = stats["recipients"]
    mean = stats["revenue"] / n if n else 0.0
    variance = (stats["revenue_sq"] - n * mean * mean) / (n - 1) if n > 1 else 0.0
    return {"recipients": n, "orders": stats["orders"], "buyers": stats["buyers"],
            "conversion_rate": round(stats["buyers"] / n, 4) if n else 0.0,
            "revenue": round(stats["revenue"], 2), "revenue_per_recipient": round(mean, 4),
            "_mean": mean, "_variance": max(variance, 0.0)}


def _difference(group: dict[str, Any], other: dict[str, Any]) -> dict[str, Any] | None:
    """``group`` minus ``other`` in revenue per recipient, with its interval; None when either is too small."""
    n1, n2 = group["recipients"], other["recipients"]
    if n1 < MIN_GROUP or n2 < MIN_GROUP:
        return None
    difference = group["_mean"] - other["_mean"]
    error = math.sqrt(group["_variance"] / n1 + other["_variance"] / n2)
    return {"difference": round(difference, 4), "low": round(difference - Z * error, 4),
            "high": round(difference + Z * error, 4)}


def _verdict(variants: list[dict[str, Any]], holdout: dict[str, Any] | None) -> dict[str, Any]:
    ranked = sorted(variants, key=lambda group: group["_mean"], reverse=True)
    winner, reason = None, "no winner yet"
    if ranked:
        best = ranked[0]
        beats_holdout = holdout is None or ((best.get("vs_holdout") or {}).get("low", -1) > 0)
        runner_up = _difference(best, ranked[1]) if len(ranked) > 1 else {"low": 1}
        if beats_holdout and runner_up is not None and runner_up["low"] > 0 and (holdout or len(ranked) > 1):
            winner, reason = best["variant"], "its interval lies above zero"
        elif any(group["recipients"] < MIN_GROUP for group in [*ranked, *([holdout] if holdout else [])]):
            reason = f"no winner yet: a group has fewer than {MIN_GROUP} recipients"
    return {"winner": winner, "verdict": reason if winner is None else f"{winner} wins: {reason}"}


