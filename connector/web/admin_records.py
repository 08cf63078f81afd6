"""The admin's records: contacts (search, consent history with its proof, conversation,
messages, export, forget), the outbox (filters, reasons, CSV exports), templates (catalogue,
approval per language, sync) and the automations with their message previews.

Routes under ``/admin/api``, each behind ``session_required``, declared with ``documented`` and
scoped to ``g.shop``: another shop's id answers 404 like a missing one. Query strings are
read with marshmallow schemas; a value they refuse answers 422 with marshmallow's errors.

Contacts keep the phone in E.164 in plain text (it is the address messages go to) and only a
SHA-256 of the lowercased e-mail (``connector.contacts.email_hash``). So ``?q=`` finds a phone
by any run of its digits, a name by any part of it (case-insensitive), and an e-mail only
when it is given whole (case-insensitive, by its hash); the answer's ``email`` is always
null, as the address itself is not kept.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, stream_with_context
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing, validate, validates_schema
from sqlalchemy import ColumnElement, func, or_, select

from connector import privacy, shop_settings
from connector.automations.attribution import funnel
from connector.contacts import email_hash
from connector.extensions import db
from connector.jobs.templates import enqueue_template_sync
from connector.messaging import catalogue, shop_catalogue
from connector.models import (
    ConsentEvent,
    Contact,
    InboundRecord,
    LinkClick,
    Message,
    MessageStatus,
    OrderRecord,
    Shop,
    TemplateApproval,
)
from connector.phones import InvalidPhoneError, normalise
from connector.shop_settings_schema import LATEST_STEP_SECONDS, SCHEMA, Bounds, Steps
from connector.web.admin_auth import session_required
from connector.web.apidoc import documented
from connector.web.errors import MAX_ID, is_storable_text, storable_json_object

bp = Blueprint("admin_records", __name__, url_prefix="/admin/api")

PAGE_DEFAULT = 50
PAGE_MAX = 200
#: the conversation and message lists of one contact show this many of the latest entries
CONTACT_HISTORY = 200
#: rows fetched per query while a CSV export streams
CSV_CHUNK = 500
#: a phone search needs this many significant digits (fewer match nearly everyone)
MIN_PHONE_DIGITS = 3
NOT_SUBMITTED = "NOT_SUBMITTED"
#: a template in these states has no reason to show; any other (REJECTED, PAUSED, ERROR, ...) shows Meta's
SETTLED = ("APPROVED", "PENDING")


@bp.errorhandler(ValidationError)
def _invalid(error: ValidationError):
    """A query or body value the schema refuses: 422 with marshmallow's nested errors."""
    return jsonify(errors=error.messages), 422


def _not_found(what: str):
    return jsonify(error="not_found", message=f"no such {what}"), 404


# -- query schemas -------------------------------------------------------------------------------

def _storable(value: str) -> None:
    if not is_storable_text(value):
        raise ValidationError("Holds a NUL character or an unpaired surrogate.")


class When(fields.String):
    """A point in time in a query: an ISO 8601 date-time (UTC when it names no offset) or a
    date. As ``until`` (``end_of_day``) a date means the end of that day."""

    default_error_messages = {"invalid": "Give an ISO 8601 date (2026-12-01) or date-time (2026-12-01T08:00:00Z)."}

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not 10 <= len(value.strip()) <= 40:
            raise self.make_error("invalid")
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            if self.end_of_day and len(text) == 10:
                parsed += timedelta(days=1)
        except (ValueError, OverflowError):
            raise self.make_error("invalid") from None
        return parsed.astimezone(timezone.utc)


class QuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a query string may carry what the page's router adds


class PageQuerySchema(QuerySchema):
    limit = fields.Integer(load_default=PAGE_DEFAULT, validate=validate.Range(1, PAGE_MAX),
                           metadata={"description": f"at most {PAGE_MAX}; {PAGE_DEFAULT} by default"})
    before = fields.Integer(load_default=None, validate=validate.Range(1, MAX_ID),
                            metadata={"description": "the next_before of the previous page"})


class ContactsQuerySchema(PageQuerySchema):
    q = fields.String(load_default="", validate=[validate.Length(max=100), _storable],
                      metadata={"description": "digits of the phone (any part), the whole e-mail address, or any "
                                               "part of the name; case-insensitive"})


class PeriodQuerySchema(QuerySchema):
    since = When(load_default=None, metadata={"description": "from this time (ISO 8601; a date is its midnight, UTC)"})
    until = When(load_default=None, end_of_day=True,
                 metadata={"description": "before this time (ISO 8601; a date includes that whole day)"})

    @validates_schema
    def _ordered(self, data: dict, **kwargs: Any) -> None:
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise ValidationError("Must be after since.", "until")


class MessageFilterSchema(PeriodQuerySchema):
    automation = fields.String(load_default=None, validate=[validate.Length(min=1, max=50), _storable],
                               metadata={"description": "the automation's name (order_confirmation, ...)"})
    contact_id = fields.Integer(load_default=None, validate=validate.Range(1, MAX_ID),
                                metadata={"description": "one recipient's messages"})
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in MessageStatus]),
                           metadata={"description": "queued, sending, sent, delivered, read, failed, suppressed, "
                                                    "cancelled"})


class MessagesQuerySchema(MessageFilterSchema, PageQuerySchema):
    pass


# -- body schemas --------------------------------------------------------------------------------

class ForgetSchema(Schema):
    class Meta:
        unknown = RAISE

    confirm = fields.String(required=True, validate=[validate.Length(min=1, max=40), _storable],
                            metadata={"description": "the contact's phone number, typed again"})


# -- response schemas ----------------------------------------------------------------------------

class ButtonPreviewSchema(Schema):
    type = fields.String(required=True, metadata={"description": "URL or QUICK_REPLY"})
    text = fields.String(required=True)


class MessagePreviewSchema(Schema):
    header = fields.String(allow_none=True, metadata={"description": "the header's text, if it has one"})
    header_format = fields.String(allow_none=True, metadata={"description": "TEXT, DOCUMENT, IMAGE or VIDEO"})
    body = fields.String(required=True, metadata={"description": "the body with sample values filled in"})
    footer = fields.String(allow_none=True)
    buttons = fields.List(fields.Nested(ButtonPreviewSchema), required=True)


class AutomationStepSchema(Schema):
    template = fields.String(required=True)
    delay_seconds = fields.Integer(required=True, metadata={"description": "after what ``after`` names"})
    after = fields.String(required=True, metadata={"description": "what the delay counts from"})
    previews = fields.Dict(keys=fields.String(), values=fields.Nested(MessagePreviewSchema), required=True,
                           metadata={"description": "language → the message as WhatsApp shows it"})


class AutomationViewSchema(Schema):
    name = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    settings = fields.Dict(required=True, metadata={"description": "automations.<name> of the settings"})
    steps = fields.List(fields.Nested(AutomationStepSchema), required=True)
    funnel = fields.Dict(required=True, metadata={"description": "triggered, sent, delivered, read, clicked, orders, "
                                                                 "revenue (per currency)"})


class AutomationListSchema(Schema):
    automations = fields.List(fields.Nested(AutomationViewSchema), required=True)


class TemplateLanguageSchema(Schema):
    language = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": f"Meta's status (APPROVED, PENDING, REJECTED, "
                                                                   f"PAUSED, ...), or {NOT_SUBMITTED}"})
    rejected_reason = fields.String(allow_none=True, metadata={
        "description": "why it is not approved or pending: Meta's reason (REJECTED, PAUSED) or the sync's error"})


class TemplateSchema(Schema):
    name = fields.String(required=True)
    category = fields.String(required=True, metadata={"description": "MARKETING or UTILITY"})
    source = fields.String(required=True, metadata={"description": "catalogue (ours, in every language) or shop "
                                                                    "(the shop's own: /admin/api/templates/<name>)"})
    version = fields.Integer(required=True)
    languages = fields.List(fields.Nested(TemplateLanguageSchema), required=True)


class TemplateListSchema(Schema):
    last_sync_at = fields.String(allow_none=True, metadata={"description": "ISO 8601, UTC; null: never synced"})
    templates = fields.List(fields.Nested(TemplateSchema), required=True)


class QueuedSchema(Schema):
    queued = fields.Boolean(required=True)


class ContactRowSchema(Schema):
    id = fields.Integer(required=True)
    phone = fields.String(allow_none=True, metadata={"description": "E.164; null once forgotten"})
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True, metadata={"description": "always null: contacts keep only a hash of it"})
    locale = fields.String(allow_none=True)
    marketing_consent = fields.String(required=True, metadata={"description": "none, pending, granted, revoked"})


class ContactListSchema(Schema):
    contacts = fields.List(fields.Nested(ContactRowSchema), required=True)
    next_before = fields.Integer(allow_none=True)


class ContactSchema(ContactRowSchema):
    transactional_consent = fields.String(required=True)
    country = fields.String(allow_none=True)
    time_zone = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    last_inbound_at = fields.String(allow_none=True)
    redacted_at = fields.String(allow_none=True, metadata={"description": "when the contact was forgotten"})


class ConsentEntrySchema(Schema):
    id = fields.Integer(required=True)
    at = fields.String(required=True)
    purpose = fields.String(required=True, metadata={"description": "marketing or transactional"})
    action = fields.String(required=True, metadata={"description": "the state it moved to: pending, granted, "
                                                                   "revoked, none"})
    source = fields.String(required=True)
    text = fields.String(allow_none=True, metadata={"description": "the exact text the shopper was shown"})
    evidence = fields.Dict(allow_none=True)


class ConversationEntrySchema(Schema):
    at = fields.String(required=True)
    direction = fields.String(required=True, metadata={"description": "in (from the shopper) or out"})
    kind = fields.String(required=True)
    text = fields.String(allow_none=True, metadata={"description": "null once past retention or forgotten"})


class ContactMessageSchema(Schema):
    id = fields.Integer(required=True)
    automation = fields.String(required=True)
    template = fields.String(allow_none=True)
    status = fields.String(required=True)
    reason = fields.String(allow_none=True)
    at = fields.String(required=True)


class ContactDetailSchema(Schema):
    contact = fields.Nested(ContactSchema, required=True)
    consent = fields.List(fields.Nested(ConsentEntrySchema), required=True)
    conversation = fields.List(fields.Nested(ConversationEntrySchema), required=True)
    messages = fields.List(fields.Nested(ContactMessageSchema), required=True)


class ExportRefSchema(Schema):
    id = fields.Integer(required=True)
    download = fields.String(required=True)


class ExportCreatedSchema(Schema):
    export = fields.Nested(ExportRefSchema, required=True)


class ForgottenSchema(Schema):
    forgotten = fields.Boolean(required=True)


class MessageRowSchema(Schema):
    id = fields.Integer(required=True)
    contact_id = fields.Integer(required=True)
    phone = fields.String(allow_none=True)
    automation = fields.String(required=True)
    template = fields.String(allow_none=True)
    status = fields.String(required=True)
    reason = fields.String(allow_none=True, metadata={"description": "why it waits, was suppressed or failed"})
    due_at = fields.String(required=True)
    sent_at = fields.String(allow_none=True)
    delivered_at = fields.String(allow_none=True)
    read_at = fields.String(allow_none=True)
    error = fields.String(allow_none=True, metadata={"description": "the Cloud API's code and title"})


class MessageListSchema(Schema):
    messages = fields.List(fields.Nested(MessageRowSchema), required=True)
    next_before = fields.Integer(allow_none=True)


class WhatsAppSchema(Schema):
    connected = fields.Boolean(required=True)
    phone_number_id = fields.String(allow_none=True)
    display_phone_number = fields.String(allow_none=True)
    token = fields.String(allow_none=True, metadata={"description": "masked: its first and last four characters"})
    messaging_limit = fields.Integer(allow_none=True)
    marketing_messages_onboarded = fields.Boolean(required=True, metadata={
        "description": "marketing templates go through Meta's Marketing Messages API (/marketing_messages); set with "
                       "`connector whatsapp set --marketing-messages`"})


class SettingsFieldsSchema(Schema):
    fields_ = fields.Dict(data_key="fields", required=True,
                          metadata={"description": "dotted path → type, default, minimum, maximum, description, ..."})


# -- automations ---------------------------------------------------------------------------------

#: what each automation sends and when, as its module schedules it (connector/automations/*.py)
def _steps(name: str, options: dict) -> list[tuple[str, int, str]]:
    if name == "order_confirmation":
        return [("order_confirmation", 0, f"order {options['trigger']}")]
    if name == "cod_confirmation":
        steps = [("cod_confirmation", 0, "cash-on-delivery order placed")]
        if options.get("reminder_delay_seconds"):
            steps.append(("cod_confirmation", int(options["reminder_delay_seconds"]), "cash-on-delivery order placed"))
        return steps
    if name == "shipping_updates":
        return [("shipping_shipped", 0, "shipped"), ("shipping_out_for_delivery", 0, "out for delivery"),
                ("shipping_delivered", 0, "delivered"), ("shipping_delayed", 0, "delayed or delivery attempted")]
    if name == "abandoned_cart":  # connector/automations/carts.py: _schedule, discounts.discount_for
        delays = [int(delay) for delay in options["delays_seconds"]]
        discount = (options["discount_source"] == "unique"
                    or bool(options["discount_code"] and options["discount_value"]))
        steps = []
        for step, delay in enumerate(delays, start=1):
            template = ("cart_reminder_discount" if step == len(delays) and discount
                        else "cart_reminder_1" if step == 1 else "cart_reminder_2")
            steps.append((template, delay, "checkout started"))
        return steps
    if name == "back_in_stock":
        return [("back_in_stock", 0, "product back in stock")]
    if name == "review_request":
        return [("review_rating", int(options["delay_seconds"]), "delivered")]
    if name == "repurchase_reminder":  # repurchase.py: the product's interval after its last order
        return [("repurchase_reminder", 0, "the product's interval after its last order")]
    if name == "coupon_reminder":  # coupons.py
        return [("coupon_reminder", int(options["after_days"]) * 86400, "code issued, still unused")]
    if name == "referral":  # referrals.py: the invite after a paid order, the reward after a friend's order
        steps = [("referral_invite", int(options["delay_seconds"]), "order paid")]
        if options.get("reward_percent"):
            steps.append(("referral_reward", 0, "a friend ordered with the code"))
        return steps
    if name == "post_purchase":  # connector/automations/post_purchase.py: one per order and matching rule
        return [("post_purchase_content", int(options["delay_seconds"]), options["trigger"])]
    if name == "winback":  # connector/automations/winback.py: from the sweep
        return [("winback", int(options["days"]) * 86400, "last order")]
    return []


def _samples(variant: catalogue.LanguageVariant, shop: Shop) -> dict[str, str]:
    """The template's own example values (Meta requires one per parameter), with the shop's name."""
    samples: dict[str, str] = {}
    for component in variant.components:
        if component.get("type") == "BODY":
            for item in (component.get("example") or {}).get("body_text_named_params") or ():
                samples[item["param_name"]] = item["example"]
    if "shop_name" in samples:
        samples["shop_name"] = shop.name or shop.domain
    return {name: catalogue.clean_parameter(value) for name, value in samples.items()}


def _preview(definition: catalogue.TemplateDefinition, language: str, shop: Shop) -> dict[str, Any]:
    variant = definition.variant(language)
    samples = _samples(variant, shop)
    body = catalogue.PLACEHOLDER.sub(lambda match: samples.get(match.group(1), match.group(0)), variant.body)
    return {"header": variant.header_text, "header_format": variant.header_format, "body": body,
            "footer": variant.footer,
            "buttons": [{"type": spec.type, "text": text}
                        for spec, text in zip(definition.buttons, variant.button_texts, strict=False)]}


def _automation_names() -> list[str]:
    """The automations in the settings' order; ``attribution`` is a setting, not an automation."""
    section = SCHEMA.fields["automations"]
    assert isinstance(section, fields.Nested)
    return [name for name, field in section.schema.fields.items()
            if isinstance(field, fields.Nested) and "enabled" in field.schema.fields]


@bp.get("/automations")
@documented(summary="Each automation: its switch, settings, steps with previews per language, and its funnel",
            response=AutomationListSchema, tag="automations")
@session_required
def automations():
    """Every automation with its settings, the messages its steps send (as WhatsApp shows them, in
    each language, with sample values) and its funnel."""
    shop: Shop = g.shop
    settings = shop_settings.effective(shop)["automations"]
    cat = catalogue.load_catalogue()
    funnels = {row["automation"]: {key: value for key, value in row.items() if key != "automation"}
               for row in funnel(shop.id)}
    empty = {"triggered": 0, "sent": 0, "delivered": 0, "read": 0, "clicked": 0, "orders": 0, "revenue": {}}
    answer = []
    for name in _automation_names():
        options = settings[name]
        steps = []
        for template, delay, after in _steps(name, options):
            definition = cat.get(template)
            steps.append({"template": template, "delay_seconds": delay, "after": after,
                          "previews": {language: _preview(definition, language, shop)
                                       for language in definition.languages}})
        answer.append({"name": name, "enabled": bool(options["enabled"]), "settings": options, "steps": steps,
                       "funnel": funnels.get(name, empty)})
    return {"automations": answer}


# -- templates -----------------------------------------------------------------------------------

@bp.get("/templates")
@documented(summary="The catalogue's templates and the shop's own, per language, with Meta's verdicts and "
                    "the last sync", response=TemplateListSchema, tag="templates")
@session_required
def templates():
    """Each catalogue template, then each of the shop's own, per language: Meta's status for
    this shop's WABA (or NOT_SUBMITTED), and the reason of a rejection."""
    shop_id = g.shop.id
    approvals = {(row.name, row.language): row for row in db.session.scalars(
        select(TemplateApproval).where(TemplateApproval.shop_id == shop_id))}
    last_sync = db.session.scalar(select(func.max(TemplateApproval.updated_at))
                                  .where(TemplateApproval.shop_id == shop_id))
    catalogue_names = set(catalogue.load_catalogue().names)
    answer = []
    for name, definition in shop_catalogue.templates_for(shop_id).items():
        languages = []
        for language in definition.languages:
            row = approvals.get((name, language))
            languages.append({"language": language, "status": row.status if row else NOT_SUBMITTED,
                              "rejected_reason": row.reason if row and row.status not in SETTLED else None})
        answer.append({"name": name, "category": definition.category, "languages": languages,
                       "source": "catalogue" if name in catalogue_names else "shop", "version": definition.version})
    return {"last_sync_at": _iso(last_sync), "templates": answer}


@bp.post("/templates/sync")
@documented(summary="Queue a sync of the catalogue to the shop's WhatsApp Business account", response=QueuedSchema,
            status=202, errors=(409,), tag="templates")
@session_required
def sync_templates():
    """Queues what ``connector templates sync`` does; a sync already queued or running is not
    queued twice. 409 when the shop has no WhatsApp account with a WABA id."""
    account = g.shop.whatsapp
    if account is None or not account.waba_id:
        return jsonify(error="whatsapp_not_connected", message="connect a WhatsApp Business account first"), 409
    enqueue_template_sync(g.shop.id)
    return {"queued": True}, 202


# -- contacts ------------------------------------------------------------------------------------

def _contact_row(contact: Contact) -> dict[str, Any]:
    return {"id": contact.id, "phone": contact.phone_e164, "name": contact.name, "email": None,
            "locale": contact.locale, "marketing_consent": contact.marketing_consent}


def _escape_like(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _search(shop: Shop, q: str) -> list:
    """The conditions of ``?q=``: a phone by any run of its significant digits, the name by any
    part of it, the e-mail whole (only its hash is kept)."""
    # ILIKE (not lower() LIKE) on PostgreSQL: what the trigram index on the name answers
    conditions: list[ColumnElement[bool]] = [Contact.name.ilike(f"%{_escape_like(q)}%", escape="/")]
    significant = re.sub(r"\D", "", q).lstrip("0")
    if len(significant) >= MIN_PHONE_DIGITS:
        conditions.append(Contact.phone_e164.contains(significant, autoescape=True))
        try:
            conditions.append(Contact.phone_e164 == normalise(q, shop.country).e164)
        except InvalidPhoneError:
            pass
    if "@" in q:
        conditions.append(Contact.email_hash == email_hash(q))
    return conditions


@bp.get("/contacts")
@documented(summary="Search the shop's contacts by phone, e-mail or name", query=ContactsQuerySchema,
            response=ContactListSchema, errors=(422,), tag="contacts")
@session_required
def contacts():
    """Newest first, paged by ``before``. Forgotten contacts are not listed."""
    args = ContactsQuerySchema().load(request.args.to_dict())
    query = select(Contact).where(Contact.shop_id == g.shop.id, Contact.redacted_at.is_(None))
    q = args["q"].strip()
    if q:
        query = query.where(or_(*_search(g.shop, q)))
    rows, next_before = _page(query, Contact.id, args)
    return {"contacts": [_contact_row(row[0]) for row in rows], "next_before": next_before}


def _own_contact(contact_id: int) -> Contact | None:
    if contact_id > MAX_ID:
        return None
    return db.session.scalars(select(Contact).where(Contact.id == contact_id, Contact.shop_id == g.shop.id)).first()


@bp.get("/contacts/<int:contact_id>")
@documented(summary="One contact: consent ledger with its proof, conversation, messages",
            response=ContactDetailSchema, errors=(404,), tag="contacts")
@session_required
def contact(contact_id: int):
    """The contact, every consent change with its proof (source, the exact text shown, time,
    evidence), the latest conversation both ways and the latest messages."""
    found = _own_contact(contact_id)
    if found is None:
        return _not_found("contact")
    shop_id = g.shop.id
    ledger = db.session.scalars(select(ConsentEvent).where(
        ConsentEvent.shop_id == shop_id, ConsentEvent.contact_id == found.id)
        .order_by(ConsentEvent.occurred_at, ConsentEvent.id)).all()
    inbound = db.session.scalars(select(InboundRecord).where(
        InboundRecord.shop_id == shop_id, InboundRecord.contact_id == found.id)
        .order_by(InboundRecord.received_at.desc(), InboundRecord.id.desc()).limit(CONTACT_HISTORY)).all()
    messages = db.session.scalars(select(Message).where(Message.shop_id == shop_id, Message.contact_id == found.id)
                                  .order_by(Message.id.desc()).limit(CONTACT_HISTORY)).all()
    cat = shop_catalogue.templates_for(shop_id)
    conversation = [(row.received_at, {"at": row.received_at.isoformat(), "direction": "in", "kind": row.kind,
                                       "text": row.text or row.reply_title}) for row in inbound]
    conversation += [(message.sent_at, {"at": message.sent_at.isoformat(), "direction": "out", "kind": message.kind,
                                        "text": _outbound_text(message, cat)})
                     for message in messages if message.sent_at is not None]
    conversation.sort(key=lambda pair: pair[0])
    return {
        "contact": {**_contact_row(found), "transactional_consent": found.transactional_consent,
                    "country": found.country, "time_zone": found.time_zone, "created_at": _iso(found.created_at),
                    "last_inbound_at": _iso(found.last_inbound_at), "redacted_at": _iso(found.redacted_at)},
        "consent": [{"id": entry.id, "at": entry.occurred_at.isoformat(), "purpose": entry.purpose,
                     "action": entry.state, "source": entry.source, "text": entry.text_shown,
                     "evidence": entry.evidence} for entry in ledger],
        "conversation": [entry for _, entry in conversation[-CONTACT_HISTORY:]],
        "messages": [{"id": message.id, "automation": message.automation, "template": message.template_name,
                      "status": message.status, "reason": message.status_reason,
                      "at": _iso(message.sent_at or message.due_at)} for message in messages],
    }


def _outbound_text(message: Message, cat: dict[str, catalogue.TemplateDefinition]) -> str | None:
    """What the shopper read; None when the body is gone (retention, forgetting)."""
    content = message.content or {}
    if message.kind == "text":
        return content.get("text")
    if message.kind == "document":
        return (content.get("document") or {}).get("filename")
    body = content.get("body")
    if not message.template_name or not isinstance(body, dict):
        return None
    definition = cat.get(message.template_name)
    if definition is None:
        return None
    try:
        return catalogue.preview_text(definition, message.language or catalogue.DEFAULT_LANGUAGE, body)
    except catalogue.RenderError:
        return None


@bp.post("/contacts/<int:contact_id>/export")
@documented(summary="Export everything held about the contact (download it from data-exports)",
            response=ExportCreatedSchema, status=201, errors=(404,), tag="contacts")
@session_required
def export_contact(contact_id: int):
    """The same export as a platform's data request (``connector.privacy.export_customer``),
    stored encrypted for 30 days."""
    found = _own_contact(contact_id)
    if found is None:
        return _not_found("contact")
    export = privacy.export_customer(g.shop, [found], request_ref="admin")
    db.session.commit()
    return {"export": {"id": export.id, "download": f"/admin/api/data-exports/{export.id}"}}, 201


@bp.post("/contacts/<int:contact_id>/forget")
@documented(summary="Erase the contact's personal data; the body repeats the phone to confirm",
            body=ForgetSchema, response=ForgottenSchema, errors=(400, 404, 409, 422), tag="contacts")
@session_required
def forget_contact(contact_id: int):
    """What a platform's redaction does (``connector.privacy.forget_contacts``). ``confirm`` must
    be the contact's phone (any common format); otherwise 422 and nothing is erased."""
    found = _own_contact(contact_id)
    if found is None:
        return _not_found("contact")
    body = ForgetSchema().load(storable_json_object(request.get_data()))
    if found.phone_e164 is None:
        return jsonify(error="already_forgotten", message="this contact was forgotten already"), 409
    confirmed = re.sub(r"\D", "", body["confirm"]) == found.phone_e164.lstrip("+")  # +49 151 …, 49151…
    if not confirmed:
        try:  # the national form: 0151 …
            confirmed = normalise(body["confirm"], g.shop.country or found.country).e164 == found.phone_e164
        except InvalidPhoneError:
            confirmed = False
    if not confirmed:
        raise ValidationError("Type the contact's phone number to confirm.", "confirm")
    privacy.forget_contacts(g.shop, [found], phone=found.phone_e164)
    db.session.commit()
    return {"forgotten": True}


# -- messages ------------------------------------------------------------------------------------

MESSAGE_COLUMNS = ("id", "contact_id", "phone", "automation", "template", "status", "reason", "due_at", "sent_at",
                   "delivered_at", "read_at", "error")


def _messages_query(args: dict):
    query = (select(Message, Contact.phone_e164).join(Contact, Contact.id == Message.contact_id)
             .where(Message.shop_id == g.shop.id))
    if args.get("automation"):
        query = query.where(Message.automation == args["automation"])
    if args.get("status"):
        query = query.where(Message.status == args["status"])
    if args.get("contact_id"):
        query = query.where(Message.contact_id == args["contact_id"])
    if args.get("since"):
        query = query.where(Message.created_at >= args["since"])
    if args.get("until"):
        query = query.where(Message.created_at < args["until"])
    return query


def _message_row(message: Message, phone: str | None) -> dict[str, Any]:
    error = None
    if message.error_code is not None or message.error_title:
        error = ": ".join(str(part) for part in (message.error_code, message.error_title) if part is not None)
    return {"id": message.id, "contact_id": message.contact_id, "phone": phone, "automation": message.automation,
            "template": message.template_name, "status": message.status, "reason": message.status_reason,
            "due_at": _iso(message.due_at), "sent_at": _iso(message.sent_at),
            "delivered_at": _iso(message.delivered_at), "read_at": _iso(message.read_at), "error": error}


@bp.get("/messages")
@documented(summary="The outbox, newest first, with the reason of every deferred or suppressed message",
            query=MessagesQuerySchema, response=MessageListSchema, errors=(422,), tag="messages")
@session_required
def messages():
    """Filters: ``automation``, ``status``, ``contact_id``, ``since`` and ``until`` (when the message
    was queued)."""
    args = MessagesQuerySchema().load(request.args.to_dict())
    rows, next_before = _page(_messages_query(args), Message.id, args)
    return {"messages": [_message_row(message, phone) for message, phone in rows], "next_before": next_before}


@bp.get("/messages.csv")
@documented(summary="The outbox as CSV, one row per message (the same filters)", query=MessageFilterSchema,
            content_type="text/csv", errors=(422,), tag="messages")
@session_required
def messages_csv():
    """Streamed: the file is written while it is read, a chunk of rows per query."""
    args = MessageFilterSchema().load(request.args.to_dict())
    query = _messages_query(args)

    def rows() -> Iterator[list]:
        for message, phone in _chunks(query, Message.id):
            row = _message_row(message, phone)
            yield [row[column] for column in MESSAGE_COLUMNS]

    return _csv_response("messages.csv", MESSAGE_COLUMNS, rows())


ATTRIBUTION_COLUMNS = ("order_id", "order_name", "placed_at", "currency", "total", "revenue", "cancelled_at",
                       "automation", "message_id", "template", "attribution", "click_time")


@bp.get("/attribution.csv")
@documented(summary="Orders credited to messages as CSV: order, message, click time, revenue",
            query=PeriodQuerySchema, content_type="text/csv", errors=(422,), tag="messages")
@session_required
def attribution_csv():
    """One row per attributed order placed in the period; a cancelled order's revenue is 0.
    ``click_time`` is the contact's last click on the credited message before the order."""
    args = PeriodQuerySchema().load(request.args.to_dict())
    shop_id = g.shop.id
    click_time = (select(func.max(LinkClick.clicked_at))
                  .where(LinkClick.shop_id == shop_id, LinkClick.message_id == OrderRecord.attributed_message_id,
                         LinkClick.clicked_at <= OrderRecord.placed_at)
                  .correlate(OrderRecord).scalar_subquery())
    query = (select(OrderRecord, Message.template_name, click_time.label("click_time"))
             .outerjoin(Message, (Message.id == OrderRecord.attributed_message_id) & (Message.shop_id == shop_id))
             .where(OrderRecord.shop_id == shop_id, OrderRecord.attributed_message_id.is_not(None)))
    if args.get("since"):
        query = query.where(OrderRecord.placed_at >= args["since"])
    if args.get("until"):
        query = query.where(OrderRecord.placed_at < args["until"])

    def rows() -> Iterator[list]:
        for order, template, clicked in _chunks(query, OrderRecord.id):
            revenue = "0.00" if order.cancelled_at is not None else _money(order.total)
            yield [order.order_id, order.name, _iso(order.placed_at), order.currency, _money(order.total), revenue,
                   _iso(order.cancelled_at), order.attributed_automation, order.attributed_message_id, template,
                   order.attribution, _iso(clicked)]

    return _csv_response("attribution.csv", ATTRIBUTION_COLUMNS, rows())


# -- WhatsApp and the settings' description ------------------------------------------------------

def mask_token(token: str | None) -> str | None:
    """``EAAG…••••1234``: enough to tell two tokens apart, never enough to use one."""
    if not token:
        return None
    if len(token) < 16:
        return "••••"
    return f"{token[:4]}…••••{token[-4:]}"


@bp.get("/whatsapp")
@documented(summary="The shop's WhatsApp number; the token masked", response=WhatsAppSchema, tag="settings")
@session_required
def whatsapp():
    account = g.shop.whatsapp
    if account is None:
        return {"connected": False, "phone_number_id": None, "display_phone_number": None, "token": None,
                "messaging_limit": None, "marketing_messages_onboarded": False}
    return {"connected": True, "phone_number_id": account.phone_number_id,
            "display_phone_number": account.display_phone_number, "token": mask_token(account.access_token),
            "messaging_limit": account.messaging_limit,
            "marketing_messages_onboarded": account.marketing_messages_onboarded}


@bp.get("/settings/schema")
@documented(summary="Every setting's type, default, bounds and meaning, by dotted path",
            response=SettingsFieldsSchema, tag="settings")
@session_required
def settings_schema():
    """From the typed settings model (connector/shop_settings_schema.py); the minimums are the
    ones a merchant may set."""
    described: dict[str, dict] = {}
    _describe(SCHEMA, "", described)
    return {"fields": described}


_TYPES = ((fields.Boolean, "boolean"), (fields.Integer, "integer"), (fields.Number, "number"),
          (fields.Url, "string"), (fields.Email, "string"), (fields.String, "string"), (fields.List, "array"),
          (fields.Dict, "object"), (fields.Nested, "object"))


def _describe(schema: Schema, prefix: str, described: dict[str, dict]) -> None:
    for name, field in schema.fields.items():
        path = f"{prefix}{name}"
        if isinstance(field, fields.Nested):
            if field.allow_none:  # a section that may be switched off as a whole
                described[path] = _field(field)
            _describe(field.schema, f"{path}.", described)
        else:
            described[path] = _field(field)


def _field(field: fields.Field) -> dict[str, Any]:
    default = field.load_default
    entry: dict[str, Any] = {
        "type": next((kind for base, kind in _TYPES if isinstance(field, base)), "string"),
        "default": default() if callable(default) else (None if default is missing else default),
        "nullable": bool(field.allow_none),
        "description": field.metadata.get("description"),
    }
    if isinstance(field, fields.Url):
        entry["format"] = "uri"
    elif isinstance(field, fields.Email):
        entry["format"] = "email"
    _constraints(field, entry)
    if isinstance(field, fields.List):
        entry["items"] = {"type": next((kind for base, kind in _TYPES if isinstance(field.inner, base)), "string")}
        _constraints(field.inner, entry["items"])
    if isinstance(field, fields.Dict) and field.key_field is not None:
        keys: dict[str, Any] = {}
        _constraints(field.key_field, keys)
        if "choices" in keys:
            entry["keys"] = keys["choices"]
    return entry


def _constraints(field: fields.Field, entry: dict[str, Any]) -> None:
    array = isinstance(field, fields.List)
    for validator in field.validators:
        if isinstance(validator, Bounds):
            if validator.minimum is not None:
                entry["minimum"] = validator.minimum
            if validator.maximum is not None:
                entry["maximum"] = validator.maximum
            if validator.zero_is_off:
                entry["zero_is_off"] = True
        elif isinstance(validator, Steps):
            entry.update(min_items=1, max_items=5, first_minimum=validator.first_minimum,
                         maximum=LATEST_STEP_SECONDS, increasing=True)
        elif isinstance(validator, validate.OneOf):
            entry["choices"] = list(validator.choices)
        elif isinstance(validator, validate.Length):
            if validator.max is not None:
                entry["max_items" if array else "max_length"] = validator.max
        elif isinstance(validator, validate.Regexp):
            entry["pattern"] = validator.regex.pattern


# -- helpers -------------------------------------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value) -> str | None:
    return None if value is None else f"{value:.2f}"


def _page(query, id_column, args: dict) -> tuple[list, int | None]:
    """One page, newest first: ``limit`` rows before ``before``; ``next_before`` when more follow.
    Each row's first entity carries the id."""
    if args.get("before"):
        query = query.where(id_column < args["before"])
    rows = list(db.session.execute(query.order_by(id_column.desc()).limit(args["limit"] + 1)))
    page = rows[:args["limit"]]
    return page, (page[-1][0].id if len(rows) > args["limit"] else None)


def _chunks(query, id_column) -> Iterator:
    """Every row of ``query``, newest first, fetched ``CSV_CHUNK`` at a time by keyset."""
    before = None
    while True:
        page = query if before is None else query.where(id_column < before)
        rows = db.session.execute(page.order_by(id_column.desc()).limit(CSV_CHUNK)).all()
        if not rows:
            return
        yield from rows
        before = rows[-1][0].id
        for row in rows:  # a long export must not keep every row in the session
            db.session.expunge(row[0])
        if len(rows) < CSV_CHUNK:
            return


_FORMULA = re.compile(r"^[=@\t\r]|^[+-](?!\d+$)")


def _cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text that would start a formula gets a leading ``'``
    (OWASP's CSV injection advice); a phone such as ``+4915112345678`` stays as it is."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return "" if value is None else value


def _csv_response(filename: str, columns: tuple[str, ...], rows: Iterator[list]) -> Response:
    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for count, row in enumerate(rows, start=1):
            writer.writerow([_cell(value) for value in row])
            if count % CSV_CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
