"""The outbox: every WhatsApp message is a row here before anything is sent.

``queue_message`` writes the row under its idempotency key (``cart:123:step:2``,
``order:456:confirmation``); a second call with the same key returns the first row, so a
duplicate webhook, a retried job or a double click cannot produce a second message.
After the commit it wakes the shop's dispatcher.

``queue_messages`` does the same for many messages at once: one multi-row INSERT per
1,000 rows, one commit, one wake-up per shop and second. ``queue_message`` is that with
one item. Inside a ``connector.dbutil.held_transaction`` (a webhook receipt being applied)
neither commits: the rows join the caller's transaction and the wake-ups follow its commit.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from connector import receipt_notes
from connector.dbutil import copy_rows_ignoring, insert_rows_ignoring, is_held, when_committed
from connector.extensions import db
from connector.models import Contact, Message, MessageKind, MessageStatus, Purpose, Shop, utcnow
from connector.wakeups import kick_dispatcher, kick_dispatchers_at
from integrations.whatsapp import payloads

log = logging.getLogger(__name__)

#: rows per INSERT statement (and per ``IN (…)`` when existing rows are read back)
CHUNK_ROWS = 1000
CONFLICT = ("shop_id", "idempotency_key")


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """The outbox row that holds the key; ``is_new`` when this call wrote it."""
    message: Message
    is_new: bool


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One message for ``queue_messages``: the arguments of ``queue_message``."""
    shop: Shop
    contact: Contact
    idempotency_key: str
    automation: str
    purpose: Purpose | str
    kind: MessageKind | str
    content: dict[str, Any]
    template_name: str | None = None
    language: str | None = None
    due_at: datetime | None = None


def queue_message(
    *,
    shop: Shop,
    contact: Contact,
    idempotency_key: str,
    automation: str,
    purpose: Purpose | str,
    kind: MessageKind | str,
    content: dict[str, Any],
    template_name: str | None = None,
    language: str | None = None,
    due_at: datetime | None = None,
) -> QueuedMessage:
    """Write the message to the outbox (once per key), commit, and wake the dispatcher."""
    return queue_messages([OutboxItem(shop=shop, contact=contact, idempotency_key=idempotency_key,
                                      automation=automation, purpose=purpose, kind=kind, content=content,
                                      template_name=template_name, language=language, due_at=due_at)])[0]


def queue_messages(items: Iterable[OutboxItem]) -> list[QueuedMessage]:
    """Write the messages to the outbox (once per shop and key) in one commit; wake the dispatchers.

    Returns one ``QueuedMessage`` per item, in order. A key already in the outbox, or
    repeated within ``items``, returns the row that holds it, with ``is_new`` False, and
    wakes nothing. Every item is checked before anything is written: a contact of another
    shop or content that cannot become a Cloud API body raises ``ValueError`` and nothing
    of the batch is written.
    """
    now = utcnow()
    rows = [_row(item, now) for item in items]
    if not rows:
        return []
    # the first occurrence of a key is the one written; later ones are duplicates of it
    first_of: dict[tuple[int, str], int] = {}
    for index, row in enumerate(rows):
        first_of.setdefault((row["shop_id"], row["idempotency_key"]), index)
    unique_rows = [rows[index] for index in first_of.values()]
    session, table = db.session, cast(Table, Message.__table__)
    new_ids: dict[tuple[int, str], int] = {}
    held = is_held(session)
    try:
        session.flush()  # the caller's pending rows (a contact just created) first, as an ORM insert would
        # in the caller's transaction, a batch of several statements is all or nothing by a savepoint
        with session.begin_nested() if held and len(unique_rows) > CHUNK_ROWS else nullcontext():
            for message_id, shop_id, key in insert_rows_ignoring(session, table, unique_rows, CONFLICT,
                                                                 ("id", "shop_id", "idempotency_key"), CHUNK_ROWS):
                new_ids[(shop_id, key)] = message_id
        if not held:
            session.commit()
    except BaseException:
        if not held:
            session.rollback()  # no half-written batch, even if the caller carries on
        raise

    messages = {key: _attach(session, rows[first_of[key]], message_id) for key, message_id in new_ids.items()}
    messages.update(_existing(session, [key for key in first_of if key not in new_ids]))
    results = []
    for index, row in enumerate(rows):
        key = (row["shop_id"], row["idempotency_key"])
        results.append(QueuedMessage(messages[key], first_of[key] == index and key in new_ids))
    _log(rows, results)
    when_committed(session, lambda: _wake(rows, results, now))  # a dispatcher woken must find the rows
    fresh = sum(1 for queued in results if queued.is_new)
    receipt_notes.queued(fresh)
    if fresh < len(results):
        receipt_notes.note(receipt_notes.ALREADY_QUEUED)
    return results


def _row(item: OutboxItem, now: datetime) -> dict[str, Any]:
    """The item's column values, checked; ids read now, before the commit expires them."""
    shop_id, contact = item.shop.id, item.contact
    if contact.shop_id != shop_id:
        raise ValueError("contact belongs to another shop")
    purpose, kind = Purpose(item.purpose), MessageKind(item.kind)
    # Fail now, not in the sender: content that cannot become a Cloud API body is a bug.
    payloads.message_payload(to=contact.phone_e164 or "", kind=kind, content=item.content,
                             template_name=item.template_name, language=item.language)
    due_at = item.due_at or now
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    return {
        "shop_id": shop_id,
        "contact_id": contact.id,
        "idempotency_key": item.idempotency_key,
        "automation": item.automation,
        "purpose": purpose.value,
        "kind": kind.value,
        "template_name": item.template_name,
        "language": item.language,
        "content": item.content,
        "status": MessageStatus.QUEUED.value,
        "attempts": 0,
        "deferrals": 0,
        "priority": 1 if purpose == Purpose.MARKETING else 0,
        "due_at": due_at.astimezone(timezone.utc),  # as the column reads it back
        "counts_toward_tier": False,
        "created_at": now,
        "updated_at": now,
    }


_WRITTEN = {"id", "shop_id", "contact_id", "idempotency_key", "automation", "purpose", "kind", "template_name",
            "language", "content", "status", "attempts", "deferrals", "priority", "due_at", "counts_toward_tier",
            "created_at", "updated_at"}
#: the columns a new row leaves empty (NULL, no default): set on the returned object, so reading
#: one costs no query; a column with a default is left unloaded and read when first used
_EMPTY_COLUMNS = {column.key: None for column in Message.__table__.columns
                  if column.key not in _WRITTEN and column.default is None and column.server_default is None}


def _attach(session, row: dict[str, Any], message_id: int) -> Message:
    """The new row as a loaded ``Message`` in the session, built from what was inserted
    (RETURNING gave the id), instead of reading it back."""
    existing = session.identity_map.get(identity_key(Message, message_id))
    if existing is not None:  # an object left from a deleted row whose id the database reused
        return session.get(Message, message_id, populate_existing=True)
    message = Message(id=message_id, **row, **_EMPTY_COLUMNS)
    make_transient_to_detached(message)  # what is set counts as loaded, not as a change to flush
    session.add(message)
    return message


def _existing(session, keys: list[tuple[int, str]]) -> dict[tuple[int, str], Message]:
    """The rows that already held these keys, read after the commit (a concurrent writer's too)."""
    by_shop: dict[int, list[str]] = defaultdict(list)
    for shop_id, key in keys:
        by_shop[shop_id].append(key)
    found: dict[tuple[int, str], Message] = {}
    for shop_id, shop_keys in by_shop.items():
        for start in range(0, len(shop_keys), CHUNK_ROWS):
            chunk = shop_keys[start:start + CHUNK_ROWS]
            for message in session.scalars(select(Message).where(Message.shop_id == shop_id,
                                                                 Message.idempotency_key.in_(chunk))):
                found[(shop_id, message.idempotency_key)] = message
    missing = [key for key in keys if key not in found]
    if missing:  # deleted between the INSERT and this read
        raise LookupError(f"outbox rows vanished after their insert was skipped: {len(missing)}")
    return found


def _log(rows: list[dict[str, Any]], results: list[QueuedMessage]) -> None:
    """One line per message for a small batch; one line per shop and outcome for a big one."""
    groups: dict[tuple[int, bool], list[int]] = defaultdict(list)
    for index, queued in enumerate(results):
        groups[(rows[index]["shop_id"], queued.is_new)].append(index)
    for (shop_id, is_new), indexes in groups.items():
        event = "outbox.queued" if is_new else "outbox.duplicate"
        if len(indexes) == 1:
            index = indexes[0]
            log.info(event, extra={"shop_id": shop_id, "message_id": results[index].message.id,
                                   "automation": rows[index]["automation"]})
        else:
            automations = ",".join(sorted({rows[index]["automation"] for index in indexes}))
            log.info(event, extra={"shop_id": shop_id, "count": len(indexes), "automation": automations})


def _wake(rows: list[dict[str, Any]], results: list[QueuedMessage], now: datetime) -> None:
    """Wake each shop's dispatcher now for its due rows, and once per whole second of the later ones."""
    due_now: dict[int, None] = {}
    later: dict[tuple[int, int], datetime] = {}
    for row, queued in zip(rows, results, strict=True):
        if not queued.is_new:
            continue
        due_at = row["due_at"]
        if due_at > now:
            # the wake-up's job id is per shop and second (see kick_dispatcher): one per pair
            later.setdefault((row["shop_id"], math.ceil(due_at.timestamp())), due_at)
        else:
            due_now[row["shop_id"]] = None
    for shop_id in due_now:
        kick_dispatcher(shop_id)
    kick_dispatchers_at((shop_id, due_at) for (shop_id, _second), due_at in sorted(later.items()))


def planned_row(*, shop_id: int, contact_id: int, idempotency_key: str, automation: str, purpose: Purpose,
                template_name: str, language: str, content: dict[str, Any], due_at: datetime, now: datetime,
                status: MessageStatus = MessageStatus.QUEUED, campaign_id: int | None = None) -> dict[str, Any]:
    """An outbox row of a template message for ``queue_planned``, built without loading anything.

    For a planner writing many rows of a few shapes: it checks one rendered message per shape
    itself (``payloads.message_payload``) instead of every row, as ``queue_messages`` does."""
    return {
        "shop_id": shop_id, "contact_id": contact_id, "idempotency_key": idempotency_key, "automation": automation,
        "purpose": purpose.value, "kind": MessageKind.TEMPLATE.value, "template_name": template_name,
        "language": language, "content": content, "status": status.value, "attempts": 0, "deferrals": 0,
        "priority": 1 if purpose == Purpose.MARKETING else 0, "due_at": due_at.astimezone(timezone.utc),
        "counts_toward_tier": False, "campaign_id": campaign_id, "created_at": now, "updated_at": now,
    }


def queue_planned(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert ``planned_row`` rows (one shop's) in the caller's transaction, once per key.

    Returns the new rows' ids by key (a key already in the outbox is skipped); after the
    caller's commit, wakes the dispatcher for the due rows and once per second of the later
    ones. Loads no ORM objects, so a planner's memory does not grow with the rows."""
    if not rows:
        return {}
    session, table = db.session, cast(Table, Message.__table__)
    new = {key: message_id for message_id, key in
           copy_rows_ignoring(session, table, rows, CONFLICT, ("id", "idempotency_key"), CHUNK_ROWS)}
    now = utcnow()
    wakeups: dict[tuple[int, int], datetime] = {}
    due_now: set[int] = set()
    for row in rows:
        if row["idempotency_key"] not in new or row["status"] != MessageStatus.QUEUED.value:
            continue
        if row["due_at"] > now:
            wakeups.setdefault((row["shop_id"], math.ceil(row["due_at"].timestamp())), row["due_at"])
        else:
            due_now.add(row["shop_id"])
    log.info("outbox.queued", extra={"shop_id": rows[0]["shop_id"], "count": len(new),
                                     "automation": rows[0]["automation"]})

    def wake() -> None:
        for shop_id in due_now:
            kick_dispatcher(shop_id)
        kick_dispatchers_at((shop_id, due_at) for (shop_id, _second), due_at in sorted(wakeups.items()))

    when_committed(session, wake)
    return new


def release_waiting(shop_id: int, contact_id: int, reason: str) -> int:
    """Make the contact's messages that wait with ``reason`` due now and wake the dispatcher
    (a YES to the opt-in releases what waited ``awaiting_consent``). Commits nothing itself."""
    now = utcnow()
    released = db.session.execute(
        update(Message).where(Message.shop_id == shop_id, Message.contact_id == contact_id,
                              Message.status == MessageStatus.QUEUED, Message.status_reason == reason)
        .values(due_at=now, updated_at=now).returning(Message.id)).scalars().all()
    if released:
        kick_dispatcher(shop_id)  # a kick before the commit only finds the rows a moment later (the sweep too)
    return len(released)
