"""Verify and parse WhatsApp Cloud API webhooks.

Pure functions: no Flask, no database, no network. The web endpoint calls
:func:`verify_signature` on the raw body, routes on :func:`phone_number_ids`, stores the
body, and a job later turns it into neutral events with :func:`parse`.

Payload shapes come from Meta's webhook reference:
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
Vendor payloads grow fields without a version bump, so parsing reads only what it needs,
tolerates anything missing or mistyped inside the envelope, and never raises on it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from connector.events import (
    Event,
    InboundMessage,
    MarketingPreferenceChanged,
    MessageError,
    MessageStatusChanged,
    MessagingLimitChanged,
    TemplateCategoryChanged,
    TemplateStatusChanged,
    UnhandledChange,
)
from integrations.coerce import as_dict as _dict
from integrations.coerce import dicts as _dicts
from integrations.coerce import id_text as _id_text
from integrations.coerce import storable
from integrations.coerce import text as _text
from integrations.whatsapp.consts import (
    HUB_CHALLENGE,
    HUB_MODE,
    HUB_VERIFY_TOKEN,
    SIGNATURE_PREFIX,
    WEBHOOK_OBJECT,
)
from integrations.whatsapp.errors import (
    SignatureInvalidError,
    SignatureMissingError,
    WhatsAppPayloadError,
)
from integrations.whatsapp.types import parse_messaging_limit

__all__ = ["answer_challenge", "parse", "phone_number_ids", "sign", "verify_signature"]

# ---------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------

_SIGNATURE_PATTERN = re.compile(re.escape(SIGNATURE_PREFIX) + r"([0-9a-fA-F]{64})")
_SUBSCRIBE = "subscribe"


def sign(raw_body: bytes, app_secret: str) -> str:
    """Return the ``X-Hub-Signature-256`` value Meta would send for ``raw_body``.

    Meta signs every webhook POST with HMAC-SHA256 of the raw body, keyed with the app
    secret: https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads
    """
    return SIGNATURE_PREFIX + _hex_digest(raw_body, app_secret)


def verify_signature(raw_body: bytes, header_value: str | None, app_secret: str) -> None:
    """Check ``X-Hub-Signature-256`` against ``raw_body``; return quietly when it matches.

    Raises :class:`SignatureMissingError` when the header is absent, empty or not
    ``sha256=<64 hex digits>``, and :class:`SignatureInvalidError` when it does not match.
    The body must be the exact bytes received: re-serialised JSON never matches.
    """
    expected = _hex_digest(raw_body, app_secret)
    match = _SIGNATURE_PATTERN.fullmatch(header_value.strip()) if header_value else None
    if match is None:
        raise SignatureMissingError("X-Hub-Signature-256 header missing or malformed")
    # Constant-time comparison, so response timing does not reveal how much matched.
    if not hmac.compare_digest(expected, match.group(1).lower()):
        raise SignatureInvalidError("X-Hub-Signature-256 does not match the body")


def answer_challenge(args: Mapping[str, str], verify_token: str) -> str | None:
    """Return ``hub.challenge`` for a valid subscription handshake, else ``None``.

    Meta's GET carries ``hub.mode=subscribe``, our ``hub.verify_token`` and a
    ``hub.challenge`` to echo as the body:
    https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
    An empty configured token never matches, so a missing setting fails closed.
    """
    token = args.get(HUB_VERIFY_TOKEN)
    challenge = args.get(HUB_CHALLENGE)
    if args.get(HUB_MODE) != _SUBSCRIBE or not verify_token or not isinstance(token, str):
        return None
    if not isinstance(challenge, str) or not challenge:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return challenge


def _hex_digest(raw_body: bytes, app_secret: str) -> str:
    if not app_secret:
        # An empty key would make every forged body "valid"; refuse instead.
        raise ValueError("app_secret must not be empty")
    return hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------
# Envelope
# ---------------------------------------------------------------------------------------


def phone_number_ids(payload: dict) -> list[str]:
    """Return the distinct ``metadata.phone_number_id`` values of an envelope, in order.

    The web endpoint uses them to find the shop before storing the body. Raises
    :class:`WhatsAppPayloadError` only when the envelope itself is wrong.
    """
    found: dict[str, None] = {}
    for change in _changes(payload):
        value = change.get("value")
        phone_number_id = _phone_number_id(value) if isinstance(value, dict) else None
        if phone_number_id:
            found[phone_number_id] = None
    return list(found)


def parse(payload: dict) -> list[Event]:
    """Turn a webhook envelope into neutral events, one per status, message or preference.

    Changes on fields we do not act on, and items too malformed to use, come back as
    :class:`UnhandledChange` so that they can be logged. Raises
    :class:`WhatsAppPayloadError` only when ``payload`` is not a dict with
    ``object == "whatsapp_business_account"`` and a list ``entry``.
    """
    events: list[Event] = []
    for entry, change in _entry_changes(payload):
        field = change.get("field")
        account_parser = _ACCOUNT_FIELD_PARSERS.get(field) if isinstance(field, str) else None
        if account_parser is not None:
            events.append(account_parser(entry, change))
            continue
        events.extend(_parse_change(change))
    return [storable(event) for event in events]


def _entry_changes(payload: dict) -> Iterator[tuple[dict, dict]]:
    """Each change with its entry (whose id is the WABA id for account-level fields)."""
    next(iter(_changes(payload)), None)  # the same envelope checks, raised before anything is read
    for entry in payload["entry"]:
        entry = entry if isinstance(entry, dict) else {}
        changes = entry.get("changes")
        for change in changes if isinstance(changes, list) else ():
            yield entry, change if isinstance(change, dict) else {}


def _changes(payload: dict) -> Iterator[dict]:
    if not isinstance(payload, dict) or payload.get("object") != WEBHOOK_OBJECT:
        raise WhatsAppPayloadError(f"not a {WEBHOOK_OBJECT} webhook")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise WhatsAppPayloadError("webhook has no entry list")
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else ():
            yield change if isinstance(change, dict) else {}


def _parse_change(change: dict) -> list[Event]:
    field = change.get("field")
    if not isinstance(field, str) or not field:
        return [_unhandled("", "field_missing")]
    parse_value = _FIELD_PARSERS.get(field)
    if parse_value is None:
        return [_unhandled(field, "field_not_handled")]
    value = change.get("value")
    if not isinstance(value, dict):
        return [_unhandled(field, "value_not_object")]
    phone_number_id = _phone_number_id(value)
    if phone_number_id is None:
        return [_unhandled(field, "phone_number_id_missing")]
    events = parse_value(value, _Context(phone_number_id, _dicts(value.get("contacts"))))
    # A known field that yields nothing is still worth a log line (Meta adds keys).
    return events or [_unhandled(field, "nothing_to_parse", value_keys=sorted(value))]


def _phone_number_id(value: dict) -> str | None:
    metadata = value.get("metadata")
    return _id_text(metadata.get("phone_number_id")) if isinstance(metadata, dict) else None


@dataclass(frozen=True, slots=True)
class _Context:
    """What every item of one change shares: the business number and the contacts block."""

    phone_number_id: str
    contacts: list[dict]

    def contact(self, phone: str | None, user_id: str | None) -> dict:
        """The ``contacts[]`` entry for this phone (``wa_id``) or BSUID (``user_id``)."""
        for contact in self.contacts:
            if (phone and contact.get("wa_id") == phone) or (user_id and contact.get("user_id") == user_id):
                return contact
        return {}


# ---------------------------------------------------------------------------------------
# field == "messages": statuses of our messages, and messages from shoppers
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status
# ---------------------------------------------------------------------------------------


#: where the user's number is: for a group message ``recipient_id`` is the group id and
#: the member's number is in ``recipient_participant_id``
_RECIPIENT_KEYS = {"group": "recipient_participant_id"}


def _parse_status(item: dict, context: _Context) -> MessageStatusChanged | None:
    wamid, status = _text(item.get("id")), _text(item.get("status"))
    occurred_at = _timestamp(item.get("timestamp"))
    if not (wamid and status and occurred_at):
        return None
    recipient_key = _RECIPIENT_KEYS.get(_text(item.get("recipient_type")) or "", "recipient_id")
    recipient_phone = _text(item.get(recipient_key))
    # The BSUID is on the status since 2026; older payloads only have it in contacts[].
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids
    recipient_user_id = _text(item.get("recipient_user_id")) or _text(
        context.contact(recipient_phone, None).get("user_id")
    )
    # pricing appears on only one of the sent/delivered webhooks, and conversation is
    # omitted from v24.0 on; neither is required.
    pricing = _dict(item.get("pricing"))
    return MessageStatusChanged(
        phone_number_id=context.phone_number_id,
        wamid=wamid,
        status=status,
        occurred_at=occurred_at,
        recipient_phone=recipient_phone,
        recipient_user_id=recipient_user_id,
        callback_data=_text(item.get("biz_opaque_callback_data")),
        errors=tuple(_message_errors(item.get("errors"))),
        pricing_category=_text(pricing.get("category")),
        pricing_type=_text(pricing.get("type")),
    )


def _message_errors(errors: object) -> Iterator[MessageError]:
    for error in _dicts(errors):
        code = error.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            yield MessageError(
                code=code,
                title=_text(error.get("title")) or "",
                message=_text(error.get("message")) or "",
                details=_text(_dict(error.get("error_data")).get("details")) or "",
            )


class _Content(NamedTuple):
    text: str | None = None
    reply_id: str | None = None
    reply_title: str | None = None


def _text_content(item: dict) -> _Content:
    return _Content(text=_text(_dict(item.get("text")).get("body")))


def _button_content(item: dict) -> _Content:
    # Quick-reply button of a template: payload is what we set when sending, text the label.
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/button
    button = _dict(item.get("button"))
    return _Content(reply_id=_text(button.get("payload")), reply_title=_text(button.get("text")))


#: interactive replies that carry ``{id, title}``; others (flows, ...) are kept without them
_INTERACTIVE_REPLY_TYPES = frozenset({"button_reply", "list_reply"})


def _interactive_content(item: dict) -> _Content:
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/interactive
    interactive = _dict(item.get("interactive"))
    reply_type = _text(interactive.get("type"))
    if reply_type not in _INTERACTIVE_REPLY_TYPES:
        return _Content()
    reply = _dict(interactive.get(reply_type))
    return _Content(reply_id=_text(reply.get("id")), reply_title=_text(reply.get("title")))


#: message ``type`` → what we read from it; any other type keeps only its name as ``kind``
_CONTENT_PARSERS: dict[str, Callable[[dict], _Content]] = {
    "text": _text_content,
    "button": _button_content,
    "interactive": _interactive_content,
}


def _parse_message(item: dict, context: _Context) -> InboundMessage | None:
    wamid, kind = _text(item.get("id")), _text(item.get("type"))
    occurred_at = _timestamp(item.get("timestamp"))
    # ``from`` is omitted for username users whose number Meta may not share; the
    # BSUID (``from_user_id``) is then the only sender id.
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids#phone-numbers
    from_phone, from_user_id = _text(item.get("from")), _text(item.get("from_user_id"))
    contact = context.contact(from_phone, from_user_id)
    user_id = from_user_id or _text(contact.get("user_id"))
    if not (wamid and kind and occurred_at and (from_phone or user_id)):
        return None
    content = _CONTENT_PARSERS[kind](item) if kind in _CONTENT_PARSERS else _Content()
    return InboundMessage(
        phone_number_id=context.phone_number_id,
        wamid=wamid,
        kind=kind,
        occurred_at=occurred_at,
        from_phone=from_phone,
        user_id=user_id,
        profile_name=_text(_dict(contact.get("profile")).get("name")),
        text=content.text,
        reply_id=content.reply_id,
        reply_title=content.reply_title,
        context_wamid=_text(_dict(item.get("context")).get("id")),
    )


def _parse_messages_value(value: dict, context: _Context) -> list[Event]:
    events = _parse_items("messages", "statuses", value, context, _parse_status)
    events += _parse_items("messages", "messages", value, context, _parse_message)
    # value.errors[] reports problems not tied to one message; keep the codes for the log.
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/errors
    errors = _dicts(value.get("errors"))
    if errors:
        codes = [error["code"] for error in errors if type(error.get("code")) is int]
        events.append(_unhandled("messages", "value_errors", codes=codes))
    return events


# ---------------------------------------------------------------------------------------
# field == "user_preferences": the shopper stopped or resumed marketing in WhatsApp
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/user_preferences
# ---------------------------------------------------------------------------------------


def _parse_user_preference(item: dict, context: _Context) -> MarketingPreferenceChanged | None:
    value, occurred_at = _text(item.get("value")), _timestamp(item.get("timestamp"))
    phone = _text(item.get("wa_id"))
    user_id = _text(item.get("user_id")) or _text(context.contact(phone, None).get("user_id"))
    if not (value and occurred_at and (phone or user_id)):
        return None
    return MarketingPreferenceChanged(
        phone_number_id=context.phone_number_id,
        value=value,
        occurred_at=occurred_at,
        phone=phone,
        user_id=user_id,
        category=_text(item.get("category")) or "marketing_messages",
    )


def _parse_user_preferences_value(value: dict, context: _Context) -> list[Event]:
    return _parse_items("user_preferences", "user_preferences", value, context, _parse_user_preference)


#: webhook ``field`` → parser of its ``value``; every other field becomes UnhandledChange
_FIELD_PARSERS: dict[str, Callable[[dict, _Context], list[Event]]] = {
    "messages": _parse_messages_value,
    "user_preferences": _parse_user_preferences_value,
}


# ---------------------------------------------------------------------------------------
# Account-level fields: the portfolio's messaging limit. They name the WABA (entry id) and
# carry no phone number metadata.
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/phone_number_quality_update
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/business_capability_update
# ---------------------------------------------------------------------------------------


def _parse_limit_change(entry: dict, change: dict) -> Event:
    field, entry_id = str(change.get("field")), _id_text(entry.get("id"))
    value = change.get("value")
    if not isinstance(value, dict):
        return _unhandled(field, "value_not_object")
    if not entry_id:
        return _unhandled(field, "waba_id_missing")
    # the portfolio's limit; current_limit / max_daily_conversation_per_phone are the
    # per-number fields Meta removes in 2026, read only when the portfolio field is absent
    limit = parse_messaging_limit(value.get("max_daily_conversations_per_business"))
    event = _text(value.get("event")) or None
    if limit is None and "old_limit" in value:  # old_limit comes only with a messaging-limit change
        limit = parse_messaging_limit(value.get("current_limit"))
    if limit is None and field == "business_capability_update":
        limit = parse_messaging_limit(value.get("max_daily_conversation_per_phone"))
    throughput = event if event and event.startswith("THROUGHPUT") else None
    if limit is None and throughput is None:
        return _unhandled(field, "nothing_to_parse", value_keys=sorted(value))
    return MessagingLimitChanged(waba_id=entry_id, source=field, known=limit is not None,
                                 limit=limit.recipients if limit else None,
                                 occurred_at=_timestamp(entry.get("time")), throughput_event=throughput)


# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/message_template_status_update
def _parse_template_status(entry: dict, change: dict) -> Event:
    field, entry_id = str(change.get("field")), _id_text(entry.get("id"))
    value = change.get("value")
    if not isinstance(value, dict):
        return _unhandled(field, "value_not_object")
    if not entry_id:
        return _unhandled(field, "waba_id_missing")
    status = _text(value.get("event"))
    if not status:
        return _unhandled(field, "nothing_to_parse", value_keys=sorted(value))
    reason = _text(value.get("reason"))
    return TemplateStatusChanged(
        waba_id=entry_id, status=status, template_id=_id_text(value.get("message_template_id")) or None,
        name=_text(value.get("message_template_name")) or None,
        language=_text(value.get("message_template_language")) or None,
        reason=None if reason in ("", "NONE") else reason)


# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/template_category_update
def _parse_template_category(entry: dict, change: dict) -> Event:
    """A completed change carries ``previous_category`` and ``new_category``; Meta's advance
    notice of an automated change carries ``correct_category`` (the category to come) and, in
    ``new_category``, the one the template keeps until ``category_update_timestamp``."""
    field, entry_id = str(change.get("field")), _id_text(entry.get("id"))
    value = change.get("value")
    if not isinstance(value, dict):
        return _unhandled(field, "value_not_object")
    if not entry_id:
        return _unhandled(field, "waba_id_missing")
    new, previous, correct = ((_text(value.get(key)) or "").upper() or None for key in
                              ("new_category", "previous_category", "correct_category"))
    template_id = _id_text(value.get("message_template_id")) or None
    name = _text(value.get("message_template_name")) or None
    if not new or not (template_id or name):
        return _unhandled(field, "nothing_to_parse", value_keys=sorted(value))
    return TemplateCategoryChanged(
        waba_id=entry_id, new_category=new, template_id=template_id, name=name,
        language=_text(value.get("message_template_language")) or None, previous_category=previous,
        correct_category=correct, impending=previous is None and correct is not None)


#: account-level webhook ``field`` → parser of the change (with its entry id)
_ACCOUNT_FIELD_PARSERS: dict[str, Callable[[dict, dict], Event]] = {
    "phone_number_quality_update": _parse_limit_change,
    "business_capability_update": _parse_limit_change,
    "message_template_status_update": _parse_template_status,
    "template_category_update": _parse_template_category,
}


# ---------------------------------------------------------------------------------------
# Small readers that never raise
# ---------------------------------------------------------------------------------------


def _parse_items(
    field: str,
    key: str,
    value: dict,
    context: _Context,
    parse_item: Callable[[dict, _Context], Event | None],
) -> list[Event]:
    events: list[Event] = []
    items = value.get(key)
    for index, item in enumerate(items if isinstance(items, list) else ()):
        event = parse_item(item, context) if isinstance(item, dict) else None
        events.append(event or _unhandled(field, "malformed_item", key=key, index=index))
    return events


def _unhandled(field: str, reason: str, **details: Any) -> UnhandledChange:
    # Details stay free of phone numbers, names and message text: they end up in logs.
    return UnhandledChange(field=field, details={"reason": reason, **details})


def _timestamp(value: object) -> datetime | None:
    """Epoch seconds (Meta sends strings, ``user_preferences`` integers) as aware UTC."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


