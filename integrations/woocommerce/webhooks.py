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

This module holds the entry points and the topic table; orders and products become events
in ``payloads``, cart reports in ``cart_report``; field readers are in ``readers``, the
constants in ``consts``, the readers shared with Shopify in ``integrations.kit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from connector.events import Event
from integrations.base import HeaderMap, ParseContext, PayloadError
from integrations.coerce import storable
from integrations.kit import header as _header
from integrations.kit import hmac_signature, load_json, verify_hmac
from integrations.kit import id_text as _id_text
from integrations.woocommerce.cart_report import CartConsent, cart_report_consent, parse_cart_report

# names this module defined before ``consts`` existed, still importable from here
from integrations.woocommerce.consts import (  # noqa: F401
    HEADER_CART_SIGNATURE,
    HEADER_DELIVERY_ID,
    HEADER_EVENT,
    HEADER_RESOURCE,
    HEADER_SIGNATURE,
    HEADER_SOURCE,
    HEADER_TOPIC,
    HEADER_WEBHOOK_ID,
    LOCALE_META_KEYS,
    META_CART_TOKEN,
    META_CONSENT_TEXT,
    META_LOCALE,
    META_OPT_IN,
    META_SHIPMENT_STATUS,
    META_TRACKING_ITEMS,
    PLATFORM,
    TRACKSHIP_STATUSES,
)
from integrations.woocommerce.payloads import order_events, parse_variation, product_events, variation_ids

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

#: Topics the connector subscribes to. ``customer.*`` is left out on purpose: every order
#: carries its own billing phone, email and name, and nothing we send depends on a change
#: to a customer account. ``product.created`` is left out too: a new product cannot come
#: back in stock. Variations fire ``product.updated`` as well (class-wc-webhook.php hooks
#: ``woocommerce_update_product_variation`` to it), so no extra topic is needed for them.
TOPICS: tuple[str, ...] = ("order.created", "order.updated", "product.updated")


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
    return hmac_signature(raw_body, secret)


#: the signing function for fakes and tests that deliver webhooks
sign = signature


def verify(raw_body: bytes, headers: HeaderMap, secret: str) -> None:
    """Check ``X-WC-Webhook-Signature`` against ``raw_body``; return quietly when genuine.

    Raises :class:`SignatureMissingError` when the header is absent or is not base64 of
    32 bytes, :class:`SignatureInvalidError` when it does not match, and ``ValueError``
    for an empty ``secret`` (which would let anyone sign). The body must be the exact
    bytes received. WooCommerce decodes HTML entities in the stored secret before
    signing (``wp_specialchars_decode``); our secrets are alphanumeric, so that never
    changes them.
    """
    verify_hmac(raw_body, _header(headers, HEADER_SIGNATURE), secret, HEADER_SIGNATURE)


def is_ping(raw_body: bytes, headers: HeaderMap) -> bool:
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


def delivery_headers(headers: HeaderMap) -> DeliveryHeaders:
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


# ---------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------


def parse(topic: str, payload: Any, context: ParseContext) -> list[Event]:
    """Neutral events for one delivery of ``topic``; an unknown topic gives ``[]``.

    Orders: both ``order.created`` and ``order.updated`` describe the order's *current*
    state (see ``payloads.order_events``), so a missed delivery is repaired by the next one
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


#: topic → parser of its body; every other topic gives no events
_TOPIC_PARSERS: dict[str, Callable[[dict, ParseContext], list[Event]]] = {
    "order.created": order_events,
    "order.updated": order_events,
    "product.updated": product_events,
}


# ---------------------------------------------------------------------------------------
# Cart reports from our WordPress plugin (shape in the module docstring; parsed in ``cart_report``)
# ---------------------------------------------------------------------------------------


def sign_cart_report(raw_body: bytes, secret: str) -> str:
    """The ``X-WCC-Signature`` of a cart report: base64 HMAC-SHA256, as WooCommerce signs."""
    if not secret:
        raise ValueError("secret must not be empty")
    return signature(raw_body, secret)


def verify_cart_report(raw_body: bytes, headers: HeaderMap, secret: str) -> None:
    """Check ``X-WCC-Signature``; raises like :func:`verify`."""
    verify_hmac(raw_body, _header(headers, HEADER_CART_SIGNATURE), secret, HEADER_CART_SIGNATURE)
