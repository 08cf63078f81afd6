"""Daily rollups: the dashboard's numbers, counted where each fact happens.

A fact (a message sent, delivered, read or failed; a deferral; a first click; an attributed
order; an opt-in or an opt-out) is counted by :func:`count` in the transaction that records
it. The counts wait in ``session.info`` and are written just before that transaction commits
(a ``before_commit`` hook, installed by ``create_app``), summed per row and in key order, as
one ``INSERT … ON CONFLICT DO UPDATE SET count = count + excluded.count`` (PostgreSQL and
SQLite alike): a fact and its count commit or roll back together, and the rollup rows, the
only rows every writer shares, are locked last, briefly, and always in the same order.

Callers count a fact only when the row that records it actually changes (a status webhook
delivered twice finds ``delivered_at`` set and counts nothing); what cannot be told from the
row alone (the first click of a message) is decided under the row lock of the message.

:func:`rebuild` recomputes a shop's rollups from the source tables (``connector rollups
rebuild``), for installs older than this table and to repair. Two metrics have no source to
recount and are kept as they are: ``deferred`` (the outbox keeps only a message's latest
reason) and ``test_requested``.

The day of a fact is the calendar day in the shop's time zone at the moment it happened.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import lru_cache
from types import SimpleNamespace
from typing import Any
from typing import cast as cast_type
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Table,
    and_,
    case,
    cast,
    delete,
    event,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from connector.dbutil import AnySession
from connector.models import ConsentEvent, DailyRollup, LinkClick, Message, MessageStatus, OrderRecord, Shop

log = logging.getLogger(__name__)

SENT = "sent"
DELIVERED = "delivered"
READ = "read"
FAILED = "failed"  # dimension: the failure's reason (error:<code>, retries_exhausted)
DEFERRED = "deferred"  # dimension: the reason it waits (quiet_hours, frequency_cap, messaging_limit, …)
CLICKED = "clicked"  # a message's first click on any of its links
ORDERS = "orders"  # attributed, not cancelled; amount: revenue; dimension: currency
COST = "cost"  # messages priced when sent; amount: their estimated cost; dimension: the rate card's currency
OPTINS = "optins"  # marketing consent granted; dimension: where the shopper opted in
OPTOUTS = "optouts"  # marketing consent withdrawn; dimension: how
TEST_REQUESTED = "test_requested"  # the admin asked for a test message (the home checklist)

#: metrics rebuild() cannot recount from the source tables; it leaves their rows alone
NOT_REBUILT = (DEFERRED, TEST_REQUESTED)
#: the source of a double opt-in's grant: the opt-in is credited to where the shopper asked
DOUBLE_OPT_IN = "double_opt_in"

_PENDING = "daily_rollup_deltas"
T = cast_type(Table, DailyRollup.__table__)
KEY = ("shop_id", "day", "automation", "metric", "dimension")


@dataclass(frozen=True, slots=True)
class _Delta:
    shop_id: int
    at: datetime
    automation: str
    metric: str
    dimension: str
    count: int
    amount: Decimal


def count(session: AnySession, shop_id: int, at: datetime, metric: str, *, automation: str | None = None,
          dimension: str | None = None, n: int = 1, amount: Decimal | int = 0) -> None:
    """Count ``n`` facts (and ``amount``) of ``metric`` at ``at``, written when the session commits."""
    if not event.contains(Session, "before_commit", _write_before_commit):
        # without the hook the count would vanish silently; every process builds its app first
        raise RuntimeError("rollup hooks are not installed (connector.rollups.install_hooks)")
    session.connection()  # inside the transaction of the fact: its rollback drops the count
    session.info.setdefault(_PENDING, []).append(_Delta(
        shop_id, at, (automation or "")[:50], metric, (dimension or "")[:64], n, Decimal(amount or 0)))


def count_order(session: AnySession, record: OrderRecord, sign: int = 1) -> None:
    """An attributed order and its revenue (``sign`` -1: taken back, on cancellation)."""
    if record.attributed_automation is None:
        return
    count(session, record.shop_id, record.placed_at, ORDERS, automation=record.attributed_automation,
          dimension=record.currency, n=sign, amount=sign * (record.total or Decimal(0)))


def optin_source(source: str, previous_source: str | None) -> str:
    """Where an opt-in came from: a double opt-in's YES is credited to the form that asked."""
    return (previous_source or source) if source == DOUBLE_OPT_IN else source


def install_hooks() -> None:
    """Write pending counts before every commit, drop them when a transaction ends otherwise
    (``create_app`` calls this; twice is a no-op)."""
    for name, hook in (("before_commit", _write_before_commit), ("after_transaction_end", _forget_at_end)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


def _write_before_commit(session: Session) -> None:
    deltas: list[_Delta] | None = session.info.pop(_PENDING, None)
    if deltas:
        write(session, deltas)


def _forget_at_end(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction rolled back or was closed
        session.info.pop(_PENDING, None)


def write(session: AnySession, deltas: Iterable[_Delta]) -> None:
    """Add the deltas to their rows: one upsert, rows summed per key and sorted."""
    deltas = list(deltas)
    zones = _shop_zones(session, {d.shop_id for d in deltas})
    sums: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    for d in deltas:
        if d.shop_id not in zones:
            continue  # the shop was deleted in this transaction: its rollups went with it
        key = (d.shop_id, local_day(d.at, zones[d.shop_id]), d.automation, d.metric, d.dimension)
        sums[key][0] += d.count
        sums[key][1] += d.amount
    rows = [dict(zip(KEY, key, strict=True), count=c, amount=a) for key, (c, a) in sorted(sums.items()) if c or a]
    if rows:
        session.execute(_upsert(session.get_bind().dialect.name, rows))


def _upsert(dialect: str, rows: list[dict[str, Any]]):
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(T).values(rows)
    return statement.on_conflict_do_update(index_elements=list(KEY), set_={
        "count": T.c.count + statement.excluded["count"], "amount": T.c.amount + statement.excluded.amount})


def _shop_zones(session: AnySession, shop_ids: set[int]) -> dict[int, str]:
    return dict(session.execute(select(Shop.id, Shop.time_zone).where(Shop.id.in_(shop_ids))).tuples().all())


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo:
    """The shop's zone; UTC for a missing or unknown name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day(at: datetime, time_zone: str | None) -> date:
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(zone(time_zone)).date()


def today(shop: Shop, now: datetime | None = None) -> date:
    return local_day(now or datetime.now(timezone.utc), shop.time_zone)


# --- reading ----------------------------------------------------------------------------------

#: the funnel's metrics, in the order the dashboard shows them
FUNNEL = (SENT, DELIVERED, READ, CLICKED, ORDERS)


def _period(shop_id: int, first: date, last: date, automation: str | None):
    conditions = [T.c.shop_id == shop_id, T.c.day >= first, T.c.day <= last]
    if automation is not None:
        conditions.append(T.c.automation == automation)
    return conditions


def _funnel_columns(currency: str | None, cost_currency: str | None = None) -> list[Any]:
    """One sum per funnel metric, the revenue of orders in ``currency`` and the estimated cost of
    the messages in ``cost_currency``: a row per group."""
    sums = [func.coalesce(func.sum(case((T.c.metric == metric, T.c.count), else_=0)), 0).label(metric)
            for metric in FUNNEL]
    in_currency = T.c.dimension == (currency or "")
    revenue = func.coalesce(func.sum(case((and_(T.c.metric == ORDERS, in_currency), T.c.amount), else_=0)), 0)
    in_cost_currency = T.c.dimension == (cost_currency or "")
    cost = func.coalesce(func.sum(case((and_(T.c.metric == COST, in_cost_currency), T.c.amount), else_=0)), 0)
    return [*sums, revenue.label("revenue"), cost.label("cost")]


def funnel_by_day(session: AnySession, shop_id: int, first: date, last: date, currency: str | None, *,
                  automation: str | None = None, cost_currency: str | None = None) -> list[Any]:
    """(day, automation, sent, delivered, read, clicked, orders, revenue, cost) per day and automation."""
    return list(session.execute(
        select(T.c.day, T.c.automation, *_funnel_columns(currency, cost_currency))
        .where(*_period(shop_id, first, last, automation), T.c.metric.in_((*FUNNEL, COST)), T.c.automation != "")
        .group_by(T.c.day, T.c.automation)).all())


def funnel_by_automation(session: AnySession, shop_id: int, first: date, last: date, currency: str | None, *,
                         automation: str | None = None, cost_currency: str | None = None) -> list[Any]:
    """(automation, sent, delivered, read, clicked, orders, revenue, cost) per automation over the days."""
    return list(session.execute(
        select(T.c.automation, *_funnel_columns(currency, cost_currency))
        .where(*_period(shop_id, first, last, automation), T.c.metric.in_((*FUNNEL, COST)), T.c.automation != "")
        .group_by(T.c.automation).order_by(T.c.automation)).all())


def funnel_totals(session: AnySession, shop_id: int, periods: dict[str, tuple[date, date]], currency: str | None, *,
                  automation: str | None = None, cost_currency: str | None = None) -> dict[str, Any]:
    """Per named period (first, last day): (sent, delivered, read, clicked, orders, revenue, cost), in one query."""
    label = case(*((and_(T.c.day >= first, T.c.day <= last), name) for name, (first, last) in periods.items()))
    first, last = min(p[0] for p in periods.values()), max(p[1] for p in periods.values())
    rows = session.execute(select(label.label("period"), *_funnel_columns(currency, cost_currency))
                           .where(*_period(shop_id, first, last, automation), T.c.metric.in_((*FUNNEL, COST)))
                           .group_by(label)).all()
    found = {row.period: row for row in rows}
    nothing = SimpleNamespace(**{metric: 0 for metric in FUNNEL}, revenue=Decimal(0), cost=Decimal(0))
    return {name: found.get(name, nothing) for name in periods}


#: the breakdowns the dashboard lists: metric → whether it belongs to an automation
BREAKDOWNS = {OPTINS: False, OPTOUTS: False, DEFERRED: True, FAILED: True}


def breakdowns(session: AnySession, shop_id: int, first: date, last: date, *,
               automation: str | None = None) -> dict[str, list[Any]]:
    """metric → [(day, dimension, count)] for each of ``BREAKDOWNS``, summed over automations
    (only ``automation``'s for the metrics of automations), in one query."""
    wanted: ColumnElement[bool] = T.c.metric.in_(list(BREAKDOWNS))
    if automation is not None:
        of_automations = [m for m, belongs in BREAKDOWNS.items() if belongs]
        wanted = and_(wanted, (T.c.metric.not_in(of_automations)) | (T.c.automation == automation))
    rows = session.execute(
        select(T.c.metric, T.c.day, T.c.dimension, func.sum(T.c.count).label("count"))
        .where(*_period(shop_id, first, last, None), wanted)
        .group_by(T.c.metric, T.c.day, T.c.dimension).order_by(T.c.metric, T.c.day, T.c.dimension)).all()
    answer: dict[str, list[Any]] = {metric: [] for metric in BREAKDOWNS}
    for row in rows:
        answer[row.metric].append(row)
    return answer


def automations_between(session: AnySession, shop_id: int, first: date, last: date) -> list[str]:
    """The automations with funnel figures in the days, by name."""
    return list(session.scalars(
        select(T.c.automation).distinct()
        .where(*_period(shop_id, first, last, None), T.c.metric.in_(FUNNEL), T.c.automation != "")
        .order_by(T.c.automation)))


def main_currency(session: AnySession, shop_id: int, first: date, last: date) -> str | None:
    """The currency most of the days' attributed orders are in."""
    return session.scalar(
        select(T.c.dimension).where(*_period(shop_id, first, last, None), T.c.metric == ORDERS, T.c.dimension != "")
        .group_by(T.c.dimension).order_by(func.sum(T.c.count).desc(), T.c.dimension).limit(1))


def ever(session: AnySession, shop_id: int, automation: str, metric: str) -> int:
    """How many facts of ``metric`` the automation has had on any day."""
    return int(session.scalar(select(func.coalesce(func.sum(T.c.count), 0)).where(
        T.c.shop_id == shop_id, T.c.automation == automation, T.c.metric == metric)) or 0)


# --- rebuilding -------------------------------------------------------------------------------

#: a UTC bucket of this many seconds lies within one local day in every time zone (every
#: zone's offset, and every daylight-saving jump, is a whole number of quarter hours)
BUCKET_SECONDS = 900


def rebuild(session: AnySession, shop: Shop) -> int:
    """Recount the shop's rollups from the source tables (in the caller's transaction, which
    commits it); returns the number of rows written. ``deferred`` and ``test_requested`` stay."""
    dialect = session.get_bind().dialect.name
    sums: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    for metric, query in _sources(shop.id, dialect):
        for automation, dimension, bucket, n, amount in session.execute(query):
            at = datetime.fromtimestamp(int(bucket) * BUCKET_SECONDS, timezone.utc)
            key = (local_day(at, shop.time_zone), automation or "", metric, (dimension or "")[:64])
            sums[key][0] += int(n)
            sums[key][1] += Decimal(amount or 0)
    session.execute(delete(T).where(T.c.shop_id == shop.id, T.c.metric.not_in(NOT_REBUILT)))
    rows = [{"shop_id": shop.id, "day": day, "automation": automation, "metric": metric, "dimension": dimension,
             "count": c, "amount": a} for (day, automation, metric, dimension), (c, a) in sorted(sums.items())]
    for start in range(0, len(rows), 1000):
        session.execute(T.insert(), rows[start:start + 1000])
    log.info("rollups.rebuilt", extra={"shop_id": shop.id, "rows": len(rows)})
    return len(rows)


def _bucket(column, dialect: str):
    if dialect == "postgresql":
        return func.floor(func.extract("epoch", column) / BUCKET_SECONDS)
    return cast(func.strftime("%s", column), Integer) // BUCKET_SECONDS  # SQLite stores UTC text


def _sources(shop_id: int, dialect: str) -> list[tuple[str, Select]]:
    """(metric, query of (automation, dimension, bucket, count, amount)) for every rebuilt metric."""
    M, C, R = Message, ConsentEvent, OrderRecord
    zero: Any = literal_column("0")
    none: Any = literal_column("''")

    def by_time(column, *conditions, dimension=None):
        bucket = _bucket(column, dialect)
        dim = dimension if dimension is not None else none
        group = [M.automation, bucket] + ([dimension] if dimension is not None else [])
        return (select(M.automation, dim, bucket, func.count(), zero)
                .where(M.shop_id == shop_id, column.is_not(None), *conditions).group_by(*group))

    first_clicks = (select(LinkClick.message_id, func.min(LinkClick.clicked_at).label("at"))
                    .where(LinkClick.shop_id == shop_id, LinkClick.message_id.is_not(None))
                    .group_by(LinkClick.message_id).subquery())
    click_bucket = _bucket(first_clicks.c.at, dialect)
    clicked = (select(M.automation, none, click_bucket, func.count(), zero)
               .join(first_clicks, first_clicks.c.message_id == M.id)
               .where(M.shop_id == shop_id).group_by(M.automation, click_bucket))

    order_bucket = _bucket(R.placed_at, dialect)
    orders = (select(R.attributed_automation, R.currency, order_bucket, func.count(), func.sum(R.total))
              .where(R.shop_id == shop_id, R.attributed_automation.is_not(None), R.cancelled_at.is_(None))
              .group_by(R.attributed_automation, R.currency, order_bucket))

    ledger = (select(C.occurred_at, C.state, C.source,
                     func.lag(C.source).over(partition_by=C.contact_id, order_by=C.id).label("previous"))
              .where(C.shop_id == shop_id, C.purpose == "marketing").subquery())
    source = case((and_(ledger.c.source == DOUBLE_OPT_IN, ledger.c.previous.is_not(None)), ledger.c.previous),
                  else_=ledger.c.source)
    ledger_bucket = _bucket(ledger.c.occurred_at, dialect)

    def consent(state: str):
        return (select(none, source, ledger_bucket, func.count(), zero)
                .where(ledger.c.state == state).group_by(source, ledger_bucket))

    cost_bucket = _bucket(M.sent_at, dialect)
    cost = (select(M.automation, M.cost_currency, cost_bucket, func.count(), func.sum(M.estimated_cost))
            .where(M.shop_id == shop_id, M.sent_at.is_not(None), M.estimated_cost.is_not(None),
                   M.status != MessageStatus.FAILED)
            .group_by(M.automation, M.cost_currency, cost_bucket))

    return [
        (SENT, by_time(M.sent_at)),
        (COST, cost),
        (DELIVERED, by_time(M.delivered_at)),
        (READ, by_time(M.read_at)),
        (FAILED, by_time(M.failed_at, M.status == MessageStatus.FAILED, dimension=M.status_reason)),
        (CLICKED, clicked),
        (ORDERS, orders),
        (OPTINS, consent("granted")),
        (OPTOUTS, consent("revoked")),
    ]
