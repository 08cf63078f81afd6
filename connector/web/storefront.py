"""Storefront API for the widget: back-in-stock subscriptions (opt-in comes with issue 6).

``POST /storefront/api/back-in-stock`` ``{"shop_key", "phone", "variant_id", "product_id"?,
"locale"?, "country"?}`` → 201 (new) or 200 (already subscribed); 400 with the field at
fault; 404 for an unknown or inactive shop. The sign-up records *pending* marketing
consent with source ``back_in_stock_form`` (the double opt-in of issue 6 makes it granted);
alerts go only to contacts whose marketing consent is granted (see docs/automations.md).
"""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from connector.automations.back_in_stock import subscribe
from connector.automations.common import contact_for
from connector.events import Customer
from connector.extensions import db
from connector.models import Shop, utcnow
from connector.models.contacts import CONSENT_NONE, CONSENT_PENDING
from connector.phones import InvalidPhoneError, normalise

bp = Blueprint("storefront", __name__, url_prefix="/storefront")

_ID = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
_FIELDS = {"shop_key", "phone", "variant_id", "product_id", "locale", "country"}


def _bad(field: str, message: str):
    return jsonify({"error": "invalid", "field": field, "message": message}), 400


@bp.post("/api/back-in-stock")
def back_in_stock_subscribe():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _bad("body", "a JSON object is required")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        return _bad(unknown[0], "unknown field")
    for field in ("shop_key", "phone", "variant_id"):
        if not isinstance(data.get(field), str) or not data[field].strip():
            return _bad(field, "required")
    for field in ("variant_id", "product_id"):
        if data.get(field) is not None and (not isinstance(data[field], str) or not _ID.match(data[field])):
            return _bad(field, "must be an id of at most 64 letters, digits or -_.:/")
    for field, limit in (("locale", 16), ("country", 2)):
        if data.get(field) is not None and (not isinstance(data[field], str) or len(data[field]) > limit):
            return _bad(field, f"must be a string of at most {limit} characters")
    shop = db.session.scalars(select(Shop).where(Shop.shop_key == data["shop_key"])).first()
    if shop is None or not shop.is_active:
        return jsonify({"error": "not_found"}), 404
    try:
        phone = normalise(data["phone"], data.get("country") or shop.country)
    except InvalidPhoneError:
        return _bad("phone", "not a valid phone number")
    contact = contact_for(shop, Customer(phone=phone.e164, locale=data.get("locale"), country=data.get("country")))
    if contact.marketing_consent == CONSENT_NONE:
        contact.marketing_consent, contact.marketing_consent_at = CONSENT_PENDING, utcnow()
        contact.marketing_consent_source = "back_in_stock_form"
    subscription, created = subscribe(shop, contact, data["variant_id"], data.get("product_id"))
    return jsonify({"status": "subscribed", "subscription_id": subscription.id,
                    "expires_at": subscription.expires_at.isoformat(),
                    "consent": contact.marketing_consent}), 201 if created else 200
