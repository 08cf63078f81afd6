"""The invoice of an order: made once from the order, stored, served by a signed expiring URL.

Why a link and not a media upload: Meta fetches a document ``link`` when it sends the
message, so the worker that reacts to the order does no extra call to Meta (an upload is a
second request that can fail or be in doubt, and its media id expires after 30 days at
Meta). The PDF stays in our database, so a re-send or a support request can use it again.

The PDF is not rendered when the order arrives (that took a third of the worker's time per
paid order): the row is made with a *draft*, what the PDF will show (the order, the seller's
name, address, tax id and e-mail, the locale and the invoice number, as they are at that
moment, in the marshmallow ``DraftSchema``), and ``invoice_pdf`` renders it on the first
download (Meta's fetch when it sends the message), stores it and drops the draft. The bytes
are those the order would have got at once: every input is fixed in the draft.
The URL carries an ``itsdangerous`` token (HMAC with ``SECRET_KEY``, salted, timestamped):
it names the invoice, cannot be guessed or altered, and stops working after
``invoice_link_days`` (30 by default). Cost: ``APP_URL`` must be reachable from Meta.
"""

from __future__ import annotations

import math
from datetime import timezone
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from marshmallow import Schema, fields, post_load
from sqlalchemy import update

from connector import shop_settings
from connector.automations.common import automation_settings
from connector.dbutil import insert_or_load
from connector.events import Customer, LineItem, Order
from connector.extensions import db, settings
from connector.messaging.invoices import InvoiceShop, invoice_filename, render_invoice_pdf
from connector.models import Invoice, Shop, utcnow

SALT = "connector.invoice"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings().secret_key, salt=SALT)


def invoice_for(shop: Shop, order: Order, locale: str | None) -> Invoice:
    """The order's invoice, made on first use (its draft: the PDF is rendered when first
    downloaded, ``invoice_pdf``); the same row (and bytes) afterwards."""
    options = automation_settings(shop, "order_confirmation")
    invoice_settings = shop_settings.effective(shop)["invoice"]
    number = f"{options.get('invoice_prefix') or ''}{(order.name or order.order_id).lstrip('#')}"
    seller = InvoiceShop(name=shop.name or shop.domain,
                         address_lines=tuple(invoice_settings["address_lines"]),
                         tax_id=invoice_settings["tax_id"], email=invoice_settings["email"])
    draft = _DRAFT.dump({"order": order, "seller": seller, "locale": locale or shop.locale or "en", "number": number})
    now = utcnow()
    invoice, _made = insert_or_load(
        db.session, Invoice, {"shop_id": shop.id, "order_id": order.order_id, "number": number[:64],
                              "filename": invoice_filename(order), "pdf": None, "draft": draft,
                              "created_at": now, "updated_at": now},
        ("shop_id", "order_id"), Invoice.shop_id == shop.id, Invoice.order_id == order.order_id)
    return invoice


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice's PDF: the stored one, else rendered from its draft now and stored (committed)."""
    if invoice.pdf is not None:
        return invoice.pdf
    draft: dict[str, Any] = _DRAFT.load(invoice.draft or {})
    pdf = render_invoice_pdf(draft["order"], draft["seller"], locale=draft["locale"], invoice_number=draft["number"],
                             issued_at=draft["order"].created_at)
    # two first downloads at once render the same bytes; the first stored is kept
    db.session.execute(update(Invoice).where(Invoice.id == invoice.id, Invoice.pdf.is_(None))
                       .values(pdf=pdf, draft=None, updated_at=utcnow()))
    db.session.commit()
    return pdf


def invoice_url(invoice: Invoice) -> str:
    token = _serializer().dumps({"s": invoice.shop_id, "i": invoice.id})
    return f"{settings().app_url}/l/invoice/{token}"


def load_invoice_by_token(token: str) -> Invoice | None:
    try:
        data = _serializer().loads(token, max_age=None)
    except (BadSignature, SignatureExpired):
        return None
    invoice = db.session.get(Invoice, data.get("i")) if isinstance(data, dict) else None
    if invoice is None or invoice.shop_id != data.get("s"):
        return None
    shop = db.session.get(Shop, invoice.shop_id)
    days = float(automation_settings(shop, "order_confirmation")["invoice_link_days"]) if shop else 0
    try:
        _serializer().loads(token, max_age=math.floor(days * 86400))  # token ages are whole seconds
    except (BadSignature, SignatureExpired):
        return None
    return invoice


class _CustomerSchema(Schema):
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)

    @post_load
    def make(self, data: dict, **_kwargs) -> Customer:
        return Customer(**data)


class _LineSchema(Schema):
    product_id = fields.String(allow_none=True)
    variant_id = fields.String(allow_none=True)
    title = fields.String()
    variant_title = fields.String(allow_none=True)
    quantity = fields.Integer()
    unit_price = fields.Decimal(as_string=True)

    @post_load
    def make(self, data: dict, **_kwargs) -> LineItem:
        return LineItem(**data)


class _OrderSchema(Schema):
    """What of an order its invoice prints (``render_invoice_pdf``); the rest is left out."""
    platform = fields.String()
    order_id = fields.String()
    name = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(default_timezone=timezone.utc)  # the invoice's date
    updated_at = fields.AwareDateTime(default_timezone=timezone.utc)
    customer = fields.Nested(_CustomerSchema)
    lines = fields.List(fields.Nested(_LineSchema))
    currency = fields.String(allow_none=True)
    subtotal = fields.Decimal(as_string=True)
    shipping = fields.Decimal(as_string=True)
    tax = fields.Decimal(as_string=True)
    discount = fields.Decimal(as_string=True)
    total = fields.Decimal(as_string=True)
    taxes_included = fields.Boolean()
    billing_address = fields.Dict()

    @post_load
    def make(self, data: dict, **_kwargs) -> Order:
        return Order(**{**data, "lines": tuple(data["lines"])})


class _SellerSchema(Schema):
    name = fields.String()
    address_lines = fields.List(fields.String())
    tax_id = fields.String(allow_none=True)
    email = fields.String(allow_none=True)

    @post_load
    def make(self, data: dict, **_kwargs) -> InvoiceShop:
        return InvoiceShop(**{**data, "address_lines": tuple(data["address_lines"])})


class DraftSchema(Schema):
    """An invoice's draft (``Invoice.draft``): everything its PDF is rendered from."""
    order = fields.Nested(_OrderSchema)
    seller = fields.Nested(_SellerSchema)
    locale = fields.String()
    number = fields.String()


_DRAFT = DraftSchema()
