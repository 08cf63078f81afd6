"""Verify and parse WooCommerce webhooks, and the cart reports of our WordPress plugin.

Pure functions: no Flask, no database, no network. The web endpoint answers the creation
ping (:func:`is_ping`), checks :func:`verify` on the raw body, reads
:func:`delivery_headers` for the topic and the delivery id, stores the body, and a job
later turns it into neutral events with :func:`parse`.

WooCommerce sends the REST v3 resource as the body ("the response is exactly the same as
if requested via the REST API"): https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks
Field shapes follow the orders, products and variations references on the same site.
Stores run many plugins that add or change fields, so parsing reads only what it needs
and tolerates anything missing or mistyped; it raises :class:`PayloadError` only when the
body is not an object with an ``id``.

Cart report (``POST <connector>/storefront/api/cart``, sent by the WordPress plugin,
signed like WooCommerce's own webhooks with header ``X-WCC-Signature``), version 1::

    {
      "version": 1,
      "store": "<store key from the plugin settings>",
      "cart_token": "<WooCommerce session customer id, or our own cookie token>",
      "created_at": "2026-05-01T10:00:00Z",        # optional, ISO 8601 UTC
      "updated_at": "2026-05-01T10:02:13Z",        # required, ISO 8601 UTC
      "currency": "EUR",
      "locale": "de_DE",                           # WordPress locale of the shopper
      "customer_id": 12,                           # 0 or null for guests
      "email": "...", "phone": "...", "first_name": "...", "last_name": "...",
      "country": "DE",                             # billing country typed at checkout
      "whatsapp_opt_in": true,                     # null when the box was not shown
      "consent_text": "<the exact label shown next to the box>",
      "lines": [{"product_id": 93, "variation_id": 0, "quantity": 2,
                 "price": "3.00", "title": "Woo Single #1", "sku": "",
                 "image_url": "https://..."}],
      "subtotal": "6.00",                          # money as decimal strings
      "total": "16.00",
      "recovery_url": "https://store.example/?wcc-cart=93:2",  # optional
      "completed": false                           # true once the order is placed
    }
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from connector.events import (
    CheckoutUpdated,
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
from connector.phones import InvalidPhoneError, normalise
from integrations.base import ParseContext, PayloadError, SignatureInvalidError, SignatureMissingError
from integrations.coerce import text as _text, id_text as _id_text, as_dict as _dict, as_list as _list, dicts as _dicts
from integrations.coerce import clean_tree, storable

__all__ = [
    "TOPICS",
    "CartConsent",
    "DeliveryHeaders",
    "cart_report_consent",
    "delivery_headers",
    "is_ping",
    "load_json",
    "parse",
    "parse_cart_report",
    "parse_variation",
    "sign",
    "sign_cart_report",
    "signature",
    "variation_ids",
    "verify",
    "verify_cart_report",
]

PLATFORM = "woocommerce"

#: Topics the connector subscribes to. ``customer.*`` is left out on purpose: every order
#: carries its own billing phone, email and name, and nothing we send depends on a change
#: to a customer account. ``product.created`` is left out too: a new product cannot come
#: back in stock. Variations fire ``product.updated`` as well (class-wc-webhook.php hooks
#: ``woocommerce_update_product_variation`` to it), so no extra topic is needed for them.
TOPICS: tuple[str, ...] = ("order.created", "order.updated", "product.updated")

# Delivery headers, documented at https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks
HEADER_TOPIC = "X-WC-Webhook-Topic"
HEADER_RESOURCE = "X-WC-Webhook-Resource"
HEADER_EVENT = "X-WC-Webhook-Event"
HEADER_SIGNATURE = "X-WC-Webhook-Signature"
HEADER_WEBHOOK_ID = "X-WC-Webhook-ID"
HEADER_DELIVERY_ID = "X-WC-Webhook-Delivery-ID"
HEADER_SOURCE = "X-WC-Webhook-Source"
#: our plugin's cart reports
HEADER_CART_SIGNATURE = "X-WCC-Signature"

# Order meta our WordPress plugin writes at checkout.
META_OPT_IN = "_wcc_whatsapp_opt_in"  # "yes" | "no"
META_CONSENT_TEXT = "_wcc_consent_text"
META_CART_TOKEN = "_wcc_cart_token"
META_LOCALE = "_wcc_locale"
#: Where a shopper's language may be, first match wins. Core WooCommerce stores none.
#: ``_wcc_locale`` is ours (the plugin saves ``get_locale()`` at checkout); WPML's
#: WooCommerce Multilingual keeps the order language in ``wpml_language``; the other two
#: are seen in the wild for older WPML and Polylang set-ups and are best effort (verify).
LOCALE_META_KEYS = (META_LOCALE, "wpml_language", "_wpml_language", "pll_language")
#: WooCommerce Shipment Tracking (and Advanced Shipment Tracking, which writes the same
#: meta): a list of {tracking_provider, custom_tracking_provider, tracking_number,
#: custom_tracking_link, date_shipped, tracking_id}. https://woocommerce.com/document/shipment-tracking/
META_TRACKING_ITEMS = "_wc_shipment_tracking_items"
#: TrackShip for WooCommerce (the carrier-status service Advanced Shipment Tracking connects
#: to) keeps each tracking item's carrier status in order meta ``shipment_status``: an array
#: indexed like the tracking items, each ``{"status", "status_date" ("2021-07-27 15:28:02",
#: UTC), "est_delivery_date", "tracking_events", "tracking_page"}`` (trackship/
#: trackship-for-woocommerce; zorem/woo-advanced-shipment-tracking reads the same key).
#: WooCommerce Shipment Tracking and AST without TrackShip record no status after "shipped".
META_SHIPMENT_STATUS = "shipment_status"
#: TrackShip's status words → ours; anything else (unknown, pending_trackship, ...) is "shipped"
TRACKSHIP_STATUSES = {
    "pre_transit": FulfillmentStatus.SHIPPED,
    "in_transit": FulfillmentStatus.IN_TRANSIT,
    "out_for_delivery": FulfillmentStatus.OUT_FOR_DELIVERY,
    "available_for_pickup": FulfillmentStatus.READY_FOR_PICKUP,
    "delivered": FulfillmentStatus.DELIVERED,
    "failure": FulfillmentStatus.ATTEMPTED_DELIVERY,  # TrackShip's label: "Failed Attempt"
    "failed_attempt": FulfillmentStatus.ATTEMPTED_DELIVERY,  # older AST builds' word
    "exception": FulfillmentStatus.DELAYED,
    "on_hold": FulfillmentStatus.DELAYED,
    "return_to_sender": FulfillmentStatus.FAILURE,
}
#: AST's optional custom order status "Delivered" (REST ``status: "delivered"``): the whole
#: order arrived; its tracking items without a status of their own are delivered too.
_DELIVERED_ORDER_STATUS = "delivered"


# ---------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------


def signature(raw_body: bytes, secret: str) -> str:
    """Return the ``X-WC-Webhook-Signature`` WooCommerce computes for ``raw_body``.

    ``base64(HMAC-SHA256(raw body, secret))``, as ``WC_Webhook::generate_signature`` does
    (woocommerce/woocommerce plugins/woocommerce/includes/class-wc-webhook.php). Unlike
    :func:`verify`, an empty secret is allowed here so that core's own test vector
    (empty secret) can be reproduced.
    """
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


#: the signing function for fakes and tests that deliver webhooks
sign = signature


def verify(raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Check ``X-WC-Webhook-Signature`` against ``raw_body``; return quietly when genuine.

    Raises :class:`SignatureMissingError` when the header is absent or is not base64 of
    32 bytes, :class:`SignatureInvalidError` when it does not match, and ``ValueError``
    for an empty ``secret`` (which would let anyone sign). The body must be the exact
    bytes received. WooCommerce decodes HTML entities in the stored secret before
    signing (``wp_specialchars_decode``); our secrets are alphanumeric, so that never
    changes them.
    """
    if not secret:
        raise ValueError("secret must not be empty")
    _check_signature(raw_body, _header(headers, HEADER_SIGNATURE), secret, HEADER_SIGNATURE)


def _check_signature(raw_body: bytes, header_value: str | None, secret: str, name: str) -> None:
    received = _b64_digest(header_value)
    if received is None:
        raise SignatureMissingError(f"{name} header missing or malformed")
    expected = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    # Constant-time comparison, so response timing does not reveal how much matched.
    if not hmac.compare_digest(expected, received):
        raise SignatureInvalidError(f"{name} does not match the body")


def _b64_digest(value: str | None) -> bytes | None:
    if not value or not value.strip():
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == hashlib.sha256().digest_size else None


def is_ping(raw_body: bytes, headers: Mapping[str, str]) -> bool:
    """True for the unsigned ping WooCommerce POSTs when a webhook is saved as active.

    ``WC_Webhook::deliver_ping`` sends the form body ``webhook_id=<id>`` with none of the
    ``X-WC-Webhook-*`` headers, and fails the save unless the answer is exactly 200
    (class-wc-webhook.php). The endpoint answers 200 and does nothing else.
    """
    if _header(headers, HEADER_TOPIC) or _header(headers, HEADER_SIGNATURE):
        return False
    try:
        form = parse_qs(raw_body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    values = form.get("webhook_id")
    return set(form) == {"webhook_id"} and values is not None and len(values) == 1 and values[0].isdigit()


@dataclass(frozen=True, slots=True)
class DeliveryHeaders:
    """What the ``X-WC-Webhook-*`` headers say about one delivery (``None`` if absent)."""

    topic: str | None
    resource: str | None
    event: str | None
    delivery_id: str | None
    webhook_id: str | None
    source: str | None  # the store's ``home_url('/')``, e.g. "https://store.example/"


def delivery_headers(headers: Mapping[str, str]) -> DeliveryHeaders:
    """Read the delivery headers; header names are matched case-insensitively.

    ``X-WC-Webhook-Delivery-ID`` is ``wp_hash(webhook id . time())``: unique per delivery
    attempt, so it is good for logs but not for deduplication (the same order change
    delivered twice gets two ids). Deduplicate on the resource id and ``date_modified``.
    """
    return DeliveryHeaders(
        topic=_header(headers, HEADER_TOPIC),
        resource=_header(headers, HEADER_RESOURCE),
        event=_header(headers, HEADER_EVENT),
        delivery_id=_header(headers, HEADER_DELIVERY_ID),
        webhook_id=_header(headers, HEADER_WEBHOOK_ID),
        source=_header(headers, HEADER_SOURCE),
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == lowered), None)
    return (value.strip() or None) if isinstance(value, str) else None


def load_json(raw: bytes | str) -> Any:
    """Decode a body with every JSON fraction as ``Decimal`` (money never goes via float).

    Raises :class:`PayloadError` when the body is not JSON.
    """
    try:
        return clean_tree(json.loads(raw, parse_float=Decimal))
    except (ValueError, UnicodeDecodeError) as error:
        raise PayloadError("body is not JSON") from error
    except RecursionError:  # nested deeper than the parser recurses
        raise PayloadError("body is not JSON: nested too deeply") from None


# ---------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------


def parse(topic: str, payload: Any, context: ParseContext) -> list[Event]:
    """Neutral events for one delivery of ``topic``; an unknown topic gives ``[]``.

    Orders: both ``order.created`` and ``order.updated`` describe the order's *current*
    state (see :func:`_order_events`), so a missed delivery is repaired by the next one
    or by the catch-up, which parses listed orders with this same function. The core
    turns the events into at-most-once transitions, so repeats are harmless, and the
    output depends only on the payload (no clock), so a replay gives the same events.
    """
    parser = _TOPIC_PARSERS.get(topic)
    if parser is None:
        return []
    if not isinstance(payload, dict) or _id_text(payload.get("id")) is None:
        raise PayloadError(f"{topic} body is not an object with an id")
    return [storable(event) for event in parser(payload, context)]


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


def _order_events(payload: dict, context: ParseContext) -> list[Event]:
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
    shipments = list(_tracking_events(payload, order, delivered=status == _DELIVERED_ORDER_STATUS))
    if not shipments and status in (_COMPLETED, _DELIVERED_ORDER_STATUS):
        shipments.append(_completed_event(payload, order, delivered=status == _DELIVERED_ORDER_STATUS))
    return events + shipments


def _is_paid(payload: dict, status: str) -> bool:
    if payload.get("payment_method") == _CASH_ON_DELIVERY:
        return False
    return status in _PAID_STATUSES and bool(payload.get("date_paid_gmt") or payload.get("date_paid"))


def _order(payload: dict, context: ParseContext) -> Order:
    created_at = _gmt(payload.get("date_created_gmt")) or _gmt(payload.get("date_modified_gmt"))
    if created_at is None:
        raise PayloadError("order has no date_created_gmt")
    meta = _meta(payload)
    lines = tuple(_order_lines(payload.get("line_items")))
    order_id = _id_text(payload.get("id")) or ""
    return Order(
        platform=PLATFORM,
        order_id=order_id,
        name="#" + (_id_text(payload.get("number")) or order_id),
        created_at=created_at,
        updated_at=_gmt(payload.get("date_modified_gmt")) or created_at,
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
        billing_address=_address(payload.get("billing")),
        shipping_address=_address(payload.get("shipping")),
        # our plugin's own meta, minus the prefix, for the core's reference lookups
        note_attributes={
            key.removeprefix("_wcc_"): value
            for key, value in meta.items()
            if key.startswith("_wcc_") and isinstance(value, str)
        },
    )


def _order_customer(payload: dict, meta: dict[str, Any], context: ParseContext) -> Customer:
    billing, shipping = _dict(payload.get("billing")), _dict(payload.get("shipping"))
    phone, country = _order_phone(billing, shipping, context)
    customer_id = _id_text(payload.get("customer_id"))
    return Customer(
        platform_customer_id=customer_id if customer_id not in (None, "0") else None,  # 0 = guest
        phone=phone,
        email=_text(billing.get("email")),
        first_name=_text(billing.get("first_name")) or _text(shipping.get("first_name")),
        last_name=_text(billing.get("last_name")) or _text(shipping.get("last_name")),
        locale=_order_locale(meta),
        country=country,
        whatsapp_opt_in=_yes_no(meta.get(META_OPT_IN)),
        whatsapp_consent_text=_text(meta.get(META_CONSENT_TEXT)),
    )


def _order_phone(billing: dict, shipping: dict, context: ParseContext) -> tuple[str | None, str | None]:
    """The first usable phone: billing, then shipping (``shipping.phone`` exists since
    WooCommerce 5.6). A national number is read with its address's country, then the
    shop's. Returns (E.164 or None, country of the address the phone came from)."""
    for address in (billing, shipping):
        raw, address_country = _text(address.get("phone")), _country(address.get("country"))
        if raw is None:
            continue
        for default_country in dict.fromkeys((address_country, _country(context.country))):
            try:
                return normalise(raw, default_country).e164, address_country
            except InvalidPhoneError:
                continue
    return None, _country(billing.get("country")) or _country(shipping.get("country"))


def _order_locale(meta: dict[str, Any]) -> str | None:
    for key in LOCALE_META_KEYS:
        locale = _locale(meta.get(key))
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


def _address(value: object) -> dict:
    return {key: item for key, item in _dict(value).items() if isinstance(item, str)}


# --- shipments ---------------------------------------------------------------------------


def _tracking_events(payload: dict, order: Order, *, delivered: bool = False) -> Iterator[FulfillmentUpdated]:
    meta = _meta(payload)
    statuses = _tracking_items(meta.get(META_SHIPMENT_STATUS))
    for index, item in enumerate(_tracking_items(meta.get(META_TRACKING_ITEMS))):
        number = _text(item.get("tracking_number"))
        if number is None:
            continue
        carrier_status = statuses[index] if index < len(statuses) else {}
        status = TRACKSHIP_STATUSES.get(_text(carrier_status.get("status")) or "")
        if status is None:
            status = FulfillmentStatus.DELIVERED if delivered else FulfillmentStatus.SHIPPED
        reached_at = _epoch(carrier_status.get("status_date")) or _gmt(carrier_status.get("status_date"))
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
            or _epoch(item.get("date_shipped")) or order.updated_at,
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
        occurred_at=_gmt(payload.get("date_completed_gmt")) or order.updated_at,
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


def _product_events(payload: dict, context: ParseContext) -> list[Event]:
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
    return [text for text in (_id_text(value) for value in _list(payload.get("variations"))) if text]


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
    occurred_at = _gmt(payload.get("date_modified_gmt")) or _gmt(payload.get("date_created_gmt"))
    if variant_id is None or occurred_at is None:
        return None
    tracked = payload.get("manage_stock") not in (False, None)
    price = payload.get("price")  # "" when the item has no price yet
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
        price=_money(price) if price not in (None, "") else None,
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


#: topic → parser of its body; every other topic gives no events
_TOPIC_PARSERS: dict[str, Callable[[dict, ParseContext], list[Event]]] = {
    "order.created": _order_events,
    "order.updated": _order_events,
    "product.updated": _product_events,
}


# ---------------------------------------------------------------------------------------
# Cart reports from our WordPress plugin (shape in the module docstring)
# ---------------------------------------------------------------------------------------


def sign_cart_report(raw_body: bytes, secret: str) -> str:
    """The ``X-WCC-Signature`` of a cart report: base64 HMAC-SHA256, as WooCommerce signs."""
    if not secret:
        raise ValueError("secret must not be empty")
    return signature(raw_body, secret)


def verify_cart_report(raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Check ``X-WCC-Signature``; raises like :func:`verify`."""
    if not secret:
        raise ValueError("secret must not be empty")
    _check_signature(raw_body, _header(headers, HEADER_CART_SIGNATURE), secret, HEADER_CART_SIGNATURE)


@dataclass(frozen=True, slots=True)
class CartConsent:
    """The WhatsApp opt-in state of a cart report and the exact text the shopper saw."""

    whatsapp_opt_in: bool | None
    consent_text: str | None
    locale: str | None


def cart_report_consent(payload: Any) -> CartConsent:
    """What the consent ledger needs from a cart report (CheckoutUpdated has no text)."""
    body = _dict(payload)
    opt_in = body.get("whatsapp_opt_in")
    return CartConsent(
        whatsapp_opt_in=opt_in if isinstance(opt_in, bool) else _yes_no(opt_in),
        consent_text=_text(body.get("consent_text")),
        locale=_locale(body.get("locale")),
    )


def parse_cart_report(payload: Any, context: ParseContext) -> CheckoutUpdated:
    """Turn a cart report into :class:`CheckoutUpdated`.

    Raises :class:`PayloadError` without a ``cart_token`` or a parseable ``updated_at``;
    everything else is optional. The phone is read with the report's ``country``, then
    the shop's, and dropped when unusable.
    """
    body = clean_tree(_dict(payload))
    cart_token = _text(body.get("cart_token"))
    updated_at = _iso(body.get("updated_at"))
    if not isinstance(payload, dict) or cart_token is None or updated_at is None:
        raise PayloadError("cart report needs cart_token and updated_at")
    consent = cart_report_consent(body)
    phone, country = _order_phone({"phone": body.get("phone"), "country": body.get("country")}, {}, context)
    customer_id = _id_text(body.get("customer_id"))
    lines = tuple(_cart_lines(body.get("lines")))
    subtotal = body.get("subtotal")
    return storable(CheckoutUpdated(
        platform=PLATFORM,
        cart_token=cart_token,
        updated_at=updated_at,
        customer=Customer(
            platform_customer_id=customer_id if customer_id not in (None, "0") else None,
            phone=phone,
            email=_text(body.get("email")),
            first_name=_text(body.get("first_name")),
            last_name=_text(body.get("last_name")),
            locale=consent.locale,
            country=country,
            whatsapp_opt_in=consent.whatsapp_opt_in,
            whatsapp_consent_text=consent.consent_text,
        ),
        lines=lines,
        currency=_text(body.get("currency")) or "",
        subtotal=_money(subtotal) if subtotal is not None else sum(
            (line.unit_price * line.quantity for line in lines), Decimal("0")
        ),
        total=_money(body.get("total")),
        recovery_url=_text(body.get("recovery_url")),
        completed_at=updated_at if body.get("completed") is True else None,
        created_at=_iso(body.get("created_at")),
    ))


def _cart_lines(lines: object) -> Iterator[LineItem]:
    for line in _dicts(lines):
        product_id, variation_id = _id_text(line.get("product_id")), _id_text(line.get("variation_id"))
        yield LineItem(
            product_id=product_id if product_id != "0" else None,
            variant_id=variation_id if variation_id not in (None, "0") else None,
            title=html.unescape(_text(line.get("title")) or ""),
            quantity=_int(line.get("quantity")) or 0,
            unit_price=_money(line.get("price")),
            sku=_text(line.get("sku")),
            image_url=_text(line.get("image_url")),
        )


# ---------------------------------------------------------------------------------------
# Small readers that never raise
# ---------------------------------------------------------------------------------------


def _meta(payload: dict) -> dict[str, Any]:
    """``meta_data`` as {key: value}; for a repeated key the last entry wins."""
    return {
        entry["key"]: entry.get("value")
        for entry in _dicts(payload.get("meta_data"))
        if isinstance(entry.get("key"), str)
    }


def _money(value: object) -> Decimal:
    """WooCommerce money: decimal strings ("29.35"), sometimes numbers; else 0."""
    if isinstance(value, bool):
        return Decimal("0")
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):  # only from a caller that did not use load_json
        return Decimal(repr(value))
    if isinstance(value, str) and value.strip():
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            return Decimal("0")
        return amount if amount.is_finite() else Decimal("0")
    return Decimal("0")


def _gmt(value: object) -> datetime | None:
    """``date_*_gmt`` fields: ISO 8601 without offset, in UTC ("2017-03-22T19:28:02")."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _iso(value: object) -> datetime | None:
    """An ISO 8601 timestamp from our plugin; a missing offset means UTC."""
    if isinstance(value, str) and value.endswith("Z"):
        value = value[:-1] + "+00:00"
    return _gmt(value)


def _epoch(value: object) -> datetime | None:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


_LOCALE_PATTERN = re.compile(r"([a-zA-Z]{2,3})(?:[_-]([a-zA-Z]{2}|[0-9]{3}))?")


def _locale(value: object) -> str | None:
    """"de_DE" / "pt-br" / "de" → "de-DE" / "pt-BR" / "de"; anything else → None."""
    match = _LOCALE_PATTERN.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    language, region = match.group(1).lower(), match.group(2)
    return f"{language}-{region.upper()}" if region else language


def _country(value: object) -> str | None:
    return value.upper() if isinstance(value, str) and len(value) == 2 and value.isalpha() else None


def _yes_no(value: object) -> bool | None:
    if value in ("yes", "1", 1, True):
        return True
    if value in ("no", "0", 0, False):
        return False
    return None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    return None


