"""The admin's review answers (connector/conversations/reviews.py): ratings and comments
shoppers gave on the review request, low ones (1–2) flagged.

``GET /admin/api/reviews`` (newest first; ``flagged=1`` only the flagged ones, ``flagged=0``
the others; ``limit``/``before`` pages) and ``GET /admin/api/reviews/<id>``. Each behind
``session_required``, scoped to ``g.shop``; another shop's id answers 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from connector.extensions import db
from connector.models import Contact, OrderRecord, ReviewAnswer
from connector.web.admin_auth import session_required
from connector.web.admin_records import PageQuerySchema
from connector.web.apidoc import documented
from connector.web.errors import MAX_ID

bp = Blueprint("admin_reviews", __name__, url_prefix="/admin/api")


class ReviewsQuerySchema(PageQuerySchema):
    flagged = fields.Integer(load_default=None, validate=validate.OneOf([0, 1]),
                             metadata={"description": "1: only low ratings (1-2), flagged for you; 0: the others"})


class ReviewSchema(Schema):
    id = fields.Integer(required=True)
    contact_id = fields.Integer(required=True)
    name = fields.String(allow_none=True, metadata={"description": "the contact's name, if known"})
    phone = fields.String(allow_none=True)
    order_id = fields.String(required=True, metadata={"description": "the store's order id"})
    order_name = fields.String(allow_none=True, metadata={"description": "the order number the shopper sees"})
    product_ids = fields.List(fields.String(), required=True, metadata={"description": "the order's products"})
    rating = fields.Integer(required=True, metadata={"description": "1 (very poor) to 5 (excellent)"})
    comment = fields.String(allow_none=True)
    flagged = fields.Boolean(required=True, metadata={"description": "a low rating (1-2)"})
    rated_at = fields.String(required=True)
    commented_at = fields.String(allow_none=True)


class ReviewListSchema(Schema):
    reviews = fields.List(fields.Nested(ReviewSchema), required=True)
    next_before = fields.Integer(allow_none=True)


class ReviewOneSchema(Schema):
    review = fields.Nested(ReviewSchema, required=True)


@bp.errorhandler(ValidationError)
def _invalid(error: ValidationError):
    return jsonify(errors=error.messages), 422


def _query():
    return (select(ReviewAnswer, Contact.name, Contact.phone_e164, OrderRecord.name)
            .join(Contact, Contact.id == ReviewAnswer.contact_id)
            .outerjoin(OrderRecord, (OrderRecord.shop_id == ReviewAnswer.shop_id)
                       & (OrderRecord.order_id == ReviewAnswer.order_id))
            .where(ReviewAnswer.shop_id == g.shop.id))


def _row(answer: ReviewAnswer, name: str | None, phone: str | None, order_name: str | None) -> dict[str, Any]:
    return {"id": answer.id, "contact_id": answer.contact_id, "name": name, "phone": phone,
            "order_id": answer.order_id, "order_name": order_name, "product_ids": list(answer.product_ids or []),
            "rating": answer.rating, "comment": answer.comment, "flagged": answer.flagged,
            "rated_at": answer.rated_at.isoformat(),
            "commented_at": answer.commented_at.isoformat() if answer.commented_at else None}


@bp.get("/reviews")
@documented(summary="Ratings and comments from the review request, newest first; flagged=1: the low ones",
            query=ReviewsQuerySchema, response=ReviewListSchema, errors=(422,), tag="automations")
@session_required
def reviews():
    args = ReviewsQuerySchema().load(request.args.to_dict())
    query = _query()
    if args["flagged"] is not None:
        query = query.where(ReviewAnswer.flagged.is_(bool(args["flagged"])))
    if args["before"]:
        query = query.where(ReviewAnswer.id < args["before"])
    rows = db.session.execute(query.order_by(ReviewAnswer.id.desc()).limit(args["limit"] + 1)).all()
    page = rows[:args["limit"]]
    return {"reviews": [_row(*row) for row in page],
            "next_before": page[-1][0].id if len(rows) > args["limit"] else None}


@bp.get("/reviews/<int:review_id>")
@documented(summary="One review answer", response=ReviewOneSchema, errors=(404,), tag="automations")
@session_required
def review(review_id: int):
    row = None if review_id > MAX_ID else db.session.execute(_query().where(ReviewAnswer.id == review_id)).first()
    if row is None:
        return jsonify(error="not_found", message="no such review"), 404
    return {"review": _row(*row)}
