"""Small value types of the WhatsApp adapter."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the Cloud API answered to an accepted send.

    ``message_status`` is ``accepted``, or for templates under pacing
    ``held_for_quality_assessment`` / ``paused`` (held messages may later fail with 132015).
    """

    wamid: str
    message_status: str = "accepted"


def parse_send_response(data: object) -> SendResult:
    """Read the wamid out of a 200 answer; raise ``ValueError`` when it is not there."""
    if not isinstance(data, dict):
        raise ValueError("send response is not a JSON object")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict) or not messages[0].get("id"):
        raise ValueError("send response carries no message id")
    first = messages[0]
    return SendResult(wamid=str(first["id"]), message_status=str(first.get("message_status") or "accepted"))


#: Meta's messaging-limit tiers: unique users reached outside a service window per moving 24 h;
#: None is "unlimited". TIER_NOT_SET (a number that never sent) says nothing and is left out.
#: https://developers.facebook.com/docs/whatsapp/messaging-limits
MESSAGING_LIMIT_TIERS: dict[str, int | None] = {
    "TIER_50": 50, "TIER_250": 250, "TIER_1K": 1000, "TIER_2K": 2000, "TIER_10K": 10000,
    "TIER_100K": 100000, "TIER_UNLIMITED": None,
}


@dataclass(frozen=True, slots=True)
class MessagingLimit:
    """A messaging limit Meta reported; ``recipients`` None means unlimited."""

    recipients: int | None


def parse_messaging_limit(value: object) -> MessagingLimit | None:
    """Read a limit in any of Meta's spellings, or None when it says nothing usable.

    The Graph field and the webhooks use tier names (``TIER_2K``); ``business_capability_update``
    also sends integers (2000, and -1 for unlimited), sometimes as strings.
    """
    if isinstance(value, str):
        text = value.strip().upper()
        if text in MESSAGING_LIMIT_TIERS:
            return MessagingLimit(MESSAGING_LIMIT_TIERS[text])
        if not text.lstrip("-").isdigit():
            return None
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if value == -1:
        return MessagingLimit(None)
    return MessagingLimit(value) if value > 0 else None
