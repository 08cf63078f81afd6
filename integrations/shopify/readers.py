"""Field readers of Shopify payloads: buyers and their phones, addresses, line items, moments.

Each reads only what it needs and treats anything missing or mistyped as absent; none raises.
The readers both platforms share (ids, numbers, money) are in ``integrations.kit``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connector.events import Customer, LineItem
from connector.phones import InvalidPhoneError, normalise
from integrations.base import ParseContext
from integrations.coerce import as_dict as _dict
from integrations.coerce import as_list as _list
from integrations.coerce import dicts as _dicts
from integrations.coerce import text as _text
from integrations.kit import id_text as _id
from integrations.kit import money as _money
from integrations.kit import money_or_none as _money_or_none
from integrations.kit import to_int as _int
from integrations.kit import yes_no

#: the cart attributes the checkout extension sets: its box ("yes"/"no") and the text it showed
ATTRIBUTE_OPT_IN = "_wcc_whatsapp_opt_in"
ATTRIBUTE_CONSENT_TEXT = "_wcc_consent_text"

# ---------------------------------------------------------------------------------------
# Customers, phones, lines
# ---------------------------------------------------------------------------------------


def read_customer(payload: dict, context: ParseContext, *, phone_keys: tuple[str, ...]) -> Customer:
    """The buyer of a checkout or order.

    The phone is the first that parses, in this order: the contact phone(s) of the
    checkout/order, the customer's, then the billing, shipping and default address phones.
    National numbers are read with the address's country (for address phones) or the
    shop's; an unparseable number is skipped, never raised.
    """
    customer = _dict(payload.get("customer"))
    billing, shipping = _dict(payload.get("billing_address")), _dict(payload.get("shipping_address"))
    default_address = _dict(customer.get("default_address"))
    address_country = country_code(shipping) or country_code(billing)
    # a national number is tried with the buyer's address country first, then the shop's
    countries: list[str | None] = list(dict.fromkeys(filter(None, (address_country, context.country)))) or [None]
    candidates: list[tuple[object, str | None]] = [
        (raw, country) for raw in [*(payload.get(key) for key in phone_keys), customer.get("phone")]
        for country in countries
    ]
    for address in (billing, shipping, default_address):
        for country in dict.fromkeys((country_code(address) or context.country, context.country)):
            candidates.append((address.get("phone"), country))
    phone = first_phone(candidates)
    names = next((a for a in (customer, billing, shipping)
                  if _text(a.get("first_name")) or _text(a.get("last_name"))), {})
    # the checkout extension's box (extensions/whatsapp-checkout): cart attributes on the order
    attributes = note_attributes(payload.get("note_attributes"))
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
        whatsapp_opt_in=yes_no(attributes.get(ATTRIBUTE_OPT_IN)),
        whatsapp_consent_text=_text(attributes.get(ATTRIBUTE_CONSENT_TEXT)),
    )


def destination_customer(destination: dict, payload: dict, context: ParseContext) -> Customer:
    """The recipient of a fulfillment, from its ``destination`` address."""
    phone = first_phone([(destination.get("phone"), country_code(destination) or context.country)])
    return Customer(
        phone=phone.e164 if phone else None,
        email=_text(payload.get("email")),
        first_name=_text(destination.get("first_name")),
        last_name=_text(destination.get("last_name")),
        country=phone.country if phone else country_code(destination),
    )


def first_phone(candidates: Iterable[tuple[object, str | None]]):
    """The first ``(raw, country)`` candidate that parses as a phone number, else None."""
    for raw, country in candidates:
        if isinstance(raw, str) and raw.strip():
            try:
                return normalise(raw, country)
            except InvalidPhoneError:
                continue
    return None


def e164(raw: object, country: str | None) -> str | None:
    """``raw`` in E.164, national numbers read with ``country``; None when it does not parse."""
    phone = first_phone([(raw, country)])
    return phone.e164 if phone else None


def country_code(address: dict) -> str | None:
    """An address's ``country_code``, upper-cased, when it is two characters long."""
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


def address_fields(value: object) -> dict:
    """The string fields of an address that an order keeps."""
    address = _dict(value)
    return {key: address[key] for key in _ADDRESS_KEYS if isinstance(address.get(key), str)}


def note_attributes(value: object) -> dict:
    """``note_attributes`` ([{name, value}]) as {name: value as text}."""
    attributes = {}
    for item in _dicts(value):
        name = _text(item.get("name"))
        if name is not None:
            attributes[name] = item.get("value") if isinstance(item.get("value"), str) else str(item.get("value", ""))
    return attributes


def line_items(value: object) -> Iterable[LineItem]:
    """The line items of a checkout or order; items without a quantity are skipped."""
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
# Moments and amounts
# ---------------------------------------------------------------------------------------


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
        moment = timestamp(payload.get(key))
        if moment is not None:
            return moment
    return None


def moment_of(payload: dict, context: ParseContext) -> datetime:
    """The payload's ``updated_at``, else ``created_at``, else when the core received it."""
    moment = updated_at_of("", payload)
    if moment is not None:
        return moment
    received = getattr(context, "received_at", None)
    return received if isinstance(received, datetime) else datetime.now(UTC)


def timestamp(value: object) -> datetime | None:
    """ISO 8601 as Shopify writes it (offset or ``Z``, optional fraction) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def shop_money(value: object) -> Decimal | None:
    """The shop-currency amount of a ``*_set`` money bag."""
    return _money_or_none(_dict(_dict(value).get("shop_money")).get("amount"))
