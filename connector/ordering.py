"""Stale deliveries: a resource's older state must never overwrite a newer one.

Stores retry webhooks for hours and do not keep their order (Shopify:
https://shopify.dev/docs/apps/build/webhooks/best-practices; WooCommerce catch-up polls may
replay what a webhook already brought). Each event that describes the state of a resource
carries its vendor timestamp; the newest applied one is kept per resource, and an event not
newer than it is stale: it is skipped, and the receipt's outcome says so.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from connector.dbutil import insert_or_ignore, rowcount
from connector.events import (
    CheckoutUpdated,
    FulfillmentUpdated,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    StockChanged,
)
from connector.extensions import db
from connector.models import ResourceVersion


def version_of(event: object) -> tuple[str, str, datetime] | None:
    """(resource, id, timestamp) of a state event; None for events that are not ordered."""
    if isinstance(event, CheckoutUpdated):
        return "checkout", event.cart_token, event.updated_at
    if isinstance(event, StockChanged):
        return "stock", event.variant_id, event.occurred_at
    if isinstance(event, FulfillmentUpdated):
        # updates and carrier events share one timeline: "in transit" after "delivered" is old news
        return "fulfillment", event.fulfillment_id, event.occurred_at
    if isinstance(event, OrderPlaced | OrderPaid | OrderCancelled):
        # each transition once: a redelivery of the same transition is not newer
        return type(event).__name__, event.order.order_id, event.order.updated_at
    return None


def is_stale(shop_id: int, event: object) -> bool:
    """True when a state at least as new was already applied; otherwise record this one."""
    version = version_of(event)
    if version is None:
        return False
    resource, resource_id, at = version
    resource_id = resource_id[:128]
    inserted = insert_or_ignore(db.session, ResourceVersion, {
        "shop_id": shop_id, "resource": resource, "resource_id": resource_id, "version_at": at},
        conflict=("shop_id", "resource", "resource_id"))
    if inserted is not None:
        return False
    # a conditional update: two workers with different versions cannot both win
    won = rowcount(db.session.execute(
        update(ResourceVersion)
        .where(ResourceVersion.shop_id == shop_id, ResourceVersion.resource == resource,
               ResourceVersion.resource_id == resource_id, ResourceVersion.version_at < at)
        .values(version_at=at)
    ))
    return won == 0


def latest_version(shop_id: int, resource: str, resource_id: str) -> datetime | None:
    return db.session.scalar(select(ResourceVersion.version_at).where(
        ResourceVersion.shop_id == shop_id, ResourceVersion.resource == resource,
        ResourceVersion.resource_id == resource_id))
