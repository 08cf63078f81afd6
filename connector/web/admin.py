"""The embedded admin's API, authenticated with Shopify App Bridge session tokens.

Every request carries ``Authorization: Bearer <session token>``: a JWT signed with our app
secret, naming the shop (``dest``) and the staff member (``sub``), valid for a minute. It is
verified on each request (no cookies inside the Shopify admin iframe). Every answer of the
API is ``Cache-Control: no-store`` (set for all of them in connector/web/security.py). When the shop has no
usable offline token yet (first open after install, or after an uninstall), the session
token is traded for one by token exchange.
https://shopify.dev/docs/apps/build/authentication-authorization/session-tokens
https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/token-exchange
"""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, current_app, g, jsonify, render_template, request
from sqlalchemy import select

from connector import shop_settings
from connector.automations.attribution import funnel
from connector.extensions import db, settings
from connector.models import DataExport, Shop
from connector.stores import shopify as shopify_store
from connector.stores.platforms import platform_of
from connector.web.errors import BadQuery, storable_json_object
from integrations.shopify import client as shopify_client
from integrations.shopify.errors import SessionTokenError, ShopifyAuthError, ShopifyError
from integrations.shopify.oauth import is_valid_shop_domain
from integrations.shopify.session_tokens import verify_session_token

bp = Blueprint("admin", __name__, url_prefix="/admin")
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
    """Resolve ``g.shop`` from a verified session token, connecting the shop if needed."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        config = settings()
        if not (config.shopify_api_key and config.shopify_api_secret):
            return jsonify(error="shopify_not_configured", message="SHOPIFY_API_KEY/SECRET are not set"), 503
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("missing bearer session token")
        try:
            session = verify_session_token(token.strip(), config.shopify_api_key, config.shopify_api_secret)
        except SessionTokenError as error:
            return _unauthorized(str(error) or "invalid session token")
        shop = db.session.scalars(
            select(Shop).where(Shop.platform == "shopify", Shop.domain == session.shop_domain)).first()
        if shop is None or not shop.is_active or not _token_works(shop):
            try:
                tokens = shopify_client.token_exchange(session.shop_domain, token.strip(), config.shopify_api_key,
                                                       config.shopify_api_secret,
                                                       base_url=config.shopify_admin_base_url)
            except ShopifyAuthError:
                return _unauthorized("Shopify refused the token exchange")
            except ShopifyError:
                log.warning("admin.token_exchange_failed", exc_info=True)
                return jsonify(error="shopify_unavailable", message="Shopify did not answer; try again"), 502
            shop = shopify_store.connect_oauth(session.shop_domain, tokens)
        g.shop = shop
        g.shopify_user_id = session.user_id
        g.session_subject = session.user_id
        return view(*args, **kwargs)

    return wrapper


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


@bp.get("/")
def embedded_page():
    """The page Shopify opens inside the store admin (``application_url``). It carries no data
    itself: its script asks /admin/api/* with App Bridge session tokens."""
    config = settings()
    shop = request.args.get("shop", "")

    response = current_app.make_response(render_template("admin/index.html", api_key=config.shopify_api_key or ""))
    # only the shop's own admin may frame the page (Shopify's embedded-app requirement)
    ancestors = "https://admin.shopify.com" + (f" https://{shop.lower()}" if is_valid_shop_domain(shop) else "")
    response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors};"
    return response


@bp.get("/api/report")
@session_required
def report():
    """The funnel per automation (what `connector report` prints)."""
    return {"automations": funnel(g.shop.id)}


@bp.get("/api/shop")
@session_required
def shop_overview():
    """What the settings page shows first: the shop, its WhatsApp number, whether sending is on."""
    shop: Shop = g.shop
    account = shop.whatsapp
    return {
        "shop": {"id": shop.id, "domain": shop.domain, "platform": shop.platform, "locale": shop.locale,
                 "time_zone": shop.time_zone},
        "whatsapp": {"connected": account is not None,
                     "phone_number_id": account.phone_number_id if account else None,
                     "messaging_limit": account.messaging_limit if account else None},
        "sending": {"paused": shop.is_sending_paused, "reason": shop.sending_paused_reason},
        # Shopify reports carrier statuses itself; a WooCommerce store only through a tracking plugin
        "shipment_statuses": _shipment_statuses(shop),
    }


@bp.get("/api/data-exports")
@session_required
def data_exports():
    """The customer data exports made for this shop (Shopify data requests, `connector contacts export`)."""
    rows = db.session.execute(
        select(DataExport.id, DataExport.request_ref, DataExport.created_at)
        .where(DataExport.shop_id == g.shop.id).order_by(DataExport.id.desc()).limit(100)).all()
    return {"exports": [{"id": r.id, "request_ref": r.request_ref, "created_at": r.created_at.isoformat()}
                        for r in rows]}


@bp.get("/api/data-exports/<int:export_id>")
@session_required
def data_export(export_id: int):
    export = db.session.scalars(select(DataExport).where(DataExport.id == export_id,
                                                         DataExport.shop_id == g.shop.id)).first()
    if export is None:  # another shop's export is as absent as a missing one
        return jsonify(error="not_found", message="no such export"), 404
    response = current_app.response_class(export.content, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="customer-export-{export.id}.json"'
    return response


#: the body types a settings change may have (RFC 7396, and plain JSON for simple clients)
PATCH_TYPES = ("application/merge-patch+json", "application/json")
HISTORY_LIMIT = 200


@bp.get("/api/settings")
@session_required
def get_settings():
    """The shop's full settings, every default filled in; the ``ETag`` is for ``If-Match``."""
    return _settings_answer(g.shop)


@bp.patch("/api/settings")
@session_required
def patch_settings():
    """A JSON merge patch (RFC 7396) of the settings: 200 and the full new settings; 412 when
    ``If-Match`` is stale; 422 with marshmallow's nested errors, nothing written."""
    if request.mimetype not in PATCH_TYPES:
        return jsonify(error="unsupported_media_type", message=f"send one of {', '.join(PATCH_TYPES)}"), 415
    patch = storable_json_object(request.get_data())
    shop = shop_settings.update(g.shop.id, patch, if_match=request.headers.get("If-Match"),
                                changed_by=g.session_subject)
    return _settings_answer(shop)


@bp.get("/api/settings/history")
@session_required
def settings_history():
    """The shop's settings changes, newest first: ``?limit=`` (at most 200) and ``?before=<id>``."""
    limit = _query_int("limit", 50, low=1, high=HISTORY_LIMIT)
    before = _query_int("before", None, low=1)
    rows = shop_settings.history(g.shop.id, limit=limit, before=before)
    return {"history": [{"id": row.id, "changed_by": row.changed_by, "changed_at": row.changed_at.isoformat(),
                         "changes": row.changes} for row in rows],
            "next_before": rows[-1].id if len(rows) == limit else None}


def _settings_answer(shop: Shop):
    response = jsonify(shop_settings.effective(shop))
    response.headers["ETag"] = shop_settings.etag(shop)
    return response


def _query_int(name: str, default, *, low: int, high: int | None = None):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be a whole number") from None
    if value < low or (high is not None and value > high):
        raise BadQuery(f"{name} must be from {low}" + (f" to {high}" if high is not None else " up"))
    return value


def _shipment_statuses(shop: Shop) -> dict:
    read = platform_of(shop).shipment_statuses
    return read(shop) if read is not None else {"reported": True, "since": None, "note": None}
