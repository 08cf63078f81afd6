"""Segments: which contacts a campaign goes to, as one SQL query on the database.

A segment is a JSON object; each key present is a condition and a contact must meet all of
them (an AND). Every segment implies granted marketing consent and a phone number that was
not forgotten, whatever it says. The keys (contract, ``SegmentSchema``):

- ``locale``, ``country`` (lists): the contact's language (``de`` matches ``de`` and ``de-AT``)
  and country (ISO 3166 alpha-2);
- ``orders_min``, ``orders_max``, ``spent_min``: counted over the contact's orders that were
  not cancelled (the spend in the shop's currency, as the orders carry it);
- ``last_order_within_days``, ``last_order_before_days``: the contact's latest such order
  (a contact without one meets neither);
- ``bought_product`` (list of product ids): bought any of them;
- ``opted_in_within_days``: marketing consent given within the last N days;
- ``clicked_within_days``: followed one of our tracked links within the last N days;
- ``source`` (list): where the marketing opt-in came from (``popup`` matches ``popup`` and
  ``popup:…``, so ``entry_point`` matches every entry point);
- ``not_read_last``: the contact was sent at least N messages and read none of the last N
  (to stop writing to people who stopped reading).

``segment_query`` builds the SELECT of contact ids, ``count`` its size; nothing loads contacts
into Python. On PostgreSQL the order history is one aggregate over the shop's orders, joined
once, and each list condition one indexed ``EXISTS``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import Select, and_, exists, func, or_, select

from connector.extensions import db
from connector.models import Contact, LinkClick, Message, OrderLine, OrderRecord, utcnow
from connector.models.contacts import CONSENT_GRANTED

MAX_DAYS = 3650
MAX_LIST = 500


def _days(description: str) -> fields.Integer:
    return fields.Integer(validate=validate.Range(1, MAX_DAYS), metadata={"description": description})


def _strings(description: str, length: int, *, upper: bool = False) -> fields.List:
    return fields.List(fields.String(validate=validate.Length(1, length)), validate=validate.Length(1, MAX_LIST),
                       metadata={"description": description})


class SegmentSchema(Schema):
    """The conditions of a segment (all must hold; marketing consent always does)."""

    class Meta:
        unknown = RAISE

    locale = _strings("Languages, e.g. [\"de\", \"fr\"]: \"de\" matches de and de-AT.", 16)
    country = fields.List(fields.String(validate=validate.Regexp(r"^[A-Za-z]{2}$", error="Give ISO country codes.")),
                          validate=validate.Length(1, MAX_LIST),
                          metadata={"description": "Countries, ISO 3166 alpha-2 (\"DE\")."})
    orders_min = fields.Integer(validate=validate.Range(0, 1_000_000), metadata={"description": "At least N orders."})
    orders_max = fields.Integer(validate=validate.Range(0, 1_000_000), metadata={"description": "At most N orders."})
    spent_min = fields.Decimal(validate=validate.Range(0, 10**12), as_string=True,
                               metadata={"description": "Spent at least this much, in the shop's currency."})
    last_order_within_days = _days("Ordered within the last N days.")
    last_order_before_days = _days("Last ordered more than N days ago.")
    bought_product = _strings("Bought any of these products (the store's product ids).", 64)
    opted_in_within_days = _days("Gave marketing consent within the last N days.")
    clicked_within_days = _days("Followed one of our links within the last N days.")
    source = _strings("Where the opt-in came from (popup, checkout, entry_point, …).", 64)
    not_read_last = fields.Integer(validate=validate.Range(1, 50),
                                   metadata={"description": "Read none of their last N messages."})

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if "orders_min" in data and "orders_max" in data and data["orders_min"] > data["orders_max"]:
            raise ValidationError("orders_min is above orders_max.", "orders_max")


SCHEMA = SegmentSchema()


def parse(definition: Any) -> dict[str, Any]:
    """The segment's conditions, checked; raises ``marmallow.ValidationError`` (field → messages)."""
    if not isinstance(definition, dict):
        raise ValidationError({"_schema": ["A segment is a JSON object."]})
    return SCHEMA.load(definition)


def dump(conditions: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of parsed conditions (what is stored with a campaign)."""
    return SCHEMA.dump(conditions)


def segment_query(shop_id: int, conditions: dict[str, Any], now: datetime | None = None,
                  columns: tuple = ()) -> Select:
    """SELECT the contacts of the segment (their id, then ``columns``), ordered by id."""
    now = now or utcnow()
    C = Contact.__table__.c
    where = [C.shop_id == shop_id, C.marketing_consent == CONSENT_GRANTED, C.phone_e164.is_not(None),
             C.redacted_at.is_(None)]
    if "locale" in conditions:
        where.append(or_(*(or_(func.lower(C.locale) == value.lower(), func.lower(C.locale).like(f"{value.lower()}-%"),
                               func.lower(C.locale).like(f"{value.lower()}\\_%", escape="\\"))
                           for value in conditions["locale"])))
    if "country" in conditions:
        where.append(func.upper(C.country).in_([value.upper() for value in conditions["country"]]))
    if "opted_in_within_days" in conditions:
        where.append(C.marketing_consent_at >= now - timedelta(days=conditions["opted_in_within_days"]))
    if "source" in conditions:
        where.append(or_(*(or_(C.marketing_consent_source == value,
                               C.marketing_consent_source.like(f"{_like(value)}:%", escape="\\"))
                           for value in conditions["source"])))
    if "clicked_within_days" in conditions:
        L = LinkClick.__table__.c
        where.append(exists().where(L.shop_id == shop_id, L.contact_id == C.id,
                                    L.clicked_at >= now - timedelta(days=conditions["clicked_within_days"])))
    if "bought_product" in conditions:
        where.append(_bought(shop_id, C.id, conditions["bought_product"]))
    if "not_read_last" in conditions:
        where.append(_read_none_of_last(C.id, conditions["not_read_last"]))
    query = select(C.id, *columns)
    history = _order_conditions(shop_id, conditions, now)
    if history is not None:
        stats, condition = history
        query = query.select_from(Contact.__table__.outerjoin(stats, stats.c.contact_id == C.id))
        where.append(condition)
    return query.where(and_(*where)).order_by(C.id)


def count_by_country(shop_id: int, conditions: dict[str, Any], now: datetime | None = None) -> dict[str | None, int]:
    """The segment's contacts per country (for the cost estimate): one grouped query."""
    C = Contact.__table__.c
    query = segment_query(shop_id, conditions, now, columns=(C.country,)).order_by(None).subquery()
    return {country: int(n) for country, n in
            db.session.execute(select(query.c.country, func.count()).group_by(query.c.country)).all()}


def count(shop_id: int, conditions: dict[str, Any], now: datetime | None = None) -> int:
    query = segment_query(shop_id, conditions, now).order_by(None).subquery()
    return int(db.session.scalar(select(func.count()).select_from(query)) or 0)


def _order_conditions(shop_id: int, conditions: dict[str, Any], now: datetime):
    """The per-contact order aggregate and the condition on it, when the segment asks about orders."""
    keys = ("orders_min", "orders_max", "spent_min", "last_order_within_days", "last_order_before_days")
    if not any(key in conditions for key in keys):
        return None
    Ord = OrderRecord.__table__.c
    stats = (select(Ord.contact_id, func.count().label("orders"), func.coalesce(func.sum(Ord.total), 0).label("spent"),
                    func.max(Ord.placed_at).label("last_order"))
             .where(Ord.shop_id == shop_id, Ord.contact_id.is_not(None), Ord.cancelled_at.is_(None))
             .group_by(Ord.contact_id).subquery("order_stats"))
    orders, spent = func.coalesce(stats.c.orders, 0), func.coalesce(stats.c.spent, 0)
    parts = []
    if "orders_min" in conditions:
        parts.append(orders >= conditions["orders_min"])
    if "orders_max" in conditions:
        parts.append(orders <= conditions["orders_max"])
    if "spent_min" in conditions:
        parts.append(spent >= Decimal(conditions["spent_min"]))
    if "last_order_within_days" in conditions:
        parts.append(stats.c.last_order >= now - timedelta(days=conditions["last_order_within_days"]))
    if "last_order_before_days" in conditions:
        parts.append(stats.c.last_order < now - timedelta(days=conditions["last_order_before_days"]))
    return stats, and_(*parts)


def _bought(shop_id: int, contact_id, products: list[str]):
    """The contact ordered one of ``products`` (order lines, written as orders arrive)."""
    L = OrderLine.__table__.c
    return exists().where(L.shop_id == shop_id, L.contact_id == contact_id, L.product_id.in_(products))


def _read_none_of_last(contact_id, n: int):
    """At least ``n`` messages were sent to the contact and none of the last ``n`` was read."""
    M = Message.__table__.c
    last = (select(M.read_at).where(M.contact_id == contact_id, M.sent_at.is_not(None))
            .order_by(M.sent_at.desc()).limit(n).correlate_except(Message.__table__).subquery("last_sent"))
    unread = select(func.count()).select_from(last).where(last.c.read_at.is_(None)).scalar_subquery()
    return unread == n


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

