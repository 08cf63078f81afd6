"""The connector's side of a WooCommerce store: connecting it, its webhooks, its catch-up,
and turning its stored receipts into neutral events.

The adapter (``integrations/woocommerce``) knows WooCommerce's protocols and payloads; this
module knows our tables and Redis. What it keeps per shop:

- ``Shop.credentials`` (encrypted): ``consumer_key``, ``consumer_secret``, ``webhook_secret``
  (ours, per store: it signs WooCommerce's deliveries and the plugin's cart reports),
  ``key_id`` and ``key_permissions`` from wc-auth.
- ``Shop.sync_state``: ``cursors`` (catch-up position per resource, ``catchup.Cursor``),
  ``webhooks`` (topic → id of our active webhook), ``verified_at``, ``woocommerce_version``,
  ``last_catchup_at``, ``last_error``.
- ``Shop.sync_state`` when the store is in trouble (``STORE_PROBLEM_FIELDS``): ``last_error``,
  ``failing_since``, ``failure_count``, ``next_try_at``; cleared by the next success.
- Redis: a pending connection per wc-auth ``user_id`` (one hour, single use), the per-shop
  catch-up lock and slot flags.

Connecting and reconnecting (who may, with what proof) is ``woocommerce_connect.py``.

See docs/woocommerce.md for the whole picture and the reasons.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from connector import shop_settings
from connector.events import FulfillmentStatus, FulfillmentUpdated
from connector.extensions import db, settings
from connector.models import Shop, WebhookReceipt, utcnow
from connector.receipts import ReceiptResult, record_receipt
from connector.stores.context import ShopContext
from integrations.base import SignatureInvalidError
from integrations.egress import EgressPolicy
from integrations.woocommerce import catchup
from integrations.woocommerce import webhooks as wc_webhooks
from integrations.woocommerce.admin_tokens import AdminTokenError, store_key_of, verify_admin_token
from integrations.woocommerce.auth import normalise_store_url
from integrations.woocommerce.carts import cart_link
from integrations.woocommerce.client import (
    WooCommerceAddressRefusedError,
    WooCommerceApiError,
    WooCommerceAuthError,
    WooCommerceClient,
)
from integrations.woocommerce.profile import store_profile
from integrations.woocommerce.storefront import ForwardedRequest, forwarded_store_key, verify_forward

log = logging.getLogger(__name__)

PLATFORM = "woocommerce"
#: what the merchant sees on WooCommerce's "connect an app" screen
APP_NAME = "WhatsApp Commerce Connector"
#: the sync_state fields that describe a store in trouble; a success removes them
STORE_PROBLEM_FIELDS = ("last_error", "failing_since", "failure_count", "next_try_at")
#: receipts of the WordPress plugin's cart reports
POLLED = (("orders", "order.updated", "order"), ("products", "product.updated", "product"))

CART_TOPIC = "cart.updated"

#: X-WC-Webhook-Delivery-ID is wp_hash() output (hex); anything else is replaced by a digest
_DELIVERY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


# -- connecting: connector/stores/woocommerce_connect.py --------------------------------------

def new_webhook_secret() -> str:
    """A per-store secret. Alphanumeric on purpose: WooCommerce passes the stored secret
    through ``wp_specialchars_decode`` before signing, which must not change it."""
    return secrets.token_hex(32)


def start_cursors() -> dict:
    """Catch-up cursors of a store connected now: its past orders are not news."""
    start = catchup.Cursor.start(utcnow().replace(microsecond=0)).to_json()
    return {name: dict(start) for name, _, _ in POLLED}


# -- finding a store --------------------------------------------------------------------------

def shop_by_key(shop_key: str) -> Shop | None:
    """The WooCommerce shop with this exact public key (webhook URLs carry the key we made)."""
    if not shop_key or len(shop_key) > 64:
        return None
    return db.session.scalars(select(Shop).where(Shop.shop_key == shop_key, Shop.platform == PLATFORM)).first()


def shop_by_plugin_key(store_key: str | None) -> Shop | None:
    """The shop of a key typed into the WordPress plugin's settings.

    Keys are lowercase hex now and the plugin keeps them as typed; an older plugin build
    lowercased them (``sanitize_key()``) and older keys are mixed case. So an exact match
    first, then a case-insensitive one that must be unambiguous.
    """
    if not store_key or len(store_key) > 64:
        return None
    shop = shop_by_key(store_key)
    if shop is not None:
        return shop
    found = db.session.scalars(
        select(Shop).where(func.lower(Shop.shop_key) == store_key.lower(), Shop.platform == PLATFORM).limit(2)
    ).all()
    return found[0] if len(found) == 1 else None


def admin_frame_origin(store_url: str | None) -> str | None:
    """The origin (``scheme://host[:port]``) of the connected store at ``store_url``: the only
    page besides Shopify's admin that may frame the admin app (the plugin's menu page)."""
    try:
        url = normalise_store_url(store_url or "")
    except ValueError:
        return None
    shop = db.session.scalars(select(Shop).where(Shop.platform == PLATFORM, Shop.domain == url,
                                                 Shop.is_active.is_(True))).first()
    if shop is None:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def storefront_origins(shop: Shop) -> list[str]:
    """The origin the store's pages are served from (its URL without the path)."""
    parts = urlsplit(shop.domain)
    return [f"{parts.scheme}://{parts.netloc}"] if parts.scheme and parts.netloc else []


def forwarded_shop(headers, name: str, body: bytes) -> tuple[Shop, ForwardedRequest]:
    """The shop of a storefront call its plugin forwarded (signed with the store's shared
    secret); raise ``SignatureMissingError`` / ``SignatureInvalidError`` otherwise."""
    shop = shop_by_plugin_key(forwarded_store_key(headers))
    if shop is None or not shop.is_active:
        raise SignatureInvalidError("no connected store has this key")
    return shop, verify_forward(headers, name, body, shop.credentials.get("webhook_secret") or "")


def admin_session(token: str) -> tuple[Shop, str]:
    """The shop and WordPress user of a token the plugin minted for the embedded admin app;
    raise ``AdminTokenError`` when it is not genuine, not current, or names no connected store.

    The token says which store it is for (``dest``) before it is verified, so that its
    secret can be found; nothing else of it is believed until the signature holds.
    """
    shop = shop_by_plugin_key(store_key_of(token))
    if shop is None or not shop.is_active:
        raise AdminTokenError("no connected store has this key")
    secret = shop.credentials.get("webhook_secret") or ""
    verified = verify_admin_token(token, secret, store_key=store_key_of(token) or "", store_url=shop.domain)
    return shop, verified.user_id


def webhook_secret(shop: Shop) -> str:
    secret = shop.credentials.get("webhook_secret")
    if not secret:
        # nothing can be genuine before the store's set-up made a secret
        raise SignatureInvalidError("the store has no webhook secret yet")
    return secret


def delivery_url(shop: Shop) -> str:
    """Where the store's webhooks deliver."""
    return f"{settings().app_url}/webhooks/woocommerce/{shop.shop_key}"


def egress_policy() -> EgressPolicy:
    """Where store calls may go: public addresses, and loopback when ALLOW_LOOPBACK_STORES."""
    return EgressPolicy(allow_loopback=settings().allow_loopback_stores)


def client_for(shop: Shop) -> WooCommerceClient:
    """The store's REST client (every connection through the SSRF guard)."""
    credentials = shop.credentials
    return WooCommerceClient(shop.domain, credentials.get("consumer_key", ""), credentials.get("consumer_secret", ""),
                             egress=egress_policy())


# -- receiving --------------------------------------------------------------------------------

def delivery_dedupe_key(shop: Shop, delivery_id: str | None, raw_body: bytes) -> str:
    """``{shop_key}:{delivery id}``; a digest of the body when the id is absent or odd.

    WooCommerce never retries a delivery, so an id comes at most once; the same order
    version delivered again (or polled) gets a new key here and is recognised as stale
    by ``connector.ordering`` when processed.
    """
    if delivery_id and _DELIVERY_ID.fullmatch(delivery_id):
        return f"{shop.shop_key}:{delivery_id}"
    return f"{shop.shop_key}:sha256:{hashlib.sha256(raw_body).hexdigest()}"


def record_delivery(shop: Shop, topic: str, raw_body: bytes, delivery_id: str | None) -> ReceiptResult:
    return record_receipt(platform=PLATFORM, dedupe_key=delivery_dedupe_key(shop, delivery_id, raw_body),
                              topic=topic, body=raw_body, shop_id=shop.id)


def check_cart_report(shop: Shop, payload: Any) -> None:
    """Raise ``PayloadError`` for a report the worker could never turn into an event."""
    wc_webhooks.parse_cart_report(payload, ParseContext(shop))


def record_cart_report(shop: Shop, raw_body: bytes) -> ReceiptResult:
    if not (shop.sync_state or {}).get("plugin_seen_at"):
        # the plugin is installed: its multi-item cart link (?wcc-cart=) can be used
        update_sync_state(shop, plugin_seen_at=utcnow().isoformat())
        db.session.commit()
    # the plugin sends no id; the same report sent twice is the same report
    return record_receipt(platform=PLATFORM, dedupe_key=f"{shop.shop_key}:cart:{hashlib.sha256(raw_body).hexdigest()}",
                              topic=CART_TOPIC, body=raw_body, shop_id=shop.id)


# -- receipts → events ------------------------------------------------------------------------

ParseContext = ShopContext  # WooCommerce's parser needs nothing beyond the shop


def receipt_events(receipt: WebhookReceipt, shop: Shop) -> list:
    """Parse a stored delivery, catch-up item or cart report into neutral events.

    A variable product's body lists only its variations' ids, and its own stock is a
    summary: its variations are fetched from the store and each gives a StockChanged.
    """
    payload = wc_webhooks.load_json(receipt.body)
    context = ParseContext(shop)
    if receipt.topic == CART_TOPIC:
        return [wc_webhooks.parse_cart_report(payload, context)]
    events = wc_webhooks.parse(receipt.topic, payload, context)
    if not (shop.sync_state or {}).get("shipment_statuses_seen_at") and any(
            isinstance(event, FulfillmentUpdated) and event.status != FulfillmentStatus.SHIPPED for event in events):
        # a tracking plugin reports carrier statuses here: out for delivery and delivered can go out
        update_sync_state(shop, shipment_statuses_seen_at=utcnow().isoformat())
        db.session.commit()
    if receipt.topic == "product.updated" and wc_webhooks.variation_ids(payload):
        events.extend(_variation_events(shop, str(payload["id"]), context))
    return events


def _variation_events(shop: Shop, product_id: str, context: ParseContext) -> list:
    with client_for(shop) as client:
        variations = list(client.product_variations(product_id))
    events = (wc_webhooks.parse_variation(variation, product_id, context) for variation in variations)
    return [event for event in events if event is not None]


# -- catch-up ---------------------------------------------------------------------------------


def refresh_profile(shop: Shop, client: WooCommerceClient | None = None) -> bool:
    """Name, time zone, locale, country and currency of the store (``integrations/woocommerce/
    profile.py`` says where each comes from); what the store does not say is kept as it was.

    Called when a store is connected and on every catch-up. The site index is public and
    best effort (a site may turn it off); ``system_status`` and ``settings/general`` use the
    keys, and their trouble is the caller's (the catch-up records it as the store's state).
    """
    if client is None:
        with client_for(shop) as own:
            return refresh_profile(shop, own)
    status = client.system_status()
    try:
        general = client.general_settings()
    except WooCommerceApiError as error:
        if isinstance(error, WooCommerceAuthError | WooCommerceAddressRefusedError) or error.is_retryable:
            raise  # the store's state: the caller records it
        log.warning("woocommerce.settings_unavailable", extra={"shop_id": shop.id, "status": error.status})
        general = []  # e.g. a security plugin hiding the route: country and currency stay as they are
    try:
        index = client.site_index()
    except WooCommerceApiError as error:
        log.info("woocommerce.site_index_unavailable", extra={"shop_id": shop.id, "status": error.status})
        index = {}
    profile = store_profile(status, general, index)
    shop.name = profile["name"] or shop.name
    shop.time_zone = profile["time_zone"] or shop.time_zone or "UTC"
    shop.locale = profile["locale"] or shop.locale
    shop.country = profile["country"] or shop.country
    shop.currency = profile["currency"] or shop.currency
    version = _dict_get(status, "environment", "version")
    update_sync_state(shop, profile_read_at=utcnow().isoformat(),
                  **({"woocommerce_version": version} if isinstance(version, str) and version else {}))
    db.session.commit()
    return True


def _dict_get(body: Any, *path: str) -> Any:
    for name in path:
        body = body.get(name) if isinstance(body, dict) else None
    return body


def store_problem(shop: Shop) -> dict | None:
    """The store's recorded trouble (``STORE_PROBLEM_FIELDS``), or ``None`` when it is fine."""
    state = shop.sync_state or {}
    if not state.get("last_error"):
        return None
    return {name: state.get(name) for name in STORE_PROBLEM_FIELDS}


def update_sync_state(shop: Shop, **changes: Any) -> None:
    # a new dict: the JSON column tracks assignment, not mutation
    shop.sync_state = {**(shop.sync_state or {}), **changes}


#: what the admin says about a store that never reported a status after "shipped"
NO_SHIPMENT_STATUSES = ("This store has not reported any shipment status after \"shipped\": WooCommerce itself "
                        "records none. Out-for-delivery and delivered messages, and the review request after "
                        "delivery, need a tracking plugin that stores carrier statuses on the order (Advanced "
                        "Shipment Tracking Pro / TrackShip) or AST's \"Delivered\" order status.")


def shipment_statuses(shop: Shop) -> dict:
    """Whether the store reports carrier statuses (out for delivery, delivered) or only "shipped"."""
    seen = (shop.sync_state or {}).get("shipment_statuses_seen_at")
    if seen:
        return {"reported": True, "since": seen, "note": None}
    return {"reported": False, "since": None, "note": NO_SHIPMENT_STATUSES}


def link_capabilities(shop: Shop) -> tuple[bool, bool]:
    """(shareable checkout links, the plugin's multi-item link) for this store's cart links.

    Checkout links (``/checkout-link/``) arrived with WooCommerce 10.0; the version is read by
    the set-up job. The plugin's endpoint is used once the plugin has reported a cart. The
    shop settings ``woocommerce.checkout_link`` / ``woocommerce.plugin_endpoint`` override both.
    """
    state = shop.sync_state or {}
    overrides = shop_settings.effective(shop)["woocommerce"]
    version = str(state.get("woocommerce_version") or "")
    try:
        major = int(version.split(".")[0])
    except ValueError:
        major = 0
    checkout_link = major >= 10 if overrides["checkout_link"] is None else overrides["checkout_link"]
    plugin = bool(state.get("plugin_seen_at")) if overrides["plugin_endpoint"] is None else overrides["plugin_endpoint"]
    return bool(checkout_link), bool(plugin)




# -- what the automations ask of a WooCommerce store (connector.stores.platforms) -------------

def cart_url(shop: Shop, lines: list[tuple[str, int]], discount: str | None) -> str:
    """A link that fills the cart with ``lines``: WooCommerce's checkout link (10.x), or the plugin's endpoint."""
    base = shop.domain if "://" in shop.domain else f"https://{shop.domain}"
    checkout_link, plugin_endpoint = link_capabilities(shop)
    return cart_link(base, lines, coupon=discount, supports_checkout_link=checkout_link,
                     plugin_endpoint=plugin_endpoint)


#: the REST error code of a coupon code that exists already
COUPON_TAKEN = "woocommerce_rest_coupon_code_already_exists"


def create_discount_code(shop: Shop, code: str, percent: Decimal, valid_for: timedelta) -> None:
    """A single-use coupon (``POST /coupons``); a code that exists already is ours."""
    with client_for(shop) as client:
        try:
            client.create_coupon(code, amount=percent, discount_type="percent", usage_limit=1,
                                 usage_limit_per_user=1, individual_use=True, expires_at=utcnow() + valid_for,
                                 description="WhatsApp abandoned-cart reminder")
        except WooCommerceApiError as error:
            if error.code != COUPON_TAKEN:
                raise


def create_referral_code(shop: Shop, code: str, percent: Decimal, valid_for: timedelta) -> None:
    """A customer's coupon to forward (``POST /coupons``): no overall limit, once per user."""
    with client_for(shop) as client:
        try:
            client.create_coupon(code, amount=percent, discount_type="percent", usage_limit=None,
                                 usage_limit_per_user=1, individual_use=True, expires_at=utcnow() + valid_for,
                                 description="WhatsApp referral code")
        except WooCommerceApiError as error:
            if error.code != COUPON_TAKEN:
                raise


#: the order meta a confirmed cash-on-delivery order gets (the plugin shows it)
COD_CONFIRMED_META = "_wcc_cod_confirmed"


def apply_cod_decision(shop: Shop, order_id: str, confirm: bool) -> None:
    """The shopper's COD answer: mark the order confirmed, or cancel it."""
    with client_for(shop) as client:
        if confirm:
            client.mark_order(order_id, COD_CONFIRMED_META)
        else:
            client.cancel_order(order_id)
