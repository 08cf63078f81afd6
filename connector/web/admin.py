"""The embedded admin's page and its API: the shop, the settings and their history, data exports.

Every ``/admin/api`` route is behind ``session_required`` (connector/web/admin_auth.py: Shopify
App Bridge session tokens, WooCommerce's plugin-minted tokens) and scoped to ``g.shop``; every
answer is ``Cache-Control: no-store`` (connector/web/security.py). Each route declares its
schemas with ``documented`` (connector/web/apidoc.py), from which ``/admin/api/openapi.json`` is
built. The dashboard's routes are in admin_dashboard.py, the records (contacts, messages,
templates) in admin_records.py.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, g, jsonify, render_template, request
from marshmallow import Schema, fields
from sqlalchemy import select

from connector import shop_settings
from connector.automations.attribution import funnel
from connector.extensions import db, settings
from connector.models import DataExport, Shop
from connector.shop_settings_schema import SettingsSchema
from connector.stores import woocommerce as woocommerce_store
from connector.stores.platforms import platform_of
from connector.web.admin_auth import session_required
from connector.web.apidoc import documented
from connector.web.errors import MAX_ID, BadQuery, storable_json_object
from integrations.shopify.oauth import is_valid_shop_domain

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)


class FunnelReportSchema(Schema):
    automations = fields.Dict(required=True, metadata={"description": "automation name → its funnel counts"})


class ShopOverviewSchema(Schema):
    shop = fields.Dict(required=True, metadata={"description": "id, domain, platform, locale, time_zone"})
    whatsapp = fields.Dict(required=True, metadata={"description": "connected, phone_number_id, messaging_limit"})
    sending = fields.Dict(required=True, metadata={"description": "paused, reason"})
    shipment_statuses = fields.Dict(required=True, metadata={"description": "whether carrier statuses reach us"})


class ExportRowSchema(Schema):
    id = fields.Integer(required=True)
    request_ref = fields.String(allow_none=True)
    created_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})


class ExportListSchema(Schema):
    exports = fields.List(fields.Nested(ExportRowSchema), required=True)


class HistoryQuerySchema(Schema):
    limit = fields.Integer(metadata={"description": "at most 200; 50 by default"})
    before = fields.Integer(metadata={"description": "the next_before of the previous page"})


class SettingsChangeSchema(Schema):
    id = fields.Integer(required=True)
    changed_by = fields.String(allow_none=True, metadata={"description": "the staff member (token subject)"})
    changed_at = fields.String(required=True)
    changes = fields.List(fields.Dict(), required=True, metadata={"description": "path, before, after"})


class HistorySchema(Schema):
    history = fields.List(fields.Nested(SettingsChangeSchema), required=True)
    next_before = fields.Integer(allow_none=True)



@bp.get("/")
def embedded_page():
    """The page Shopify opens inside the store admin (``application_url``). It carries no data
    itself: its script asks /admin/api/* with App Bridge session tokens."""
    config = settings()
    shop = request.args.get("shop", "")

    response = current_app.make_response(render_template("admin/index.html", api_key=config.shopify_api_key or ""))
    response.headers["Content-Security-Policy"] = f"frame-ancestors {_frame_ancestors(shop)};"
    return response


def _frame_ancestors(shop: str) -> str:
    """Only the shop's own admin may frame the page: Shopify's admin (its embedded-app rule),
    or the connected WooCommerce store named by ``store`` (the plugin's menu page)."""
    ancestors = ["https://admin.shopify.com"]
    if is_valid_shop_domain(shop):
        ancestors.append(f"https://{shop.lower()}")
    store_origin = woocommerce_store.admin_frame_origin(request.args.get("store"))
    if store_origin:
        ancestors.append(store_origin)
    return " ".join(ancestors)


@bp.get("/api/report")
@documented(summary="The funnel per automation", response=FunnelReportSchema, tag="dashboard")
@session_required
def report():
    """The funnel per automation (what `connector report` prints)."""
    return {"automations": funnel(g.shop.id)}


@bp.get("/api/shop")
@documented(summary="The shop, its WhatsApp number, whether sending is on", response=ShopOverviewSchema, tag="shop")
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
@documented(summary="The customer data exports made for this shop", response=ExportListSchema, tag="contacts")
@session_required
def data_exports():
    """The customer data exports made for this shop (Shopify data requests, `connector contacts export`)."""
    rows = db.session.execute(
        select(DataExport.id, DataExport.request_ref, DataExport.created_at)
        .where(DataExport.shop_id == g.shop.id).order_by(DataExport.id.desc()).limit(100)).all()
    return {"exports": [{"id": r.id, "request_ref": r.request_ref, "created_at": r.created_at.isoformat()}
                        for r in rows]}


@bp.get("/api/data-exports/<int:export_id>")
@documented(summary="One export, as a JSON file download", content_type="application/json", errors=(404,),
            tag="contacts")
@session_required
def data_export(export_id: int):
    if export_id > MAX_ID:
        return jsonify(error="not_found", message="no such export"), 404
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
@documented(summary="The shop's full settings, defaults filled in (ETag header)", response=SettingsSchema,
            tag="settings")
@session_required
def get_settings():
    """The shop's full settings, every default filled in; the ``ETag`` is for ``If-Match``."""
    return _settings_answer(g.shop)


@bp.patch("/api/settings")
@documented(summary="Change settings by JSON merge patch (RFC 7396); If-Match", body=SettingsSchema,
            response=SettingsSchema, errors=(400, 412, 415, 422), tag="settings")
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
@documented(summary="Settings changes, newest first", query=HistoryQuerySchema, response=HistorySchema,
            errors=(400,), tag="settings")
@session_required
def settings_history():
    """The shop's settings changes, newest first: ``?limit=`` (at most 200) and ``?before=<id>``."""
    limit = _query_int("limit", 50, low=1, high=HISTORY_LIMIT)
    before = _query_int("before", None, low=1, high=MAX_ID)
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
