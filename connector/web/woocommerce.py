"""WooCommerce: connect (wc-auth), webhooks, and the plugin's cart reports.

| route | answers |
| --- | --- |
| ``GET /woocommerce/connect?store_url=`` | 302 to the store's ``/wc-auth/v1/authorize``; bad URL 400 |
| ``POST /woocommerce/callback`` | the keys WooCommerce POSTs: exactly 200 once kept; unknown ``user_id`` 403 |
| ``GET /woocommerce/return`` | where WooCommerce sends the merchant's browser afterwards |
| ``POST /webhooks/woocommerce/<shop_key>`` | deliveries and their unsigned creation ping |
| ``POST /storefront/api/cart`` | the WordPress plugin's signed cart reports |

Webhook order, as every endpoint (STYLE.md): raw body → store → signature → parse →
receipt → commit → enqueue → 2xx. Errors are JSON: unknown store 404, missing signature
401, wrong signature 403, bad body 400, too large 413 (``MAX_CONTENT_LENGTH``).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, redirect, request
from markupsafe import escape

from connector.stores import woocommerce as store
from connector.web.errors import BadRequestBody, json_object as _json_object
from connector.web.webhooks import answer, database_lookup, stored
from integrations.base import PayloadError
from integrations.woocommerce import webhooks as wc_webhooks

bp = Blueprint("woocommerce", __name__)
log = logging.getLogger(__name__)

#: optional header naming the store of a cart report; the plugin today puts it in the body ("store")
HEADER_STORE_KEY = "X-WCC-Store-Key"


@bp.errorhandler(store.WooCommerceConnectError)
def _connect_error(error: store.WooCommerceConnectError):
    log.info("http.rejected", extra={"path": request.path, "status": error.status, "reason": error.code})
    return jsonify(error=error.code, message=str(error)), error.status


# -- connecting -------------------------------------------------------------------------------

@bp.get("/woocommerce/connect")
def connect():
    return redirect(store.start_connection(request.args.get("store_url")), code=302)


@bp.post("/woocommerce/callback")
def callback():
    # WooCommerce deletes the keys unless the answer is exactly 200 (class-wc-auth.php)
    shop = store.complete_connection(request.get_data(cache=False))
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
    raw = request.get_data(cache=False)
    payload = None
    store_key = request.headers.get(HEADER_STORE_KEY)
    if not store_key:
        payload = _json_object(raw)  # the plugin names its store in the body
        store_key = payload.get("store") if isinstance(payload.get("store"), str) else None
    if not store_key:
        raise BadRequestBody("the report names no store")
    with database_lookup():
        shop = store.shop_by_plugin_key(store_key)
    if shop is None:
        return _refuse(404, "unknown_store", "no WooCommerce store has this key")
    if not shop.is_active:
        return _refuse(410, "store_disconnected", "this store is disconnected")
    wc_webhooks.verify_cart_report(raw, request.headers, store.webhook_secret(shop))
    if payload is None:
        payload = _json_object(raw)
    named = payload.get("store")
    with database_lookup():
        other = store.shop_by_plugin_key(named) if isinstance(named, str) and named else shop
    if other is not shop:
        raise BadRequestBody("the report names another store")
    try:
        store.check_cart_report(shop, payload)
    except PayloadError as error:
        raise BadRequestBody(str(error)) from None
    with database_lookup():  # its first report also marks the plugin as seen
        result = store.record_cart_report(shop, raw)
    return stored(result)


def _refuse(status: int, code: str, message: str):
    log.info("http.rejected", extra={"path": request.path.rsplit("/", 1)[0], "status": status, "reason": code})
    return jsonify(error=code, message=message), status
