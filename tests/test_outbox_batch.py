"""``queue_messages``: many outbox rows in one INSERT and one commit, with the semantics of
``queue_message`` for each (idempotent keys, checks before any write, one wake-up per shop
and second)."""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from connector.extensions import db, get_redis
from connector.messaging import outbox
from connector.messaging.outbox import OutboxItem, queue_message, queue_messages
from connector.models import Contact, Message, MessageStatus, utcnow
from connector.queues import SEND, get_queue
from connector.wakeups import kick_key
from integrations.whatsapp.payloads import PayloadError
from tests.factories import make_contact, make_shop, order_confirmation

CONFIRMATION = {"body": ["Maria", "#1001", "49,90 €"], "buttons": [{"index": 0, "url_suffix": "orders/1001"}]}
REMINDER = {"body": ["Maria"], "buttons": [{"index": 0, "url_suffix": "c/abc"}]}


def _order(shop, contact, key: str, **overrides) -> OutboxItem:
    options = dict(shop=shop, contact=contact, idempotency_key=key, automation="order_confirmation",
                   purpose="transactional", kind="template", template_name="order_confirmation", language="de",
                   content=CONFIRMATION)
    options.update(overrides)
    return OutboxItem(**options)


def _reminder(shop, contact, key: str, due_at: datetime | None = None) -> OutboxItem:
    return OutboxItem(shop=shop, contact=contact, idempotency_key=key, automation="abandoned_cart",
                      purpose="marketing", kind="template", template_name="cart_reminder", language="de",
                      content=REMINDER, due_at=due_at)


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Message))


@contextmanager
def _recorded():
    """The SQL statements and commits sent to the database meanwhile."""
    statements: list[str] = []
    commits: list[bool] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def on_commit(conn):
        commits.append(True)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    event.listen(db.engine, "commit", on_commit)
    try:
        yield statements, commits
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)
        event.remove(db.engine, "commit", on_commit)


def _inserts(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("INSERT INTO MESSAGES")]


def _nothing_woken(*shops) -> bool:
    queue = get_queue(SEND)
    return (queue.count == 0 and len(queue.scheduled_job_registry) == 0
            and not any(get_redis().exists(kick_key(shop.id)) for shop in shops))


def _two_shops():
    first = make_shop()
    second = make_shop("other-shop.myshopify.com", phone_number_id="1000002")
    return first, make_contact(first), second, make_contact(second, "+4915187654321")


def test_a_batch_across_two_shops_is_one_insert_and_one_commit_in_order(ctx, caplog):
    caplog.set_level(logging.INFO, logger="connector.messaging.outbox")
    first, first_contact, second, second_contact = _two_shops()
    items = [_order(first, first_contact, "order:1:confirmation"),
             _reminder(second, second_contact, "cart:1:step:1"),
             _order(second, second_contact, "order:2:confirmation"),
             _reminder(first, first_contact, "cart:2:step:1")]

    with _recorded() as (statements, commits):
        queued = queue_messages(items)
        # the returned rows are loaded: reading them costs no query
        seen = [(q.message.id, q.message.shop_id, q.message.status, q.message.priority, q.message.wamid)
                for q in queued]

    assert len(_inserts(statements)) == 1 and len(commits) == 1
    assert not any("FROM messages" in s for s in statements)  # no read-back of the new rows
    assert [q.is_new for q in queued] == [True] * 4
    assert [q.message.idempotency_key for q in queued] == [item.idempotency_key for item in items]
    assert [shop_id for _, shop_id, *_ in seen] == [first.id, second.id, second.id, first.id]
    assert len({message_id for message_id, *_ in seen}) == 4
    assert [(status, priority, wamid) for _, _, status, priority, wamid in seen] == [
        (MessageStatus.QUEUED, 0, None), (MessageStatus.QUEUED, 1, None), (MessageStatus.QUEUED, 0, None),
        (MessageStatus.QUEUED, 1, None)]

    # what was written is what queue_message writes
    db.session.expire_all()
    for item, result in zip(items, queued, strict=True):
        row = db.session.get(Message, result.message.id)
        assert (row.shop_id, row.contact_id, row.idempotency_key) == (item.shop.id, item.contact.id,
                                                                      item.idempotency_key)
        assert (row.automation, row.purpose, row.kind, row.template_name, row.language) == (
            item.automation, item.purpose, item.kind, item.template_name, item.language)
        assert row.content == item.content and row.status == MessageStatus.QUEUED
        assert (row.attempts, row.deferrals, row.counts_toward_tier) == (0, 0, False)
        assert row.priority == (1 if item.purpose == "marketing" else 0)
        assert row.due_at == row.created_at  # due now
    # one log line per shop for a batch, with ids and counts only
    lines = [r for r in caplog.records if r.getMessage() == "outbox.queued"]
    assert sorted((r.shop_id, r.count) for r in lines) == sorted([(first.id, 2), (second.id, 2)])


def test_a_big_batch_is_chunked_but_committed_once(ctx, monkeypatch):
    monkeypatch.setattr(outbox, "CHUNK_ROWS", 2)
    shop = make_shop()
    contact = make_contact(shop)
    items = [_order(shop, contact, f"order:{n}:confirmation") for n in range(5)]

    with _recorded() as (statements, commits):
        queued = queue_messages(items)

    assert len(_inserts(statements)) == 3 and len(commits) == 1
    assert [q.message.idempotency_key for q in queued] == [item.idempotency_key for item in items]
    assert all(q.is_new for q in queued) and _count() == 5


def test_a_batch_of_many_rows_is_written_as_given(ctx):
    """Past ``UNNEST_FROM_ROWS`` PostgreSQL gets the rows as column arrays: same rows as one by one."""
    shop = make_shop()
    contacts = [make_contact(shop, f"+49151000000{n:02d}") for n in range(3)]
    due = utcnow() + timedelta(minutes=5)
    items = []
    for n in range(30):
        contact = contacts[n % 3]
        if n % 2:
            items.append(_reminder(shop, contact, f"cart:{n}:step:1", due + timedelta(seconds=n)))
        else:
            items.append(OutboxItem(shop=shop, contact=contact, idempotency_key=f"reply:{n}", automation="auto_reply",
                                    purpose="service", kind="text", content={"text": f"Hallo {n} – ü"}))

    with _recorded() as (statements, commits):
        queued = queue_messages(items)

    assert len(_inserts(statements)) == 1 and len(commits) == 1
    db.session.expire_all()
    rows = {row.idempotency_key: row for row in db.session.scalars(select(Message))}
    assert len(rows) == 30 and [q.message.idempotency_key for q in queued] == [i.idempotency_key for i in items]
    for item, result in zip(items, queued, strict=True):
        row = rows[item.idempotency_key]
        assert row.id == result.message.id and row.contact_id == item.contact.id
        assert (row.kind, row.template_name, row.language, row.content) == (
            item.kind, item.template_name, item.language, item.content)
        assert row.due_at == (item.due_at or row.created_at)
        assert row.priority == (1 if item.purpose == "marketing" else 0)


def test_a_key_too_long_for_its_column_is_refused_not_cut(ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    shop = make_shop()
    contact = make_contact(shop)
    items = [_order(shop, contact, f"order:{n}:confirmation") for n in range(25)]
    items.append(_order(shop, contact, "order:" + "9" * 200))

    with pytest.raises(Exception, match="too long"):
        queue_messages(items)
    assert _count() == 0


def test_repeated_keys_return_the_existing_row_and_wake_nothing(ctx):
    shop = make_shop()
    contact = make_contact(shop)
    existing = order_confirmation(shop, contact, key="order:1:confirmation").message
    existing_id = existing.id
    get_redis().flushdb()

    queued = queue_messages([_order(shop, contact, "order:1:confirmation"),
                             _order(shop, contact, "order:2:confirmation"),
                             _order(shop, contact, "order:2:confirmation", content={"body": ["changed"]})])

    assert [q.is_new for q in queued] == [False, True, False]
    assert queued[0].message.id == existing_id
    assert queued[1].message is queued[2].message  # the repeat is the row its first occurrence wrote
    assert queued[2].message.content == CONFIRMATION
    assert _count() == 2

    get_redis().flushdb()
    again = queue_messages([_order(shop, contact, "order:2:confirmation"),
                            _order(shop, contact, "order:1:confirmation")])
    assert [q.is_new for q in again] == [False, False]
    assert [q.message.id for q in again] == [queued[1].message.id, existing_id]
    assert _nothing_woken(shop) and _count() == 2


def test_a_contact_of_another_shop_fails_the_whole_batch(ctx):
    first, first_contact, second, second_contact = _two_shops()

    with _recorded() as (statements, commits), pytest.raises(ValueError, match="another shop"):
        queue_messages([_order(first, first_contact, "order:1:confirmation"),
                        _order(first, second_contact, "order:2:confirmation")])

    assert not _inserts(statements) and not commits
    assert _count() == 0 and _nothing_woken(first, second)


def test_invalid_content_raises_before_anything_is_written(ctx):
    shop = make_shop()
    contact = make_contact(shop)

    with _recorded() as (statements, commits), pytest.raises(PayloadError):
        queue_messages([_order(shop, contact, "order:1:confirmation"),
                        OutboxItem(shop=shop, contact=contact, idempotency_key="reply:1", automation="auto_reply",
                                   purpose="service", kind="text", content={"text": ""})])

    assert not _inserts(statements) and not commits
    assert _count() == 0 and _nothing_woken(shop)


def test_a_failed_chunk_leaves_no_half_written_batch(ctx, monkeypatch):
    monkeypatch.setattr(outbox, "CHUNK_ROWS", 2)
    shop = make_shop()
    contact = make_contact(shop)
    # passes every check, but its contact row does not exist: the third row (second chunk) fails
    ghost = Contact(id=contact.id + 1000, shop_id=shop.id, phone_e164="+4915100000000")

    with pytest.raises(IntegrityError):  # the ghost contact's foreign key
        queue_messages([_order(shop, contact, "order:1:confirmation"),
                        _order(shop, contact, "order:2:confirmation"),
                        _order(shop, ghost, "order:3:confirmation")])

    assert _count() == 0 and _nothing_woken(shop)
    assert queue_message(**{field: getattr(_order(shop, contact, "order:1:confirmation"), field)
                            for field in OutboxItem.__dataclass_fields__}).is_new  # the session carries on


def test_one_scheduled_wakeup_per_shop_and_second_and_a_kick_for_due_rows(ctx):
    first, first_contact, second, second_contact = _two_shops()
    second_mark = math.ceil(utcnow().timestamp()) + 30
    at = lambda offset: datetime.fromtimestamp(second_mark + offset, timezone.utc)  # noqa: E731
    items = [
        _reminder(first, first_contact, "cart:1:step:1", at(-0.8)),  # first shop, second S
        _reminder(first, first_contact, "cart:1:step:2", at(-0.3)),  # first shop, second S again
        _reminder(first, first_contact, "cart:1:step:3", at(0.5)),  # first shop, second S + 1
        _reminder(second, second_contact, "cart:2:step:1", at(-0.5)),  # second shop, second S
        _order(first, first_contact, "order:1:confirmation"),  # due now
        _order(first, first_contact, "order:2:confirmation"),  # due now, same shop
        _order(second, second_contact, "order:3:confirmation"),  # due now
    ]

    queue_messages(items)

    queue = get_queue(SEND)
    assert sorted(queue.scheduled_job_registry.get_job_ids()) == sorted([
        f"dispatch-{first.id}-at-{second_mark}", f"dispatch-{first.id}-at-{second_mark + 1}",
        f"dispatch-{second.id}-at-{second_mark}"])
    scheduled = queue.scheduled_job_registry.get_scheduled_time(f"dispatch-{first.id}-at-{second_mark}")
    assert scheduled.timestamp() == second_mark
    # rows due now: one immediate dispatcher per shop
    assert sorted(job.args[0] for job in queue.jobs) == sorted([first.id, second.id])
    assert get_redis().exists(kick_key(first.id)) and get_redis().exists(kick_key(second.id))

    # more rows in seconds that already have their wake-up add none; a new second adds one
    queue_messages([_reminder(first, first_contact, "cart:3:step:1", at(-0.1)),
                    _reminder(second, second_contact, "cart:4:step:1", at(-0.9)),
                    _reminder(second, second_contact, "cart:4:step:2", at(1.5))])
    assert len(queue.scheduled_job_registry) == 4
    assert f"dispatch-{second.id}-at-{second_mark + 2}" in queue.scheduled_job_registry.get_job_ids()
    assert queue.count == 2


def test_queue_message_is_a_batch_of_one(ctx, caplog):
    caplog.set_level(logging.INFO, logger="connector.messaging.outbox")
    shop = make_shop()
    contact = make_contact(shop)
    due = utcnow() + timedelta(hours=1)

    first = order_confirmation(shop, contact, due_at=due)
    second = order_confirmation(shop, contact, due_at=due)

    assert first.is_new and not second.is_new and second.message.id == first.message.id
    assert first.message.due_at == due and first.message.status == MessageStatus.QUEUED
    queued, duplicate = (r for r in caplog.records if r.getMessage() in ("outbox.queued", "outbox.duplicate"))
    assert (queued.getMessage(), queued.message_id, queued.automation) == ("outbox.queued", first.message.id,
                                                                           "order_confirmation")
    assert (duplicate.getMessage(), duplicate.message_id) == ("outbox.duplicate", first.message.id)
    assert len(get_queue(SEND).scheduled_job_registry) == 1


def test_an_empty_batch_does_nothing(ctx):
    with _recorded() as (statements, commits):
        assert queue_messages([]) == []
    assert not statements and not commits
