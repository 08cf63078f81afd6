"""The admin's segments and campaigns (connector/campaigns): the same as the CLI offers.

``POST /admin/api/segments/preview`` ``{segment}`` → ``{count}``; saved segments at
``/admin/api/segments`` (GET, POST ``{name, segment}``, DELETE ``/<id>``); campaigns at
``/admin/api/campaigns`` (GET, POST: ``CampaignCreateSchema``), ``/<id>`` (with its progress),
``/<id>/preview``, ``/<id>/report``, and POST ``/<id>/start|pause|resume|cancel``. Each behind
``session_required`` and scoped to ``g.shop``: another shop's id answers 404, a state that does
not allow the action 409, an invalid body 422 with marshmallow's error shape.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import select

from connector.campaigns import control, segments
from connector.campaigns.report import report
from connector.extensions import db
from connector.models import Campaign, Segment
from connector.web.admin_auth import session_required
from connector.web.apidoc import documented
from connector.web.errors import MAX_ID, is_storable_text, storable_json_object

bp = Blueprint("admin_campaigns", __name__, url_prefix="/admin/api")


@bp.errorhandler(ValidationError)
def _invalid(error: ValidationError):
    return jsonify(errors=error.messages), 422


@bp.errorhandler(control.CampaignStateError)
def _conflict(error: control.CampaignStateError):
    return jsonify(error="conflict", message=str(error)), 409


def _not_found(what: str):
    return jsonify(error="not_found", message=f"no such {what}"), 404


def _name(value: str) -> None:
    if not is_storable_text(value) or "\n" in value:
        raise ValidationError("Holds a line break, a NUL character or an unpaired surrogate.")


# -- schemas -----------------------------------------------------------------------------------

class SegmentPreviewBodySchema(Schema):
    class Meta:
        unknown = RAISE

    segment = fields.Dict(required=True, metadata={"description": "the conditions (SegmentSchema's keys)"})


class SegmentCountSchema(Schema):
    count = fields.Integer(required=True, metadata={"description": "contacts with marketing consent that match"})
    segment = fields.Dict(required=True)


class SegmentBodySchema(SegmentPreviewBodySchema):
    name = fields.String(required=True, validate=[validate.Length(1, 120), _name])


class SegmentRowSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    segment = fields.Dict(required=True)
    count = fields.Integer(required=True)


class SegmentListSchema(Schema):
    segments = fields.List(fields.Nested(SegmentRowSchema), required=True)


class SegmentCreatedSchema(Schema):
    segment = fields.Nested(SegmentRowSchema, required=True)


class ProgressSchema(Schema):
    status = fields.String(required=True)
    recipients = fields.Integer(required=True)
    holdout = fields.Integer(required=True)
    messages = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    open = fields.Integer(required=True, metadata={"description": "queued, sending or paused"})
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    done_ratio = fields.Float(required=True)


class CampaignSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    template = fields.String(required=True)
    variables = fields.Dict(required=True)
    segment = fields.Dict(required=True)
    link = fields.String(allow_none=True)
    at = fields.String(allow_none=True)
    local_time = fields.String(allow_none=True)
    variants = fields.List(fields.Dict(), required=True)
    holdout_percent = fields.Float(required=True)
    test_percent = fields.Float(allow_none=True)
    winner_after_hours = fields.Integer(allow_none=True)
    winner = fields.String(allow_none=True, metadata={"description": "the variant the rest got; \"\" when the test "
                                                                    "had no winner and waits for a choice"})
    status = fields.String(required=True, metadata={"description": "draft, planning, sending, paused, cancelled, "
                                                                   "completed or failed"})
    error = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    progress = fields.Nested(ProgressSchema, required=True)


class CampaignEnvelopeSchema(Schema):
    campaign = fields.Nested(CampaignSchema, required=True)


class CampaignListSchema(Schema):
    campaigns = fields.List(fields.Nested(CampaignSchema), required=True)


class VariantEstimateSchema(Schema):
    name = fields.String(required=True)
    recipients = fields.Integer(required=True)


class CampaignPreviewSchema(Schema):
    audience = fields.Integer(required=True, metadata={"description": "contacts of the segment now"})
    holdout = fields.Integer(required=True)
    recipients = fields.Integer(required=True)
    variants = fields.List(fields.Nested(VariantEstimateSchema), required=True)
    messaging_limit = fields.Integer(allow_none=True, metadata={"description": "recipients per 24 h; null: unlimited"})
    days_needed = fields.Integer(required=True, metadata={"description": "days the tier needs for all recipients"})
    throughput_per_second = fields.Integer(allow_none=True)
    send_seconds = fields.Integer(allow_none=True)
    estimated_cost = fields.String(required=True, metadata={"description": "an estimate from the rate card, "
                                                                          "a decimal string"})
    cost_currency = fields.String(required=True)
    rate_card = fields.Dict(required=True, metadata={"description": "the card's version, source and date"})


class IntervalSchema(Schema):
    difference = fields.Float(required=True)
    low = fields.Float(required=True)
    high = fields.Float(required=True)


class FunnelSchema(Schema):
    """What a campaign, or one group of it, reached: messages by how far they got, and sales."""
    recipients = fields.Integer(required=True)
    queued = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    read = fields.Integer(required=True)
    clicked = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    suppressed = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)
    orders = fields.Integer(required=True)
    revenue = fields.Float(required=True)
    cost = fields.String(required=True, metadata={"description": "estimated cost of the messages sent (rate card)"})


class GroupSchema(FunnelSchema):
    variant = fields.String(required=True)
    holdout = fields.Boolean(required=True)
    rest = fields.Boolean(required=True, metadata={"description": "those who wait for the test's winner"})
    buyers = fields.Integer(required=True)
    conversion_rate = fields.Float(required=True)
    revenue_per_recipient = fields.Float(required=True)
    vs_holdout = fields.Nested(IntervalSchema, allow_none=True)


class CampaignReportSchema(FunnelSchema):
    campaign = fields.Integer(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True)
    currency = fields.String(allow_none=True)
    cost_currency = fields.String(required=True)
    revenue_per_cost = fields.String(allow_none=True, metadata={"description": "revenue per unit of cost; null "
                                                                              "when the currencies differ"})
    attribution_window_seconds = fields.Integer(required=True)
    groups = fields.List(fields.Nested(GroupSchema), required=True)
    test = fields.String(required=True)
    winner = fields.String(allow_none=True)
    verdict = fields.String(required=True)


# -- segments ----------------------------------------------------------------------------------

def _conditions(body: dict[str, Any]) -> dict[str, Any]:
    try:
        return segments.parse(body["segment"])
    except ValidationError as error:
        raise ValidationError({"segment": error.messages}) from None


@bp.post("/segments/preview")
@documented(summary="How many contacts with marketing consent a segment holds now", body=SegmentPreviewBodySchema,
            response=SegmentCountSchema, errors=(400, 422), tag="campaigns")
@session_required
def preview_segment():
    body = SegmentPreviewBodySchema().load(storable_json_object(request.get_data()))
    conditions = _conditions(body)
    return {"count": segments.count(g.shop.id, conditions), "segment": segments.dump(conditions)}


def _segment_row(segment: Segment) -> dict[str, Any]:
    return {"id": segment.id, "name": segment.name, "segment": segment.definition,
            "count": segments.count(segment.shop_id, segments.parse(segment.definition))}


@bp.get("/segments")
@documented(summary="The shop's saved segments, each with its count now", response=SegmentListSchema,
            tag="campaigns")
@session_required
def list_segments():
    rows = db.session.scalars(select(Segment).where(Segment.shop_id == g.shop.id).order_by(Segment.name)).all()
    return {"segments": [_segment_row(segment) for segment in rows]}


@bp.post("/segments")
@documented(summary="Save a segment under a name", body=SegmentBodySchema, response=SegmentCreatedSchema,
            status=201, errors=(400, 409, 422), tag="campaigns")
@session_required
def create_segment():
    body = SegmentBodySchema().load(storable_json_object(request.get_data()))
    conditions = _conditions(body)
    name = body["name"].strip()
    if db.session.scalars(select(Segment.id).where(Segment.shop_id == g.shop.id, Segment.name == name)).first():
        return jsonify(error="conflict", message="a segment of that name exists"), 409
    segment = Segment(shop_id=g.shop.id, name=name, definition=segments.dump(conditions))
    db.session.add(segment)
    db.session.commit()
    return {"segment": _segment_row(segment)}, 201


def _own_segment(segment_id: int) -> Segment | None:
    if segment_id > MAX_ID:
        return None
    return db.session.scalars(select(Segment).where(Segment.id == segment_id, Segment.shop_id == g.shop.id)).first()


@bp.delete("/segments/<int:segment_id>")
@documented(summary="Delete a saved segment (campaigns keep their own copy)", status=204, errors=(404,),
            tag="campaigns")
@session_required
def delete_segment(segment_id: int):
    segment = _own_segment(segment_id)
    if segment is None:
        return _not_found("segment")
    db.session.delete(segment)
    db.session.commit()
    return Response(status=204)


# -- campaigns ---------------------------------------------------------------------------------

def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _campaign_row(campaign: Campaign) -> dict[str, Any]:
    return {"id": campaign.id, "name": campaign.name, "template": campaign.template_name,
            "variables": campaign.variables, "segment": campaign.segment, "link": campaign.link_url,
            "at": _iso(campaign.send_at), "local_time": campaign.local_time, "variants": campaign.variants,
            "holdout_percent": campaign.holdout_percent, "test_percent": campaign.test_percent,
            "winner_after_hours": campaign.winner_after_hours, "winner": campaign.winner, "error": campaign.error,
            "created_at": campaign.created_at.isoformat(), "started_at": _iso(campaign.started_at),
            "finished_at": _iso(campaign.finished_at), **_with_progress(campaign)}


def _with_progress(campaign: Campaign) -> dict[str, Any]:
    figures = control.progress(campaign)
    return {"status": figures["status"], "progress": figures}


def _own_campaign(campaign_id: int) -> Campaign | None:
    return None if campaign_id > MAX_ID else control.own(g.shop.id, campaign_id)


@bp.get("/campaigns")
@documented(summary="The shop's campaigns, newest first, with their progress", response=CampaignListSchema,
            tag="campaigns")
@session_required
def list_campaigns():
    return {"campaigns": [_campaign_row(campaign) for campaign in control.listing(g.shop.id)]}


@bp.post("/campaigns")
@documented(summary="Make a draft campaign (preview it, then start it)", body=control.CampaignCreateSchema,
            response=CampaignEnvelopeSchema, status=201, errors=(400, 422), tag="campaigns")
@session_required
def create_campaign():
    campaign = control.create(g.shop, storable_json_object(request.get_data()), created_by=g.session_subject)
    return {"campaign": _campaign_row(campaign)}, 201


@bp.get("/campaigns/<int:campaign_id>")
@documented(summary="One campaign with its progress (poll it for a live figure)", response=CampaignEnvelopeSchema,
            errors=(404,), tag="campaigns")
@session_required
def get_campaign(campaign_id: int):
    campaign = _own_campaign(campaign_id)
    if campaign is None:
        return _not_found("campaign")
    return {"campaign": _campaign_row(campaign)}


@bp.get("/campaigns/<int:campaign_id>/preview")
@documented(summary="Who the campaign reaches now, and the days the number's tier needs for them",
            response=CampaignPreviewSchema, errors=(404,), tag="campaigns")
@session_required
def preview_campaign(campaign_id: int):
    campaign = _own_campaign(campaign_id)
    if campaign is None:
        return _not_found("campaign")
    return control.preview(campaign)


@bp.get("/campaigns/<int:campaign_id>/report")
@documented(summary="Each variant's funnel and revenue per recipient against the holdout",
            response=CampaignReportSchema, errors=(404,), tag="campaigns")
@session_required
def campaign_report(campaign_id: int):
    campaign = _own_campaign(campaign_id)
    if campaign is None:
        return _not_found("campaign")
    control.progress(campaign)
    return report(campaign)


def _steer(campaign_id: int, action):
    campaign = _own_campaign(campaign_id)
    if campaign is None:
        return _not_found("campaign")
    return {"campaign": _campaign_row(action(campaign.id))}


@bp.post("/campaigns/<int:campaign_id>/start")
@documented(summary="Start a draft: fix its audience and plan it", response=CampaignEnvelopeSchema,
            errors=(404, 409), tag="campaigns")
@session_required
def start_campaign(campaign_id: int):
    return _steer(campaign_id, control.start)


@bp.post("/campaigns/<int:campaign_id>/pause")
@documented(summary="Send nothing more until resumed", response=CampaignEnvelopeSchema, errors=(404, 409),
            tag="campaigns")
@session_required
def pause_campaign(campaign_id: int):
    return _steer(campaign_id, control.pause)


@bp.post("/campaigns/<int:campaign_id>/resume")
@documented(summary="Go on from where it was paused", response=CampaignEnvelopeSchema, errors=(404, 409),
            tag="campaigns")
@session_required
def resume_campaign(campaign_id: int):
    return _steer(campaign_id, control.resume)


class SendRestBodySchema(Schema):
    class Meta:
        unknown = RAISE

    variant = fields.String(allow_none=True, load_default=None,
                            metadata={"description": "the variant to send (default: the test's winner)"})


@bp.post("/campaigns/<int:campaign_id>/send-rest")
@documented(summary="After the test phase: send the winner (or the variant named) to the rest",
            body=SendRestBodySchema, response=CampaignEnvelopeSchema, errors=(404, 409, 422), tag="campaigns")
@session_required
def send_rest(campaign_id: int):
    campaign = _own_campaign(campaign_id)
    if campaign is None:
        return _not_found("campaign")
    raw = request.get_data()
    body = SendRestBodySchema().load(storable_json_object(raw) if raw else {})
    return {"campaign": _campaign_row(control.send_rest(campaign.id, body["variant"]))}


@bp.post("/campaigns/<int:campaign_id>/cancel")
@documented(summary="Withdraw everything not sent; it never goes out", response=CampaignEnvelopeSchema,
            errors=(404, 409), tag="campaigns")
@session_required
def cancel_campaign(campaign_id: int):
    return _steer(campaign_id, control.cancel)
