"""Connecting a WooCommerce store, and reconnecting one: who may, and with what proof.

WooCommerce's key exchange (``/wc-auth/v1/authorize``) proves nothing by itself: anyone can
open ``/woocommerce/connect`` and read the ``user_id`` in its redirect, and the key callback
is unsigned. What is trusted here, and why:

- **Keys**: kept only once they authenticate against the store the pending connection names
  (``GET /system_status`` with them, through the SSRF guard), before anything is stored. A
  stranger cannot make up keys the store accepts, nor bring those of another store.
- **A store that is already connected** is not connected again through ``/woocommerce/connect``
  (409): reconnecting it needs a start signed by the WordPress plugin with the store's current
  shared secret (``GET /woocommerce/reconnect``, single use, five minutes), or the operator
  (``connector shops reconnect``). So nobody replaces the keys of a live store, even with
  keys of their own that work.
- **A new store URL** is claimed by whoever brings working keys for it first; a URL another
  shop owns is matched case-insensitively, without a trailing slash, dot or default port.

docs/woocommerce.md has the whole flow.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from connector.extensions import db, get_redis, settings
from connector.models import Shop, utcnow
from connector.stores.woocommerce import (
    APP_NAME,
    PLATFORM,
    STORE_PROBLEM_FIELDS,
    egress_policy,
    new_webhook_secret,
    refresh_profile,
    shop_by_plugin_key,
    start_cursors,
    webhook_secret,
)
from connector.stores.woocommerce_catchup import enqueue_setup
from integrations.base import SignatureInvalidError
from integrations.egress import EgressRefusedError
from integrations.woocommerce.auth import (
    RECONNECT_MAX_AGE_SECONDS,
    WooCommerceKeys,
    authorize_url,
    is_loopback_host,
    normalise_store_url,
    parse_callback,
    parse_reconnect,
    verify_reconnect,
)
from integrations.woocommerce.client import (
    WooCommerceAddressRefusedError,
    WooCommerceApiError,
    WooCommerceAuthError,
    WooCommerceClient,
)

log = logging.getLogger(__name__)

#: a pending connection (authorize → callback) lives this long
PENDING_TTL_SECONDS = 3600
#: the key check inside the callback; WooCommerce waits 60 s for the callback's answer
KEY_CHECK_TIMEOUT_SECONDS = 20.0

_PENDING_KEY = "connector:woocommerce:pending:{}"
_NONCE_KEY = "connector:woocommerce:reconnect:nonce:{}:{}"


class WooCommerceConnectError(ValueError):
    """A connection cannot start or complete as asked. ``status`` and ``code`` are the HTTP answer."""

    status = 400
    code = "bad_request"


class StoreUrlError(WooCommerceConnectError):
    code = "invalid_store_url"


class ConnectionUnknownError(WooCommerceConnectError):
    """The callback's ``user_id`` is not a pending connection of ours (unknown, used or expired)."""

    status = 403
    code = "connection_unknown"


class KeysRefusedError(WooCommerceConnectError):
    """The store does not accept the keys (made up, revoked, or another store's)."""

    status = 403
    code = "keys_refused"


class StoreConnectedError(WooCommerceConnectError):
    """The store is connected already: only a signed or operator reconnect changes its keys."""

    status = 409
    code = "store_connected"


class StoreUnreachableError(WooCommerceConnectError):
    """The store did not answer the key check; nothing was kept (WooCommerce deletes the keys)."""

    status = 502
    code = "store_unreachable"


class AppUrlError(WooCommerceConnectError):
    """APP_URL cannot receive WooCommerce's callback (it must be https)."""

    status = 500
    code = "app_url_not_https"


class StoreUnknownError(WooCommerceConnectError):
    status = 404
    code = "unknown_store"


# -- the store URL ----------------------------------------------------------------------------

def store_url_of(raw: str | None) -> str:
    """The store's base URL, normalised: https (plain http only for an allowed loopback store),
    and not an internal address (its host resolved now; every connection checks again)."""
    try:
        url = normalise_store_url(raw or "")
    except ValueError as error:
        raise StoreUrlError(str(error)) from None
    parts = urlsplit(url)
    host = parts.hostname or ""
    is_local_http = parts.scheme == "http" and is_loopback_host(host) and settings().allow_loopback_stores
    if parts.scheme != "https" and not is_local_http:
        raise StoreUrlError("a WooCommerce store URL must be https:// (its REST keys travel in headers)")
    try:
        egress_policy().check_url_host(host, parts.port or (443 if parts.scheme == "https" else 80))
    except EgressRefusedError as error:
        raise StoreUrlError(f"a WooCommerce store URL must be a public address, not {error.reason}") from None
    return url


def find_store(store_url: str) -> Shop | None:
    """The WooCommerce shop at this (normalised) URL, whatever the case it was stored in."""
    return db.session.scalars(
        select(Shop).where(Shop.platform == PLATFORM, func.lower(Shop.domain) == store_url.lower()).order_by(Shop.id)
    ).first()


# -- starting ---------------------------------------------------------------------------------

def start_connection(raw_store_url: str | None) -> str:
    """The first connection of a store: remember it as pending under a fresh ``user_id`` and
    return the store's ``/wc-auth/v1/authorize`` URL. A connected store is refused (409)."""
    store_url = store_url_of(raw_store_url)
    shop = find_store(store_url)
    if shop is not None and shop.is_active:
        raise StoreConnectedError("this store is connected already; reconnect it from the plugin's settings page "
                                  "(Settings → WhatsApp Commerce → Reconnect) or ask the connector's operator")
    return _pending(store_url, shop_id=None)


def start_reconnect(shop: Shop) -> str:
    """A reconnect of ``shop`` someone with the right to ask for it asked for (the operator's
    CLI, or the plugin's signed start): its callback may replace the keys, once they work."""
    if shop.platform != PLATFORM:
        raise StoreUrlError("only WooCommerce stores connect through wc-auth")
    return _pending(shop.domain, shop_id=shop.id)


def start_plugin_reconnect(query: Mapping[str, str]) -> str:
    """``GET /woocommerce/reconnect``: the plugin's signed start (``SignatureMissingError`` 401,
    ``SignatureInvalidError`` 403 for a wrong, expired or replayed signature)."""
    request = parse_reconnect(query)
    shop = shop_by_plugin_key(request.store_key)
    if shop is None or not shop.is_active:
        raise StoreUnknownError("no connected WooCommerce store has this key")
    verify_reconnect(request, webhook_secret(shop), now=time.time())
    # single use: a link seen in a browser history or a proxy log starts nothing again
    if not get_redis().set(_NONCE_KEY.format(shop.id, request.nonce), 1, nx=True,
                           ex=2 * RECONNECT_MAX_AGE_SECONDS + 60):
        raise SignatureInvalidError("this reconnect link was used already; start again from the plugin's settings")
    log.info("woocommerce.reconnect_started", extra={"shop_id": shop.id, "by": "plugin"})
    return start_reconnect(shop)


def _pending(store_url: str, *, shop_id: int | None) -> str:
    app_url = settings().app_url
    user_id = secrets.token_urlsafe(24)
    try:
        url = authorize_url(store_url, app_name=APP_NAME, user_id=user_id,
                            return_url=f"{app_url}/woocommerce/return",
                            callback_url=f"{app_url}/woocommerce/callback")
    except ValueError as error:
        raise AppUrlError(f"APP_URL cannot receive WooCommerce's callback: {error}") from None
    pending = {"store_url": store_url, "shop_id": shop_id, "created_at": utcnow().isoformat()}
    get_redis().set(_PENDING_KEY.format(user_id), json.dumps(pending), ex=PENDING_TTL_SECONDS)
    log.info("woocommerce.connect_started", extra={"shop_id": shop_id})
    return url


# -- completing -------------------------------------------------------------------------------

def complete_connection(raw_body: bytes) -> Shop:
    """Keep the keys WooCommerce POSTed to the callback, once they work, and queue the set-up.

    The pending connection is consumed first (single use). Then the keys are checked against
    the store it names, before anything is stored. Raises ``PayloadError`` (400) for a
    malformed body, :class:`ConnectionUnknownError` (403), :class:`KeysRefusedError` (403),
    :class:`StoreConnectedError` (409), :class:`StoreUnreachableError` (502): in each case
    nothing is kept and the answer is not 200, so WooCommerce deletes the keys.
    """
    keys = parse_callback(raw_body)
    pending = get_redis().getdel(_PENDING_KEY.format(keys.user_id))
    if pending is None:
        raise ConnectionUnknownError("unknown or expired connection (start again from /woocommerce/connect)")
    pending = json.loads(pending)
    store_url, shop_id = pending["store_url"], pending.get("shop_id")
    if keys.key_permissions != "read_write":
        raise KeysRefusedError("the connector needs read_write keys (it creates webhooks and coupons)")
    environment = check_keys(store_url, keys.consumer_key, keys.consumer_secret)

    shop = find_store(store_url)
    if shop_id is not None and (shop is None or shop.id != shop_id):
        raise ConnectionUnknownError("the store changed while it was being reconnected; start again")
    if shop_id is None and shop is not None and shop.is_active:
        raise StoreConnectedError("this store was connected meanwhile; reconnect it from the plugin's settings page")
    try:
        shop = keep_keys(shop, store_url, keys, environment)
    except IntegrityError:  # the same new store completed twice at once: the first one won
        db.session.rollback()
        raise StoreConnectedError("this store was connected meanwhile") from None
    log.info("woocommerce.connected", extra={"shop_id": shop.id, "key_id": keys.key_id,
                                             "by": "reconnect" if shop_id is not None else "connect"})
    enqueue_setup(shop.id, key_id=keys.key_id)
    return shop


def check_keys(store_url: str, consumer_key: str, consumer_secret: str) -> dict:
    """``GET /system_status`` with these keys: the store's environment, or why not."""
    try:
        with WooCommerceClient(store_url, consumer_key, consumer_secret, timeout=KEY_CHECK_TIMEOUT_SECONDS,
                               egress=egress_policy()) as client:
            return client.system_status().get("environment") or {}
    except WooCommerceAuthError:
        raise KeysRefusedError("the store does not accept these keys") from None
    except WooCommerceAddressRefusedError as error:
        raise StoreUrlError(f"the store's address is refused: {error}") from None
    except WooCommerceApiError as error:
        raise StoreUnreachableError(f"the store did not confirm the keys: {error}") from None
    except ValueError as error:  # the client refuses the URL (plain http to a public host)
        raise StoreUrlError(str(error)) from None


def keep_keys(shop: Shop | None, store_url: str, keys: WooCommerceKeys, environment: Mapping) -> Shop:
    """Store checked keys on ``shop`` (made when ``None``), keep its webhook secret, commit.

    A live store keeps its cursors (nothing is skipped); a new or revived one is caught up
    from now on (its past orders are not news). Any recorded trouble of the store is cleared.
    """
    was_live = shop is not None and shop.is_active
    if shop is None:
        shop = Shop(platform=PLATFORM, domain=store_url, settings={}, time_zone="UTC", locale="en")
        db.session.add(shop)
    credentials = dict(shop.credentials)
    credentials.update(consumer_key=keys.consumer_key, consumer_secret=keys.consumer_secret, key_id=keys.key_id,
                       key_permissions=keys.key_permissions)
    credentials.setdefault("webhook_secret", new_webhook_secret())
    shop.credentials = credentials
    state = {name: value for name, value in (shop.sync_state or {}).items() if name not in STORE_PROBLEM_FIELDS}
    if not was_live or "cursors" not in state:
        state["cursors"] = start_cursors()
    state.update(verified_at=utcnow().isoformat(), woocommerce_version=environment.get("version"))
    shop.sync_state = state
    shop.is_active = True
    shop.uninstalled_at = None
    db.session.commit()
    return shop


def _read_profile(shop: Shop) -> None:
    """The store's profile right after connecting; the next catch-up tries again if it fails."""
    try:
        refresh_profile(shop)
    except (WooCommerceApiError, ValueError) as error:
        db.session.rollback()
        log.warning("woocommerce.profile_unavailable", extra={"shop_id": shop.id, "error": type(error).__name__})


def connect_with_keys(raw_url: str, consumer_key: str, consumer_secret: str, *, verify: bool = True) -> Shop:
    """The operator's ``connector shops add woocommerce``: a store connected by REST keys.

    The keys are checked against the store (:func:`check_keys`, the callback's check) before
    anything is stored, and the store's profile is read with them. ``verify=False`` stores a
    *new* store's keys unchecked (an offline set-up; its first catch-up checks them); keys
    that replace those of a store that has some are always checked.
    """
    store_url = store_url_of(raw_url)
    shop = find_store(store_url)
    has_keys = shop is not None and shop.is_active and bool(shop.credentials.get("consumer_key"))
    if verify or has_keys:
        environment = check_keys(store_url, consumer_key, consumer_secret)
        credentials = shop.credentials if shop is not None else {}
        keys = WooCommerceKeys(key_id=str(credentials.get("key_id") or "cli"), user_id="cli",
                               consumer_key=consumer_key, consumer_secret=consumer_secret,
                               key_permissions=str(credentials.get("key_permissions") or "read_write"))
        shop = keep_keys(shop, store_url, keys, environment)
        _read_profile(shop)
        log.info("woocommerce.connected", extra={"shop_id": shop.id, "by": "cli"})
        return shop
    if shop is None:
        shop = Shop(platform=PLATFORM, domain=store_url, settings={}, time_zone="UTC", locale="en")
        db.session.add(shop)
    shop.credentials = {**shop.credentials, "consumer_key": consumer_key, "consumer_secret": consumer_secret}
    shop.is_active = True
    shop.uninstalled_at = None
    db.session.commit()
    return shop
