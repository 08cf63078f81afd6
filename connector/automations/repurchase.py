"""Repurchase reminder: a product's usual interval after a contact's last order of it, a one-tap
cart with the same items.

- Every recorded order keeps its product lines (``order_lines``, written once per order by
  ``on_order``, after ``orders`` recorded the order).
- A product's interval is the merchant's (``automations.repurchase_reminder.intervals``,
  ``[{"product_id", "days"}]``), else, with ``learn`` on, the median of the shop's own repeat
  intervals of that product (the time between two orders of it by the same contact) once there
  are ``min_repeats`` (5) of them; learnt intervals are kept an hour in Redis.
- The sweep (``queue_due``) finds, per enabled shop and product, in SQL, the contacts whose
  last order of the product (not cancelled) is at least the interval old and at most
  ``late_days`` more (an order from long ago earns no reminder), and queues template
  ``repurchase_reminder`` with a cart link to that order's lines of the product. Key
  ``repurchase:{contact}:{product}:{order}``: one reminder per last order, however often the
  sweep runs; a newer order of the product moves the next reminder on.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import String, cast, exists, func, literal, select
from sqlalchemy.orm import aliased

from connector.automations.carts import cart_url
from connector.automations.common import automation_settings, queue_template
from connector.automations.lifecycle import BATCH, enabled_shops
from connector.contacts import first_name
from connector.dbutil import commit
from connector.events import Order, OrderPaid, OrderPlaced
from connector.extensions import db, get_redis
from connector.models import Contact, Message, OrderLine, OrderRecord, Shop

log = logging.getLogger(__name__)

AUTOMATION = TEMPLATE = "repurchase_reminder"
DAY = 86400
#: learnt intervals are read from the order history at most this often per shop
LEARNT_TTL_SECONDS = 3600
#: a learnt interval is kept within these bounds (days)
LEARNT_BOUNDS = (1, 365)


def on_order(shop_id: int, event: OrderPlaced | OrderPaid) -> None:
    record_lines(shop_id, event.order)


def record_lines(shop_id: int, order: Order) -> int:
    """The order's product lines, written once (the order's row, locked, serialises deliveries)."""
    record = db.session.scalars(select(OrderRecord).where(OrderRecord.shop_id == shop_id,
                                                          OrderRecord.order_id == order.order_id)
                                .with_for_update()).first()
    if record is None or db.session.scalar(select(OrderLine.id).where(
            OrderLine.shop_id == shop_id, OrderLine.order_id == order.order_id).limit(1)) is not None:
        return 0
    merged: dict[tuple[str, str | None], list] = {}
    for line in order.lines:
        if not line.product_id or line.quantity <= 0:
            continue
        key = (line.product_id[:64], line.variant_id[:64] if line.variant_id else None)
        merged.setdefault(key, [0, line.title])[0] += line.quantity
    db.session.add_all(OrderLine(shop_id=shop_id, order_id=order.order_id, contact_id=record.contact_id,
                                 product_id=product, variant_id=variant, quantity=quantity,
                                 title=(title or "")[:255] or None, placed_at=record.placed_at)
                       for (product, variant), (quantity, title) in merged.items())
    commit(db.session)
    return len(merged)


def intervals(shop: Shop, options: dict) -> dict[str, int]:
    """product id → interval in seconds: the merchant's, then the learnt ones for the rest."""
    found: dict[str, int] = {}
    if options["learn"]:
        found.update(learnt_intervals(shop, int(options["min_repeats"])))
    found.update({item["product_id"]: int(item["days"]) * DAY for item in options["intervals"]})
    return found


def learnt_intervals(shop: Shop, min_repeats: int) -> dict[str, int]:
    """The median repeat interval of each product with at least ``min_repeats`` of them (PostgreSQL)."""
    key = f"connector:repurchase:learnt:{shop.id}:{min_repeats}"
    cached = get_redis().get(key)
    if cached is not None:
        return json.loads(cached)
    if db.session.get_bind().dialect.name != "postgresql":
        return {}  # percentile_cont: the demo's SQLite learns nothing, merchants' intervals still apply
    previous = func.lag(OrderLine.placed_at).over(partition_by=(OrderLine.contact_id, OrderLine.product_id),
                                                  order_by=OrderLine.placed_at)
    gaps = select(OrderLine.product_id, func.extract("epoch", OrderLine.placed_at - previous).label("gap")) \
        .where(OrderLine.shop_id == shop.id, OrderLine.contact_id.is_not(None)).subquery()
    rows = db.session.execute(
        select(gaps.c.product_id, func.percentile_cont(0.5).within_group(gaps.c.gap))
        .where(gaps.c.gap > 0).group_by(gaps.c.product_id).having(func.count() >= min_repeats)
        .order_by(func.count().desc()).limit(1000)).all()
    low, high = LEARNT_BOUNDS
    learnt = {product: int(min(max(float(median), low * DAY), high * DAY)) for product, median in rows}
    get_redis().set(key, json.dumps(learnt), ex=LEARNT_TTL_SECONDS)
    return learnt


def reminder_key(contact_id: int, product_id: str, order_id: str) -> str:
    return f"repurchase:{contact_id}:{product_id}:{order_id}"


def due(shop: Shop, product_id: str, interval: int, late: int, now: datetime, limit: int) -> list:
    """(contact id, order id) whose last order of the product is due for its reminder, not yet queued."""
    later = aliased(OrderLine)
    key = literal("repurchase:") + cast(OrderLine.contact_id, String) + literal(f":{product_id}:") + OrderLine.order_id
    return list(db.session.execute(
        select(OrderLine.contact_id, OrderLine.order_id).distinct()
        .join(OrderRecord, (OrderRecord.shop_id == OrderLine.shop_id) & (OrderRecord.order_id == OrderLine.order_id))
        .where(OrderLine.shop_id == shop.id, OrderLine.product_id == product_id, OrderLine.contact_id.is_not(None),
               OrderLine.placed_at <= now - timedelta(seconds=interval),
               OrderLine.placed_at > now - timedelta(seconds=interval + late),
               OrderRecord.cancelled_at.is_(None),
               ~exists().where(later.shop_id == shop.id, later.product_id == product_id,
                               later.contact_id == OrderLine.contact_id, later.placed_at > OrderLine.placed_at),
               ~exists().where(Message.shop_id == shop.id, Message.idempotency_key == key))
        .limit(limit)).tuples())


def queue_due(now: datetime) -> int:
    """The sweep's step: every reminder now due, at most ``BATCH`` per shop and run."""
    queued = 0
    for shop in enabled_shops(AUTOMATION):
        options = automation_settings(shop, AUTOMATION)
        late = int(options["late_days"]) * DAY
        budget = BATCH
        for product_id, interval in sorted(intervals(shop, options).items()):
            if budget <= 0:
                break
            for contact_id, order_id in due(shop, product_id, interval, late, now, budget):
                _remind(shop, contact_id, product_id, order_id)
                budget -= 1
        queued += BATCH - budget
        db.session.commit()
    if queued:
        log.info("repurchase.queued", extra={"count": queued})
    return queued


def _remind(shop: Shop, contact_id: int, product_id: str, order_id: str) -> None:
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        return
    lines = db.session.execute(select(OrderLine.variant_id, OrderLine.quantity, OrderLine.title).where(
        OrderLine.shop_id == shop.id, OrderLine.order_id == order_id, OrderLine.product_id == product_id)
        .order_by(OrderLine.id)).all()
    items: dict[str, int] = defaultdict(int)
    for variant_id, quantity, _title in lines:
        items[variant_id or product_id] += quantity
    title = next((line.title for line in lines if line.title), None)
    queue_template(shop=shop, contact=contact, automation=AUTOMATION, template=TEMPLATE,
                   key=reminder_key(contact_id, product_id, order_id),
                   params={"customer_name": first_name(contact, "👋"), "shop_name": shop.name or shop.domain,
                           "product_name": title or "🛒"},
                   links=[cart_url(shop, [[item, quantity] for item, quantity in items.items()], discount=None,
                                   fallback=None)])
