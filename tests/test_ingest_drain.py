"""Stored webhook receipts reach their processor exactly once, whatever happens to Redis.

The web side commits a receipt and sets a kick flag; drainers claim receipts under a lease.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from connector.extensions import db, get_redis
from connector.jobs.ingest import _claim_receipts, drain_receipts
from connector.jobs.sweep import sweep
from connector.models import WebhookReceipt, utcnow
from connector.receipt_writer import settle_kicks
from connector.receipts import record_receipt
from connector.wakeups import INGEST_KICK_KEY
from tests.factories import make_shop

FIXTURE = Path(__file__).parent / "fixtures" / "payloads" / "whatsapp" / "statuses__sent.json"


def _record(shop, key: str) -> int:
    result = record_receipt(platform="whatsapp", dedupe_key=key, topic="statuses", body=FIXTURE.read_bytes(),
                                shop_id=shop.id)
    assert not result.is_duplicate
    settle_kicks()  # on PostgreSQL the kick follows the commit from the writer's kicker
    return result.receipt_id


def _receipt(receipt_id: int) -> WebhookReceipt:
    db.session.expire_all()
    return db.session.get(WebhookReceipt, receipt_id)


def test_many_receipts_share_one_queued_drainer(ctx, run_worker):
    from connector.queues import INGEST, get_queue

    shop = make_shop()
    ids = [_record(shop, f"k{i}") for i in range(5)]
    assert get_queue(INGEST).count == 1  # five webhooks, one drainer job
    run_worker()
    assert all(_receipt(i).processed_at is not None for i in ids)
    assert {_receipt(i).outcome for i in ids} == {"processed"}
    assert not get_redis().exists(INGEST_KICK_KEY)


def test_a_claimed_receipt_is_not_claimed_again_until_its_lease_ends(ctx):
    shop = make_shop()
    first = _record(shop, "a")
    assert _claim_receipts(10) == [first]
    assert _claim_receipts(10) == []  # a second drainer finds nothing to take
    db.session.execute(update(WebhookReceipt).values(claimed_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert _claim_receipts(10) == [first]  # its drainer died: the lease ran out


def test_a_lost_drainer_is_replaced_by_the_sweep(ctx, run_worker):
    shop = make_shop()
    receipt_id = _record(shop, "lost")
    get_redis().flushdb()  # Redis restarted: the queued drainer and the kick flag are gone
    run_worker()
    assert _receipt(receipt_id).processed_at is None
    db.session.execute(update(WebhookReceipt).values(received_at=utcnow() - timedelta(minutes=10)))
    db.session.commit()
    assert sweep()["receipts_waiting"] == 1
    run_worker()
    assert _receipt(receipt_id).processed_at is not None


def test_a_failing_receipt_is_held_back_and_recorded_not_lost(ctx, monkeypatch):
    from connector import routing as automations

    shop = make_shop()
    receipt_id = _record(shop, "boom")

    def explode(receipt):
        raise RuntimeError("database said no")

    monkeypatch.setitem(automations.RECEIPT_PROCESSORS, "whatsapp", explode)
    assert drain_receipts() == {"failed": 1}
    receipt = _receipt(receipt_id)
    assert receipt.processed_at is None and receipt.attempts == 1
    assert receipt.error == "RuntimeError: database said no"
    assert receipt.claimed_until > utcnow() + timedelta(seconds=4)  # backing off, not hot-looping
    assert drain_receipts() == {}

    monkeypatch.undo()
    db.session.execute(update(WebhookReceipt).values(claimed_until=None))
    db.session.commit()
    assert drain_receipts() == {"processed": 1}
    assert db.session.scalars(select(WebhookReceipt.attempts)).one() == 2


def test_a_receipt_right_after_a_kick_is_covered_by_a_trailing_kick(ctx):
    """Kicks are throttled per process; the receipts in between get one kick after them."""
    from connector.queues import INGEST, get_queue

    shop = make_shop()
    _record(shop, "first")
    assert get_redis().exists(INGEST_KICK_KEY) and get_queue(INGEST).count == 1
    # a drainer took that job and cleared the flag, then claimed; the next receipt comes 1 ms later
    get_redis().delete(INGEST_KICK_KEY)
    get_queue(INGEST).empty()
    _record(shop, "second")
    _record(shop, "third")
    assert get_redis().exists(INGEST_KICK_KEY)
    assert get_queue(INGEST).count == 1  # one drainer for both


def test_a_claim_takes_no_more_than_its_limit(ctx):
    """On PostgreSQL an UPDATE … IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) can take more than n."""
    shop = make_shop()
    for i in range(25):
        _record(shop, f"many-{i}")
    first = _claim_receipts(10)
    second = _claim_receipts(10)
    assert len(first) == 10 and len(second) == 10 and not set(first) & set(second)
    assert len(_claim_receipts(10)) == 5
