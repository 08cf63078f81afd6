"""Cash-on-delivery decisions a shopper taps on WhatsApp, carried out in the store.

The ``cod_confirmation`` template's quick replies carry ``cod_confirm:<order id>`` /
``cod_cancel:<order id>``. A decision counts only for an order of the same contact; it is
applied through the store's API (Shopify: a tag, or ``orderCancel``; WooCommerce: an order
note and meta, or the status ``cancelled``). A store that cannot be reached leaves the
decision recorded on the inbound message for the merchant to act on.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from connector.extensions import db
from connector.models import Contact, OrderRecord, Shop

log = logging.getLogger(__name__)

CONFIRMED_TAG = "whatsapp-cod-confirmed"

_TAGS_ADD = """
mutation TagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { userErrors { field message } }
}
"""
_ORDER_CANCEL = """
mutation OrderCancel($orderId: ID!) {
  orderCancel(orderId: $orderId, reason: CUSTOMER, refund: false, restock: true, notifyCustomer: true) {
    orderCancelUserErrors { field message }
  }
}
"""


def cod_decision(shop: Shop, contact: Contact, action: str, *, order_id: str | None, at: datetime) -> str | None:
    order = db.session.scalars(select(OrderRecord).where(
        OrderRecord.shop_id == shop.id, OrderRecord.order_id == (order_id or ""))).first()
    if order is None or order.contact_id != contact.id:
        log.info("cod.decision_ignored", extra={"shop_id": shop.id, "reason": "not_this_contacts_order"})
        return None
    confirm = action == "cod_confirm"
    try:
        _apply(shop, order.order_id, confirm)
    except Exception as error:  # the decision is kept on the inbound message either way
        log.warning("cod.store_update_failed", extra={"shop_id": shop.id, "error": type(error).__name__})
        return f"{action}_pending"
    if not confirm:
        order.cancelled_at = order.cancelled_at or at
    log.info("cod.decision_applied", extra={"shop_id": shop.id, "confirm": confirm})
    return action


def _apply(shop: Shop, order_id: str, confirm: bool) -> None:
    if shop.platform == "shopify":
        from connector.stores.shopify import graphql
        from integrations.shopify.client import gid

        with graphql(shop) as client:
            if confirm:
                client.execute(_TAGS_ADD, {"id": gid("Order", order_id), "tags": [CONFIRMED_TAG]})
            else:
                client.execute(_ORDER_CANCEL, {"orderId": gid("Order", order_id)})
    elif shop.platform == "woocommerce":
        from connector.stores.woocommerce import client_for  # through the SSRF guard, like every store call

        with client_for(shop) as client:
            body = ({"meta_data": [{"key": "_wcc_cod_confirmed", "value": "yes"}]} if confirm
                    else {"status": "cancelled"})
            client.request("PUT", f"orders/{order_id}", json=body).raise_for_status()
    else:
        raise LookupError(f"no COD handling for {shop.platform}")
