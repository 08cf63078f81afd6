"""Which message earned an order, and the funnel per automation.

An order is credited to the last message whose tracked link the contact clicked within the
attribution window (``automations.attribution.window_seconds``, 5 days by default) before
the order; failing a click, to the last message they read in that window. The order row
keeps the message id and how it was found (``click`` / ``read``), so a merchant can check
every credited order against the outbox and the click log.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from connector import rollups
from connector.automations.common import automation_settings
from connector.dbutil import insert_or_ignore, inserted_row
from connector.events import Order
from connector.extensions import db
from connector.models import Contact, LinkClick, Message, OrderRecord, Shop, ShortLink, utcnow


def record_order(shop: Shop, order: Order, contact: Contact | None) -> OrderRecord:
    """The order's row (made on first sight) with its attribution, decided once."""
    now = utcnow()
    values = {
        "shop_id": shop.id, "order_id": order.order_id, "contact_id": contact.id if contact else None,
        "name": order.name[:64] if order.name else None, "currency": order.currency, "total": order.total,
        "status_url": order.status_url, "placed_at": order.created_at, "created_at": now, "updated_at": now,
    }
    new_id = insert_or_ignore(db.session, OrderRecord, values, ("shop_id", "order_id"))
    if new_id is not None:
        record = inserted_row(db.session, OrderRecord, values, new_id)  # built, not read back
        if contact is not None:
            found = attribute(shop, contact.id, order.created_at)
            if found is not None:
                record.attributed_message_id, record.attributed_automation, record.attribution = found
                rollups.count_order(db.session, record)
        return record
    record = _locked_order(shop.id, order.order_id)
    assert record is not None  # the key was taken: the row is there
    if record.cancelled_at is None and record.attributed_automation and record.total != order.total:
        # the revenue already counted moves to the final figure
        rollups.count(db.session, shop.id, record.placed_at, rollups.ORDERS,
                      automation=record.attributed_automation, dimension=record.currency, n=0,
                      amount=(order.total or Decimal(0)) - (record.total or Decimal(0)))
        record.total = order.total  # a later event (paid) has the final figures
    return record


def _locked_order(shop_id: int, order_id: str) -> OrderRecord | None:
    """The order's row, locked and read afresh: its revenue in the rollups changes with it."""
    return db.session.scalars(select(OrderRecord).where(OrderRecord.shop_id == shop_id,
                                                        OrderRecord.order_id == order_id)
                              .with_for_update().execution_options(populate_existing=True)).first()


def attribute(shop: Shop, contact_id: int, at) -> tuple[int, str, str] | None:
    window = timedelta(seconds=float(automation_settings(shop, "attribution")["window_seconds"]))
    since = at - window
    click = db.session.execute(
        select(LinkClick.message_id, ShortLink.automation)
        .join(ShortLink, ShortLink.id == LinkClick.link_id)
        .where(LinkClick.shop_id == shop.id, LinkClick.contact_id == contact_id, LinkClick.message_id.is_not(None),
               LinkClick.clicked_at >= since, LinkClick.clicked_at <= at)
        .order_by(LinkClick.clicked_at.desc(), LinkClick.id.desc()).limit(1)
    ).first()
    if click is not None:
        return click.message_id, click.automation, "click"
    read = db.session.execute(
        select(Message.id, Message.automation)
        .where(Message.shop_id == shop.id, Message.contact_id == contact_id, Message.read_at.is_not(None),
               Message.read_at >= since, Message.read_at <= at)
        .order_by(Message.read_at.desc(), Message.id.desc()).limit(1)
    ).first()
    if read is not None:
        return read.id, read.automation, "read"
    return None


def cancel_order(shop: Shop, order: Order) -> None:
    record = _locked_order(shop.id, order.order_id)
    if record is not None and record.cancelled_at is None:
        record.cancelled_at = utcnow()  # a cancelled order earns no revenue in the funnel
        rollups.count_order(db.session, record, -1)
        db.session.commit()


FUNNEL_COLUMNS = ("triggered", "sent", "delivered", "read", "clicked", "orders", "revenue")


def funnel(shop_id: int) -> list[dict]:
    """Per automation: messages triggered (queued at all), sent, delivered, read, clicked;
    attributed orders (not cancelled) and their revenue, per currency."""
    rows: dict[str, dict] = {}

    def row(name: str) -> dict:
        return rows.setdefault(name, {"automation": name, **{c: 0 for c in FUNNEL_COLUMNS[:-1]}, "revenue": {}})

    counts = db.session.execute(
        select(Message.automation, func.count(Message.id), func.count(Message.sent_at),
               func.count(Message.delivered_at), func.count(Message.read_at))
        .where(Message.shop_id == shop_id).group_by(Message.automation)
    ).all()
    for automation, triggered, sent, delivered, read in counts:
        r = row(automation)
        r.update(triggered=triggered, sent=sent, delivered=delivered, read=read)
    clicked = db.session.execute(
        select(ShortLink.automation, func.count(func.distinct(ShortLink.message_id)))
        .where(ShortLink.shop_id == shop_id, ShortLink.clicks > 0, ShortLink.message_id.is_not(None))
        .group_by(ShortLink.automation)
    ).all()
    for automation, count in clicked:
        row(automation)["clicked"] = count
    orders = db.session.execute(
        select(OrderRecord.attributed_automation, OrderRecord.currency, func.count(OrderRecord.id),
               func.sum(OrderRecord.total))
        .where(OrderRecord.shop_id == shop_id, OrderRecord.attributed_automation.is_not(None),
               OrderRecord.cancelled_at.is_(None))
        .group_by(OrderRecord.attributed_automation, OrderRecord.currency)
    ).all()
    for automation, currency, count, total in orders:
        r = row(automation)
        r["orders"] += count
        r["revenue"][currency or ""] = str(Decimal(total or 0).quantize(Decimal("0.01")))
    return sorted(rows.values(), key=lambda r: r["automation"])
