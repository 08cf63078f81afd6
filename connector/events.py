"""Platform-neutral events.

Adapters in ``integrations/`` turn vendor payloads into these; the core (automations,
outbox, consent) only ever sees these. Each event is a frozen dataclass so that it can be
logged, compared in tests and passed between functions without anyone mutating it.

Identifiers that a vendor sends as numbers are kept as ``str`` so that ids beyond 2**53
survive (JSON numbers lose precision in JavaScript and in careless float parsing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class MessageError:
    """One error Meta attached to a failed message (``statuses[].errors[]``)."""

    code: int
    title: str = ""
    message: str = ""
    details: str = ""


@dataclass(frozen=True, slots=True)
class MessageStatusChanged:
    """A delivery status of a message we sent (sent, delivered, read, failed, played)."""

    phone_number_id: str
    wamid: str
    status: str
    occurred_at: datetime
    recipient_phone: str | None = None
    recipient_user_id: str | None = None
    #: our outbox message id, echoed back by Meta in ``biz_opaque_callback_data``
    callback_data: str | None = None
    errors: tuple[MessageError, ...] = ()
    pricing_category: str | None = None
    pricing_type: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a shopper sent to the shop's WhatsApp number.

    ``kind`` is ``text``, ``button`` (template quick reply), ``interactive`` (button or list
    reply) or the vendor's type name for anything else (image, location, ...), which the
    core keeps but does not interpret. ``from_phone`` may be ``None`` for users who message
    with a username only; ``user_id`` is then the business-scoped user id (BSUID).
    """

    phone_number_id: str
    wamid: str
    kind: str
    occurred_at: datetime
    from_phone: str | None = None
    user_id: str | None = None
    profile_name: str | None = None
    text: str | None = None
    #: payload of a template quick-reply button, or id of an interactive reply
    reply_id: str | None = None
    reply_title: str | None = None
    #: the wamid of our message this one answers (``context.id``)
    context_wamid: str | None = None


@dataclass(frozen=True, slots=True)
class MarketingPreferenceChanged:
    """The shopper stopped or resumed marketing messages from WhatsApp's own controls."""

    phone_number_id: str
    value: str  # "stop" | "resume" | anything newer Meta adds
    occurred_at: datetime
    phone: str | None = None
    user_id: str | None = None
    category: str = "marketing_messages"


@dataclass(frozen=True, slots=True)
class UnhandledChange:
    """A webhook change we recognise as valid but do not act on (kept for the log)."""

    field: str
    details: dict = dataclasses.field(default_factory=dict)  # in here, ``field`` names the attribute above


# --- Commerce events (from the store platforms) -------------------------------------------
#
# Money is ``Decimal`` in the store's currency (never float). Phones are E.164 or ``None``
# (an unparseable phone is dropped by the adapter, never raised). ``platform`` is the
# adapter's slug (``shopify`` / ``woocommerce``).


class FulfillmentStatus:
    """The neutral shipment statuses automations act on.

    Adapters map vendor vocabularies (Shopify ``shipment_status`` and fulfillment event
    statuses, WooCommerce order statuses and tracking meta) onto these.
    """

    PENDING = "pending"  # label printed / purchased, not yet with the carrier
    SHIPPED = "shipped"  # handed to the carrier (fulfillment created with tracking, picked up)
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    ATTEMPTED_DELIVERY = "attempted_delivery"
    DELAYED = "delayed"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERED = "delivered"
    FAILURE = "failure"
    CANCELLED = "cancelled"

    ALL = (
        PENDING,
        SHIPPED,
        IN_TRANSIT,
        OUT_FOR_DELIVERY,
        ATTEMPTED_DELIVERY,
        DELAYED,
        READY_FOR_PICKUP,
        DELIVERED,
        FAILURE,
        CANCELLED,
    )


@dataclass(frozen=True, slots=True)
class Customer:
    """Who a cart or order belongs to, as far as the store told us."""

    platform_customer_id: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None  # e.g. "de", "pt-BR"; ``None`` when the store gave none
    country: str | None = None  # ISO 3166-1 alpha-2 of the address used for the phone
    #: the store's own SMS/marketing consent. Never WhatsApp marketing consent: at most it
    #: may grant transactional messages (see the consent ledger).
    platform_marketing_consent: str | None = None  # "subscribed" | "not_subscribed" | ...
    #: the WhatsApp opt-in checkbox at checkout (WordPress plugin); ``None`` = not asked
    whatsapp_opt_in: bool | None = None
    #: the exact text shown next to that box, in the shopper's language (for the consent ledger)
    whatsapp_consent_text: str | None = None


@dataclass(frozen=True, slots=True)
class LineItem:
    product_id: str | None
    variant_id: str | None
    title: str
    quantity: int
    unit_price: Decimal
    variant_title: str | None = None
    sku: str | None = None
    total_discount: Decimal = Decimal("0")
    tax: Decimal = Decimal("0")
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class CheckoutUpdated:
    """A cart with a checkout started (Shopify ``checkouts/*``, WooCommerce plugin report)."""

    platform: str
    cart_token: str  # Shopify's checkout ``token``; WooCommerce's cart/session key
    updated_at: datetime
    customer: Customer
    lines: tuple[LineItem, ...]
    currency: str
    subtotal: Decimal
    total: Decimal
    recovery_url: str | None = None
    completed_at: datetime | None = None
    #: Shopify's ``cart_token`` of the checkout, which an order may carry instead
    alt_tokens: tuple[str, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order snapshot, shared by the order events."""

    platform: str
    order_id: str
    name: str  # what the shopper sees: "#1001"
    created_at: datetime
    updated_at: datetime
    customer: Customer
    lines: tuple[LineItem, ...]
    currency: str
    subtotal: Decimal
    shipping: Decimal
    tax: Decimal
    discount: Decimal
    total: Decimal
    financial_status: str | None = None  # vendor's, informative only
    #: tokens linking the order to the checkout/cart it came from
    cart_tokens: tuple[str, ...] = ()
    status_url: str | None = None
    payment_method: str | None = None  # e.g. "cod" for cash on delivery
    taxes_included: bool = False
    billing_address: dict = field(default_factory=dict)
    shipping_address: dict = field(default_factory=dict)
    note_attributes: dict = field(default_factory=dict)  # cart attributes, e.g. our ref
    #: the discount codes the shopper entered, as the store reports them (Shopify
    #: ``discount_codes[].code``, WooCommerce ``coupon_lines[].code``, which it lowercases)
    discount_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    order: Order


@dataclass(frozen=True, slots=True)
class OrderPaid:
    order: Order


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    order: Order
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class FulfillmentUpdated:
    """A shipment of (part of) an order reached a status."""

    platform: str
    order_id: str
    fulfillment_id: str
    status: str  # a ``FulfillmentStatus`` value
    occurred_at: datetime
    tracking_company: str | None = None
    tracking_numbers: tuple[str, ...] = ()
    tracking_urls: tuple[str, ...] = ()
    estimated_delivery_at: datetime | None = None
    #: where the shipment goes; its phone may be the only one the fulfillment carries
    customer: Customer | None = None
    order_name: str | None = None


@dataclass(frozen=True, slots=True)
class StockChanged:
    """A variant's sellable stock, as now known. Automations diff against the last state."""

    platform: str
    product_id: str | None
    variant_id: str
    available: bool
    quantity: int | None  # ``None`` when the store does not track quantity
    occurred_at: datetime
    inventory_item_id: str | None = None
    title: str | None = None
    image_url: str | None = None
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CustomerRedact:
    """Erase everything about one customer (Shopify ``customers/redact``, GDPR erasure)."""

    platform: str
    customer_id: str | None
    phone: str | None
    email: str | None
    order_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CustomerDataRequest:
    """Export everything held about one customer (Shopify ``customers/data_request``)."""

    platform: str
    customer_id: str | None
    phone: str | None
    email: str | None
    order_ids: tuple[str, ...] = ()
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ShopRedact:
    """Erase the shop's data (Shopify ``shop/redact``, 48 h after uninstall)."""

    platform: str
    shop_domain: str


@dataclass(frozen=True, slots=True)
class ShopUninstalled:
    platform: str
    shop_domain: str


@dataclass(frozen=True, slots=True)
class MessagingLimitChanged:
    """Meta reported the messaging limit of a WhatsApp Business Account's portfolio.

    Since October 2025 the limit belongs to the business portfolio and every number in it
    shares it, so the event names the WABA, not a number. ``limit`` is unique recipients
    per moving 24 h (None: unlimited); ``known`` is False when the webhook only reported a
    throughput change (``THROUGHPUT_UPGRADE``), which ``throughput_event`` then names.
    https://developers.facebook.com/docs/whatsapp/messaging-limits
    """

    waba_id: str
    source: str
    known: bool
    limit: int | None = None
    occurred_at: datetime | None = None
    throughput_event: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateStatusChanged:
    """Meta decided on one message template of a WhatsApp Business Account (approved,
    rejected, paused, disabled, ...). ``reason`` is None when Meta gives none.
    https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates
    """

    waba_id: str
    status: str
    template_id: str | None = None
    name: str | None = None
    language: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateCategoryChanged:
    """Meta changed (or, ``impending``, is about to change) the category of one message template
    of a WhatsApp Business Account, e.g. UTILITY → MARKETING after a review of its content.
    A completed change names ``previous_category`` and ``new_category``; the advance notice
    names ``correct_category`` (what it will become) and, as ``new_category``, the current one.
    https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/template_category_update
    """

    waba_id: str
    new_category: str
    template_id: str | None = None
    name: str | None = None
    language: str | None = None
    previous_category: str | None = None
    correct_category: str | None = None
    impending: bool = False


Event = (
    MessageStatusChanged
    | MessagingLimitChanged
    | TemplateStatusChanged
    | TemplateCategoryChanged
    | InboundMessage
    | MarketingPreferenceChanged
    | UnhandledChange
    | CheckoutUpdated
    | OrderPlaced
    | OrderPaid
    | OrderCancelled
    | FulfillmentUpdated
    | StockChanged
    | CustomerRedact
    | CustomerDataRequest
    | ShopRedact
    | ShopUninstalled
)
