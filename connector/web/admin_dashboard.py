"""The admin's numbers: the home page's checklist and today's figures, and the dashboard's daily
series per automation (read from the daily rollups, never by scanning the outbox).

Routes under ``/admin/api``, each behind ``session_required`` and declared with ``documented``;
every figure is the token's shop's (``g.shop``), by day in the shop's time zone
(connector/rollups.py). Revenue is the attributed, not cancelled orders' total in the shop's
currency, as a decimal string; "recipients" are messages delivered (each delivery one
recipient, as per-message e-mail metrics count them), so revenue per recipient is revenue per
delivered message. Cost is the rate card's estimate of what Meta charged for the messages sent
(connector/messaging/costs.py), in the card's currency; revenue per unit spent is given only
when the shop's currency is the card's (no exchange rates are guessed).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import Blueprint, g, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import select

from connector import rollups, shop_settings
from connector.automations.common import queue_template
from connector.contacts import contact_for
from connector.events import Customer
from connector.extensions import db, settings
from connector.messaging import costs
from connector.models import Shop, TemplateApproval
from connector.phones import InvalidPhoneError, normalise
from connector.stores.platforms import platform_of
from connector.web.admin_auth import session_required
from connector.web.apidoc import documented
from connector.web.errors import storable_json_object

bp = Blueprint("admin_dashboard", __name__, url_prefix="/admin/api")
log = logging.getLogger(__name__)

#: the periods the dashboard offers, in days (today included)
PERIODS = (7, 30, 90)
#: the automation (outbox label) and template of the admin's test message
TEST_AUTOMATION = TEST_TEMPLATE = "test_message"
FUNNEL = rollups.FUNNEL
CENT = Decimal("0.01")
#: costs are fractions of a cent per message: shown to a hundredth of a cent
COST_UNIT = Decimal("0.0001")


# --- schemas ----------------------------------------------------------------------------------


class ChecklistItemSchema(Schema):
    key = fields.String(required=True, metadata={
        "description": "whatsapp_connected, templates_approved, storefront_widget, test_message"})
    done = fields.Boolean(required=True)
    detail = fields.String(allow_none=True, metadata={"description": "what the item's state is, for people"})
    link = fields.String(allow_none=True, metadata={
        "description": "where the admin does it: for storefront_widget in a Shopify shop, the theme editor with the "
                       "app embed selected"})


class TodaySchema(Schema):
    sent = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    read = fields.Integer(required=True)
    clicked = fields.Integer(required=True, metadata={"description": "messages clicked (first click of each)"})
    orders = fields.Integer(required=True, metadata={"description": "attributed orders, not cancelled"})
    revenue = fields.String(required=True, metadata={"description": "decimal string in `currency`"})
    currency = fields.String(allow_none=True, metadata={"description": "ISO 4217; null before any order"})


class HomeSchema(Schema):
    checklist = fields.List(fields.Nested(ChecklistItemSchema), required=True)
    today = fields.Nested(TodaySchema, required=True, metadata={"description": "today in the shop's time zone"})


class TestMessageBodySchema(Schema):
    phone = fields.String(required=True, validate=validate.Length(min=1, max=32),
                          metadata={"description": "the admin's own phone, E.164 or national"})


class TestMessageAnswerSchema(Schema):
    message_id = fields.Integer(required=True, metadata={"description": "the outbox message's id"})


class DashboardQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a cache-busting parameter is no error

    days = fields.Integer(load_default=7, validate=validate.OneOf(PERIODS),
                          metadata={"description": "7, 30 or 90: the period, today included"})
    automation = fields.String(load_default=None, validate=validate.Length(min=1, max=50),
                               metadata={"description": "one automation only (its name); all when absent"})


class SeriesPointSchema(Schema):
    date = fields.String(required=True, metadata={"description": "YYYY-MM-DD in the shop's time zone"})
    automation = fields.String(required=True)
    sent = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    read = fields.Integer(required=True)
    clicked = fields.Integer(required=True)
    orders = fields.Integer(required=True)
    revenue = fields.String(required=True)
    cost = fields.String(required=True, metadata={"description": "estimated, in `cost.currency`"})


_REVENUE_PER_COST = ("revenue per unit of cost (per euro spent, for a shop and a card in euros); null when "
                     "nothing was spent or the shop's currency is not the card's")


class PeriodTotalsSchema(Schema):
    sent = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    read = fields.Integer(required=True)
    clicked = fields.Integer(required=True)
    orders = fields.Integer(required=True)
    revenue = fields.String(required=True)
    recipients = fields.Integer(required=True, metadata={"description": "messages delivered"})
    revenue_per_recipient = fields.String(required=True)
    cost = fields.String(required=True, metadata={"description": "estimated cost of the messages sent"})
    revenue_per_cost = fields.String(allow_none=True, metadata={"description": _REVENUE_PER_COST})


class AutomationTotalsSchema(PeriodTotalsSchema):
    automation = fields.String(required=True)


class CostSourceSchema(Schema):
    currency = fields.String(required=True, metadata={"description": "ISO 4217 of every cost figure"})
    version = fields.String(required=True, metadata={"description": "the rate card's version"})
    as_of = fields.String(required=True, metadata={"description": "when the card's figures were read"})
    source = fields.String(required=True, metadata={"description": "where Meta publishes its prices"})
    estimate = fields.Boolean(required=True, metadata={"description": "always shown as an estimate"})


class OptinPointSchema(Schema):
    date = fields.String(required=True)
    source = fields.String(required=True, metadata={"description": "widget_popup, checkout_checkbox, keyword, …"})
    count = fields.Integer(required=True)


class OptoutPointSchema(Schema):
    date = fields.String(required=True)
    count = fields.Integer(required=True)


class DeferredPointSchema(Schema):
    date = fields.String(required=True)
    reason = fields.String(required=True, metadata={"description": "quiet_hours, frequency_cap, messaging_limit, …"})
    count = fields.Integer(required=True)


class FailedPointSchema(Schema):
    date = fields.String(required=True)
    error = fields.String(required=True, metadata={"description": "error:<Cloud API code>, retries_exhausted"})
    count = fields.Integer(required=True)


class DashboardSchema(Schema):
    days = fields.Integer(required=True)
    time_zone = fields.String(required=True)
    currency = fields.String(allow_none=True)
    automations = fields.List(fields.String(), required=True,
                              metadata={"description": "every automation with figures in either period"})
    series = fields.List(fields.Nested(SeriesPointSchema), required=True,
                         metadata={"description": "one point per day and automation, zeros included"})
    totals = fields.Nested(PeriodTotalsSchema, required=True)
    previous = fields.Nested(PeriodTotalsSchema, required=True, metadata={"description": "the period before"})
    by_automation = fields.List(fields.Nested(AutomationTotalsSchema), required=True,
                                metadata={"description": "the period's totals per automation: cost beside revenue"})
    cost = fields.Nested(CostSourceSchema, required=True, metadata={"description": "what the cost figures are"})
    optins = fields.List(fields.Nested(OptinPointSchema), required=True)
    optouts = fields.List(fields.Nested(OptoutPointSchema), required=True)
    deferred = fields.List(fields.Nested(DeferredPointSchema), required=True)
    failed = fields.List(fields.Nested(FailedPointSchema), required=True)


# --- routes -----------------------------------------------------------------------------------


@bp.get("/home")
@documented(summary="The onboarding checklist and today's numbers", response=HomeSchema, tag="dashboard")
@session_required
def home():
    """The checklist (WhatsApp number, templates, the storefront widget, a test message) and today's figures, today
    being the shop's calendar day in its time zone."""
    shop: Shop = g.shop
    today = rollups.today(shop)
    currency = _currency(shop, today, today)
    figures = _totals(rollups.funnel_totals(db.session, shop.id, {"today": (today, today)}, currency)["today"])
    return {"checklist": [_whatsapp_item(shop), _templates_item(shop), _widget_item(shop), _test_message_item(shop)],
            "today": {**{name: figures[name] for name in FUNNEL}, "revenue": figures["revenue"],
                      "currency": currency}}


@bp.post("/test-message")
@documented(summary="Send a test message to the admin's own phone", body=TestMessageBodySchema,
            response=TestMessageAnswerSchema, status=202, errors=(400, 422), tag="dashboard")
@session_required
def test_message():
    """Queues the ``test_message`` template (UTILITY) through the outbox to ``phone``: 202 with
    the message's id. The phone is taken as consent to this transactional message. Asking
    again within the same minute answers the same message."""
    shop: Shop = g.shop
    try:
        body = TestMessageBodySchema().load(storable_json_object(request.get_data()))
    except ValidationError as error:
        return jsonify(errors=error.messages), 422
    try:
        phone = normalise(body["phone"], shop.country)
    except InvalidPhoneError as error:
        return jsonify(errors={"phone": [str(error) or "not a phone number"]}), 422
    contact = contact_for(shop, Customer(phone=phone.e164, country=phone.country),
                          transactional_source="admin_test_message")
    if contact is None:  # normalised above, so contact_for takes it; kept for the type checker
        return jsonify(errors={"phone": ["not a phone number"]}), 422
    queued = queue_template(shop=shop, contact=contact, automation=TEST_AUTOMATION, template=TEST_TEMPLATE,
                            key=f"admin-test:{contact.id}:{int(time.time() // 60)}",
                            params={"shop_name": shop.name or shop.domain})
    if queued.is_new:
        rollups.count(db.session, shop.id, queued.message.created_at, rollups.TEST_REQUESTED,
                      automation=TEST_AUTOMATION)
        db.session.commit()
    log.info("admin.test_message_queued", extra={"shop_id": shop.id, "message_id": queued.message.id,
                                                  "new": queued.is_new})
    return jsonify(message_id=queued.message.id), 202


@bp.get("/dashboard")
@documented(summary="Daily figures per automation for 7, 30 or 90 days, with the period before",
            query=DashboardQuerySchema, response=DashboardSchema, errors=(422,), tag="dashboard")
@session_required
def dashboard():
    """Per automation and day: sent, delivered, read, clicked, orders, revenue; the period's
    totals beside the previous period's; opt-ins by source, opt-outs, deferrals by reason and
    failures by error. Days are the shop's time zone's."""
    shop: Shop = g.shop
    try:
        query = DashboardQuerySchema().load({k: v for k, v in request.args.items() if v != ""})
    except ValidationError as error:
        return jsonify(errors=error.messages), 422
    days, only = query["days"], query["automation"]
    last = rollups.today(shop)
    first = last - timedelta(days=days - 1)
    before_first, before_last = first - timedelta(days=days), first - timedelta(days=1)
    currency = _currency(shop, before_first, last)
    automations = rollups.automations_between(db.session, shop.id, before_first, last)
    session, shop_id = db.session, shop.id
    periods = {"current": (first, last), "previous": (before_first, before_last)}
    card = costs.load_rate_card()
    in_card = {"cost_currency": card.currency}
    comparable = currency == card.currency
    totals = rollups.funnel_totals(session, shop_id, periods, currency, automation=only, **in_card)
    lists = rollups.breakdowns(session, shop_id, first, last, automation=only)
    per_automation = rollups.funnel_by_automation(session, shop_id, first, last, currency, automation=only, **in_card)
    return {
        "days": days, "time_zone": shop.time_zone, "currency": currency, "automations": automations,
        "series": _series(rollups.funnel_by_day(session, shop_id, first, last, currency, automation=only,
                                                **in_card),
                          first, days, [only] if only else automations),
        "totals": _totals(totals["current"], with_recipients=True, comparable=comparable),
        "previous": _totals(totals["previous"], with_recipients=True, comparable=comparable),
        "by_automation": [{"automation": row.automation,
                           **_totals(row, with_recipients=True, comparable=comparable)} for row in per_automation],
        "cost": card.describe(),
        "optins": _breakdown(lists[rollups.OPTINS], "source"),
        "optouts": [{"date": day, "count": n} for day, n in _by_day(lists[rollups.OPTOUTS])],
        "deferred": _breakdown(lists[rollups.DEFERRED], "reason"),
        "failed": _breakdown(lists[rollups.FAILED], "error"),
    }


# --- shaping the rows -------------------------------------------------------------------------


def _currency(shop: Shop, first: date, last: date) -> str | None:
    """The shop's currency; before the store told us, the one most of its orders are in."""
    return shop.currency or rollups.main_currency(db.session, shop.id, first, last)


def _money(value: Any) -> str:
    return str(Decimal(value or 0).quantize(CENT))


def _cost(value: Any) -> str:
    return str(Decimal(value or 0).quantize(COST_UNIT))


def _totals(row, *, with_recipients: bool = False, comparable: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {name: int(getattr(row, name)) for name in FUNNEL}
    answer["revenue"] = _money(row.revenue)
    if with_recipients:
        recipients = answer["delivered"]
        answer["recipients"] = recipients
        answer["revenue_per_recipient"] = _money(Decimal(row.revenue or 0) / recipients if recipients else 0)
        spent = Decimal(row.cost or 0)
        answer["cost"] = _cost(spent)
        answer["revenue_per_cost"] = _money(Decimal(row.revenue or 0) / spent) if comparable and spent > 0 else None
    return answer


def _series(rows, first: date, days: int, automations: list[str]) -> list[dict[str, Any]]:
    """One point per day and automation, zeros where nothing happened."""
    found = {(r.day, r.automation): r for r in rows}
    zero = {name: 0 for name in FUNNEL}
    points = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        label = day.isoformat()
        for automation in automations:
            r = found.get((day, automation))
            figures = {name: int(getattr(r, name)) for name in FUNNEL} if r is not None else zero
            points.append({"date": label, "automation": automation, **figures,
                           "revenue": _money(r.revenue) if r is not None else "0.00",
                           "cost": _cost(r.cost) if r is not None else _cost(0)})
    return points


def _by_day(rows) -> list[tuple[str, int]]:
    summed: dict[date, int] = defaultdict(int)
    for r in rows:
        summed[r.day] += int(r.count)
    return [(day.isoformat(), n) for day, n in sorted(summed.items()) if n]


def _breakdown(rows, name: str) -> list[dict[str, Any]]:
    return [{"date": r.day.isoformat(), name: r.dimension, "count": int(r.count)} for r in rows if r.count]


# --- the checklist ----------------------------------------------------------------------------


def _whatsapp_item(shop: Shop) -> dict[str, Any]:
    account = shop.whatsapp
    if account is None:
        return {"key": "whatsapp_connected", "done": False, "detail": "no WhatsApp number connected yet"}
    return {"key": "whatsapp_connected", "done": True,
            "detail": f"number {account.display_phone_number or account.phone_number_id}"}


def _templates_item(shop: Shop) -> dict[str, Any]:
    statuses = list(db.session.scalars(select(TemplateApproval.status).where(TemplateApproval.shop_id == shop.id)))
    if not statuses:
        return {"key": "templates_approved", "done": False, "detail": "templates not synced yet"}
    approved = sum(1 for s in statuses if s == "APPROVED")
    rejected = sum(1 for s in statuses if s == "REJECTED")
    detail = f"{approved} of {len(statuses)} approved" + (f", {rejected} rejected" if rejected else "")
    return {"key": "templates_approved", "done": approved == len(statuses), "detail": detail}


#: the theme app extension's app embed block (extensions/whatsapp-widget/blocks/app-embed.liquid)
APP_EMBED_HANDLE = "app-embed"


def _widget_item(shop: Shop) -> dict[str, Any]:
    widget = shop_settings.effective(shop)["storefront"]
    link = _theme_editor_link(shop)
    if not widget["enabled"]:
        return {"key": "storefront_widget", "done": False, "detail": "the storefront widget is switched off",
                "link": link}
    parts = [name for name, on in (("chat button", widget["chat_button"]["enabled"]),
                                   ("opt-in popup", widget["popup"]["enabled"])) if on]
    return {"key": "storefront_widget", "done": True, "detail": "on: " + (", ".join(parts) or "no element shown"),
            "link": link}


def _theme_editor_link(shop: Shop) -> str | None:
    """Shopify's theme editor with the app embed selected, for the admin to switch it on in the
    theme (app embeds are off until the merchant saves them there); None elsewhere: the
    WordPress plugin loads the widget by itself."""
    api_key = settings().shopify_api_key
    if not (api_key and platform_of(shop).theme_editor):
        return None
    return (f"https://{shop.domain}/admin/themes/current/editor?context=apps"
            f"&activateAppId={api_key}/{APP_EMBED_HANDLE}")


def _test_message_item(shop: Shop) -> dict[str, Any]:
    if not rollups.ever(db.session, shop.id, TEST_AUTOMATION, rollups.TEST_REQUESTED):
        return {"key": "test_message", "done": False, "detail": "send a test message to your own phone"}
    for metric, detail in ((rollups.READ, "read"), (rollups.DELIVERED, "delivered"), (rollups.FAILED, "failed"),
                           (rollups.SENT, "sent")):
        if rollups.ever(db.session, shop.id, TEST_AUTOMATION, metric):
            return {"key": "test_message", "done": True, "detail": detail}
    return {"key": "test_message", "done": True, "detail": "queued"}
