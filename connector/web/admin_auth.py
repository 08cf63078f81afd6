"""Who is asking the admin API: the bearer token of every ``/admin/api`` request.

Shopify: an App Bridge session token, a JWT signed with our app secret, naming the shop
(``dest``) and the staff member (``sub``), valid for a minute. It is verified on each request
(no cookies inside the Shopify admin iframe). When the shop has no usable offline token yet
(first open after install, or after an uninstall), the session token is traded for one by
token exchange.
https://shopify.dev/docs/apps/build/authentication-authorization/session-tokens
https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/token-exchange

WooCommerce: a token the WordPress plugin mints for a user with ``manage_woocommerce`` (an
HS256 JWT signed with the store's shared secret, ``aud`` = ``whatsapp-commerce-connector``,
five minutes at most) and hands to the framed app; see docs/admin-api.md.

``session_required`` puts the shop in ``g.shop`` and the person in ``g.session_subject``;
every admin route is scoped to ``g.shop`` and nothing else.
"""

from __future__ import annotations

import functools
import logging

from flask import g, jsonify, request
from sqlalchemy import select

from connector.extensions import db, settings
from connector.models import Shop
from connector.stores import shopify as shopify_store
from connector.stores import woocommerce as woocommerce_store
from integrations.shopify import client as shopify_client
from integrations.shopify.errors import SessionTokenError, ShopifyAuthError, ShopifyError
from integrations.shopify.session_tokens import verify_session_token
from integrations.woocommerce.admin_tokens import AdminTokenError, is_admin_token

log = logging.getLogger(__name__)

#: App Bridge retries a request answered 401 with this header after fetching a new token
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"


def _unauthorized(reason: str):
    log.info("admin.session_refused", extra={"reason": reason})
    response = jsonify(error="session_invalid", message=reason)
    response.status_code = 401
    response.headers[RETRY_HEADER] = "1"
    return response


def session_required(view):
    """Resolve ``g.shop`` and ``g.session_subject`` from the request's bearer token: an App
    Bridge session token (Shopify) or a token the WordPress plugin minted (WooCommerce)."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _unauthorized("missing bearer session token")
        refusal = _plugin_session(token) if is_admin_token(token) else _shopify_session(token)
        if refusal is not None:
            return refusal
        return view(*args, **kwargs)

    return wrapper


def _plugin_session(token: str):
    """A WooCommerce store's admin, vouched for by the store's plugin (HS256 with the store's
    shared secret; integrations/woocommerce/admin_tokens.py)."""
    try:
        shop, user_id = woocommerce_store.admin_session(token)
    except AdminTokenError as error:
        return _unauthorized(str(error) or "invalid token")
    g.shop = shop
    g.session_subject = f"wordpress:{user_id}"
    return None


def _shopify_session(token: str):
    """A Shopify staff member: the session token is verified with our app secret, and traded
    for an offline token when the shop has none that works."""
    config = settings()
    if not (config.shopify_api_key and config.shopify_api_secret):
        return jsonify(error="shopify_not_configured", message="SHOPIFY_API_KEY/SECRET are not set"), 503
    try:
        session = verify_session_token(token, config.shopify_api_key, config.shopify_api_secret)
    except SessionTokenError as error:
        return _unauthorized(str(error) or "invalid session token")
    shop = db.session.scalars(
        select(Shop).where(Shop.platform == "shopify", Shop.domain == session.shop_domain)).first()
    if shop is None or not shop.is_active or not _token_works(shop):
        try:
            tokens = shopify_client.token_exchange(session.shop_domain, token, config.shopify_api_key,
                                                   config.shopify_api_secret,
                                                   base_url=config.shopify_admin_base_url)
        except ShopifyAuthError:
            return _unauthorized("Shopify refused the token exchange")
        except ShopifyError:
            log.warning("admin.token_exchange_failed", exc_info=True)
            return jsonify(error="shopify_unavailable", message="Shopify did not answer; try again"), 502
        shop = shopify_store.connect_oauth(session.shop_domain, tokens)
    g.shop = shop
    g.session_subject = session.user_id
    return None


def _token_works(shop: Shop) -> bool:
    """False when the stored token is gone or can no longer be refreshed (a dead refresh token):
    the merchant opening the app is then what reconnects the shop, by token exchange."""
    if not shop.credentials.get("access_token"):
        return False
    try:
        shopify_store.access_token(shop)
    except (shopify_store.ShopNotConnectedError, ShopifyAuthError):
        return False
    except ShopifyError:
        return True  # Shopify is unreachable right now; the stored token may still be fine
    return True


