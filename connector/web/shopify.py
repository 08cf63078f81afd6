"""Shopify install: ``GET /shopify/install`` and ``GET /shopify/callback`` (authorization-code grant).

1. Shopify opens /install with a signed query (``hmac``, ``shop``, ``timestamp``). We check
   the HMAC, its freshness and that ``shop`` is a ``*.myshopify.com`` domain, then redirect
   to the shop's consent screen with a fresh ``state`` nonce, bound to this browser by a
   signed, short-lived, HttpOnly cookie.
2. Shopify sends the merchant back to /callback with ``code`` and the same ``state``. Same
   checks, plus: the state must be ours (cookie signature valid, not expired, equal to the
   query's). The code is exchanged for an **expiring offline token** (access + refresh),
   stored encrypted, and the merchant lands in the embedded app.

https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, jsonify, redirect, request

from connector.extensions import settings
from connector.models import utcnow
from connector.stores import shopify as shopify_store
from integrations.shopify import client as shopify_client
from integrations.shopify import oauth
from integrations.shopify.errors import InvalidShopDomainError, ShopifyAuthError, ShopifyError

bp = Blueprint("shopify", __name__, url_prefix="/shopify")
log = logging.getLogger(__name__)

STATE_COOKIE = "shopify_oauth_state"
STATE_MAX_AGE_SECONDS = 600


def _refuse(status: int, code: str, message: str):
    log.info("shopify.install_refused", extra={"reason": code})
    return jsonify(error=code, message=message), status


def _checked_shop():
    """The shop of a genuine, fresh Shopify query; or an error response."""
    config = settings()
    if not (config.shopify_api_key and config.shopify_api_secret):
        return None, _refuse(503, "shopify_not_configured", "SHOPIFY_API_KEY and SHOPIFY_API_SECRET are not set")
    query = request.query_string.decode("utf-8", errors="replace")
    if not request.args.get("hmac") or not oauth.verify_query_hmac(query, config.shopify_api_secret):
        return None, _refuse(401, "hmac_invalid", "the query is not signed by Shopify")
    if not oauth.is_fresh(request.args.get("timestamp"), utcnow()):
        return None, _refuse(401, "timestamp_stale", "the signed query is too old")
    try:
        return oauth.normalise_shop_domain(request.args.get("shop")), None
    except InvalidShopDomainError:
        return None, _refuse(400, "shop_invalid", "shop must be a name.myshopify.com domain")


@bp.get("/install")
def install():
    domain, error = _checked_shop()
    if error:
        return error
    config = settings()
    nonce = oauth.new_nonce()
    response = redirect(oauth.authorize_url(domain, config.shopify_api_key, config.shopify_scopes,
                                            f"{config.app_url}/shopify/callback", nonce))
    response.set_cookie(STATE_COOKIE, oauth.sign_state(nonce, config.secret_key, utcnow()),
                        max_age=STATE_MAX_AGE_SECONDS, httponly=True, samesite="Lax", path="/shopify",
                        secure=config.app_url.startswith("https://"))
    return response


@bp.get("/callback")
def callback():
    domain, error = _checked_shop()
    if error:
        return error
    config = settings()
    nonce = oauth.verify_state(request.cookies.get(STATE_COOKIE), config.secret_key, utcnow(),
                               max_age=STATE_MAX_AGE_SECONDS)
    if nonce is None or not hmac.compare_digest(nonce.encode(), (request.args.get("state") or "").encode()):
        return _refuse(403, "state_invalid", "the install was not started from this browser, or it took too long")
    code = request.args.get("code")
    if not code:
        return _refuse(400, "code_missing", "the callback carries no authorization code")
    try:
        tokens = shopify_client.exchange_code(domain, code, config.shopify_api_key, config.shopify_api_secret,
                                              expiring=True, base_url=config.shopify_admin_base_url)
    except ShopifyAuthError:
        return _refuse(403, "code_refused", "Shopify refused the authorization code; start the install again")
    except ShopifyError:
        log.warning("shopify.code_exchange_failed", exc_info=True)
        return _refuse(502, "shopify_unavailable", "Shopify did not answer the token request; try again")
    shop = shopify_store.connect_oauth(domain, tokens)
    log.info("shopify.installed", extra={"shop_id": shop.id})
    response = redirect(f"https://{domain}/admin/apps/{config.shopify_api_key}")
    response.delete_cookie(STATE_COOKIE, path="/shopify")
    return response
