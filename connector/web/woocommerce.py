"""WooCommerce: connect (wc-auth), webhooks, and the plugin's cart reports.

What each route answers:

- ``GET /woocommerce/connect?store_url=``: 302 to the store's ``/wc-auth/v1/authorize``; bad or
  internal URL 400; store connected already 409
- ``GET /woocommerce/reconnect?store=&ts=&nonce=&sig=``: the plugin's signed reconnect: 302 to
  authorize; unsigned 401, wrong/expired/replayed 403
- ``POST /woocommerce/callback``: the keys WooCommerce POSTs: exactly 200 once checked and kept;
  unknown ``user_id`` or keys the store refuses 403
- ``GET /woocommerce/return``: where WooCommerce sends the merchant's browser afterwards
- ``POST /webhooks/woocommerce/<shop_key>``: deliveries and their unsigned creation ping
- ``POST /storefront/api/cart``: the WordPress plugin's signed cart reports

Webhook order, as every endpoint (STYLE.md): raw body → store → signature → parse →
receipt → commit → enqueue → 2xx; a cart report finds its store without parsing the body.
Errors are JSON: unknown store 404, missing signature 401, wrong signature 403, bad body
400, too large 413 (``MAX_CONTENT_LENGTH``).
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, jsonify, redirect, request
from markupsafe import escape

from connector.models import Shop
from connector.stores import woocommerce as store
from connector.stores import woocommerce_connect as connecting
from connector.web.errors import BadRequestBody
from connector.web.errors import json_object as _json_object
from connector.web.webhooks import answer, database_lookup, stored
from integrations.base import PayloadError
from integrations.woocommerce import webhooks as wc_webhooks

bp = Blueprint("woocommerce", __name__)
log = logging.getLogger(__name__)

#: optional header naming the store of a cart report; the plugin today puts it in the body ("store")
HEADER_STORE_KEY = "X-WCC-Store-Key"


@bp.errorhandler(connecting.WooCommerceConnectError)
def _connect_error(error: connecting.WooCommerceConnectError):
    log.info("http.rejected", extra={"path": request.path, "status": error.status, "reason": error.code})
    return jsonify(error=error.code, message=str(error)), error.status


# -- connecting -------------------------------------------------------------------------------

@bp.get("/woocommerce/connect")
def connect():
    return redirect(connecting.start_connection(request.args.get("store_url")), code=302)


@bp.get("/woocommerce/reconnect")
def reconnect():
    # started from the plugin's settings page, signed with the store's shared secret
    return redirect(connecting.start_plugin_reconnect(request.args), code=302)


@bp.post("/woocommerce/callback")
def callback():
    # WooCommerce deletes the keys unless the answer is exactly 200 (class-wc-auth.php)
    shop = connecting.complete_connection(request.get_data(cache=False))
    return jsonify(status="connected", shop_key=shop.shop_key), 200


@bp.get("/woocommerce/return")
def connect_return():
    is_connected = request.args.get("success") == "1"
    text = ("Your store is connected. Webhooks are being set up; this takes a few seconds."
            if is_connected else "The store was not connected (access was denied or the keys could not be kept).")
    page = f"<!doctype html><title>{escape(store.APP_NAME)}</title><p>{escape(text)}</p>"
    return Response(page, status=200 if is_connected else 400, mimetype="text/html")


# -- receiving --------------------------------------------------------------------------------

@bp.post("/webhooks/woocommerce/<shop_key>")
def webhook(shop_key: str):
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug answers 413
    with database_lookup():
        shop = store.shop_by_key(shop_key)
    if shop is None:
        return _refuse(404, "unknown_store", "no WooCommerce store has this key")
    if wc_webhooks.is_ping(raw, request.headers):
        # sent when a webhook is saved as active; anything but 200 fails the save
        log.info("woocommerce.webhook_ping", extra={"shop_id": shop.id})
        return answer("ping")
    if not shop.is_active:
        # not 2xx on purpose: WooCommerce disables a webhook that keeps failing
        return _refuse(410, "store_disconnected", "this store is disconnected")
    wc_webhooks.verify(raw, request.headers, store.webhook_secret(shop))
    payload = _json_object(raw)
    headers = wc_webhooks.delivery_headers(request.headers)
    if headers.topic not in wc_webhooks.TOPICS:
        log.info("woocommerce.webhook_unknown_topic", extra={"shop_id": shop.id, "topic": (headers.topic or "")[:64]})
        return answer("ignored")
    if payload.get("id") in (None, ""):
        raise BadRequestBody(f"{headers.topic} body has no id")
    result = store.record_delivery(shop, headers.topic, raw, headers.delivery_id)
    return stored(result)


@bp.post("/storefront/api/cart")
def cart_report():
    """The plugin's signed cart report. Nothing of an unsigned body is parsed: the store (whose
    secret checks the signature) is named by the ``X-WCC-Store-Key`` header, else found by
    :func:`_store_named_early` in the first bytes of the body; only a genuine body is read."""
    raw = request.get_data(cache=False)
    store_key = request.headers.get(HEADER_STORE_KEY) or _store_named_early(raw)
    if not store_key:
        raise BadRequestBody(f"the report names no store ({HEADER_STORE_KEY} header, or \"store\" first in the body)")
    with database_lookup():
        shop = store.shop_by_plugin_key(store_key) if _STORE_KEY.fullmatch(store_key) else None
    if shop is None:
        return _refuse(404, "unknown_store", "no WooCommerce store has this key")
    if not shop.is_active:
        return _refuse(410, "store_disconnected", "this store is disconnected")
    wc_webhooks.verify_cart_report(raw, request.headers, store.webhook_secret(shop))
    payload = _json_object(raw)
    named = payload.get("store")
    with database_lookup():
        names_another = isinstance(named, str) and named and not _names_shop(named, shop)
    if names_another:
        raise BadRequestBody("the report names another store")
    try:
        store.check_cart_report(shop, payload)
    except PayloadError as error:
        raise BadRequestBody(str(error)) from None
    with database_lookup():  # its first report also marks the plugin as seen
        result = store.record_cart_report(shop, raw)
    return stored(result)


#: store keys: ours are lowercase hex; older ones mixed case (see ``store.shop_by_plugin_key``)
_STORE_KEY = re.compile(r"[0-9A-Za-z_-]{1,64}")
#: the plugin encodes ``{"version":1,"store":"<key>",...`` (its wcc_build_cart_report), so the
#: key is near the start; only this much of an unverified body is looked at
_STORE_FIELD = re.compile(rb'"store"\s*:\s*"([0-9A-Za-z_-]{1,64})"')
_STORE_FIELD_WITHIN = 256


def _store_named_early(raw: bytes) -> str | None:
    """The ``store`` field near the start of an unverified body, found without parsing it.

    A match elsewhere (inside another string, say) can only name a store whose secret then
    fails to verify the signature; once genuine, the parsed body must name the same store.
    """
    match = _STORE_FIELD.search(raw, 0, _STORE_FIELD_WITHIN)
    return match.group(1).decode("ascii") if match else None


def _names_shop(named: str, shop: Shop) -> bool:
    """Does the body's ``store`` name this shop? Compared as text first, so a key that cannot be
    this shop's (a NUL, a surrogate, another key) is refused without reaching a query."""
    if named.lower() != (shop.shop_key or "").lower():
        return False
    return named == shop.shop_key or store.shop_by_plugin_key(named) is shop


def _refuse(status: int, code: str, message: str):
    log.info("http.rejected", extra={"path": request.path.rsplit("/", 1)[0], "status": status, "reason": code})
    return jsonify(error=code, message=message), status
