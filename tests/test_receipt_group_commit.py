"""Receipts of concurrent webhook requests share one INSERT and one commit (PostgreSQL).

The web process answers a webhook only once its receipt is committed; on PostgreSQL the
receipts of request threads that arrive while a write is under way are written together by
the next one (connector.receipt_writer._GroupCommitWriter, docs/adr/0006-ingest-path.md).
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from sqlalchemy import func, select

from connector import receipt_writer, receipts
from connector.extensions import db, get_redis
from connector.models import WebhookReceipt, utcnow
from connector.wakeups import INGEST_KICK_KEY
from tests.factories import make_shop


@pytest.fixture
def writer(ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the group-commit writer serves PostgreSQL (TEST_DATABASE_URL); SQLite writes each receipt alone")
    writer = receipt_writer._GroupCommitWriter(
        db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False), ctx)
    yield writer
    writer.close()


def _values(shop_id: int | None, key: str) -> tuple:
    return ("shopify", key, "orders/paid", shop_id, b'{"id": 1}', utcnow())


def _stored() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WebhookReceipt))


def _hold_first_write(writer, monkeypatch) -> tuple[threading.Event, threading.Event]:
    """The first statement waits until released, so that other requests queue up behind it."""
    entered, release = threading.Event(), threading.Event()
    original = writer._insert
    batch_sizes: list[int] = []

    def held(batch):
        batch_sizes.append(len(batch))
        if len(batch_sizes) == 1:
            entered.set()
            assert release.wait(10)
        return original(batch)

    monkeypatch.setattr(writer, "_insert", held)
    writer.batch_sizes = batch_sizes
    return entered, release


def _wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _in_threads(app, calls) -> tuple[list, list]:
    results, errors = [None] * len(calls), [None] * len(calls)

    def run(index, call):
        with app.app_context():
            try:
                results[index] = call()
            except Exception as error:  # noqa: BLE001 - the test inspects it
                errors[index] = error

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    return threads, results, errors


def test_requests_arriving_during_a_write_share_the_next_statement(app, writer, monkeypatch):
    shop_id = make_shop().id  # read here: the threads must not touch this session
    entered, release = _hold_first_write(writer, monkeypatch)
    first, first_results, _ = _in_threads(app, [lambda: writer.insert(_values(shop_id, "first"))])
    assert entered.wait(10)
    calls = [lambda i=i: writer.insert(_values(shop_id, f"k{i}")) for i in range(6)]
    threads, results, errors = _in_threads(app, calls)
    _wait_until(lambda: len(writer._pending) >= 6)  # all six are queued behind the held write
    assert _stored() == 0  # nothing is committed (or answered) before its statement is
    release.set()
    for thread in first + threads:
        thread.join(10)
    assert errors == [None] * 6
    assert writer.batch_sizes == [1, 6]  # one statement for the first, one for the six behind it
    ids = first_results + results
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 7
    assert _stored() == 7
    assert writer.settle_kicks()
    assert get_redis().exists(INGEST_KICK_KEY)  # a drainer is coming


def test_the_same_delivery_twice_in_one_batch_is_stored_once(app, writer, monkeypatch):
    shop_id = make_shop().id  # read here: the threads must not touch this session
    entered, release = _hold_first_write(writer, monkeypatch)
    first, _, _ = _in_threads(app, [lambda: writer.insert(_values(shop_id, "other"))])
    assert entered.wait(10)
    threads, results, errors = _in_threads(app, [lambda: writer.insert(_values(shop_id, "same"))] * 2)
    _wait_until(lambda: len(writer._pending) >= 2)
    release.set()
    for thread in first + threads:
        thread.join(10)
    assert errors == [None, None]
    assert sorted(results, key=lambda r: r is None)[1] is None  # one delivery, one duplicate
    assert sum(r is not None for r in results) == 1
    assert writer.insert(_values(shop_id, "same")) is None  # and a later redelivery is one too
    assert _stored() == 2


def test_a_receipt_for_a_vanished_shop_fails_alone(app, writer, monkeypatch):
    shop_id = make_shop().id  # read here: the threads must not touch this session
    entered, release = _hold_first_write(writer, monkeypatch)
    first, _, _ = _in_threads(app, [lambda: writer.insert(_values(shop_id, "before"))])
    assert entered.wait(10)
    calls = [lambda: writer.insert(_values(shop_id, "good-1")), lambda: writer.insert(_values(987654, "orphan")),
             lambda: writer.insert(_values(shop_id, "good-2"))]
    threads, results, errors = _in_threads(app, calls)
    _wait_until(lambda: len(writer._pending) >= 3)
    release.set()
    for thread in first + threads:
        thread.join(10)
    from sqlalchemy.exc import IntegrityError

    assert errors[0] is None and errors[2] is None
    assert isinstance(errors[1], IntegrityError)  # the view answers it like an unknown shop
    assert isinstance(results[0], int) and isinstance(results[2], int)
    db.session.expire_all()
    assert set(db.session.scalars(select(WebhookReceipt.dedupe_key))) == {"before", "good-1", "good-2"}


def test_many_threads_each_get_their_own_committed_receipt(app, writer):
    shop_id = make_shop().id  # read here: the threads must not touch this session
    calls = [lambda i=i: writer.insert(_values(shop_id, f"t{i}")) for i in range(40)]
    threads, results, errors = _in_threads(app, calls)
    for thread in threads:
        thread.join(20)
    assert errors == [None] * 40
    assert len(set(results)) == 40
    db.session.expire_all()
    stored = dict(db.session.execute(select(WebhookReceipt.dedupe_key, WebhookReceipt.id)).all())
    assert {stored[f"t{i}"] for i in range(40)} == set(results)
    assert [stored[f"t{i}"] for i in range(40)] == results  # each thread got its own row's id
    assert writer.receipts == 40 and 1 <= writer.batches <= 40


def test_a_lost_connection_is_replaced_and_the_batch_written(app, writer):
    shop_id = make_shop().id
    assert isinstance(writer.insert(_values(shop_id, "a")), int)
    # the server ends the session (a restart, a failover): the next write finds out and reconnects
    backend = writer._connection.info.backend_pid
    with db.engine.connect() as connection:
        assert connection.execute(db.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar()
    assert isinstance(writer.insert(_values(shop_id, "b")), int)
    assert writer._connection.info.backend_pid != backend
    writer._connection.close()  # closed on our side
    assert isinstance(writer.insert(_values(shop_id, "c")), int)
    assert _stored() == 3


def test_a_redis_outage_does_not_fail_a_durable_receipt(app, writer, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    import connector.receipt_writer

    def down():
        raise RedisConnectionError("redis is down")

    monkeypatch.setattr(connector.receipt_writer, "kick_ingest", down)
    shop_id = make_shop().id  # read here: the threads must not touch this session
    assert isinstance(writer.insert(_values(shop_id, "kept")), int)  # the sweep will drain it later
    assert _stored() == 1


def test_receipt_bodies_are_compressed_with_lz4(app, writer):
    supported = db.session.scalar(db.text(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")) or []
    if "lz4" not in supported:
        pytest.skip("this PostgreSQL server was built without lz4; the migration keeps pglz")
    shop_id = make_shop().id
    body = b'{"note": "' + b"an order body " * 400 + b'"}'  # well over the ~2 KB compression threshold
    receipt_id = writer.insert(("shopify", "big", "orders/paid", shop_id, body, utcnow()))
    method = db.session.scalar(db.text("SELECT pg_column_compression(body) FROM webhook_receipts WHERE id = :id"),
                               {"id": receipt_id})
    assert method == "lz4"
    assert db.session.get(WebhookReceipt, receipt_id).body == body


def test_a_slow_redis_does_not_hold_up_commits(app, writer, monkeypatch):
    """The kicker makes the kicks: a Redis that hangs delays the drainer, never the answers."""
    import connector.receipt_writer

    entered, release = threading.Event(), threading.Event()
    real_kick = connector.receipt_writer.kick_ingest

    def hanging_kick():
        entered.set()
        assert release.wait(10)
        real_kick()

    monkeypatch.setattr(connector.receipt_writer, "kick_ingest", hanging_kick)
    shop_id = make_shop().id
    assert isinstance(writer.insert(_values(shop_id, "one")), int)
    assert entered.wait(10)  # the kicker is stuck in Redis
    assert isinstance(writer.insert(_values(shop_id, "two")), int)  # and the next receipt commits all the same
    assert not get_redis().exists(INGEST_KICK_KEY)
    release.set()
    assert writer.settle_kicks()  # both commits are covered by a kick that started after them
    assert get_redis().exists(INGEST_KICK_KEY)
    assert _stored() == 2


def test_a_database_failure_is_receipt_not_written(app, writer, monkeypatch):
    def down(batch):
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(writer, "_insert", down)
    with pytest.raises(receipts.ReceiptNotWritten) as raised:
        writer.insert(_values(make_shop().id, "lost"))
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)


def test_a_write_that_takes_too_long_is_receipt_not_written(app, writer, monkeypatch):
    entered, release = _hold_first_write(writer, monkeypatch)
    monkeypatch.setattr(writer, "WAIT_SECONDS", 0.3)
    shop_id = make_shop().id
    with pytest.raises(receipts.ReceiptNotWritten, match="no commit within"):
        writer.insert(_values(shop_id, "slow"))  # the vendor gets a 503 and delivers it again
    release.set()
    _wait_until(lambda: writer.receipts == 1)
    assert _stored() == 1  # the statement did commit in the end: the redelivery is a duplicate
    assert writer.insert(_values(shop_id, "slow")) is None


def test_a_dead_writer_is_replaced(app, writer):
    shop_id = make_shop().id
    assert isinstance(writer.insert(_values(shop_id, "before")), int)
    first = writer._writer
    with writer._lock:
        writer._closing = True  # the writer thread returns, as if it had died
    writer._work.set()
    first.join(10)
    assert not first.is_alive()
    with writer._lock:
        writer._closing = False
    assert isinstance(writer.insert(_values(shop_id, "after")), int)
    assert writer._writer is not first and _stored() == 2


def test_a_key_longer_than_the_column_is_stored_under_a_distinct_fitted_key(ctx):
    from connector.receipts import record_receipt

    shop_id = make_shop().id
    stem = "x" * 200
    first = record_receipt(platform="shopify", dedupe_key=stem + "a", topic="orders/paid", body=b"{}",
                               shop_id=shop_id)
    second = record_receipt(platform="shopify", dedupe_key=stem + "b", topic="orders/paid", body=b"{}",
                                shop_id=shop_id)
    again = record_receipt(platform="shopify", dedupe_key=stem + "a", topic="orders/paid", body=b"{}",
                               shop_id=shop_id)
    assert not first.is_duplicate and not second.is_duplicate and again.is_duplicate
    keys = set(db.session.scalars(select(WebhookReceipt.dedupe_key)))
    assert len(keys) == 2 and all(len(key) <= 128 for key in keys)
