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
