"""Making, previewing and steering campaigns: create, preview, start, pause, resume, cancel.

Each state change locks the campaign's row (``SELECT … FOR UPDATE``), as each chunk of the
planner does (``connector.campaigns.planner``), so a pause or a cancel lands between two of
the planner's chunks and acts on every outbox row written before it:

- pause: the campaign's queued rows become ``paused``; the dispatcher never claims them. Rows
  a dispatcher had already claimed (at most about two seconds of the number's throughput)
  still go out; nothing else does;
- resume: they are queued again, due at their planned time or now, whichever is later;
- cancel: its queued and paused rows are cancelled; the planner stops at its next chunk.

Messages are never deleted: the report counts what went out, what was cancelled and why.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import distinct, func, select, update

from connector.automations import links as short_links
from connector.campaigns import planner, segments
from connector.campaigns import report as report_module
from connector.extensions import db
from connector.messaging import costs, shop_catalogue
from connector.models import Campaign, Message, MessageStatus, Shop, WhatsAppAccount, utcnow
from connector.models.messages import OPEN_STATUSES, Purpose
from connector.queues import MAINTENANCE, enqueue
from connector.wakeups import kick_dispatcher, kick_dispatchers_at

#: the planner's job, by name (the jobs layer runs it; tests/test_campaigns.py checks it resolves)
PLAN_JOB = "connector.jobs.campaigns.plan_campaign"
PLAN_JOB_TIMEOUT = 3600
MAX_VARIANTS = 5
#: variables every campaign template gets per recipient, never given by the merchant
PER_RECIPIENT = ("customer_name", "shop_name")
CANCELLED_REASON = "campaign_cancelled"


class CampaignStateError(ValueError):
    """The campaign is not in a state that allows this (409)."""


def _storable(value: str) -> None:
    if "\x00" in value or any(0xD800 <= ord(char) <= 0xDFFF for char in value):
        raise ValidationError("Holds a NUL character or an unpaired surrogate.")


class VariantSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=[validate.Length(1, 40), _storable])
    weight = fields.Float(load_default=1.0, validate=validate.Range(0.01, 100),
                          metadata={"description": "its share, relative to the other variants' weights"})
    template = fields.String(validate=validate.Length(1, 512),
                             metadata={"description": "another template (default: the campaign's)"})
    variables = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)),
                            values=fields.String(validate=[validate.Length(1, 1024), _storable]),
                            metadata={"description": "other values for the campaign's variables"})


class CampaignCreateSchema(Schema):
    """What a campaign is made of (the admin API's body, the CLI's options)."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=[validate.Length(1, 120), _storable])
    template = fields.String(required=True, validate=validate.Length(1, 512),
                             metadata={"description": "a marketing template (the catalogue's or the shop's own)"})
    segment = fields.Dict(required=True, metadata={"description": "the segment's conditions (see segments)"})
    variables = fields.Dict(keys=fields.String(validate=validate.Length(1, 64)),
                            values=fields.String(validate=[validate.Length(1, 1024), _storable]), load_default=dict,
                            metadata={"description": "the template's variables; customer_name and shop_name are "
                                                     "filled per recipient"})
    link = fields.Url(schemes={"https", "http"}, allow_none=True, load_default=None,
                      metadata={"description": "where the URL button leads (one of the shop's domains)"})
    at = fields.AwareDateTime(allow_none=True, load_default=None,
                              metadata={"description": "send at this moment (ISO 8601 with its offset)"})
    local_time = fields.String(allow_none=True, load_default=None,
                               validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Give a time as HH:MM."),
                               metadata={"description": "send at this time in each recipient's own zone"})
    variants = fields.List(fields.Nested(VariantSchema), load_default=list,
                           validate=validate.Length(max=MAX_VARIANTS),
                           metadata={"description": f"2 to {MAX_VARIANTS} variants for an A/B test"})
    holdout_percent = fields.Float(load_default=0.0, validate=validate.Range(0, 50),
                                   metadata={"description": "share of the segment that gets nothing"})
    test_percent = fields.Float(allow_none=True, load_default=None, validate=validate.Range(5, 95),
                                metadata={"description": "with variants: the share (of those not in the holdout) "
                                                         "that tests them; the rest gets the winner"})
    winner_after_hours = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(1, 168),
                                        metadata={"description": "how long the test runs before the rest is sent"})

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("at") and data.get("local_time"):
            raise ValidationError("Give either a moment or a local time, not both.", "local_time")
        if len(data.get("variants") or []) == 1:
            raise ValidationError(f"An A/B test needs 2 to {MAX_VARIANTS} variants.", "variants")
        if (data.get("test_percent") is None) != (data.get("winner_after_hours") is None):
            raise ValidationError("Give the test's share and its length together.", "winner_after_hours")
        if data.get("test_percent") is not None and not data.get("variants"):
            raise ValidationError("A test phase needs variants.", "test_percent")
        names = [variant["name"] for variant in data.get("variants") or []]
        if len(set(names)) != len(names):
            raise ValidationError("Each variant needs its own name.", "variants")


def create(shop: Shop, body: dict[str, Any], *, created_by: str | None = None) -> Campaign:
    """A new draft campaign from ``body`` (``CampaignCreateSchema``'s fields); raises
    ``ValidationError`` with marshmallow's error shape, and stores nothing, when it is not sendable."""
    data = CampaignCreateSchema().load(body)
    try:
        conditions = segments.parse(data["segment"])
    except ValidationError as error:
        raise ValidationError({"segment": error.messages}) from None
    if data["link"] and not short_links.is_shop_url(shop, data["link"]):
        raise ValidationError({"link": ["Not on one of the shop's domains (its own, or those in link_domains)."]})
    campaign = Campaign(shop_id=shop.id, name=data["name"].strip(), template_name=data["template"],
                        variables=data["variables"], segment=segments.dump(conditions), link_url=data["link"],
                        send_at=data["at"], local_time=data["local_time"], variants=data["variants"],
                        holdout_percent=data["holdout_percent"], test_percent=data["test_percent"],
                        winner_after_hours=data["winner_after_hours"], status=Campaign.DRAFT, created_by=created_by,
                        recipients=0, holdout=0)
    _check_variables(campaign)
    try:
        planner.check(campaign, shop)
    except planner.PlanError as error:
        raise ValidationError({"template": [str(error)]}) from None
    db.session.add(campaign)
    db.session.commit()
    return campaign


def _check_variables(campaign: Campaign) -> None:
    """Every variable the template needs is given, and none it does not know."""
    known = shop_catalogue.templates_for(campaign.shop_id)
    errors: dict[str, list[str]] = {}
    for spec in campaign.variants or [{}]:
        name = spec.get("template") or campaign.template_name
        definition = known.get(name)
        if definition is None:
            errors.setdefault("template", []).append(f"No template named {name!r}.")
            continue
        if definition.purpose != Purpose.MARKETING:
            errors.setdefault("template", []).append(f"{name!r} is not a marketing template.")
            continue
        needed = {p for variant in definition.variants.values() for p in variant.parameters} - set(PER_RECIPIENT)
        given = set(campaign.variables or {}) | set(spec.get("variables") or {})
        if needed - given:
            errors.setdefault("variables", []).append(f"{name} needs {', '.join(sorted(needed - given))}.")
        if given - needed:
            errors.setdefault("variables", []).append(f"{name} has no {', '.join(sorted(given - needed))}.")
    if errors:
        raise ValidationError(errors)


def preview(campaign: Campaign) -> dict[str, Any]:
    """How many the campaign reaches now, how long the number's tier needs for that, per variant."""
    conditions = segments.parse(campaign.segment)
    by_country = segments.count_by_country(campaign.shop_id, conditions)
    audience = sum(by_country.values())
    holdout = round(audience * (campaign.holdout_percent or 0) / 100)
    card = costs.load_rate_card()
    sending_share = Decimal(1) - Decimal(str(campaign.holdout_percent or 0)) / 100
    cost = sum((card.rate(costs.MARKETING, country) * n for country, n in by_country.items()), Decimal(0))
    recipients = audience - holdout
    account = db.session.scalars(select(WhatsAppAccount).where(WhatsAppAccount.shop_id == campaign.shop_id)).first()
    limit = account.messaging_limit if account else None
    throughput = account.throughput_per_second if account else None
    weights = [float(spec.get("weight", 1)) for spec in campaign.variants] or [1.0]
    return {
        "audience": audience,
        "holdout": holdout,
        "recipients": recipients,
        "variants": [{"name": spec.get("name", "A"), "recipients": round(recipients * weight / sum(weights))}
                     for spec, weight in zip(campaign.variants or [{"name": "A"}], weights, strict=True)],
        "messaging_limit": limit,
        # the tier counts unique business-initiated recipients per rolling 24 hours
        "days_needed": (math.ceil(recipients / limit) if limit else 1) if recipients else 0,
        "throughput_per_second": throughput,
        "send_seconds": math.ceil(recipients / throughput) if throughput else None,
        # Meta bills a marketing template by the recipient's country (the contacts' here)
        "estimated_cost": str((cost * sending_share).quantize(Decimal("0.01"))),
        "cost_currency": card.currency,
        "rate_card": card.describe(),
    }


def _locked(campaign_id: int) -> Campaign:
    campaign = db.session.scalars(select(Campaign).where(Campaign.id == campaign_id).with_for_update()
                                  .execution_options(populate_existing=True)).first()
    if campaign is None:
        raise LookupError("no such campaign")
    return campaign


def start(campaign_id: int) -> Campaign:
    """Fix the audience now and plan the campaign on a worker (a draft, or one whose planning failed)."""
    campaign = _locked(campaign_id)
    if campaign.status not in (Campaign.DRAFT, Campaign.FAILED):
        db.session.rollback()
        raise CampaignStateError(f"campaign is {campaign.status}; only a draft can be started")
    campaign.status, campaign.error, campaign.started_at = Campaign.PLANNING, None, utcnow()
    db.session.commit()
    enqueue_plan(campaign.id)
    return campaign


def enqueue_plan(campaign_id: int) -> None:
    enqueue(PLAN_JOB, campaign_id, queue=MAINTENANCE, timeout=PLAN_JOB_TIMEOUT,
            job_id=f"campaign-plan-{campaign_id}-{int(utcnow().timestamp()) // 60}", unique=True)


def pause(campaign_id: int) -> Campaign:
    campaign = _locked(campaign_id)
    if campaign.status not in (Campaign.PLANNING, Campaign.SENDING):
        db.session.rollback()
        raise CampaignStateError(f"campaign is {campaign.status}; only a running campaign can be paused")
    now = utcnow()
    campaign.status = Campaign.PAUSED
    db.session.execute(update(Message).where(Message.campaign_id == campaign.id,
                                             Message.status == MessageStatus.QUEUED)
                       .values(status=MessageStatus.PAUSED, updated_at=now))
    db.session.commit()
    return campaign


def resume(campaign_id: int) -> Campaign:
    campaign = _locked(campaign_id)
    if campaign.status != Campaign.PAUSED:
        db.session.rollback()
        raise CampaignStateError(f"campaign is {campaign.status}; only a paused campaign can be resumed")
    now = utcnow()
    campaign.status = Campaign.SENDING if campaign.planned_at else Campaign.PLANNING
    M = Message.__table__.c
    db.session.execute(update(Message).where(M.campaign_id == campaign.id, M.status == MessageStatus.PAUSED,
                                             M.due_at < now).values(due_at=now))
    db.session.execute(update(Message).where(M.campaign_id == campaign.id, M.status == MessageStatus.PAUSED)
                       .values(status=MessageStatus.QUEUED, updated_at=now))
    later = db.session.scalars(select(distinct(M.due_at)).where(M.campaign_id == campaign.id,
                                                                M.status == MessageStatus.QUEUED, M.due_at > now)
                               .limit(10_000)).all()
    shop_id = campaign.shop_id
    db.session.commit()
    kick_dispatcher(shop_id)
    kick_dispatchers_at((shop_id, due_at) for due_at in later)
    if not campaign.planned_at:
        enqueue_plan(campaign.id)  # a planner lost while it was paused goes on (keys keep it exactly once)
    return campaign


def cancel(campaign_id: int) -> Campaign:
    campaign = _locked(campaign_id)
    if campaign.status in (Campaign.CANCELLED, Campaign.COMPLETED):
        db.session.rollback()
        raise CampaignStateError(f"campaign is {campaign.status} already")
    now = utcnow()
    campaign.status, campaign.finished_at = Campaign.CANCELLED, now
    db.session.execute(update(Message).where(Message.campaign_id == campaign.id,
                                             Message.status.in_([MessageStatus.QUEUED, MessageStatus.PAUSED]))
                       .values(status=MessageStatus.CANCELLED, status_reason=CANCELLED_REASON, updated_at=now))
    db.session.commit()
    return campaign


def send_rest(campaign_id: int, variant: str | None = None) -> Campaign:
    """After a test phase: send ``variant`` (default: the report's winner) to those who waited."""
    campaign = _locked(campaign_id)
    names = [spec["name"] for spec in campaign.variants or []]
    problem = None
    if not campaign.test_percent:
        problem = "campaign has no test phase"
    elif campaign.rest_sent_at is not None:
        problem = f"the rest was sent {campaign.winner} already"
    elif campaign.planned_at is None or campaign.status not in (Campaign.SENDING, Campaign.COMPLETED):
        problem = f"campaign is {campaign.status}; the test must be planned and running"
    elif variant is not None and variant not in names:
        problem = f"no variant {variant!r} (variants: {', '.join(names)})"
    if problem is None and variant is None:
        variant = report_module.report(campaign)["winner"]
        if variant is None:
            problem = "the test has no winner yet: name the variant to send"
    if problem is not None:
        db.session.rollback()
        raise CampaignStateError(problem)
    now = utcnow()
    campaign.winner, campaign.rest_sent_at = variant, now
    campaign.status, campaign.planned_at, campaign.finished_at = Campaign.PLANNING, None, None
    db.session.commit()
    enqueue_plan(campaign.id)
    return campaign


def _judge_tests(now: datetime) -> int:
    """Send the winner to the rest of each campaign whose test phase is over (once; a test
    without a winner is marked judged, ``winner`` "", and waits for the merchant)."""
    acted = 0
    due = db.session.scalars(select(Campaign).where(
        Campaign.test_percent.is_not(None), Campaign.rest_sent_at.is_(None), Campaign.winner.is_(None),
        Campaign.planned_at.is_not(None), Campaign.status.in_([Campaign.SENDING, Campaign.COMPLETED]))).all()
    for campaign in due:
        if (campaign.started_at or now) + timedelta(hours=campaign.winner_after_hours or 0) > now:
            continue
        winner = report_module.report(campaign)["winner"]
        if winner is None:
            campaign.winner = ""
            db.session.commit()
        else:
            send_rest(campaign.id, winner)
        acted += 1
    return acted


def progress(campaign: Campaign) -> dict[str, Any]:
    """Where the campaign stands: its messages by status; records completion when nothing is open."""
    counts: dict[str, int] = {status: int(count) for status, count in db.session.execute(
        select(Message.status, func.count()).where(Message.campaign_id == campaign.id).group_by(Message.status))}
    messages = sum(counts.values())
    open_count = sum(counts.get(status, 0) for status in (*OPEN_STATUSES, MessageStatus.PAUSED))
    if campaign.status == Campaign.SENDING and campaign.planned_at and not open_count:
        campaign = _locked(campaign.id)
        if campaign.status == Campaign.SENDING:
            campaign.status, campaign.finished_at = Campaign.COMPLETED, utcnow()
        db.session.commit()
    sent = sum(counts.get(status, 0) for status in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ))
    return {
        "status": campaign.status,
        "recipients": campaign.recipients,
        "holdout": campaign.holdout,
        "messages": messages,
        "sent": sent,
        "open": open_count,
        "by_status": {str(status): count for status, count in sorted(counts.items())},
        "done_ratio": (round((messages - open_count) / messages, 4) if messages
                       else (1.0 if campaign.planned_at else 0.0)),
    }


def tend(now: datetime) -> int:
    """The sweep's step: restart planners whose heartbeat stopped; mark finished campaigns
    completed. Returns how many campaigns it acted on."""
    acted = 0
    stalled = db.session.scalars(select(Campaign.id).where(
        Campaign.status.in_([Campaign.PLANNING, Campaign.PAUSED]), Campaign.planned_at.is_(None),
        Campaign.updated_at < now - planner.HEARTBEAT)).all()
    for campaign_id in stalled:
        stalled_campaign = db.session.get(Campaign, campaign_id)
        if stalled_campaign is not None and stalled_campaign.status == Campaign.PLANNING:
            enqueue_plan(campaign_id)
            acted += 1
    for campaign in db.session.scalars(select(Campaign).where(Campaign.status == Campaign.SENDING,
                                                              Campaign.planned_at.is_not(None))).all():
        if progress(campaign)["status"] == Campaign.COMPLETED:
            acted += 1
    acted += _judge_tests(now)
    db.session.commit()
    return acted


def own(shop_id: int, campaign_id: int) -> Campaign | None:
    """The shop's campaign with that id (None for another shop's)."""
    if campaign_id > 2**63 - 1:
        return None
    return db.session.scalars(select(Campaign).where(Campaign.id == campaign_id,
                                                     Campaign.shop_id == shop_id)).first()


def listing(shop_id: int, limit: int = 100) -> list[Campaign]:
    return list(db.session.scalars(select(Campaign).where(Campaign.shop_id == shop_id)
                                   .order_by(Campaign.id.desc()).limit(limit)))


