"""The cart reports of our WordPress plugin (shape in the ``webhooks`` docstring) as neutral events."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connector.events import CheckoutUpdated, Customer, LineItem
from integrations.base import ParseContext, PayloadError
from integrations.coerce import as_dict as _dict
from integrations.coerce import clean_tree, storable
from integrations.coerce import dicts as _dicts
from integrations.coerce import text as _text
from integrations.kit import id_text as _id_text
from integrations.kit import money as _money
from integrations.kit import to_int as _int
from integrations.kit import yes_no
from integrations.woocommerce.consts import PLATFORM
from integrations.woocommerce.readers import iso_time, locale_tag, order_phone


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
        whatsapp_opt_in=opt_in if isinstance(opt_in, bool) else yes_no(opt_in),
        consent_text=_text(body.get("consent_text")),
        locale=locale_tag(body.get("locale")),
    )


def parse_cart_report(payload: Any, context: ParseContext) -> CheckoutUpdated:
    """Turn a cart report into :class:`CheckoutUpdated`.

    Raises :class:`PayloadError` without a ``cart_token`` or a parseable ``updated_at``;
    everything else is optional. The phone is read with the report's ``country``, then
    the shop's, and dropped when unusable.
    """
    body = clean_tree(_dict(payload))
    cart_token = _text(body.get("cart_token"))
    updated_at = iso_time(body.get("updated_at"))
    if not isinstance(payload, dict) or cart_token is None or updated_at is None:
        raise PayloadError("cart report needs cart_token and updated_at")
    consent = cart_report_consent(body)
    phone, country = order_phone({"phone": body.get("phone"), "country": body.get("country")}, {}, context)
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
        created_at=iso_time(body.get("created_at")),
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
