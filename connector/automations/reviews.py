"""The review request: some days after delivery, a 1–5 rating by quick reply.

Queued by ``shipping`` when a fulfillment is delivered, key ``order:{id}:review``, due
``delay_seconds`` later (setting ``automations.review_request``, off by default; marketing).
Its rating buttons carry ``review_<n>:<order id>`` (``reply_context``), so the tap names the
order; ``connector.conversations.reviews`` stores the answer, asks for a comment and, for 4–5,
sends the review site link made here (``order:{id}:review:site``, a tracked short link to
``review_url``, made only when that is on the shop's hosts).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from connector.automations import links
from connector.automations.common import automation_settings, is_enabled, queue_template
from connector.contacts import first_name
from connector.events import Order, OrderPaid, OrderPlaced
from connector.extensions import db
from connector.models import Contact, OrderRecord, Shop, utcnow
from connector.models.reviews import site_link_key

AUTOMATION = "review_request"
TEMPLATE = "review_rating"


def queue_review_request(shop: Shop, contact: Contact, *, order_id: str, order_name: str,
                         status_url: str | None) -> None:
    if not is_enabled(shop, AUTOMATION):
        return
    options = automation_settings(shop, AUTOMATION)
    key = f"order:{order_id}:review"
    queued = queue_template(shop=shop, contact=contact, automation=AUTOMATION, template=TEMPLATE, key=key, params={
                                "customer_name": first_name(contact, "👋"), "order_number": order_name,
                                "shop_name": shop.name or shop.domain},
                            links=[links.safe_target(shop, options.get("review_url"), status_url)],
                            due_at=utcnow() + timedelta(seconds=float(options["delay_seconds"])),
                            reply_context=order_id)
    if links.is_shop_url(shop, options.get("review_url")):
        site = links.short_link(shop=shop, contact=contact, link_key=site_link_key(order_id),
                                target=options["review_url"], automation=AUTOMATION, template=TEMPLATE)
        links.attach_message(shop.id, [site.code], queued.message.id)


def remember_products(shop_id: int, event: OrderPlaced | OrderPaid) -> None:
    """Keep the order's product ids on its row (``orders.record_order`` made it just before):
    the review answer and the post-purchase content need them after the webhook has gone."""
    order: Order = event.order
    products = sorted({line.product_id[:64] for line in order.lines if line.product_id})[:100]
    db.session.execute(update(OrderRecord).where(OrderRecord.shop_id == shop_id,
                                                 OrderRecord.order_id == order.order_id)
                       .values(product_ids=products))
