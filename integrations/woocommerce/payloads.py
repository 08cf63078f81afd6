"""Neutral events from WooCommerce REST bodies: orders (with their shipments) and products.

Bodies are the REST v3 resources (https://woocommerce.github.io/woocommerce-rest-api-docs/);
the topic table that dispatches to these is in ``webhooks``.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from connector.events import (
    Customer,
    Event,
    FulfillmentStatus,
    FulfillmentUpdated,
    LineItem,
    Order,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    StockChanged,
)
from integrations.base import ParseContext, PayloadError
from integrations.coerce import as_dict as _dict
from integrations.coerce import clean_tree, storable
from integrations.coerce import dicts as _dicts
from integrations.coerce import text as _text
from integrations.kit import id_text as _id_text
from integrations.kit import ids as _ids
from integrations.kit import money as _money
from integrations.kit import money_or_none as _money_or_none
from integrations.kit import to_int as _int
from integrations.kit import yes_no
from integrations.woocommerce.consts import (
    DELIVERED_ORDER_STATUS,
    LOCALE_META_KEYS,
    META_CART_TOKEN,
    META_CONSENT_TEXT,
    META_OPT_IN,
    META_SHIPMENT_STATUS,
    META_TRACKING_ITEMS,
    PLATFORM,
    TRACKSHIP_STATUSES,
)
from integrations.woocommerce.readers import (
    address_fields,
    epoch_time,
    gmt_time,
    locale_tag,
    meta_of,
    order_phone,
)

# ---------------------------------------------------------------------------------------
# Orders
# https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties
# ---------------------------------------------------------------------------------------

#: statuses in which the shopper has committed to the order: paid (processing,
#: completed) or awaiting an offline payment (on-hold: bank transfer, cheque).
#: ``pending`` is "awaiting payment" (e.g. the shopper is still at the payment page) and
#: ``failed`` a refused payment: neither is an order the shopper should hear about yet.
_PLACED_STATUSES = frozenset({"on-hold", "processing", "completed", "delivered"})
#: statuses WooCommerce treats as paid (``wc_get_is_paid_statuses``); ``date_paid`` is
#: set when an order first reaches one of them (``WC_Order::maybe_set_date_paid``).
_PAID_STATUSES = frozenset({"processing", "completed"})
_CANCELLED = "cancelled"
_COMPLETED = "completed"
#: Cash on delivery gets ``date_paid`` as soon as it is "processing", before any money
#: changed hands, and WooCommerce records no later signal of the cash being collected.
#: We therefore never report a COD order as paid; ``Order.payment_method`` says "cod".
_CASH_ON_DELIVERY = "cod"


def order_events(payload: dict, context: ParseContext) -> list[Event]:
    """Events for the order's current state, always in the same order.

    placed (on-hold/processing/completed) → OrderPlaced; paid → OrderPaid; cancelled →
    OrderCancelled; each shipment-tracking item → FulfillmentUpdated(shipped); completed
    without tracking items → one FulfillmentUpdated(shipped) for the whole order.
    """
    order = _order(payload, context)
    status = _text(payload.get("status")) or ""
    events: list[Event] = []
    if status == _CANCELLED:
        return [OrderCancelled(order=order, reason=None)]
    if status in _PLACED_STATUSES:
        events.append(OrderPlaced(order=order))
    if _is_paid(payload, status):
        events.append(OrderPaid(order=order))
    shipments = list(_tracking_events(payload, order, delivered=status == DELIVERED_ORDER_STATUS))
    if not shipments and status in (_COMPLETED, DELIVERED_ORDER_STATUS):
        shipments.append(_completed_event(payload, order, delivered=status == DELIVERED_ORDER_STATUS))
    return events + shipments


def _is_paid(payload: dict, status: str) -> bool:
    if payload.get("payment_method") == _CASH_ON_DELIVERY:
        return False
    return status in _PAID_STATUSES and bool(payload.get("date_paid_gmt") or payload.get("date_paid"))


def _order(payload: dict, context: ParseContext) -> Order:
    created_at = gmt_time(payload.get("date_created_gmt")) or gmt_time(payload.get("date_modified_gmt"))
    if created_at is None:
        raise PayloadError("order has no date_created_gmt")
    meta = meta_of(payload)
    lines = tuple(_order_lines(payload.get("line_items")))
    order_id = _id_text(payload.get("id")) or ""
    return Order(
        platform=PLATFORM,
        order_id=order_id,
        name="#" + (_id_text(payload.get("number")) or order_id),
        created_at=created_at,
        updated_at=gmt_time(payload.get("date_modified_gmt")) or created_at,
        customer=_order_customer(payload, meta, context),
        lines=lines,
        currency=_text(payload.get("currency")) or "",
        # WooCommerce has no order subtotal field: it is the sum of the line subtotals.
        subtotal=sum((_line_subtotal(line) for line in _dicts(payload.get("line_items"))), Decimal("0")),
        shipping=_money(payload.get("shipping_total")),
        tax=_money(payload.get("total_tax")),
        discount=_money(payload.get("discount_total")),
        total=_money(payload.get("total")),
        financial_status=_text(payload.get("status")),
        cart_tokens=tuple(token for token in (_text(meta.get(META_CART_TOKEN)),) if token),
        payment_method=_text(payload.get("payment_method")),
        taxes_included=payload.get("prices_include_tax") is True,
        billing_address=address_fields(payload.get("billing")),
        shipping_address=address_fields(payload.get("shipping")),
        # our plugin's own meta, minus the prefix, for the core's reference lookups
        note_attributes={
            key.removeprefix("_wcc_"): value
            for key, value in meta.items()
            if key.startswith("_wcc_") and isinstance(value, str)
        },
        # https://woocommerce.github.io/woocommerce-rest-api-docs/#order-coupon-lines-properties
        discount_codes=tuple(dict.fromkeys(code[:64] for item in _dicts(payload.get("coupon_lines"))
                                           if (code := _text(item.get("code"))))),
    )


def _order_customer(payload: dict, meta: dict[str, Any], context: ParseContext) -> Customer:
    billing, shipping = _dict(payload.get("billing")), _dict(payload.get("shipping"))
    phone, country = order_phone(billing, shipping, context)
    customer_id = _id_text(payload.get("customer_id"))
    return Customer(
        platform_customer_id=customer_id if customer_id not in (None, "0") else None,  # 0 = guest
        phone=phone,
        email=_text(billing.get("email")),
        first_name=_text(billing.get("first_name")) or _text(shipping.get("first_name")),
        last_name=_text(billing.get("last_name")) or _text(shipping.get("last_name")),
        locale=_order_locale(meta),
        country=country,
        whatsapp_opt_in=yes_no(meta.get(META_OPT_IN)),
        whatsapp_consent_text=_text(meta.get(META_CONSENT_TEXT)),
    )


def _order_locale(meta: dict[str, Any]) -> str | None:
    for key in LOCALE_META_KEYS:
        locale = locale_tag(meta.get(key))
        if locale:
            return locale
    return None


def _order_lines(items: object) -> Iterator[LineItem]:
    for item in _dicts(items):
        quantity = _int(item.get("quantity")) or 0
        subtotal, total = _line_subtotal(item), _money(item.get("total"))
        product_id, variation_id = _id_text(item.get("product_id")), _id_text(item.get("variation_id"))
        yield LineItem(
            product_id=product_id if product_id != "0" else None,
            variant_id=variation_id if variation_id not in (None, "0") else None,
            # item names are stored HTML-escaped ("Ship Your Idea &ndash; Color: Black")
            title=html.unescape(_text(item.get("name")) or ""),
            quantity=quantity,
            # the unit price before coupons and without tax; ``price`` is a float in the API
            unit_price=subtotal / quantity if quantity else _money(item.get("price")),
            sku=_text(item.get("sku")),
            total_discount=max(subtotal - total, Decimal("0")),
            tax=_money(item.get("total_tax")),
            image_url=_text(_dict(item.get("image")).get("src")),  # WooCommerce 7.4+ only
        )


def _line_subtotal(item: dict) -> Decimal:
    return _money(item.get("subtotal"))


# --- shipments ---------------------------------------------------------------------------


def _tracking_events(payload: dict, order: Order, *, delivered: bool = False) -> Iterator[FulfillmentUpdated]:
    meta = meta_of(payload)
    statuses = _tracking_items(meta.get(META_SHIPMENT_STATUS))
    for index, item in enumerate(_tracking_items(meta.get(META_TRACKING_ITEMS))):
        number = _text(item.get("tracking_number"))
        if number is None:
            continue
        carrier_status = statuses[index] if index < len(statuses) else {}
        status = TRACKSHIP_STATUSES.get(_text(carrier_status.get("status")) or "")
        if status is None:
            status = FulfillmentStatus.DELIVERED if delivered else FulfillmentStatus.SHIPPED
        reached_at = epoch_time(carrier_status.get("status_date")) or gmt_time(carrier_status.get("status_date"))
        company = _text(item.get("custom_tracking_provider")) or _text(item.get("tracking_provider"))
        link = _text(item.get("custom_tracking_link"))
        yield FulfillmentUpdated(
            platform=PLATFORM,
            order_id=order.order_id,
            # tracking_id is the plugin's own stable id for the item; without one, the
            # number keeps the id stable across deliveries
            fulfillment_id=_text(item.get("tracking_id")) or f"{order.order_id}-{number}",
            status=status,
            occurred_at=(reached_at if status != FulfillmentStatus.SHIPPED else None)
            or epoch_time(item.get("date_shipped")) or order.updated_at,
            tracking_company=company,
            tracking_numbers=(number,),
            tracking_urls=(link,) if link else (),
            customer=order.customer,
            order_name=order.name,
        )


def _tracking_items(value: object) -> list[dict]:
    # PHP arrays with gaps in their keys (an item was deleted) serialise to a JSON object
    # {"1": {...}}; keep them in key order.
    if isinstance(value, dict):
        value = [value[key] for key in sorted(value, key=lambda key: (len(str(key)), str(key)))]
    return _dicts(value)


def _completed_event(payload: dict, order: Order, *, delivered: bool = False) -> FulfillmentUpdated:
    # "Completed – order fulfilled and complete". A merchant marks an order completed
    # when it leaves the warehouse; WooCommerce never learns about the delivery, so this
    # is SHIPPED: reporting DELIVERED would tell shoppers their parcel arrived before it did.
    # Only AST's own "delivered" order status says the parcel arrived.
    return FulfillmentUpdated(
        platform=PLATFORM,
        order_id=order.order_id,
        fulfillment_id=f"{order.order_id}-completed",
        status=FulfillmentStatus.DELIVERED if delivered else FulfillmentStatus.SHIPPED,
        occurred_at=gmt_time(payload.get("date_completed_gmt")) or order.updated_at,
        customer=order.customer,
        order_name=order.name,
    )


# ---------------------------------------------------------------------------------------
# Products and variations
# https://woocommerce.github.io/woocommerce-rest-api-docs/#product-properties
# ---------------------------------------------------------------------------------------

#: products sold as they are (a variable product's stock lives in its variations; grouped
#: and external products have none)
_TYPES_WITHOUT_OWN_STOCK = frozenset({"variable", "grouped", "external"})
_AVAILABLE_STOCK_STATUSES = frozenset({"instock", "onbackorder"})


def product_events(payload: dict, context: ParseContext) -> list[Event]:
    """StockChanged for a simple product (or a variation delivered on ``product.updated``).

    A variable product gives ``[]``: its own ``stock_status`` is only a summary of the
    variations, and the body lists only their ids. Fetch them with
    ``client.product_variations(id)`` (ids from :func:`variation_ids`) and parse each
    with :func:`parse_variation`.
    """
    product_type = _text(payload.get("type"))
    if product_type in _TYPES_WITHOUT_OWN_STOCK:
        return []
    parent_id = _id_text(payload.get("parent_id"))
    if product_type == "variation" and parent_id not in (None, "0"):
        event = parse_variation(payload, parent_id or "", context)
    else:
        event = _stock_event(payload, _id_text(payload.get("id")), _first_image(payload))
    return [event] if event else []


def variation_ids(payload: Any) -> list[str]:
    """The variation ids of a variable product body (``variations``), as strings."""
    if not isinstance(payload, dict) or payload.get("type") != "variable":
        return []
    return _ids(payload.get("variations"))


def parse_variation(payload: Any, parent_id: str, context: ParseContext) -> StockChanged | None:
    """StockChanged for one variation JSON (``GET /products/<parent>/variations/<id>``).

    ``None`` when the body has no id or no usable date. ``manage_stock`` may be
    ``"parent"`` on a variation; ``stock_quantity`` is then the parent's.
    """
    if not isinstance(payload, dict):
        return None
    image = _text(_dict(payload.get("image")).get("src"))
    event = _stock_event(clean_tree(payload), parent_id or None, image)
    return None if event is None else storable(event)


def _stock_event(payload: dict, product_id: str | None, image_url: str | None) -> StockChanged | None:
    variant_id = _id_text(payload.get("id"))
    occurred_at = gmt_time(payload.get("date_modified_gmt")) or gmt_time(payload.get("date_created_gmt"))
    if variant_id is None or occurred_at is None:
        return None
    tracked = payload.get("manage_stock") not in (False, None)
    return StockChanged(
        platform=PLATFORM,
        product_id=product_id,
        variant_id=variant_id,
        available=payload.get("stock_status") in _AVAILABLE_STOCK_STATUSES,
        # stock_quantity is null when the store does not count stock for the item
        quantity=_int(payload.get("stock_quantity")) if tracked else None,
        occurred_at=occurred_at,
        title=_variation_title(payload),
        image_url=image_url,
        price=_money_or_none(payload.get("price")),  # "" when the item has no price yet
    )


def _variation_title(payload: dict) -> str | None:
    name = _text(payload.get("name"))
    if name:
        return html.unescape(name)
    # Variation bodies from /variations have no name in older versions: use the options.
    options = [_text(attribute.get("option")) for attribute in _dicts(payload.get("attributes"))]
    return ", ".join(option for option in options if option) or None


def _first_image(payload: dict) -> str | None:
    images = _dicts(payload.get("images"))
    return _text(images[0].get("src")) if images else None
