"""Sequence steps that stopped making sense while they waited: cancelled as ``superseded``.

A sequence step is an outbox row keyed ``cart:{cart_id}:step:{n}`` (the abandoned-cart
sequence, ``connector.automations.carts``, builds its keys with ``step_key``). A step the
governor deferred (frequency cap, quiet hours, tier, pair rate) can wait long enough for
the world to move on. Before the governor judges a claimed step, the dispatcher asks
``cancel_superseded``, which cancels it (reason ``superseded``) when

- its cart is no longer open: an order converted it, or a newer cart replaced it, while the
  row was claimed and so escaped the carts' own cancellation (which only touches ``queued``
  rows); or
- the next step of the same cart has overtaken it: that step was sent, or is due (its due
  time has come, or it was itself deferred, which it only is once due). The shopper gets the
  later, more relevant message, never both back to back.

Three small queries per batch, and only for batches holding marketing rows with step keys.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Protocol, cast

from sqlalchemy import Table, and_, select, update

from connector.extensions import db
from connector.models import Cart, Message, MessageStatus
from connector.models.messages import Purpose

log = logging.getLogger(__name__)

SUPERSEDED = "superseded"
_STEP_KEY = re.compile(r"cart:(\d+):step:(\d+)")
_WAITING = (MessageStatus.QUEUED, MessageStatus.SENDING)


class _Claimed(Protocol):
    """What ``cancel_superseded`` needs of a claimed row (the governor's ``Candidate`` has it)."""

    @property
    def message_id(self) -> int: ...
    @property
    def purpose(self) -> str: ...


def step_key(cart_id: int, step: int) -> str:
    """The outbox key of step ``step`` (1-based) of cart ``cart_id``'s sequence."""
    return f"cart:{cart_id}:step:{step}"


def cancel_superseded(shop_id: int, candidates: Iterable[_Claimed], now: datetime) -> set[int]:
    """Cancel the claimed (``sending``) steps that are moot; return their message ids.

    The caller commits (the dispatcher does, with its verdicts)."""
    ids = [c.message_id for c in candidates if c.purpose == Purpose.MARKETING]
    if not ids:
        return set()
    M = cast(Table, Message.__table__)
    steps: dict[int, tuple[int, int]] = {}  # message id -> (cart id, step)
    for message_id, key in db.session.execute(select(M.c.id, M.c.idempotency_key).where(
            M.c.shop_id == shop_id, M.c.id.in_(ids), M.c.idempotency_key.like("cart:%:step:%"))):
        match = _STEP_KEY.fullmatch(key)
        if match:
            steps[message_id] = (int(match[1]), int(match[2]))
    if not steps:
        return set()
    carts = dict(db.session.execute(select(Cart.id, Cart.status).where(
        Cart.shop_id == shop_id, Cart.id.in_({cart_id for cart_id, _ in steps.values()}))).tuples().all())
    # a step key without its cart row (none is made that way) is left to the governor
    steps = {message_id: step for message_id, step in steps.items() if step[0] in carts}
    if not steps:
        return set()
    next_keys = {step_key(cart_id, step + 1) for cart_id, step in steps.values()}
    overtaking = {key for key, status, due_at, deferrals, sent_at in db.session.execute(
        select(M.c.idempotency_key, M.c.status, M.c.due_at, M.c.deferrals, M.c.sent_at).where(
            M.c.shop_id == shop_id, M.c.idempotency_key.in_(next_keys)))
        if sent_at is not None or (status in _WAITING and (deferrals > 0 or _aware(due_at) <= now))}
    moot = {message_id for message_id, (cart_id, step) in steps.items()
            if carts[cart_id] != Cart.OPEN or step_key(cart_id, step + 1) in overtaking}
    if moot:
        db.session.execute(update(M).where(and_(M.c.shop_id == shop_id, M.c.id.in_(moot),
                                                M.c.status == MessageStatus.SENDING)).values(
            status=MessageStatus.CANCELLED, status_reason=SUPERSEDED, claimed_until=None, updated_at=now))
        log.info("dispatch.superseded", extra={"shop_id": shop_id, "count": len(moot)})
    return moot


def _aware(value: datetime) -> datetime:
    """UTC-aware, whatever the driver returned (SQLite gives naive datetimes)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
