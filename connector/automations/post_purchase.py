"""Post-purchase content: after delivery (or shipping), a usage guide or an unboxing video for
the products of the order.

Setting ``automations.post_purchase`` (off by default): ``trigger`` ``delivered`` (default) or
``shipped``, ``delay_seconds`` after it (1 day), and ``rules``, each ``{product_ids, url, note}``:
a rule whose ``product_ids`` meet the order's (``orders.product_ids``), or that names none, is
one message, template ``post_purchase_content`` (utility: the order's own transactional
consent), key ``order:{id}:content:{rule}`` (``rule``: a digest of its URL), so once per order
and rule however many fulfillments the order has. The button is a tracked short link to the
rule's URL; a URL off the shop's hosts (``link_domains``) is skipped and logged rather than
sent as a link to the home page.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from sqlalchemy import select

from connector.automations import links
from connector.automations.common import automation_settings, is_enabled, queue_template
from connector.contacts import contact_for, first_name
from connector.events import FulfillmentStatus as S
from connector.events import FulfillmentUpdated
from connector.extensions import db
from connector.models import Contact, OrderRecord, Shop, utcnow

log = logging.getLogger(__name__)

AUTOMATION = "post_purchase"
TEMPLATE = "post_purchase_content"
#: the statuses each trigger answers (a store may report delivered without shipped first)
TRIGGERS = {"delivered": {S.DELIVERED},
            "shipped": {S.SHIPPED, S.IN_TRANSIT, S.READY_FOR_PICKUP, S.OUT_FOR_DELIVERY, S.DELIVERED}}


def rule_key(order_id: str, url: str) -> str:
    return f"order:{order_id}:content:{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def on_fulfillment_updated(shop_id: int, event: FulfillmentUpdated) -> None:
    shop = db.session.get(Shop, shop_id)
    if shop is None or not is_enabled(shop, AUTOMATION):
        return
    options = automation_settings(shop, AUTOMATION)
    if event.status not in TRIGGERS[options["trigger"]] or not options["rules"]:
        return
    order = db.session.scalars(select(OrderRecord).where(OrderRecord.shop_id == shop.id,
                                                         OrderRecord.order_id == event.order_id)).first()
    products = set(order.product_ids or ()) if order is not None else set()
    rules = [rule for rule in options["rules"] if not rule["product_ids"] or products & set(rule["product_ids"])]
    if not rules:
        return
    contact = db.session.get(Contact, order.contact_id) if order is not None and order.contact_id else None
    if contact is None:
        contact = contact_for(shop, event.customer, transactional_source="order")
    if contact is None:
        log.info("post_purchase.no_contact", extra={"shop_id": shop.id})
        return
    due_at = utcnow() + timedelta(seconds=float(options["delay_seconds"]))
    order_name = event.order_name or (order.name if order else None) or event.order_id
    for rule in rules:
        if not links.is_shop_url(shop, rule["url"]):
            log.info("post_purchase.url_not_allowed", extra={"shop_id": shop.id, "reason": "not_in_link_domains"})
            continue
        queue_template(shop=shop, contact=contact, automation=AUTOMATION, template=TEMPLATE,
                       key=rule_key(event.order_id, rule["url"]),
                       params={"customer_name": first_name(contact, "👋"), "order_number": order_name,
                               "content_note": rule["note"]},
                       links=[rule["url"]], due_at=due_at)
