"""The admin's click-to-chat entry points and their QR codes (connector/conversations/entry_points.py).

``GET /admin/api/entry-points``, ``POST /admin/api/entry-points`` ``{name, text?}``,
``DELETE /admin/api/entry-points/<id>`` (archives: printed codes keep working),
``GET /admin/api/entry-points/<id>/qr.svg`` and ``…/qr.png`` (downloads). Each behind
``session_required``, scoped to ``g.shop``; another shop's id answers 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import func, select

from connector.conversations import entry_points
from connector.extensions import db
from connector.models import ConsentEvent, EntryPoint, Shop
from connector.models.contacts import CONSENT_GRANTED
from connector.web.admin_auth import session_required
from connector.web.apidoc import documented
from connector.web.errors import MAX_ID, is_storable_text, storable_json_object

bp = Blueprint("admin_entry_points", __name__, url_prefix="/admin/api")


def _storable(value: str) -> None:
    if not is_storable_text(value) or "\n" in value:
        raise ValidationError("Holds a line break, a NUL character or an unpaired surrogate.")


class EntryPointCreateSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=[validate.Length(min=1, max=80), _storable],
                         metadata={"description": "what the admin calls it: Shop window, Parcel insert"})
    text = fields.String(validate=[validate.Length(min=10, max=480), _storable],
                         metadata={"description": "the message the shopper sends (the reference is appended); "
                                                  "it is their opt-in, so it must ask for offers"})


class EntryPointSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    ref = fields.String(required=True, metadata={"description": "the reference the message carries (#REF)"})
    text = fields.String(required=True)
    message = fields.String(required=True, metadata={"description": "the whole prefilled message"})
    link = fields.String(allow_none=True, metadata={"description": "wa.me link; null until the number is known"})
    qr_svg = fields.String(allow_none=True)
    qr_png = fields.String(allow_none=True)
    optins = fields.Integer(required=True, metadata={"description": "marketing opt-ins that came from it"})
    created_at = fields.String(required=True)


class EntryPointListSchema(Schema):
    entry_points = fields.List(fields.Nested(EntryPointSchema), required=True)


class EntryPointCreatedSchema(Schema):
    entry_point = fields.Nested(EntryPointSchema, required=True)


@bp.errorhandler(ValidationError)
def _invalid(error: ValidationError):
    return jsonify(errors=error.messages), 422


def _row(shop: Shop, entry: EntryPoint, optins: int) -> dict[str, Any]:
    try:
        link: str | None = entry_points.link(shop, entry)
    except entry_points.NoWhatsAppNumberError:
        link = None
    base = f"/admin/api/entry-points/{entry.id}"
    return {"id": entry.id, "name": entry.name, "ref": entry.ref, "text": entry.text,
            "message": entry_points.message_text(entry), "link": link,
            "qr_svg": f"{base}/qr.svg" if link else None, "qr_png": f"{base}/qr.png" if link else None,
            "optins": optins, "created_at": entry.created_at.isoformat()}


def _optins(shop_id: int) -> dict[str, int]:
    """Opt-ins per entry point source, from the ledger (one grouped query)."""
    rows = db.session.execute(
        select(ConsentEvent.source, func.count()).where(
            ConsentEvent.shop_id == shop_id, ConsentEvent.state == CONSENT_GRANTED,
            ConsentEvent.source.like(f"{entry_points.SOURCE_PREFIX}%")).group_by(ConsentEvent.source))
    return {source: count for source, count in rows}


def _own(entry_id: int) -> EntryPoint | None:
    if entry_id > MAX_ID:  # no row has it, and PostgreSQL refuses to compare a BIGINT with it
        return None
    return db.session.scalars(select(EntryPoint).where(EntryPoint.id == entry_id,
                                                       EntryPoint.shop_id == g.shop.id)).first()


def _not_found():
    return jsonify(error="not_found", message="no such entry point"), 404


@bp.get("/entry-points")
@documented(summary="The shop's click-to-chat entry points with their links, QR codes and opt-ins",
            response=EntryPointListSchema, tag="storefront")
@session_required
def list_entry_points():
    rows = db.session.scalars(select(EntryPoint).where(EntryPoint.shop_id == g.shop.id,
                                                       EntryPoint.archived_at.is_(None))
                              .order_by(EntryPoint.id)).all()
    counts = _optins(g.shop.id)
    return {"entry_points": [_row(g.shop, entry, counts.get(f"{entry_points.SOURCE_PREFIX}{entry.ref}", 0))
                             for entry in rows]}


@bp.post("/entry-points")
@documented(summary="Create an entry point (a wa.me link whose message carries a reference)",
            body=EntryPointCreateSchema, response=EntryPointCreatedSchema, status=201, errors=(400, 422),
            tag="storefront")
@session_required
def create_entry_point():
    body = EntryPointCreateSchema().load(storable_json_object(request.get_data()))
    entry = entry_points.create(g.shop, body["name"].strip(), (body.get("text") or "").strip() or None)
    db.session.commit()
    return {"entry_point": _row(g.shop, entry, 0)}, 201


@bp.delete("/entry-points/<int:entry_id>")
@documented(summary="Archive an entry point: it leaves the list, its printed codes keep working",
            status=204, errors=(404,), tag="storefront")
@session_required
def archive_entry_point(entry_id: int):
    entry = _own(entry_id)
    if entry is None:
        return _not_found()
    entry_points.archive(entry)
    db.session.commit()
    return Response(status=204)


def _qr(entry_id: int, kind: str, mimetype: str):
    entry = _own(entry_id)
    if entry is None:
        return _not_found()
    try:
        image = entry_points.qr_code(g.shop, entry, kind)
    except entry_points.NoWhatsAppNumberError as error:
        return jsonify(error="no_whatsapp_number", message=str(error)), 409
    filename = f"whatsapp-{entry.ref.lower()}.{kind}"
    return Response(image, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/entry-points/<int:entry_id>/qr.svg")
@documented(summary="The entry point's QR code as SVG (download)", content_type="image/svg+xml",
            errors=(404, 409), tag="storefront")
@session_required
def entry_point_qr_svg(entry_id: int):
    return _qr(entry_id, "svg", "image/svg+xml")


@bp.get("/entry-points/<int:entry_id>/qr.png")
@documented(summary="The entry point's QR code as PNG (download)", content_type="image/png",
            errors=(404, 409), tag="storefront")
@session_required
def entry_point_qr_png(entry_id: int):
    return _qr(entry_id, "png", "image/png")
