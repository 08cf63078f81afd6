"""Shipping updates: one message per status a fulfillment reaches, never going backwards.

Statuses are ranked (shipped < in transit < out for delivery < attempted/delayed <
delivered). A status is announced only if it ranks above the furthest one the fulfillment
already reached; the key ``fulfillment:{id}:{status}`` makes each at most once even when the
same webhook comes three times. Only shipped, out for delivery, delivered and
attempted delivery / delayed have a template; in transit, pending and the like move the
fulfillment forward silently. The review request (off by default) follows ``delivered``.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from connector.automations import reviews
from connector.automations.common import is_enabled, queue_template
from connector.automations.links import safe_target
from connector.contacts import contact_for, first_name
from connector.dbutil import insert_or_ignore
from connector.events import FulfillmentStatus as S
from connector.events import FulfillmentUpdated
from connector.extensions import db
from connector.models import Contact, OrderRecord, Shipment, Shop, utcnow

log = logging.getLogger(__name__)

AUTOMATION = "shipping_updates"
RANK = {S.PENDING: 0, S.SHIPPED: 1, S.IN_TRANSIT: 2, S.READY_FOR_PICKUP: 3, S.OUT_FOR_DELIVERY: 3,
        S.ATTEMPTED_DELIVERY: 4, S.DELAYED: 4, S.FAILURE: 4, S.DELIVERED: 5, S.CANCELLED: 6}
TEMPLATES = {S.SHIPPED: "shipping_shipped", S.OUT_FOR_DELIVERY: "shipping_out_for_delivery",
             S.DELIVERED: "shipping_delivered", S.ATTEMPTED_DELIVERY: "shipping_delayed",
             S.DELAYED: "shipping_delayed"}


def on_fulfillment_updated(shop_id: int, event: FulfillmentUpdated) -> None:
    shop = db.session.get(Shop, shop_id)
    if shop is None or event.status not in RANK:
        return
    rank = RANK[event.status]
    now = utcnow()
    insert_or_ignore(db.session, Shipment, {"shop_id": shop.id, "order_id": event.order_id,
                                            "fulfillment_id": event.fulfillment_id[:128], "status": S.PENDING,
                                            "status_rank": -1, "created_at": now, "updated_at": now},
                     conflict=("shop_id", "fulfillment_id"))
    shipment = db.session.scalars(select(Shipment).where(Shipment.shop_id == shop.id,
                                                         Shipment.fulfillment_id == event.fulfillment_id[:128])).one()
    if rank <= shipment.status_rank:
        log.info("shipping.not_newer", extra={"shop_id": shop.id, "shipment_id": shipment.id, "status": event.status})
        db.session.commit()
        return
    previous_rank = shipment.status_rank
    shipment.status, shipment.status_rank = event.status, rank
    db.session.commit()
    template = TEMPLATES.get(event.status)
    if template is None or not is_enabled(shop, AUTOMATION):
        return
    if event.status == S.SHIPPED and previous_rank >= RANK[S.SHIPPED]:
        return
    order = db.session.scalars(select(OrderRecord).where(OrderRecord.shop_id == shop.id,
                                                         OrderRecord.order_id == event.order_id)).first()
    contact = contact_for(shop, event.customer, transactional_source="order")
    if contact is None and order is not None and order.contact_id is not None:
        contact = db.session.get(Contact, order.contact_id)
    if contact is None:
        log.info("shipping.no_contact", extra={"shop_id": shop.id, "shipment_id": shipment.id})
        return
    order_name = event.order_name or (order.name if order else None) or event.order_id
    params = {"customer_name": first_name(contact, "👋"), "order_number": order_name}
    if template in ("shipping_shipped", "shipping_delayed"):
        params["carrier"] = event.tracking_company or (shop.name or shop.domain)
    if template == "shipping_shipped":
        params["tracking_number"] = ", ".join(event.tracking_numbers) or "–"
    status_url = order.status_url if order else None
    target = safe_target(shop, *(event.tracking_urls or ()), status_url)
    queue_template(shop=shop, contact=contact, automation=AUTOMATION, template=template,
                   key=f"fulfillment:{event.fulfillment_id}:{event.status}", params=params, links=[target])
    if event.status == S.DELIVERED:
        _review_request(shop, contact, order_name, event, status_url)


def _review_request(shop: Shop, contact: Contact, order_name: str, event: FulfillmentUpdated, status_url) -> None:
    reviews.queue_review_request(shop, contact, order_id=event.order_id, order_name=order_name, status_url=status_url)
