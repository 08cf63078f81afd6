"""Verify and parse Shopify webhooks.

Pure functions: no Flask, no database, no network. The endpoint calls :func:`verify` on the
raw body and :func:`delivery_headers` for routing and deduplication; a job later turns the
stored body into neutral events with :func:`parse`.

Payload shapes: https://shopify.dev/docs/api/webhooks/2026-07 (sample payloads in
``tests/fixtures/payloads/shopify``). Shopify adds fields without notice and redacts
protected customer data for apps without approval, so parsing reads only what it needs and
treats anything missing or mistyped as absent. Ids are kept as ``str`` (they pass 2**53).

This module holds the entry points and the topic table; the parsers are in ``payloads``,
the Shopify field readers in ``readers``, the readers shared with WooCommerce in
``integrations.kit``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.events import Event
from integrations.base import HeaderMap, ParseContext, PayloadError
from integrations.coerce import storable
from integrations.kit import header as _header
from integrations.kit import hmac_signature, load_json, verify_hmac
from integrations.shopify import payloads
from integrations.shopify.consts import (
    API_VERSION_HEADER,
    EVENT_ID_HEADER,
    HMAC_HEADER,
    PLATFORM,  # noqa: F401  (importable from here as before)
    SHOP_DOMAIN_HEADER,
    TOPIC_HEADER,
    TRIGGERED_AT_HEADER,
    WEBHOOK_ID_HEADER,
)
from integrations.shopify.payloads import (
    checkout_recovery_url,  # noqa: F401  (importable from here as before)
    inventory_item_map,
)
from integrations.shopify.readers import timestamp as _datetime
from integrations.shopify.readers import updated_at_of

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
    if not secret:
        # An empty key would make every forged body "valid"; refuse instead.
        raise ValueError("secret must not be empty")
    return hmac_signature(raw_body, secret)


def verify(raw_body: bytes, headers: HeaderMap, secret: str) -> None:
    """Check ``X-Shopify-Hmac-Sha256`` against the exact bytes received; return when genuine.

    Raises ``SignatureMissingError`` when the header is absent or not base64 of 32 bytes,
    ``SignatureInvalidError`` when it does not match. Shopify expects 401 for both.
    """
    verify_hmac(raw_body, _header(headers, HMAC_HEADER), secret, HMAC_HEADER)


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


def delivery_headers(headers: HeaderMap) -> DeliveryHeaders:
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


#: topic → parser of its payload (a dict); every other topic gives no events
_PARSERS: dict[str, Callable[[dict, ParseContext], list[Event]]] = {
    "checkouts/create": payloads.parse_checkout,
    "checkouts/update": payloads.parse_checkout,
    "orders/create": payloads.parse_order_created,
    "orders/paid": payloads.parse_order_paid,
    "orders/cancelled": payloads.parse_order_cancelled,
    "fulfillments/create": payloads.parse_fulfillment,
    "fulfillments/update": payloads.parse_fulfillment,
    "fulfillment_events/create": payloads.parse_fulfillment_event,
    "inventory_levels/update": payloads.parse_inventory_level,
    "products/update": payloads.parse_product,
    "app/uninstalled": payloads.parse_app_uninstalled,
    "customers/redact": payloads.parse_customers_redact,
    "customers/data_request": payloads.parse_customers_data_request,
    "shop/redact": payloads.parse_shop_redact,
}
