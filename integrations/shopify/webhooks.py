"""Verify and parse Shopify webhooks.

Pure functions: no Flask, no database, no network. The endpoint calls :func:`verify` on the
raw body and :func:`delivery_headers` for routing and deduplication; a job later turns the
stored body into neutral events with :func:`parse`.

Payload shapes: https://shopify.dev/docs/api/webhooks/2026-07 (sample payloads in
``tests/fixtures/payloads/shopify``). Shopify adds fields without notice and redacts
protected customer data for apps without approval, so parsing reads only what it needs and
treats anything missing or mistyped as absent. Ids are kept as ``str`` (they pass 2**53).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.events import (
    CheckoutUpdated,
    Customer,
    CustomerDataRequest,
    CustomerRedact,
    Event,
    FulfillmentStatus,
    FulfillmentUpdated,
    LineItem,
    Order,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    ShopRedact,
    ShopUninstalled,
    StockChanged,
)
from connector.phones import InvalidPhoneError, normalise
from integrations.base import ParseContext, PayloadError, SignatureInvalidError, SignatureMissingError
from integrations.shopify.consts import (
    API_VERSION_HEADER,
    EVENT_ID_HEADER,
    HMAC_HEADER,
    PLATFORM,
    SHOP_DOMAIN_HEADER,
    TOPIC_HEADER,
    TRIGGERED_AT_HEADER,
    WEBHOOK_ID_HEADER,
)
from integrations.coerce import text as _text, as_dict as _dict, as_list as _list, clean_tree, dicts as _dicts, storable

__all__ = [
    "COMPLIANCE_TOPICS",
    "TOPICS",
    "DeliveryHeaders",
    "delivery_headers",
    "inventory_item_map",
    "load_json",
    "parse",
    "sign",
    "updated_at_of",
    "verify",
]

log = logging.getLogger(__name__)

#: mandatory privacy webhooks; declared as ``compliance_topics`` in shopify.app.toml
COMPLIANCE_TOPICS: tuple[str, ...] = ("customers/data_request", "customers/redact", "shop/redact")

TOPICS: tuple[str, ...] = (
    "checkouts/create",
    "checkouts/update",
    "orders/create",
    "orders/paid",
    "orders/cancelled",
    "fulfillments/create",
    "fulfillments/update",
    "fulfillment_events/create",
    "inventory_levels/update",
    "products/update",
    "app/uninstalled",
    *COMPLIANCE_TOPICS,
)

# ---------------------------------------------------------------------------------------
# Authentication and delivery headers
# https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook
# ---------------------------------------------------------------------------------------


def sign(raw_body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify would send: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(_digest(raw_body, secret)).decode()


def verify(raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Check ``X-Shopify-Hmac-Sha256`` against the exact bytes received; return when genuine.

    Raises ``SignatureMissingError`` when the header is absent or not base64 of 32 bytes,
    ``SignatureInvalidError`` when it does not match. Shopify expects 401 for both.
    """
    expected = _digest(raw_body, secret)
    value = _header(headers, HMAC_HEADER)
    try:
        given = base64.b64decode(value.strip(), validate=True) if value else b""
    except (binascii.Error, ValueError):
        given = b""
    if len(given) != len(expected):
        raise SignatureMissingError(f"{HMAC_HEADER} header missing or malformed")
    # Constant-time comparison, so response timing does not reveal how much matched.
    if not hmac.compare_digest(expected, given):
        raise SignatureInvalidError(f"{HMAC_HEADER} does not match the body")


def _digest(raw_body: bytes, secret: str) -> bytes:
    if not secret:
        # An empty key would make every forged body "valid"; refuse instead.
        raise ValueError("secret must not be empty")
    return hmac.digest(secret.encode(), raw_body, "sha256")  # one call into OpenSSL, no HMAC object


@dataclass(frozen=True, slots=True)
class DeliveryHeaders:
    """What the ``X-Shopify-*`` headers say about one delivery."""

    topic: str | None
    shop_domain: str | None
    #: dedup key: shared by every delivery (and retry) of one merchant action; falls back
    #: to the webhook id on deliveries that predate ``X-Shopify-Event-Id``
    event_id: str | None
    webhook_id: str | None
    triggered_at: datetime | None
    api_version: str | None


def delivery_headers(headers: Mapping[str, str]) -> DeliveryHeaders:
    """Read the delivery headers (any case: HTTP/2 lowercases them).

    ``X-Shopify-Event-Id`` is the id the ignore-duplicates guide keys on;
    ``X-Shopify-Webhook-Id`` identifies one delivery attempt:
    https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates
    """
    webhook_id = _header(headers, WEBHOOK_ID_HEADER)
    shop = _header(headers, SHOP_DOMAIN_HEADER)
    return DeliveryHeaders(
        topic=_header(headers, TOPIC_HEADER),
        shop_domain=shop.lower() if shop else None,
        event_id=_header(headers, EVENT_ID_HEADER) or webhook_id,
        webhook_id=webhook_id,
        triggered_at=_datetime(_header(headers, TRIGGERED_AT_HEADER)),
        api_version=_header(headers, API_VERSION_HEADER),
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        # a plain dict is case-sensitive; werkzeug's request headers already are not
        wanted = name.lower()
        value = next((item for key, item in headers.items() if key.lower() == wanted), None)
    value = value.strip() if isinstance(value, str) else None
    return value or None


def load_json(raw: bytes | str) -> Any:
    """Parse a webhook body: integers stay exact, every non-integer number becomes ``Decimal``.

    Never ``float``: money and ids must not be rounded. Raises ``PayloadError`` when the
    body is not JSON.
    """
    try:
        return clean_tree(json.loads(raw, parse_float=Decimal))
    except (ValueError, UnicodeDecodeError) as error:
        raise PayloadError(f"body is not JSON: {type(error).__name__}") from None
    except RecursionError:  # nested deeper than the parser recurses: never readable, not worth a retry
        raise PayloadError("body is not JSON: nested too deeply") from None


# ---------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------


def parse(topic: str, payload: Any, context: ParseContext) -> list[Event]:
    """Neutral events for one delivery of ``topic``; an unknown topic gives ``[]``.

    ``context`` gives ``country`` (the shop's, ISO alpha-2, to read national phone numbers)
    and ``locale``; optionally ``shop_domain`` (the ``X-Shopify-Shop-Domain`` header, the
    only reliable shop key of ``app/uninstalled`` and ``shop/redact``), ``received_at``
    (used when a payload has no timestamp) and ``variant_for_inventory_item(id) ->
    (product_id, variant_id) | None`` (without it, ``inventory_levels/update`` gives ``[]``).

    Raises ``PayloadError`` when ``payload`` is not an object or lacks the id that makes
    it usable (checkout token, order id, fulfillment id, ...).
    """
    parser = _PARSERS.get(topic)
    if parser is None:
        log.info("shopify.webhook.topic_not_handled", extra={"topic": topic})
        return []
    if not isinstance(payload, dict):
        raise PayloadError(f"{topic} payload is not an object")
    return [storable(event) for event in parser(payload, context)]


def updated_at_of(topic: str, payload: Any) -> datetime | None:
    """When the resource in ``payload`` last changed, to drop deliveries older than the state we hold.

    Shopify does not guarantee delivery order, and retries carry the original payload:
    https://shopify.dev/docs/apps/build/webhooks/best-practices
    """
    if not isinstance(payload, dict):
        return None
    keys = ("happened_at", "updated_at", "created_at") if topic.startswith("fulfillment_events/") else (
        "updated_at",
        "created_at",
    )
    for key in keys:
        moment = _datetime(payload.get(key))
        if moment is not None:
            return moment
    return None


# --- checkouts/* -----------------------------------------------------------------------


def _parse_checkout(payload: dict, context: ParseContext) -> list[Event]:
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
            updated_at=_moment(payload, context),
            customer=_customer(payload, context, phone_keys=("phone", "sms_marketing_phone")),
            lines=tuple(_line_items(payload.get("line_items"))),
            currency=_text(payload.get("presentment_currency")) or _text(payload.get("currency")) or "",
            subtotal=_money(payload.get("subtotal_price")),
            total=_money(payload.get("total_price")),
            recovery_url=checkout_recovery_url(payload),
            completed_at=_datetime(payload.get("completed_at")),
            alt_tokens=(cart_token,) if cart_token and cart_token != token else (),
            created_at=_datetime(payload.get("created_at")),
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
    updated_at = _moment(payload, context)
    shipping = _shop_money(payload.get("total_shipping_price_set"))
    if shipping is None:
        shipping = sum((_money(_dict(line).get("price")) for line in _list(payload.get("shipping_lines"))), Decimal(0))
    tokens = (_id(payload.get("checkout_token")), _id(payload.get("cart_token")))
    return Order(
        platform=PLATFORM,
        order_id=order_id,
        name=_text(payload.get("name")) or f"#{payload.get('order_number') or order_id}",
        created_at=_datetime(payload.get("created_at")) or updated_at,
        updated_at=updated_at,
        customer=_customer(payload, context, phone_keys=("phone",)),
        lines=tuple(_line_items(payload.get("line_items"))),
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
        billing_address=_address(payload.get("billing_address")),
        shipping_address=_address(payload.get("shipping_address")),
        note_attributes=_note_attributes(payload.get("note_attributes")),
    )


#: how gateways for cash on delivery are named: Shopify's manual method is
#: "Cash on Delivery (COD)"; apps and translations vary the wording
_COD_GATEWAY = re.compile(r"\bcod\b|cash[\s_-]*on[\s_-]*delivery|contra[\s-]*reembolso|nachnahme", re.IGNORECASE)


def _payment_method(names: object) -> str | None:
    gateways = [name for name in _list(names) if isinstance(name, str) and name]
    if any(_COD_GATEWAY.search(name) for name in gateways):
        return "cod"
    return gateways[0] if gateways else None


def _parse_order_created(payload: dict, context: ParseContext) -> list[Event]:
    return [OrderPlaced(order=_order(payload, context))]


def _parse_order_paid(payload: dict, context: ParseContext) -> list[Event]:
    return [OrderPaid(order=_order(payload, context))]


def _parse_order_cancelled(payload: dict, context: ParseContext) -> list[Event]:
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


def _parse_fulfillment(payload: dict, context: ParseContext) -> list[Event]:
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
            occurred_at=_moment(payload, context),
            tracking_company=_text(payload.get("tracking_company")),
            tracking_numbers=tuple(numbers or filter(None, [_text(payload.get("tracking_number"))])),
            tracking_urls=tuple(urls or filter(None, [_text(payload.get("tracking_url"))])),
            customer=_destination_customer(destination, payload, context) if destination else None,
            order_name=name.rsplit(".", 1)[0] if name and "." in name else None,
        )
    ]


def _parse_fulfillment_event(payload: dict, context: ParseContext) -> list[Event]:
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
            occurred_at=_datetime(payload.get("happened_at")) or _moment(payload, context),
            estimated_delivery_at=_datetime(payload.get("estimated_delivery_at")),
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


def _parse_product(payload: dict, context: ParseContext) -> list[Event]:
    product_id = _id(payload.get("id"))
    if product_id is None:
        raise PayloadError("product has no id")
    product_moment = _moment(payload, context)
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
                occurred_at=_datetime(variant.get("updated_at")) or product_moment,
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


def _parse_inventory_level(payload: dict, context: ParseContext) -> list[Event]:
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
            occurred_at=_moment(payload, context),
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


def _parse_app_uninstalled(payload: dict, context: ParseContext) -> list[Event]:
    return [ShopUninstalled(platform=PLATFORM, shop_domain=_shop_domain(payload, context, "myshopify_domain"))]


def _parse_shop_redact(payload: dict, context: ParseContext) -> list[Event]:
    return [ShopRedact(platform=PLATFORM, shop_domain=_shop_domain(payload, context, "shop_domain"))]


def _parse_customers_redact(payload: dict, context: ParseContext) -> list[Event]:
    customer = _dict(payload.get("customer"))
    return [
        CustomerRedact(
            platform=PLATFORM,
            customer_id=_id(customer.get("id")),
            phone=_e164(customer.get("phone"), context.country),
            email=_text(customer.get("email")),
            order_ids=tuple(_ids(payload.get("orders_to_redact"))),
        )
    ]


def _parse_customers_data_request(payload: dict, context: ParseContext) -> list[Event]:
    customer = _dict(payload.get("customer"))
    return [
        CustomerDataRequest(
            platform=PLATFORM,
            customer_id=_id(customer.get("id")),
            phone=_e164(customer.get("phone"), context.country),
            email=_text(customer.get("email")),
            order_ids=tuple(_ids(payload.get("orders_requested"))),
            request_id=_id(_dict(payload.get("data_request")).get("id")),
        )
    ]


#: topic → parser of its payload (a dict); every other topic gives no events
_PARSERS: dict[str, Callable[[dict, ParseContext], list[Event]]] = {
    "checkouts/create": _parse_checkout,
    "checkouts/update": _parse_checkout,
    "orders/create": _parse_order_created,
    "orders/paid": _parse_order_paid,
    "orders/cancelled": _parse_order_cancelled,
    "fulfillments/create": _parse_fulfillment,
    "fulfillments/update": _parse_fulfillment,
    "fulfillment_events/create": _parse_fulfillment_event,
    "inventory_levels/update": _parse_inventory_level,
    "products/update": _parse_product,
    "app/uninstalled": _parse_app_uninstalled,
    "customers/redact": _parse_customers_redact,
    "customers/data_request": _parse_customers_data_request,
    "shop/redact": _parse_shop_redact,
}

# ---------------------------------------------------------------------------------------
# Customers, phones, lines
# ---------------------------------------------------------------------------------------


def _customer(payload: dict, context: ParseContext, *, phone_keys: tuple[str, ...]) -> Customer:
    """The buyer of a checkout or order.

    The phone is the first that parses, in this order: the contact phone(s) of the
    checkout/order, the customer's, then the billing, shipping and default address phones.
    National numbers are read with the address's country (for address phones) or the
    shop's; an unparseable number is skipped, never raised.
    """
    customer = _dict(payload.get("customer"))
    billing, shipping = _dict(payload.get("billing_address")), _dict(payload.get("shipping_address"))
    default_address = _dict(customer.get("default_address"))
    address_country = _country(shipping) or _country(billing)
    # a national number is tried with the buyer's address country first, then the shop's
    countries = list(dict.fromkeys(filter(None, (address_country, context.country)))) or [None]
    candidates: list[tuple[object, str | None]] = [
        (raw, country) for raw in [*(payload.get(key) for key in phone_keys), customer.get("phone")] for country in countries
    ]
    for address in (billing, shipping, default_address):
        for country in dict.fromkeys((_country(address) or context.country, context.country)):
            candidates.append((address.get("phone"), country))
    phone = _first_phone(candidates)
    names = next((a for a in (customer, billing, shipping) if _text(a.get("first_name")) or _text(a.get("last_name"))), {})
    consent = _text(_dict(customer.get("sms_marketing_consent")).get("state"))
    if consent is None and payload.get("buyer_accepts_sms_marketing") is True:
        consent = "subscribed"  # the SMS box ticked at checkout
    return Customer(
        platform_customer_id=_id(customer.get("id")),
        phone=phone.e164 if phone else None,
        email=_text(payload.get("email")) or _text(payload.get("contact_email")) or _text(customer.get("email")),
        first_name=_text(names.get("first_name")),
        last_name=_text(names.get("last_name")),
        locale=_text(payload.get("customer_locale")),
        country=phone.country if phone else address_country,
        platform_marketing_consent=consent.lower() if consent else None,
    )


def _destination_customer(destination: dict, payload: dict, context: ParseContext) -> Customer:
    phone = _first_phone([(destination.get("phone"), _country(destination) or context.country)])
    return Customer(
        phone=phone.e164 if phone else None,
        email=_text(payload.get("email")),
        first_name=_text(destination.get("first_name")),
        last_name=_text(destination.get("last_name")),
        country=phone.country if phone else _country(destination),
    )


def _first_phone(candidates: Iterable[tuple[object, str | None]]):
    for raw, country in candidates:
        if isinstance(raw, str) and raw.strip():
            try:
                return normalise(raw, country)
            except InvalidPhoneError:
                continue
    return None


def _e164(raw: object, country: str | None) -> str | None:
    phone = _first_phone([(raw, country)])
    return phone.e164 if phone else None


def _country(address: dict) -> str | None:
    code = _text(address.get("country_code"))
    return code.upper() if code and len(code) == 2 else None


_ADDRESS_KEYS = (
    "first_name",
    "last_name",
    "name",
    "company",
    "address1",
    "address2",
    "city",
    "province",
    "province_code",
    "zip",
    "country",
    "country_code",
    "phone",
)


def _address(value: object) -> dict:
    address = _dict(value)
    return {key: address[key] for key in _ADDRESS_KEYS if isinstance(address.get(key), str)}


def _note_attributes(value: object) -> dict:
    attributes = {}
    for item in _dicts(value):
        name = _text(item.get("name"))
        if name is not None:
            attributes[name] = item.get("value") if isinstance(item.get("value"), str) else str(item.get("value", ""))
    return attributes


def _line_items(value: object) -> Iterable[LineItem]:
    for item in _dicts(value):
        quantity = _int(item.get("quantity"))
        if quantity is None:
            continue
        discount = _money_or_none(item.get("total_discount"))
        if discount is None:
            discount = sum(
                (_money(_dict(applied).get("amount")) for applied in _list(item.get("applied_discounts"))), Decimal(0)
            )
        yield LineItem(
            product_id=_id(item.get("product_id")),
            variant_id=_id(item.get("variant_id")),
            title=_text(item.get("title")) or _text(item.get("name")) or "",
            quantity=quantity,
            unit_price=_money(item.get("price")),
            variant_title=_text(item.get("variant_title")),
            sku=_text(item.get("sku")),
            total_discount=discount,
            tax=sum((_money(_dict(line).get("price")) for line in _list(item.get("tax_lines"))), Decimal(0)),
        )


# ---------------------------------------------------------------------------------------
# Small readers that never raise
# ---------------------------------------------------------------------------------------


def _moment(payload: dict, context: ParseContext) -> datetime:
    """The payload's ``updated_at``, else ``created_at``, else when the core received it."""
    moment = updated_at_of("", payload)
    if moment is not None:
        return moment
    received = getattr(context, "received_at", None)
    return received if isinstance(received, datetime) else datetime.now(UTC)


def _datetime(value: object) -> datetime | None:
    """ISO 8601 as Shopify writes it (offset or ``Z``, optional fraction) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _money(value: object) -> Decimal:
    amount = _money_or_none(value)
    return amount if amount is not None else Decimal(0)


def _money_or_none(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _shop_money(value: object) -> Decimal | None:
    return _money_or_none(_dict(_dict(value).get("shop_money")).get("amount"))


def _id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _ids(value: object) -> list[str]:
    return [item for item in map(_id, _list(value)) if item is not None]


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


