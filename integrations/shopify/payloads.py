"""Neutral events from Shopify payloads, one parser per topic (the table is in ``webhooks``).

Each parser takes the payload (a dict) and the shop's ``ParseContext`` and raises
``PayloadError`` only when the id that makes the payload usable is missing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from connector.events import (
    CheckoutUpdated,
    CustomerDataRequest,
    CustomerRedact,
    Event,
    FulfillmentStatus,
    FulfillmentUpdated,
    Order,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    ShopRedact,
    ShopUninstalled,
    StockChanged,
)
from integrations.base import ParseContext, PayloadError
from integrations.coerce import as_dict as _dict
from integrations.coerce import as_list as _list
from integrations.coerce import dicts as _dicts
from integrations.coerce import text as _text
from integrations.kit import id_text as _id
from integrations.kit import ids as _ids
from integrations.kit import money as _money
from integrations.kit import money_or_none as _money_or_none
from integrations.kit import to_int as _int
from integrations.shopify.consts import PLATFORM
from integrations.shopify.readers import (
    address_fields,
    destination_customer,
    e164,
    line_items,
    moment_of,
    note_attributes,
    read_customer,
    shop_money,
    timestamp,
)

#: the parsers log under the name of the module that dispatches to them
log = logging.getLogger("integrations.shopify.webhooks")


# --- checkouts/* -----------------------------------------------------------------------


def parse_checkout(payload: dict, context: ParseContext) -> list[Event]:
    # Checkouts are keyed on ``token``; the create/update samples have no ``id`` at all,
    # and an order refers back to the checkout by ``checkout_token`` (or ``cart_token``).
    token = _id(payload.get("token")) or _id(payload.get("id"))
    if token is None:
        raise PayloadError("checkout has neither token nor id")
    cart_token = _id(payload.get("cart_token"))
    return [
        CheckoutUpdated(
            platform=PLATFORM,
            cart_token=token,
            updated_at=moment_of(payload, context),
            customer=read_customer(payload, context, phone_keys=("phone", "sms_marketing_phone")),
            lines=tuple(line_items(payload.get("line_items"))),
            currency=_text(payload.get("presentment_currency")) or _text(payload.get("currency")) or "",
            subtotal=_money(payload.get("subtotal_price")),
            total=_money(payload.get("total_price")),
            recovery_url=checkout_recovery_url(payload),
            completed_at=timestamp(payload.get("completed_at")),
            alt_tokens=(cart_token,) if cart_token and cart_token != token else (),
            created_at=timestamp(payload.get("created_at")),
        )
    ]


def checkout_recovery_url(payload: Mapping[str, Any]) -> str | None:
    """The checkout's own recovery link (``abandoned_checkout_url``), if it is an http(s) URL."""
    url = _text(payload.get("abandoned_checkout_url"))
    return url if url and url.startswith(("https://", "http://")) else None


# --- orders/* ---------------------------------------------------------------------------


def _order(payload: dict, context: ParseContext) -> Order:
    order_id = _id(payload.get("id"))
    if order_id is None:
        raise PayloadError("order has no id")
    updated_at = moment_of(payload, context)
    shipping = shop_money(payload.get("total_shipping_price_set"))
    if shipping is None:
        shipping = sum((_money(_dict(line).get("price")) for line in _list(payload.get("shipping_lines"))), Decimal(0))
    tokens = (_id(payload.get("checkout_token")), _id(payload.get("cart_token")))
    return Order(
        platform=PLATFORM,
        order_id=order_id,
        name=_text(payload.get("name")) or f"#{payload.get('order_number') or order_id}",
        created_at=timestamp(payload.get("created_at")) or updated_at,
        updated_at=updated_at,
        customer=read_customer(payload, context, phone_keys=("phone",)),
        lines=tuple(line_items(payload.get("line_items"))),
        currency=_text(payload.get("currency")) or "",
        subtotal=_money(payload.get("subtotal_price")),
        shipping=shipping,
        tax=_money(payload.get("total_tax")),
        discount=_money(payload.get("total_discounts")),
        total=_money(payload.get("total_price")),
        financial_status=_text(payload.get("financial_status")),
        cart_tokens=tuple(dict.fromkeys(token for token in tokens if token)),
        status_url=_text(payload.get("order_status_url")),
        payment_method=_payment_method(payload.get("payment_gateway_names")),
        taxes_included=payload.get("taxes_included") is True,
        billing_address=address_fields(payload.get("billing_address")),
        shipping_address=address_fields(payload.get("shipping_address")),
        note_attributes=note_attributes(payload.get("note_attributes")),
        discount_codes=_codes(payload.get("discount_codes")),
    )


def _codes(value: object) -> tuple[str, ...]:
    """``discount_codes``: [{"code", "amount", "type"}] (https://shopify.dev/docs/api/admin-rest/latest/resources/order)."""
    return tuple(dict.fromkeys(code[:64] for item in _dicts(value) if (code := _text(item.get("code")))))


#: how gateways for cash on delivery are named: Shopify's manual method is
#: "Cash on Delivery (COD)"; apps and translations vary the wording
_COD_GATEWAY = re.compile(r"\bcod\b|cash[\s_-]*on[\s_-]*delivery|contra[\s-]*reembolso|nachnahme", re.IGNORECASE)


def _payment_method(names: object) -> str | None:
    gateways = [name for name in _list(names) if isinstance(name, str) and name]
    if any(_COD_GATEWAY.search(name) for name in gateways):
        return "cod"
    return gateways[0] if gateways else None


def parse_order_created(payload: dict, context: ParseContext) -> list[Event]:
    return [OrderPlaced(order=_order(payload, context))]


def parse_order_paid(payload: dict, context: ParseContext) -> list[Event]:
    return [OrderPaid(order=_order(payload, context))]


def parse_order_cancelled(payload: dict, context: ParseContext) -> list[Event]:
    return [OrderCancelled(order=_order(payload, context), reason=_text(payload.get("cancel_reason")))]


# --- fulfillments/*, fulfillment_events/create -------------------------------------------

#: ``shipment_status`` of a fulfillment and ``status`` of a fulfillment event, lowercased
#: (GraphQL ``FulfillmentEventStatus`` spells the same values in capitals):
#: https://shopify.dev/docs/api/admin-graphql/latest/enums/FulfillmentEventStatus
_SHIPMENT_STATUSES = {
    "label_printed": FulfillmentStatus.PENDING,
    "label_purchased": FulfillmentStatus.PENDING,
    "confirmed": FulfillmentStatus.PENDING,  # the carrier knows of it but does not have it yet
    "ready_for_pickup": FulfillmentStatus.READY_FOR_PICKUP,
    "carrier_picked_up": FulfillmentStatus.SHIPPED,
    "in_transit": FulfillmentStatus.IN_TRANSIT,
    "out_for_delivery": FulfillmentStatus.OUT_FOR_DELIVERY,
    "attempted_delivery": FulfillmentStatus.ATTEMPTED_DELIVERY,
    "delayed": FulfillmentStatus.DELAYED,
    "delivered": FulfillmentStatus.DELIVERED,
    "picked_up": FulfillmentStatus.DELIVERED,  # the customer collected it
    "failure": FulfillmentStatus.FAILURE,
}

#: a fulfillment's own ``status`` when no shipment status says more
_FULFILLMENT_STATUSES = {
    "pending": FulfillmentStatus.PENDING,
    "open": FulfillmentStatus.PENDING,
    "success": FulfillmentStatus.SHIPPED,
    "cancelled": FulfillmentStatus.CANCELLED,
    "error": FulfillmentStatus.FAILURE,
    "failure": FulfillmentStatus.FAILURE,
}


def _fulfillment_status(payload: dict) -> str | None:
    status = (_text(payload.get("status")) or "").lower()
    if status in ("cancelled", "error", "failure"):
        return _FULFILLMENT_STATUSES[status]
    shipment = (_text(payload.get("shipment_status")) or "").lower()
    return _SHIPMENT_STATUSES.get(shipment) or _FULFILLMENT_STATUSES.get(status)


def parse_fulfillment(payload: dict, context: ParseContext) -> list[Event]:
    fulfillment_id, order_id = _id(payload.get("id")), _id(payload.get("order_id"))
    if fulfillment_id is None or order_id is None:
        raise PayloadError("fulfillment has no id or order_id")
    status = _fulfillment_status(payload)
    if status is None:
        log.debug("shopify.fulfillment.status_unknown", extra={"fulfillment_id": fulfillment_id})
        return []
    numbers = [n for n in _list(payload.get("tracking_numbers")) if isinstance(n, str) and n]
    urls = [u for u in _list(payload.get("tracking_urls")) if isinstance(u, str) and u]
    name = _text(payload.get("name"))  # "#9999.1": the order's name, a dot, a sequence number
    destination = _dict(payload.get("destination"))
    return [
        FulfillmentUpdated(
            platform=PLATFORM,
            order_id=order_id,
            fulfillment_id=fulfillment_id,
            status=status,
            occurred_at=moment_of(payload, context),
            tracking_company=_text(payload.get("tracking_company")),
            tracking_numbers=tuple(numbers or filter(None, [_text(payload.get("tracking_number"))])),
            tracking_urls=tuple(urls or filter(None, [_text(payload.get("tracking_url"))])),
            customer=destination_customer(destination, payload, context) if destination else None,
            order_name=name.rsplit(".", 1)[0] if name and "." in name else None,
        )
    ]


def parse_fulfillment_event(payload: dict, context: ParseContext) -> list[Event]:
    fulfillment_id, order_id = _id(payload.get("fulfillment_id")), _id(payload.get("order_id"))
    if fulfillment_id is None or order_id is None:
        raise PayloadError("fulfillment event has no fulfillment_id or order_id")
    status = _SHIPMENT_STATUSES.get((_text(payload.get("status")) or "").lower())
    if status is None:
        log.debug("shopify.fulfillment_event.status_unknown", extra={"fulfillment_id": fulfillment_id})
        return []
    return [
        FulfillmentUpdated(
            platform=PLATFORM,
            order_id=order_id,
            fulfillment_id=fulfillment_id,
            status=status,
            occurred_at=timestamp(payload.get("happened_at")) or moment_of(payload, context),
            estimated_delivery_at=timestamp(payload.get("estimated_delivery_at")),
        )
    ]


# --- stock: products/update, inventory_levels/update --------------------------------------


def inventory_item_map(payload: Any) -> dict[str, tuple[str, str]]:
    """``{inventory_item_id: (product_id, variant_id)}`` from a product payload, for the core to cache.

    Variants without an ``inventory_item_id`` (null in Shopify's own sample) are left out.
    """
    product = payload if isinstance(payload, dict) else {}
    product_id = _id(product.get("id"))
    mapping: dict[str, tuple[str, str]] = {}
    for variant in _dicts(product.get("variants")):
        item_id, variant_id = _id(variant.get("inventory_item_id")), _id(variant.get("id"))
        if item_id and variant_id and product_id:
            mapping[item_id] = (product_id, variant_id)
    return mapping


#: products that cannot be bought whatever their stock
_UNSELLABLE_PRODUCT_STATUSES = frozenset({"draft", "archived"})


def parse_product(payload: dict, context: ParseContext) -> list[Event]:
    product_id = _id(payload.get("id"))
    if product_id is None:
        raise PayloadError("product has no id")
    product_moment = moment_of(payload, context)
    sellable = (_text(payload.get("status")) or "active").lower() not in _UNSELLABLE_PRODUCT_STATUSES
    events: list[Event] = []
    for variant in _dicts(payload.get("variants")):
        variant_id = _id(variant.get("id"))
        if variant_id is None:
            continue
        # ``inventory_management`` null (when the key is sent) means Shopify does not track
        # this variant's stock; ``inventory_policy == "continue"`` keeps selling at zero.
        untracked = "inventory_management" in variant and variant.get("inventory_management") is None
        quantity = None if untracked else _int(variant.get("inventory_quantity"))
        keeps_selling = (_text(variant.get("inventory_policy")) or "").lower() == "continue"
        in_stock = untracked or keeps_selling or (quantity is not None and quantity > 0)
        events.append(
            StockChanged(
                platform=PLATFORM,
                product_id=product_id,
                variant_id=variant_id,
                available=sellable and in_stock,
                quantity=quantity,
                occurred_at=timestamp(variant.get("updated_at")) or product_moment,
                inventory_item_id=_id(variant.get("inventory_item_id")),
                title=_variant_title(payload, variant),
                image_url=_variant_image(payload, variant),
                price=_money_or_none(variant.get("price")),
            )
        )
    return events


def _variant_title(product: dict, variant: dict) -> str | None:
    title, variant_title = _text(product.get("title")), _text(variant.get("title"))
    if title and variant_title and variant_title != "Default Title":
        return f"{title} - {variant_title}"
    return title or variant_title


def _variant_image(product: dict, variant: dict) -> str | None:
    image_id = _id(variant.get("image_id"))
    for image in _dicts(product.get("images")):
        if image_id and _id(image.get("id")) == image_id:
            return _text(image.get("src"))
    return _text(_dict(product.get("image")).get("src"))


def parse_inventory_level(payload: dict, context: ParseContext) -> list[Event]:
    item_id = _id(payload.get("inventory_item_id"))
    if item_id is None:
        raise PayloadError("inventory level has no inventory_item_id")
    lookup: Callable[[str], tuple[str, str] | None] | None = getattr(context, "variant_for_inventory_item", None)
    ids = lookup(item_id) if callable(lookup) else None
    if ids is None:
        # no variant id, no neutral event: the core learns the mapping from products/update
        log.debug("shopify.inventory_level.variant_unknown", extra={"inventory_item_id": item_id})
        return []
    product_id, variant_id = ids
    available = _int(payload.get("available"))
    return [
        StockChanged(
            platform=PLATFORM,
            product_id=product_id,
            variant_id=variant_id,
            # ``available`` is null when the item's stock is not tracked: it stays sellable
            available=available is None or available > 0,
            quantity=available,
            occurred_at=moment_of(payload, context),
            inventory_item_id=item_id,
        )
    ]


# --- app/uninstalled and the compliance topics --------------------------------------------
# https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance


def _shop_domain(payload: dict, context: ParseContext, *keys: str) -> str:
    # The header is authoritative: the samples' own fields are null or a "{shop}" placeholder.
    candidates = [getattr(context, "shop_domain", None), *(payload.get(key) for key in keys)]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip().lower()
    raise PayloadError("no shop domain in context or payload")


def parse_app_uninstalled(payload: dict, context: ParseContext) -> list[Event]:
    return [ShopUninstalled(platform=PLATFORM, shop_domain=_shop_domain(payload, context, "myshopify_domain"))]


def parse_shop_redact(payload: dict, context: ParseContext) -> list[Event]:
    return [ShopRedact(platform=PLATFORM, shop_domain=_shop_domain(payload, context, "shop_domain"))]


def parse_customers_redact(payload: dict, context: ParseContext) -> list[Event]:
    customer = _dict(payload.get("customer"))
    return [
        CustomerRedact(
            platform=PLATFORM,
            customer_id=_id(customer.get("id")),
            phone=e164(customer.get("phone"), context.country),
            email=_text(customer.get("email")),
            order_ids=tuple(_ids(payload.get("orders_to_redact"))),
        )
    ]


def parse_customers_data_request(payload: dict, context: ParseContext) -> list[Event]:
    customer = _dict(payload.get("customer"))
    return [
        CustomerDataRequest(
            platform=PLATFORM,
            customer_id=_id(customer.get("id")),
            phone=e164(customer.get("phone"), context.country),
            email=_text(customer.get("email")),
            order_ids=tuple(_ids(payload.get("orders_requested"))),
            request_id=_id(_dict(payload.get("data_request")).get("id")),
        )
    ]
