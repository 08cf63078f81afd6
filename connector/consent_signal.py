"""A per-shop counter in Redis that moves whenever a contact's consent is withdrawn.

A running dispatcher has claimed a batch of rows and judged them; a STOP that arrives while
the batch is being paced out must still stop every message not yet handed to the Cloud API.
The dispatcher cannot afford a database query per send, so it watches this counter (one
Redis GET at most every ``CHECK_INTERVAL_SECONDS``) and re-reads the consent of the rows it
still holds only when the counter moved.

The counter moves *after* the commit that withdrew consent (a SQLAlchemy ``after_commit``
hook), so a dispatcher that sees it move always reads the new state.
"""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from connector.dbutil import AnySession
from connector.extensions import get_redis

log = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 0.02
_PENDING = "consent_changed_shops"


def key(shop_id: int) -> str:
    return f"connector:consent:version:{shop_id}"


def mark_changed(session: AnySession, shop_id: int) -> None:
    """Call in the transaction that withdraws a consent; the signal fires once it commits."""
    session.info.setdefault(_PENDING, set()).add(shop_id)


def current(redis, shop_id: int) -> int:
    value = redis.get(key(shop_id))
    return int(value) if value else 0


def install_hooks() -> None:
    """Listen to every session's commits and rollbacks (``create_app`` calls this; twice is a no-op)."""
    for name, hook in (("after_commit", _signal_after_commit), ("after_rollback", _forget_after_rollback)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


def _signal_after_commit(session: Session) -> None:
    shops = session.info.pop(_PENDING, None)
    if not shops:
        return
    try:
        redis = get_redis()
        for shop_id in shops:
            redis.incr(key(shop_id))
            redis.expire(key(shop_id), 7 * 24 * 3600)
    except Exception:  # the database is the truth; a dispatcher will still re-judge at its next claim
        log.warning("consent.signal_failed", exc_info=True)


def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
