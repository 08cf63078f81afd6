"""What the connector asks of a Shopify shop, one function per operation: the GraphQL
documents and variables live here, beside the client that sends them, never in the core.

Each takes a ``GraphQLClient`` (``integrations.shopify.client``) and returns plain values;
errors are the client's (``ShopifyUserError`` for a mutation's user errors, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from integrations.coerce import as_dict as _dict
from integrations.coerce import as_list as _list
from integrations.shopify.client import GraphQLClient, gid, numeric_id
from integrations.shopify.errors import ShopifyUserError

log = logging.getLogger(__name__)

_LIST_SUBSCRIPTIONS = """
query WebhookSubscriptions($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}
"""

_CREATE_SUBSCRIPTION = """
mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""


def create_webhook_subscriptions(client: GraphQLClient, callback_url: str, topics: Iterable[str]) -> dict[str, str]:
    """Subscribe this shop to ``topics`` at ``callback_url``; return ``{TOPIC_ENUM: subscription gid}``.

    Topics may be given as ``orders/paid`` or ``ORDERS_PAID``. Existing subscriptions already
    pointing at ``callback_url`` are kept, not duplicated, so running this twice is harmless.
    Shop-specific subscriptions are only needed beyond those in ``shopify.app.toml``, which
    Shopify keeps up to date itself. The compliance topics (``customers/data_request``,
    ``customers/redact``, ``shop/redact``) cannot be created through the API at all: they
    come from the TOML's ``compliance_topics`` (or the Partner Dashboard).
    https://shopify.dev/docs/api/admin-graphql/latest/mutations/webhookSubscriptionCreate
    """
    wanted = [_topic_enum(topic) for topic in topics]
    existing = {node["topic"]: node["id"] for node in _subscriptions(client) if node.get("uri") == callback_url}
    result: dict[str, str] = {}
    for topic in dict.fromkeys(wanted):
        if topic in existing:
            result[topic] = existing[topic]
            continue
        data = client.execute(
            _CREATE_SUBSCRIPTION,
            {"topic": topic, "webhookSubscription": {"uri": callback_url, "format": "JSON"}},
        )
        created = _dict(_dict(data.get("webhookSubscriptionCreate")).get("webhookSubscription"))
        result[topic] = str(created.get("id", ""))
        log.info("shopify.webhook_subscription.created", extra={"shop": client.shop, "topic": topic})
    return result


def _subscriptions(client: GraphQLClient) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        connection = _dict(client.execute(_LIST_SUBSCRIPTIONS, {"after": after}).get("webhookSubscriptions"))
        nodes += [node for node in _list(connection.get("nodes")) if isinstance(node, dict)]
        page = _dict(connection.get("pageInfo"))
        if not page.get("hasNextPage") or not page.get("endCursor"):
            return nodes
        after = page["endCursor"]


def _topic_enum(topic: str) -> str:
    """``orders/paid`` → ``ORDERS_PAID`` (the ``WebhookSubscriptionTopic`` enum name)."""
    return topic.strip().replace("/", "_").upper()


_INVENTORY_ITEM_VARIANT = """
query InventoryItemVariant($id: ID!) {
  inventoryItem(id: $id) { id variant { id product { id } } }
}
"""


def variant_for_inventory_item(client: GraphQLClient, inventory_item_id: str | int) -> tuple[str, str] | None:
    """``(product_id, variant_id)`` (numeric strings) of an inventory item, or ``None`` if unknown.

    ``inventory_levels/update`` carries only the inventory item; this maps it to the variant.
    """
    data = client.execute(_INVENTORY_ITEM_VARIANT, {"id": gid("InventoryItem", inventory_item_id)})
    variant = _dict(_dict(data.get("inventoryItem")).get("variant"))
    variant_id = numeric_id(variant.get("id"))
    product_id = numeric_id(_dict(variant.get("product")).get("id"))
    if variant_id is None or product_id is None:
        return None
    return product_id, variant_id


# -- the shop -------------------------------------------------------------------------------

#: the cheapest query that needs a working token (cost 1)
_SHOP_NAME = "query ShopName { shop { name } }"

_PROFILE = """
query ShopProfile {
  shop { name currencyCode ianaTimezone billingAddress { countryCodeV2 } primaryDomain { host } }
  shopLocales(published: true) { locale primary }
}
"""


def shop_name(client: GraphQLClient) -> str:
    """The shop's name; raises when the token does not work."""
    return str(_dict(client.execute(_SHOP_NAME).get("shop")).get("name") or "")


def shop_profile(client: GraphQLClient) -> dict[str, Any]:
    """Name, currency, IANA time zone, two-letter country, primary locale and the primary
    domain's host (the one shoppers browse; each may be None)."""
    data = client.execute(_PROFILE)
    shop = _dict(data.get("shop"))
    country = _dict(shop.get("billingAddress")).get("countryCodeV2")
    primary = next((entry.get("locale") for entry in _list(data.get("shopLocales"))
                    if isinstance(entry, dict) and entry.get("primary")), None)
    return {
        "name": shop.get("name") if isinstance(shop.get("name"), str) else None,
        "currency": shop.get("currencyCode") if isinstance(shop.get("currencyCode"), str) else None,
        "time_zone": shop.get("ianaTimezone") if isinstance(shop.get("ianaTimezone"), str) else None,
        "country": country if isinstance(country, str) and len(country) == 2 else None,
        "locale": primary if isinstance(primary, str) and primary else None,
        "primary_host": host.lower() if isinstance(host := _dict(shop.get("primaryDomain")).get("host"), str)
        and host else None,
    }


# -- orders ---------------------------------------------------------------------------------

_TAGS_ADD = """
mutation TagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { userErrors { field message } }
}
"""
# https://shopify.dev/docs/api/admin-graphql/latest/mutations/orderCancel: its errors come in
# ``orderCancelUserErrors`` (``userErrors`` is deprecated there), read by GraphQLClient.execute
_ORDER_CANCEL = """
mutation OrderCancel($orderId: ID!) {
  orderCancel(orderId: $orderId, reason: CUSTOMER, refund: false, restock: true, notifyCustomer: true) {
    orderCancelUserErrors { field message code }
  }
}
"""


def add_order_tags(client: GraphQLClient, order_id: str, tags: list[str]) -> None:
    """Tag an order (numeric id); user errors raise ``ShopifyUserError``."""
    client.execute(_TAGS_ADD, {"id": gid("Order", order_id), "tags": tags})


def cancel_order(client: GraphQLClient, order_id: str) -> None:
    """Cancel an order the shopper declined: restocked, not refunded, the customer notified."""
    client.execute(_ORDER_CANCEL, {"orderId": gid("Order", order_id)})


# -- discounts ------------------------------------------------------------------------------

# https://shopify.dev/docs/api/admin-graphql/latest/mutations/discountCodeBasicCreate
_DISCOUNT_CREATE = """
mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}
"""
#: the userError code when the code exists already
DISCOUNT_CODE_TAKEN = "TAKEN"


def create_code_discount(client: GraphQLClient, *, code: str, title: str, percent: Decimal, starts_at: datetime,
                         ends_at: datetime, usage_limit: int | None = 1) -> bool:
    """A once-per-customer percentage code on the whole order (shipping discounts combine with
    it), single-use unless ``usage_limit`` says otherwise (None: any number of customers).
    True when it was made, False when the code exists already."""
    variables = {"basicCodeDiscount": {
        "title": title, "code": code,
        "startsAt": starts_at.isoformat(), "endsAt": ends_at.isoformat(),
        "context": {"all": "ALL"},
        "customerGets": {"value": {"percentage": float(percent / 100)}, "items": {"all": True}},
        "appliesOncePerCustomer": True, "usageLimit": usage_limit,
        "combinesWith": {"orderDiscounts": False, "productDiscounts": False, "shippingDiscounts": True},
    }}
    try:
        data = client.execute(_DISCOUNT_CREATE, variables)
    except ShopifyUserError as error:
        if any(isinstance(e, dict) and e.get("code") == DISCOUNT_CODE_TAKEN for e in error.errors):
            return False
        raise
    if not _dict(data.get("discountCodeBasicCreate")).get("codeDiscountNode"):
        raise ShopifyUserError("discountCodeBasicCreate returned no discount", errors=[])
    return True
