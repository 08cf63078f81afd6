"""Storefront API for the widget: back-in-stock subscriptions and the double opt-in.

``POST /storefront/api/back-in-stock`` ``{"shop_key", "phone", "variant_id", "product_id"?,
"locale"?, "country"?, "consent_text"?}`` → 201 (new) or 200 (already subscribed); 400 with
the field at fault; 404 for an unknown or inactive shop; 429 beyond the opt-in limits. The
alert is a marketing message, so a shopper without marketing consent gets the double opt-in
question (source ``back_in_stock_form``); alerts go only to contacts who answered YES.

``POST /storefront/api/opt-in``: see :func:`opt_in`.
"""

from __future__ import annotations

import hashlib
import re

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from connector.automations.back_in_stock import subscribe
from connector.contacts import contact_for
from connector.events import Customer
from connector.extensions import db, get_redis
from connector.models import Contact, Shop
from connector.models.contacts import CONSENT_GRANTED
from connector.optin import PENDING_ALREADY, request_opt_in
from connector.phones import InvalidPhoneError, may_be_mobile, normalise
from connector.ratelimit import Limit, hit
from connector.web.errors import BadRequestBody, storable_json_object

bp = Blueprint("storefront", __name__, url_prefix="/storefront")

_ID = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
_FIELDS = {"shop_key", "phone", "variant_id", "product_id", "locale", "country", "consent_text"}
#: recorded when the widget does not send the text it showed
BACK_IN_STOCK_CONSENT_TEXT = "Notify me on WhatsApp when this product is back in stock."


def _bad(field: str, message: str):
    return jsonify({"error": "invalid", "field": field, "message": message}), 400


def _request_object():
    """``(body, None)`` for a JSON object of storable text, else ``(None, the 400 that says why)``.

    Read with the shared reader (connector/web/errors.py), not ``request.get_json``: Flask's
    lets ``RecursionError`` through on deep nesting, and knows nothing of the NUL characters
    and lone surrogates that no text column takes.
    """
    if not request.is_json:
        return None, _bad("body", "a JSON object is required (Content-Type: application/json)")
    try:
        return storable_json_object(request.get_data(cache=False)), None
    except BadRequestBody as error:
        return None, _bad("body", str(error))


@bp.post("/api/back-in-stock")
def back_in_stock_subscribe():
    data, refused = _request_object()
    if refused is not None:
        return refused
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
    if data.get("consent_text") is not None and (not isinstance(data["consent_text"], str)
                                                 or len(data["consent_text"]) > 1000):
        return _bad("consent_text", "must be a string of at most 1000 characters")
    shop = db.session.scalars(select(Shop).where(Shop.shop_key == data["shop_key"])).first()
    if shop is None or not shop.is_active:
        return jsonify({"error": "not_found"}), 404
    try:
        phone = normalise(data["phone"], data.get("country") or shop.country)
    except InvalidPhoneError:
        return _bad("phone", "not a valid phone number")
    # the limits come before anything is written: a refused request leaves no contact behind
    known_consent = db.session.scalar(select(Contact.marketing_consent).where(
        Contact.shop_id == shop.id, Contact.phone_e164 == phone.e164))
    if known_consent != CONSENT_GRANTED:
        refused = _rate_limited(shop, phone.e164)
        if refused is not None:
            return refused
    contact = contact_for(shop, Customer(phone=phone.e164, locale=data.get("locale"), country=data.get("country")))
    subscription, created = subscribe(shop, contact, data["variant_id"], data.get("product_id"))
    if contact.marketing_consent != CONSENT_GRANTED and shop.whatsapp is not None:
        # a storefront opt-in: the alert is marketing, so it waits for the shopper's YES

        request_opt_in(shop, contact, source="back_in_stock_form",
                       text_shown=data.get("consent_text") or BACK_IN_STOCK_CONSENT_TEXT,
                       evidence={"variant_id": data["variant_id"], **_visitor_evidence()})
    return jsonify({"status": "subscribed", "subscription_id": subscription.id,
                    "expires_at": subscription.expires_at.isoformat(),
                    "consent": contact.marketing_consent}), 201 if created else 200


# -- double opt-in -------------------------------------------------------------------------------

#: the endpoint makes the merchant pay for a template; these keep it from being a way to spam
#: arbitrary numbers or run up the bill (per visitor address, per phone, per shop)
#: the shop's limit is pooled: one visitor over their own limit never uses up everyone's
OPTIN_LIMITS = (Limit("optin_ip", 5, 600), Limit("optin_phone", 3, 24 * 3600),
                Limit("optin_shop", 500, 3600, pooled=True))
OPTIN_SOURCES = ("widget_popup", "checkout_checkbox", "back_in_stock_form")
_OPTIN_FIELDS = {"shop_key", "phone", "consent_text", "source", "locale", "country"}


@bp.post("/api/opt-in")
def opt_in():
    """``{"shop_key", "phone", "consent_text", "source"?, "locale"?, "country"?}`` → 202 with the
    confirmation queued; 200 when already subscribed; 400 naming the field; 404 unknown shop;
    429 with ``Retry-After`` beyond the limits."""
    data, refused = _request_object()
    if refused is not None:
        return refused
    unknown = sorted(set(data) - _OPTIN_FIELDS)
    if unknown:
        return _bad(unknown[0], "unknown field")
    for field in ("shop_key", "phone", "consent_text"):
        if not isinstance(data.get(field), str) or not data[field].strip():
            return _bad(field, "required")
    if len(data["consent_text"]) > 1000:
        return _bad("consent_text", "at most 1000 characters")
    source = data.get("source") or "widget_popup"
    if source not in OPTIN_SOURCES:
        return _bad("source", f"one of {', '.join(OPTIN_SOURCES)}")
    for field, limit in (("locale", 16), ("country", 2)):
        if data.get(field) is not None and (not isinstance(data[field], str) or len(data[field]) > limit):
            return _bad(field, f"must be a string of at most {limit} characters")
    shop = db.session.scalars(select(Shop).where(Shop.shop_key == data["shop_key"])).first()
    if shop is None or not shop.is_active or shop.whatsapp is None:
        return jsonify({"error": "not_found"}), 404
    try:
        phone = normalise(data["phone"], data.get("country") or shop.country)
    except InvalidPhoneError:
        return _bad("phone", "not a valid mobile phone number")
    if not may_be_mobile(phone.e164):
        return _bad("phone", "this number cannot receive WhatsApp messages (landline or service number)")
    refused = _rate_limited(shop, phone.e164)
    if refused is not None:
        return refused
    contact = contact_for(shop, Customer(phone=phone.e164, locale=data.get("locale"), country=phone.country))
    queued = request_opt_in(shop, contact, source=source, text_shown=data["consent_text"].strip(),
                            evidence=_visitor_evidence())
    if queued is None:
        return jsonify({"status": "already_subscribed"}), 200
    if queued == PENDING_ALREADY:
        return jsonify({"status": "confirmation_pending", "message": "check WhatsApp to confirm"}), 202
    return jsonify({"status": "confirmation_sent", "message": "check WhatsApp to confirm"}), 202


def _rate_limited(shop: Shop, e164: str):
    """A 429 response when this request would exceed an opt-in limit, else None."""
    decision = hit(get_redis(), [(OPTIN_LIMITS[0], request.remote_addr or "unknown"), (OPTIN_LIMITS[1], e164),
                                 (OPTIN_LIMITS[2], str(shop.id))])
    if decision.allowed:
        return None
    response = jsonify({"error": "rate_limited", "limit": decision.limit.name,
                        "message": f"too many opt-in requests; try again in {decision.retry_after} s"})
    response.status_code = 429
    response.headers["Retry-After"] = str(decision.retry_after)
    return response


def _visitor_evidence() -> dict:
    """Who asked, for the consent ledger: the visitor's address (hashed) and browser. Behind
    a proxy the address is the client's, as far as ``TRUSTED_PROXY_COUNT`` hops are trusted."""
    return {"ip_hash": _digest(request.remote_addr or ""), "user_agent": (request.user_agent.string or "")[:200]}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]
