"""``next_status``: statuses only move forward, whatever order Meta's webhooks arrive in."""

from __future__ import annotations

import pytest

from connector.messaging.statuses import next_status
from connector.models import MessageStatus

CHANGES = [
    # (current, incoming, expected: the new status or None for "no change")
    # sent < delivered < read, monotonic
    ("sent", "delivered", "delivered"),
    ("delivered", "read", "read"),
    ("delivered", "sent", None),
    ("read", "delivered", None),
    ("read", "sent", None),
    # read implies delivered: a read that overtakes its delivered is taken
    ("sent", "read", "read"),
    # our own states before Meta's answer
    ("sending", "sent", "sent"),
    ("sending", "delivered", "delivered"),
    ("sending", "read", "read"),
    ("queued", "sent", "sent"),
    # played (voice and video) counts as read
    ("sent", "played", "read"),
    ("delivered", "played", "read"),
    ("read", "played", None),
    # failed after sent (or before any answer) fails the message
    ("sent", "failed", "failed"),
    ("sending", "failed", "failed"),
    # failed after delivered or read changes nothing: the message did arrive
    ("delivered", "failed", None),
    ("read", "failed", None),
    ("failed", "failed", None),
    # a delivered or read after failed wins (Meta does not order its webhooks)
    ("failed", "delivered", "delivered"),
    ("failed", "read", "read"),
    ("failed", "played", "read"),
    # a late sent does not undo a failure
    ("failed", "sent", None),
    # unknown incoming statuses change nothing
    ("sent", "deleted", None),
    ("delivered", "warning", None),
    ("sent", "", None),
    ("failed", "accepted", None),
    # the same status twice changes nothing
    ("sent", "sent", None),
    ("delivered", "delivered", None),
    ("read", "read", None),
]


@pytest.mark.parametrize(("current", "incoming", "expected"), CHANGES,
                         ids=[f"{c}+{i or 'empty'}" for c, i, _ in CHANGES])
def test_next_status(current, incoming, expected):
    assert next_status(current, incoming) == expected


@pytest.mark.parametrize("current", ["sent", "delivered", "read", "failed"])
def test_next_status_accepts_the_enum_as_well_as_the_string(current):
    assert next_status(MessageStatus(current), "read") == next_status(current, "read")


def test_next_status_returns_a_message_status():
    result = next_status("sent", "delivered")
    assert isinstance(result, MessageStatus) and result is MessageStatus.DELIVERED


@pytest.mark.parametrize(
    "arrivals",
    [
        ["sent", "delivered", "read"],
        ["read", "delivered", "sent"],
        ["delivered", "sent", "read"],
        ["sent", "read", "delivered", "failed"],
        ["failed", "sent", "delivered", "read"],
        ["sent", "failed", "read", "delivered"],
    ],
)
def test_any_arrival_order_of_a_read_message_ends_at_read(arrivals):
    status = "sending"
    for incoming in arrivals:
        status = next_status(status, incoming) or status
    assert status == "read"


def test_unknown_current_status_is_rejected():
    with pytest.raises(ValueError):
        next_status("bogus", "sent")
