"""Platform-neutral events.

Adapters in ``integrations/`` turn vendor payloads into these; the core (automations,
outbox, consent) only ever sees these. Each event is a frozen dataclass so that it can be
logged, compared in tests and passed between functions without anyone mutating it.

Identifiers that a vendor sends as numbers are kept as ``str`` so that ids beyond 2**53
survive (JSON numbers lose precision in JavaScript and in careless float parsing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MessageError:
    """One error Meta attached to a failed message (``statuses[].errors[]``)."""

    code: int
    title: str = ""
    message: str = ""
    details: str = ""


@dataclass(frozen=True, slots=True)
class MessageStatusChanged:
    """A delivery status of a message we sent (sent, delivered, read, failed, played)."""

    phone_number_id: str
    wamid: str
    status: str
    occurred_at: datetime
    recipient_phone: str | None = None
    recipient_user_id: str | None = None
    #: our outbox message id, echoed back by Meta in ``biz_opaque_callback_data``
    callback_data: str | None = None
    errors: tuple[MessageError, ...] = ()
    pricing_category: str | None = None
    pricing_type: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a shopper sent to the shop's WhatsApp number.

    ``kind`` is ``text``, ``button`` (template quick reply), ``interactive`` (button or list
    reply) or the vendor's type name for anything else (image, location, ...), which the
    core keeps but does not interpret. ``from_phone`` may be ``None`` for users who message
    with a username only; ``user_id`` is then the business-scoped user id (BSUID).
    """

    phone_number_id: str
    wamid: str
    kind: str
    occurred_at: datetime
    from_phone: str | None = None
    user_id: str | None = None
    profile_name: str | None = None
    text: str | None = None
    #: payload of a template quick-reply button, or id of an interactive reply
    reply_id: str | None = None
    reply_title: str | None = None
    #: the wamid of our message this one answers (``context.id``)
    context_wamid: str | None = None


@dataclass(frozen=True, slots=True)
class MarketingPreferenceChanged:
    """The shopper stopped or resumed marketing messages from WhatsApp's own controls."""

    phone_number_id: str
    value: str  # "stop" | "resume" | anything newer Meta adds
    occurred_at: datetime
    phone: str | None = None
    user_id: str | None = None
    category: str = "marketing_messages"


@dataclass(frozen=True, slots=True)
class UnhandledChange:
    """A webhook change we recognise as valid but do not act on (kept for the log)."""

    field: str
    details: dict = field(default_factory=dict)


Event = MessageStatusChanged | InboundMessage | MarketingPreferenceChanged | UnhandledChange
