"""Why a processed store webhook led to nothing (issue 14, point 15).

While a receipt's events are applied (``connector.routing.process_store_receipt``), the steps
that decide to do nothing leave a short reason here: no usable phone number, the automation
switched off, the message already in the outbox. When the receipt queued no message at all, its
outcome becomes ``nothing:<first reason>``, which ``connector receipts --shop S`` shows, instead
of a bare ``processed``. Outside a receipt (the CLI, a job of its own) notes are not kept.
Reasons are fixed words, never personal data.
"""

from __future__ import annotations

from connector.extensions import db

NO_PHONE = "no_phone"
INVALID_PHONE = "invalid_phone"
AUTOMATION_OFF = "automation_off"
ALREADY_QUEUED = "already_queued"

_NOTES = "connector.receipt_notes"
_QUEUED = "connector.receipt_queued"
#: ``WebhookReceipt.outcome`` is 32 characters
_PREFIX = "nothing:"


def begin() -> None:
    """Start collecting for the receipt about to be applied."""
    db.session.info[_NOTES] = []
    db.session.info[_QUEUED] = 0


def note(reason: str) -> None:
    notes = db.session.info.get(_NOTES)
    if notes is not None and reason not in notes:
        notes.append(reason)


def queued(count: int = 1) -> None:
    if _QUEUED in db.session.info:
        db.session.info[_QUEUED] += count


def outcome(applied: str) -> str:
    """The receipt's outcome: ``applied``, or ``nothing:<reason>`` when it was processed, queued no
    message and something said why. Stops collecting."""
    notes = db.session.info.pop(_NOTES, None) or []
    count = db.session.info.pop(_QUEUED, 0)
    if applied == "processed" and not count and notes:
        return (_PREFIX + notes[0])[:32]
    return applied
