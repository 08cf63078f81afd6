"""Issue 13, point 11: a Shopify that does not answer holds up no receipt, and a backlog of
receipts never starves sending.

Shopify is the fake at the HTTP edge (tests/fakes/shopify.py) in its "hang" mode: calls are
accepted and never answered. Receipts go through the real endpoint and real workers.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.extensions import db, get_redis
from connector.models import Message, Shop, WebhookReceipt, WhatsAppAccount
from integrations.shopify import webhooks as shopify_webhooks
from tests.factories import make_contact, make_shop, order_confirmation

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "shopify"
ITEM = "271878346596884015"  # the inventory_levels/update sample's item
PRODUCT, VARIANT = "632910392", "808950810"


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat() if epoch else None


@pytest.fixture
def shop(ctx, fake_shopify):
    token = fake_shopify.issue_token()
    row = Shop(platform="shopify", domain=fake_shopify.shop_domain, name="Demo", settings={
        "governor": {"quiet_hours": {"enabled": False}}}, time_zone="UTC", locale="en", country="DE")
    row.credentials = {"kind": "oauth", "access_token": token.access_token, "refresh_token": token.refresh_token,
                       "expires_at": _iso(token.expires_at), "refresh_token_expires_at": _iso(token.refresh_expires_at)}
    db.session.add(row)
    db.session.flush()
    db.session.add(WhatsAppAccount(shop_id=row.id, phone_number_id="1000001", waba_id="WABA1",
                                   access_token="EAAG-test-token", throughput_per_second=80, messaging_limit=1000))
    db.session.commit()
    return row


def deliver(client, fake_shopify, fixture: str, topic: str, event_id: str):
    body = (FIXTURES / f"{fixture}.json").read_bytes()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic,
               "X-Shopify-Shop-Domain": fake_shopify.shop_domain, "X-Shopify-API-Version": "2026-07",
               "X-Shopify-Webhook-Id": f"wh-{event_id}", "X-Shopify-Event-Id": event_id,
               "X-Shopify-Triggered-At": "2026-11-24T10:00:00.000Z",
               "X-Shopify-Hmac-Sha256": shopify_webhooks.sign(body, fake_shopify.api_secret)}
    response = client.post("/webhooks/shopify", data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def _outcomes() -> dict[str, str | None]:
    db.session.expire_all()
    return {receipt.topic + ":" + receipt.dedupe_key[-6:]: receipt.outcome
            for receipt in db.session.scalars(select(WebhookReceipt).order_by(WebhookReceipt.id))}


def _start_worker(app_env: dict[str, str]) -> subprocess.Popen:
    connector = shutil.which("connector", path=os.path.dirname(sys.executable)) or "connector"
    return subprocess.Popen([connector, "worker"], env={**os.environ, **app_env, "LOG_LEVEL": "WARNING"},
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


@pytest.mark.slow
def test_13_11_unanswered_inventory_lookup_holds_up_no_receipt_and_resolves_later(
        client, shop, fake_shopify, sandbox, app_env):
    from connector.automations.back_in_stock import subscribe

    contact = make_contact(shop, "+4915112345678")
    subscribe(shop, contact, VARIANT, PRODUCT)
    fake_shopify.hang()
    deliver(client, fake_shopify, "inventory_levels_update__sample", "inventory_levels/update", "evt-stock")
    for n in range(5):
        deliver(client, fake_shopify, "orders_create__sample", "orders/create", f"evt-order-{n}")

    worker = _start_worker(app_env)
    try:
        def behind_processed() -> bool:
            db.session.expire_all()
            return db.session.scalar(select(func.count()).select_from(WebhookReceipt).where(
                WebhookReceipt.topic == "orders/create", WebhookReceipt.processed_at.is_not(None))) == 5

        # Shopify still holds the look-up open, and the receipts behind it are done
        _wait(behind_processed, 20, f"receipts behind the stock update waited for Shopify: {_outcomes()}")
        _wait(lambda: fake_shopify.hanging_calls >= 1, 20, "the look-up never asked Shopify")
        assert behind_processed(), "processed while Shopify still holds the look-up open"
        stock = db.session.scalars(
            select(WebhookReceipt).where(WebhookReceipt.topic == "inventory_levels/update")).one()
        assert stock.outcome == "lookup_pending" and stock.processed_at is not None
        assert not db.session.scalar(select(func.count()).select_from(Message).where(
            Message.automation == "back_in_stock"))

        # Shopify answers again: the look-up resolves, and the restock alert goes out
        fake_shopify.inventory_items[ITEM] = (PRODUCT, VARIANT)
        fake_shopify.answer()

        def alerted() -> bool:
            db.session.expire_all()
            return db.session.scalar(select(func.count()).select_from(Message).where(
                Message.automation == "back_in_stock")) == 1 and db.session.get(
                WebhookReceipt, stock.id).outcome == "processed"

        _wait(alerted, 45, f"the back-in-stock alert never came: {_outcomes()}")
        alert = db.session.scalars(select(Message).where(Message.automation == "back_in_stock")).one()
        _wait(lambda: any(record["callback_data"] == str(alert.id) for record in sandbox.messages()), 30,
              "the alert never reached the sandbox")
    finally:
        fake_shopify.answer()
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def test_13_11_breaker_opens_after_failures_skips_the_shop_and_closes_on_success(
        client, shop, fake_shopify, run_worker, monkeypatch):
    from connector.routing import process_store_receipt
    from connector.stores import shopify_lookups as shopify_store

    monkeypatch.setattr(shopify_store.ShopBreaker, "COOLDOWN_SECONDS", 0.5)
    fake_shopify.fail_next(503, shopify_store.ShopBreaker.FAILURES + 1)  # three to open, one in half-open
    deliver(client, fake_shopify, "inventory_levels_update__sample", "inventory_levels/update", "evt-stock")
    run_worker()  # the receipt ends pending; its look-up job meets the first 503
    breaker = shopify_store.ShopBreaker(get_redis(), shop.id)
    calls = lambda: len(fake_shopify.calls_to("/graphql.json"))  # noqa: E731

    for _ in range(shopify_store.ShopBreaker.FAILURES - 1):
        assert breaker.open_for() == 0
        shopify_store.resolve_lookups(db.session.get(Shop, shop.id), process_store_receipt)
    assert calls() == shopify_store.ShopBreaker.FAILURES
    assert breaker.open_for() > 0, "three failures in a row open the breaker"

    report = shopify_store.resolve_lookups(db.session.get(Shop, shop.id), process_store_receipt)
    assert calls() == shopify_store.ShopBreaker.FAILURES, "an open breaker skips the call"
    assert report.retry_in_seconds and report.retry_in_seconds > 0

    _wait(lambda: breaker.open_for() == 0, 10, "the cool-down never ended")
    shopify_store.resolve_lookups(db.session.get(Shop, shop.id), process_store_receipt)  # half-open: one call, it fails
    assert calls() == shopify_store.ShopBreaker.FAILURES + 1
    assert breaker.open_for() > 0, "a failure while half-open opens the breaker again at once"

    _wait(lambda: breaker.open_for() == 0, 10, "the cool-down never ended")
    fake_shopify.inventory_items[ITEM] = (PRODUCT, VARIANT)
    report = shopify_store.resolve_lookups(db.session.get(Shop, shop.id), process_store_receipt)
    assert (report.resolved, report.reapplied) == (1, 1)
    assert breaker.open_for() == 0 and not get_redis().exists(breaker._tripped), "a success closes it"
    db.session.expire_all()
    assert db.session.scalars(select(WebhookReceipt)).one().outcome == "processed"


def _procfile_queues(role: str) -> list[str]:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == role:
            words = shlex.split(command)
            return words[words.index("--queues") + 1].split(",")
    raise AssertionError(f"no {role} role in the Procfile")


def test_13_11_ingest_backlog_never_starves_sending(ctx, sandbox):
    from connector.jobs.ingest import drain_receipts
    from connector.jobs.worker import make_worker
    from connector.queues import INGEST, SEND, enqueue, get_queue

    shop = make_shop()
    body = (FIXTURES / "orders_create__sample.json").read_bytes()
    db.session.add_all([WebhookReceipt(platform="shopify", dedupe_key=f"backlog-{n}", topic="orders/create",
                                       shop_id=shop.id, body=body) for n in range(60)])
    db.session.commit()
    for _ in range(20):  # a deep ingest queue
        enqueue(drain_receipts, queue=INGEST, timeout=180)
    message = order_confirmation(shop, make_contact(shop)).message  # due now: a dispatcher is queued on send
    assert get_queue(SEND).count >= 1 and get_queue(INGEST).count >= 20

    # one worker on every queue: after one ingest job, the next comes from `send`
    make_worker(ctx).work(burst=True, max_jobs=2, with_scheduler=False, logging_level="WARNING")
    _wait(lambda: any(record["callback_data"] == str(message.id) for record in sandbox.messages()), 15,
          "a due message waited behind the ingest backlog")
    assert get_queue(INGEST).count >= 18, "the ingest backlog was still there when the message went out"

    # and the Procfile gives sending workers of its own, which never take ingest work
    send_role = _procfile_queues("worker_send")
    assert SEND in send_role and INGEST not in send_role
    assert INGEST in _procfile_queues("worker_ingest")
    second = order_confirmation(shop, make_contact(shop, "+4915199999999"), key="order:2:confirmation").message
    make_worker(ctx, queues=send_role).work(burst=True, max_jobs=1, with_scheduler=False, logging_level="WARNING")
    _wait(lambda: any(record["callback_data"] == str(second.id) for record in sandbox.messages()), 15,
          "the send role did not send")
    assert get_queue(INGEST).count >= 18


def test_13_11_sweep_brings_back_a_lookup_lost_with_redis(client, shop, fake_shopify, run_worker):
    from connector.jobs.ingest import drain_receipts
    from connector.jobs.sweep import sweep

    fake_shopify.hang()
    deliver(client, fake_shopify, "inventory_levels_update__sample", "inventory_levels/update", "evt-stock")
    drain_receipts()  # the receipt ends pending; its look-up job is queued...
    assert db.session.scalars(select(WebhookReceipt)).one().outcome == "lookup_pending"
    get_redis().flushdb()  # ...and lost with Redis
    fake_shopify.answer()
    fake_shopify.inventory_items[ITEM] = (PRODUCT, VARIANT)

    assert sweep()["inventory_lookups"] == 1
    run_worker()
    db.session.expire_all()
    assert db.session.scalars(select(WebhookReceipt)).one().outcome == "processed"
