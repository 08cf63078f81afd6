"""Storefront API for the widget: back-in-stock subscriptions and the double opt-in.

Each call (``back-in-stock``, ``opt-in``) is reachable three ways, which differ only in how
the shop and the shopper's address are known:

- ``POST /storefront/api/<name>``: direct, for any site. The shop is the body's ``shop_key``;
  a browser call must come from one of the shop's own storefront origins (CORS: the preflight
  ``OPTIONS /storefront/api/<name>?shop=<shop key>`` is answered for those origins only, and
  a POST whose ``Origin`` is another one is refused with 403 before anything is read).
- ``POST /storefront/proxy/api/<name>``: through a Shopify shop's app proxy
  (``https://<shop>/apps/whatsapp/api/<name>``, shopify.app.toml ``[app_proxy]``). The shop is
  the ``shop`` of Shopify's signed query (integrations/shopify/app_proxy.py); a missing, wrong
  or stale signature is 401 and nothing is stored.
- ``POST /storefront/signed/api/<name>``: forwarded by a WooCommerce store's plugin from its
  own domain, signed with the store's shared secret (integrations/woocommerce/storefront.py);
  401 otherwise.

``back-in-stock`` ``{"shop_key", "phone", "variant_id", "product_id"?, "locale"?,
"country"?, "consent_text"?}`` → 201 (new) or 200 (already subscribed); 400 with the field at
fault; 404 for an unknown or inactive shop; 429 beyond the opt-in limits. The alert is a
marketing message, so a shopper without marketing consent gets the double opt-in question
(source ``back_in_stock_form``); alerts go only to contacts who answered YES.

``opt-in``: see :func:`_opt_in`. Through the proxy or the plugin ``shop_key`` may be left out;
when given it must name the same shop.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import select
from werkzeug.security import safe_join

from connector import shop_settings
from connector.automations.back_in_stock import subscribe
from connector.contacts import contact_for
from connector.events import Customer
from connector.extensions import db, get_redis, settings
from connector.messaging.auto_reply import is_open
from connector.models import Contact, OrderRecord, Shop, utcnow
from connector.models.contacts import CONSENT_GRANTED
from connector.optin import PENDING_ALREADY, request_opt_in
from connector.phones import InvalidPhoneError, may_be_mobile, normalise
from connector.ratelimit import Limit, hit
from connector.stores import shopify as shopify_store
from connector.stores import woocommerce as woocommerce_store
from connector.stores.platforms import platform_of
from connector.web.errors import BadRequestBody, storable_json_object
from integrations.base import SignatureInvalidError, SignatureMissingError
from integrations.shopify.app_proxy import AppProxyError
from integrations.shopify.errors import SessionTokenError

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


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the transport established it."""

    shop: Shop | None  # known from a signature (proxy, plugin); None: the body's shop_key says
    visitor: str  # the shopper's address, for the rate limits and the ledger (hashed there)


def _shop_for(data: dict, caller: Caller):
    """``(shop, None)`` or ``(None, the 400/404 that says why)``."""
    key = data.get("shop_key")
    if caller.shop is not None:
        if key is not None and key != caller.shop.shop_key:
            return None, _bad("shop_key", "names another shop than the signed request")
        return caller.shop, None
    if not isinstance(key, str) or not key.strip():
        return None, _bad("shop_key", "required")
    shop = db.session.scalars(select(Shop).where(Shop.shop_key == key)).first()
    if shop is None or not shop.is_active:
        return None, (jsonify({"error": "not_found"}), 404)
    return shop, None


def _back_in_stock(data: dict, caller: Caller):
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        return _bad(unknown[0], "unknown field")
    for field in ("phone", "variant_id"):
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
    shop, refused = _shop_for(data, caller)
    if refused is not None:
        return refused
    try:
        phone = normalise(data["phone"], data.get("country") or shop.country)
    except InvalidPhoneError:
        return _bad("phone", "not a valid phone number")
    # the limits come before anything is written: a refused request leaves no contact behind
    known_consent = db.session.scalar(select(Contact.marketing_consent).where(
        Contact.shop_id == shop.id, Contact.phone_e164 == phone.e164))
    if known_consent != CONSENT_GRANTED:
        refused = _rate_limited(shop, phone.e164, caller.visitor)
        if refused is not None:
            return refused
    contact = contact_for(shop, Customer(phone=phone.e164, locale=data.get("locale"), country=data.get("country")))
    if contact is None:  # only a customer without a phone has none
        return _bad("phone", "required")
    subscription, created = subscribe(shop, contact, data["variant_id"], data.get("product_id"))
    if contact.marketing_consent != CONSENT_GRANTED and shop.whatsapp is not None:
        # a storefront opt-in: the alert is marketing, so it waits for the shopper's YES
        request_opt_in(shop, contact, source="back_in_stock_form",
                       text_shown=data.get("consent_text") or BACK_IN_STOCK_CONSENT_TEXT,
                       evidence={"variant_id": data["variant_id"], **_visitor_evidence(caller.visitor)})
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


def _opt_in(data: dict, caller: Caller):
    """``{"shop_key", "phone", "consent_text", "source"?, "locale"?, "country"?}`` → 202 with the
    confirmation queued; 200 when already subscribed; 400 naming the field; 404 unknown shop;
    429 with ``Retry-After`` beyond the limits."""
    unknown = sorted(set(data) - _OPTIN_FIELDS)
    if unknown:
        return _bad(unknown[0], "unknown field")
    for field in ("phone", "consent_text"):
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
    shop, refused = _shop_for(data, caller)
    if refused is not None:
        return refused
    if shop.whatsapp is None:
        return jsonify({"error": "not_found"}), 404
    try:
        phone = normalise(data["phone"], data.get("country") or shop.country)
    except InvalidPhoneError:
        return _bad("phone", "not a valid mobile phone number")
    if not may_be_mobile(phone.e164):
        return _bad("phone", "this number cannot receive WhatsApp messages (landline or service number)")
    refused = _rate_limited(shop, phone.e164, caller.visitor)
    if refused is not None:
        return refused
    contact = contact_for(shop, Customer(phone=phone.e164, locale=data.get("locale"), country=phone.country))
    if contact is None:  # only a customer without a phone has none
        return _bad("phone", "required")
    queued = request_opt_in(shop, contact, source=source, text_shown=data["consent_text"].strip(),
                            evidence=_visitor_evidence(caller.visitor))
    if queued is None:
        return jsonify({"status": "already_subscribed"}), 200
    if queued == PENDING_ALREADY:
        return jsonify({"status": "confirmation_pending", "message": "check WhatsApp to confirm"}), 202
    return jsonify({"status": "confirmation_sent", "message": "check WhatsApp to confirm"}), 202


#: the storefront calls, by the name in their path
CALLS: dict[str, Callable[[dict, Caller], ResponseReturnValue]] = {"back-in-stock": _back_in_stock, "opt-in": _opt_in}
_CORS_MAX_AGE = 600


def _call(name: str, caller: Caller):
    data, refused = _request_object()
    if refused is not None:
        return refused
    return CALLS[name](data, caller)


def _unknown_call():
    return jsonify({"error": "not_found", "message": f"one of {', '.join(CALLS)}"}), 404


def _shop_origins(shop: Shop | None) -> list[str]:
    return platform_of(shop).storefront_origins(shop) if shop is not None and shop.is_active else []


@bp.route("/api/<name>", methods=["POST", "OPTIONS"])
def direct(name: str):
    """A call straight to the connector (any site, self-hosters): CORS for the shop's own
    storefront origins only."""
    if name not in CALLS:
        return _unknown_call()
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        shop = db.session.scalars(select(Shop).where(Shop.shop_key == request.args.get("shop", ""))).first()
        if origin is None or origin not in _shop_origins(shop):
            return jsonify({"error": "origin_not_allowed"}), 403
        response = current_app.make_response(("", 204))
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = str(_CORS_MAX_AGE)
        return _allow(response, origin)
    if origin is not None:
        # a browser says where the page is: only the shop's own pages may call for it
        data, refused = _request_object()
        if refused is not None:
            return refused
        key = data.get("shop_key")
        shop = db.session.scalars(select(Shop).where(Shop.shop_key == key)).first() if isinstance(key, str) else None
        if shop is not None and origin not in _shop_origins(shop):
            return jsonify({"error": "origin_not_allowed"}), 403
        response = current_app.make_response(CALLS[name](data, Caller(shop=None, visitor=_remote())))
        return _allow(response, origin) if shop is not None else response
    return _call(name, Caller(shop=None, visitor=_remote()))


def _allow(response: Response, origin: str) -> Response:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers.add("Vary", "Origin")
    return response


@bp.post("/proxy/api/<name>")
def through_app_proxy(name: str):
    """A call through a Shopify shop's app proxy: the shop is the one Shopify signed for."""
    if name not in CALLS:
        return _unknown_call()
    try:
        shop, _ = shopify_store.proxy_shop(request.query_string)
    except AppProxyError as error:
        return jsonify({"error": "signature_invalid", "message": str(error)}), 401
    return _call(name, Caller(shop=shop, visitor=_proxied_visitor()))


@bp.post("/signed/api/<name>")
def forwarded_by_plugin(name: str):
    """A call a WooCommerce store's plugin forwarded from the store's own domain."""
    if name not in CALLS:
        return _unknown_call()
    raw = request.get_data(cache=True)
    try:
        shop, forwarded = woocommerce_store.forwarded_shop(request.headers, name, raw)
    except (SignatureMissingError, SignatureInvalidError) as error:
        return jsonify({"error": "signature_invalid", "message": str(error)}), 401
    return _call(name, Caller(shop=shop, visitor=forwarded.visitor or _remote()))


# -- the checkout extension's thank-you block ---------------------------------------------------

class _CheckoutOptIn(Schema):
    class Meta:
        unknown = RAISE

    order_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    consent_text = fields.String(required=True, validate=validate.Length(min=10, max=1000))
    locale = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=16))


@bp.route("/api/checkout-opt-in", methods=["POST", "OPTIONS"])
def checkout_opt_in():
    """The Shopify checkout extension's box on the thank-you and order status pages
    (extensions/whatsapp-checkout): ``Authorization: Bearer <the extension's session token>``,
    ``{order_id, consent_text, locale?}`` → 202 with the double opt-in queued to the order's
    phone, 200 when subscribed already; 401 for a token that does not hold; 409 while the
    order's webhook has not arrived yet (the block tries again). The token, not a cookie, is
    the credential, so any origin may send it (the extension runs on Shopify's CDN)."""
    if request.method == "OPTIONS":
        response = current_app.make_response(("", 204))
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = str(_CORS_MAX_AGE)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    response = current_app.make_response(_checkout_opt_in())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _checkout_opt_in():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    try:
        shop, _ = shopify_store.checkout_extension_shop(token.strip() if scheme.lower() == "bearer" else "")
    except SessionTokenError as error:
        return jsonify({"error": "session_invalid", "message": str(error)}), 401
    data, refused = _request_object()
    if refused is not None:
        return refused
    try:
        body = _CheckoutOptIn().load(data)
    except ValidationError as error:
        field = next(iter(error.messages), "body")
        return _bad(str(field), "; ".join(str(m) for m in error.messages_dict.get(field, ["invalid"])))
    order_id = body["order_id"].rsplit("/", 1)[-1]  # gid://shopify/OrderIdentity/123 → 123
    contact_id = db.session.scalar(select(OrderRecord.contact_id).where(
        OrderRecord.shop_id == shop.id, OrderRecord.order_id == order_id))
    contact = db.session.get(Contact, contact_id) if contact_id is not None else None
    if contact is None or contact.phone_e164 is None:
        return jsonify({"error": "order_not_known_yet", "message": "try again in a few seconds"}), 409
    if contact.marketing_consent == CONSENT_GRANTED:
        return jsonify({"status": "already_subscribed"}), 200
    queued = request_opt_in(shop, contact, source="checkout_checkbox", text_shown=body["consent_text"].strip(),
                            evidence={"order_id": order_id, "surface": "thank_you", **_visitor_evidence(_remote())})
    if queued is None:
        return jsonify({"status": "already_subscribed"}), 200
    return jsonify({"status": "confirmation_sent" if queued != PENDING_ALREADY else "confirmation_pending",
                    "message": "check WhatsApp to confirm"}), 202


# -- the widget and its settings -----------------------------------------------------------------

#: where `make` puts the built widget (widget/ in the repository; package data in the wheel)
WIDGET_DIR = Path(str(files("connector") / "static" / "storefront"))
_WIDGET_CACHE_SECONDS = 3600
_WIDGET_FILE = re.compile(r"[A-Za-z0-9_-]{1,64}\.js")


@bp.get("/widget.js")
def widget_script():
    """The widget's always-loaded part, for any site and for self-hosters (the Shopify theme
    extension and the WordPress plugin ship their own copy of the same file)."""
    return _widget_file("widget.js")


@bp.get("/widget/<path:name>")
def widget_chunk(name: str):
    """The parts the widget loads on interaction (the popup, the notify-me form)."""
    return _widget_file(name)


def _widget_file(name: str):
    if not (WIDGET_DIR / "widget.js").is_file():
        return jsonify({"error": "widget_not_built", "message": "run make (it builds widget/)"}), 404
    path = safe_join(str(WIDGET_DIR), name) if _WIDGET_FILE.fullmatch(name) else None
    if path is None or not Path(path).is_file():
        return jsonify({"error": "not_found"}), 404
    # read whole (a few KB), not streamed: no open file is left to whoever drops the response
    body = Path(path).read_bytes()
    response = Response(body, mimetype="text/javascript" if name.endswith(".js") else None)
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.cache_control.public = True
    response.cache_control.max_age = _WIDGET_CACHE_SECONDS
    response.headers["Access-Control-Allow-Origin"] = "*"  # public code, loaded by stores' pages
    return response.make_conditional(request)


def _widget_settings(shop: Shop) -> dict:
    """What the widget needs to draw itself: public, nothing a shopper should not see (a fixed
    incentive code arrives on WhatsApp only)."""
    options = shop_settings.effective(shop)
    widget = options["storefront"]
    chat, popup = widget["chat_button"], widget["popup"]
    hours = chat["hours"] if chat["hours"] is not None else options["auto_reply"]["hours"]
    account = shop.whatsapp
    digits = "".join(ch for ch in (account.display_phone_number or "") if ch.isdigit()) if account else ""
    return {
        "shop_key": shop.shop_key, "enabled": bool(widget["enabled"] and account is not None),
        "phone": digits or None, "country": shop.country, "locale": shop.locale, "shop_name": shop.name,
        "chat_button": {**{key: chat[key] for key in ("enabled", "position", "colour", "label", "message",
                                                      "product_message", "cart_message")},
                        "hours": hours, "open_now": is_open(hours, utcnow(), shop.time_zone) if hours else None,
                        "enabled": bool(chat["enabled"] and digits)},
        "popup": {**{key: popup[key] for key in ("enabled", "trigger", "delay_seconds", "scroll_percent",
                                                 "frequency_days")},
                  "incentive": {"kind": popup["incentive"]["kind"], "percent": popup["incentive"]["percent"],
                                "headline": popup["incentive"]["headline"]}},
        "notify_me": widget["notify_me"], "inline_opt_in": widget["inline_opt_in"],
        "consent_texts": widget["consent_texts"],
    }


@bp.route("/api/widget-settings", methods=["GET", "OPTIONS"])
def widget_settings():
    """``GET /storefront/api/widget-settings?shop=<shop key>``: the widget's settings; CORS for
    the shop's own storefront origins. 404 for an unknown or inactive shop."""
    shop = db.session.scalars(select(Shop).where(Shop.shop_key == request.args.get("shop", ""))).first()
    origin = request.headers.get("Origin")
    if shop is None or not shop.is_active:
        return jsonify({"error": "not_found"}), 404
    if origin is not None and origin not in _shop_origins(shop):
        return jsonify({"error": "origin_not_allowed"}), 403
    if request.method == "OPTIONS":
        response = current_app.make_response(("", 204))
        response.headers["Access-Control-Allow-Methods"] = "GET"
        response.headers["Access-Control-Max-Age"] = str(_CORS_MAX_AGE)
    else:
        response = jsonify(_widget_settings(shop))
        response.headers["Cache-Control"] = "public, max-age=300"
    return _allow(response, origin) if origin is not None else response


@bp.get("/proxy/api/widget-settings")
def widget_settings_through_proxy():
    """The same through a Shopify shop's app proxy (``/apps/whatsapp/api/widget-settings``)."""
    try:
        shop, _ = shopify_store.proxy_shop(request.query_string)
    except AppProxyError as error:
        return jsonify({"error": "signature_invalid", "message": str(error)}), 401
    response = jsonify(_widget_settings(shop))
    response.headers["Cache-Control"] = "private, max-age=300"  # each answer is signed for one request
    return response


def _remote() -> str:
    return request.remote_addr or "unknown"


def _proxied_visitor() -> str:
    """The shopper's address on a proxied call. Shopify's proxy is the last hop before our own
    trusted proxies and appends the address it saw to ``X-Forwarded-For``; what the shopper
    put there before is not believed."""
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    trusted = settings().trusted_proxy_count
    # with our own proxies in front, ``remote_addr`` is already Shopify's edge; its entry is the
    # one before theirs
    position = len(hops) - trusted
    if trusted and 0 < position <= len(hops):
        return hops[position - 1]
    return hops[-1] if hops else _remote()


def _rate_limited(shop: Shop, e164: str, visitor: str):
    """A 429 response when this request would exceed an opt-in limit, else None."""
    decision = hit(get_redis(), [(OPTIN_LIMITS[0], visitor), (OPTIN_LIMITS[1], e164),
                                 (OPTIN_LIMITS[2], str(shop.id))])
    if decision.allowed:
        return None
    response = jsonify({"error": "rate_limited", "limit": decision.limit.name,
                        "message": f"too many opt-in requests; try again in {decision.retry_after} s"})
    response.status_code = 429
    response.headers["Retry-After"] = str(decision.retry_after)
    return response


def _visitor_evidence(visitor: str) -> dict:
    """Who asked, for the consent ledger: the visitor's address (hashed) and browser. Behind
    a proxy the address is the client's, as far as ``TRUSTED_PROXY_COUNT`` hops are trusted."""
    return {"ip_hash": _digest(visitor), "user_agent": (request.user_agent.string or "")[:200]}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]
