"""The invoice of an order: made once from the order, stored, served by a signed expiring URL.

Why a link and not a media upload: Meta fetches a document ``link`` when it sends the
message, so the worker that reacts to the order does no extra call to Meta (an upload is a
second request that can fail or be in doubt, and its media id expires after 30 days at
Meta). The PDF stays in our database, so a re-send or a support request can use it again.
The URL carries an ``itsdangerous`` token (HMAC with ``SECRET_KEY``, salted, timestamped):
it names the invoice, cannot be guessed or altered, and stops working after
``invoice_link_days`` (30 by default). Cost: ``APP_URL`` must be reachable from Meta.
"""

from __future__ import annotations

import math

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from connector import shop_settings
from connector.automations.common import automation_settings
from connector.dbutil import insert_or_ignore
from connector.events import Order
from connector.extensions import db, settings
from connector.messaging.invoices import InvoiceShop, invoice_filename, render_invoice_pdf
from connector.models import Invoice, Shop, utcnow

SALT = "connector.invoice"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings().secret_key, salt=SALT)


def invoice_for(shop: Shop, order: Order, locale: str | None) -> Invoice:
    """The order's invoice, rendered on first use; the same row (and bytes) afterwards."""
    existing = _find(shop.id, order.order_id)
    if existing is not None:
        return existing
    options = automation_settings(shop, "order_confirmation")
    invoice_settings = shop_settings.effective(shop)["invoice"]
    number = f"{options.get('invoice_prefix') or ''}{(order.name or order.order_id).lstrip('#')}"
    seller = InvoiceShop(name=shop.name or shop.domain,
                         address_lines=tuple(invoice_settings["address_lines"]),
                         tax_id=invoice_settings["tax_id"], email=invoice_settings["email"])
    pdf = render_invoice_pdf(order, seller, locale=locale or shop.locale or "en", invoice_number=number,
                             issued_at=order.created_at)
    now = utcnow()
    insert_or_ignore(db.session, Invoice, {"shop_id": shop.id, "order_id": order.order_id, "number": number[:64],
                                           "filename": invoice_filename(order), "pdf": pdf,
                                           "created_at": now, "updated_at": now},
                     conflict=("shop_id", "order_id"))
    return _find(shop.id, order.order_id)  # type: ignore[return-value]


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


def _find(shop_id: int, order_id: str) -> Invoice | None:
    return db.session.scalars(select(Invoice).where(Invoice.shop_id == shop_id, Invoice.order_id == order_id)).first()
