"""Issue 13, point 13: operators can see trouble coming (``GET /metrics``, Prometheus).

The families are read from real rows (receipts, outbox messages sent and refused through the
sandbox Cloud API), real RQ queues and the sweep's Redis mark, and every answer is parsed
with prometheus_client's own parsers to prove it is valid exposition format.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import text

from connector.extensions import db, get_redis
from connector.models import Message, MessageStatus, WebhookReceipt, utcnow
from connector.monitoring import RECENT_SECONDS, SWEEP_LAST_SUCCESS_KEY, ConnectorCollector
from connector.queues import INGEST, MAINTENANCE, SEND, get_queue
from tests.factories import make_contact, make_shop, order_confirmation

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_token(ctx, monkeypatch):
    """The app under test with ``METRICS_TOKEN`` set (the session's app has none)."""
    monkeypatch.setitem(ctx.config, "CONNECTOR", replace(ctx.config["CONNECTOR"], metrics_token=TOKEN))
    return TOKEN


def scrape(client, token: str = TOKEN, accept: str | None = None) -> dict[tuple[str, tuple], float]:
    """``GET /metrics`` parsed: {(sample name, sorted labels): value}."""
    headers = {"Authorization": f"Bearer {token}"}
    if accept:
        headers["Accept"] = accept
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    body = response.get_data(as_text=True)
    parse = parse_openmetrics if accept else text_string_to_metric_families
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in parse(body) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def names(samples: dict) -> set[str]:
    return {name for name, _ in samples}


def test_13_13_metrics_answers_only_the_configured_bearer_token(ctx, client, monkeypatch):
    unknown = client.get("/no-such-route")
    unset = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert unset.status_code == 404
    assert unset.data == unknown.data  # not discoverable: the same answer as any unknown path

    monkeypatch.setitem(ctx.config, "CONNECTOR", replace(ctx.config["CONNECTOR"], metrics_token=TOKEN))
    for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": TOKEN}, {"Authorization": "Bearer "}, {"Authorization": "Bearer ünïcødé"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"connector_" not in refused.data

    answer = client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert answer.headers["Cache-Control"] == "no-store"
    assert b"connector_queue_jobs" in answer.data


def test_13_13_metrics_token_setting(tmp_path):
    from connector.config import ConfigError, load_settings

    assert load_settings({}, instance_path=tmp_path).metrics_token is None
    assert load_settings({"METRICS_TOKEN": TOKEN}, instance_path=tmp_path).metrics_token == TOKEN
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        load_settings({"METRICS_TOKEN": "short"}, instance_path=tmp_path)


def test_13_13_metrics_is_valid_exposition_format_in_both_formats(ctx, client, metrics_token):
    text_samples = scrape(client)  # Prometheus' text format 0.0.4, parsed by prometheus_client
    open_samples = scrape(client, accept="application/openmetrics-text; version=1.0.0")
    for samples in (text_samples, open_samples):
        assert all(name.startswith("connector_") for name in names(samples))
        assert {"connector_queue_jobs", "connector_webhook_receipt_oldest_pending_age_seconds",
                "connector_messages", "connector_metrics_source_up"} <= names(samples)
        for source in ("queues", "sweep", "receipts", "messages"):
            assert value(samples, "connector_metrics_source_up", source=source) == 1.0


def test_13_13_queue_depths_per_rq_queue(ctx, client, metrics_token, run_worker):
    get_queue(MAINTENANCE).enqueue("builtins.int", "not a number")  # a job that fails for real
    run_worker()
    ingest = get_queue(INGEST)
    ingest.enqueue("builtins.len", "ab")
    ingest.enqueue("builtins.len", "abc")
    get_queue(SEND).enqueue_in(timedelta(hours=1), "builtins.len", "later")

    samples = scrape(client)
    expected = {(INGEST, "queued"): 2, (SEND, "scheduled"): 1, (MAINTENANCE, "failed"): 1}
    for queue in (INGEST, SEND, MAINTENANCE):
        for state in ("queued", "scheduled", "started", "deferred", "failed"):
            assert (value(samples, "connector_queue_jobs", queue=queue, state=state)
                    == expected.get((queue, state), 0)), \
                (queue, state)


def _receipt(shop, key: str, *, outcome: str | None, processed: bool, age_seconds: float = 0,
             platform: str = "shopify") -> None:
    received = utcnow() - timedelta(seconds=age_seconds)
    db.session.add(WebhookReceipt(platform=platform, dedupe_key=key, topic="orders/paid", shop_id=shop.id, body=b"{}",
                                  received_at=received, processed_at=received if processed else None,
                                  outcome=outcome))


def test_13_13_receipts_by_outcome_and_the_oldest_pending_age(ctx, client, metrics_token):
    shop = make_shop()
    samples = scrape(client)
    assert value(samples, "connector_webhook_receipt_oldest_pending_age_seconds") == 0.0  # nothing waits

    for index in range(3):
        _receipt(shop, f"p{index}", outcome="processed", processed=True, age_seconds=30)
    _receipt(shop, "s", outcome="stale", processed=True, age_seconds=60)
    _receipt(shop, "n", outcome="no_events", processed=True)
    _receipt(shop, "i", outcome="ignored", processed=True)
    _receipt(shop, "dp", outcome="dead", processed=True)
    _receipt(shop, "w", outcome="unknown_shop", processed=True, platform="whatsapp")
    _receipt(shop, "long-ago", outcome="processed", processed=True, age_seconds=RECENT_SECONDS + 60)
    _receipt(shop, "d", outcome="dead", processed=False, age_seconds=7200)  # given up, left unprocessed
    _receipt(shop, "old", outcome=None, processed=False, age_seconds=400)  # the oldest still waiting
    _receipt(shop, "new", outcome=None, processed=False, age_seconds=5)
    _receipt(shop, "woo", outcome=None, processed=False, age_seconds=60, platform="woocommerce")
    db.session.commit()

    before = time.time()
    samples = scrape(client)
    after = time.time()

    def family(name: str) -> dict[tuple[str, str], float]:
        return {(dict(labels)["platform"], dict(labels)["outcome"]): count
                for (sample, labels), count in samples.items() if sample == name}

    assert family("connector_webhook_receipts_recent") == {
        ("shopify", "processed"): 3, ("shopify", "stale"): 1, ("shopify", "no_events"): 1, ("shopify", "ignored"): 1,
        ("shopify", "dead"): 1, ("whatsapp", "unknown_shop"): 1}
    assert family("connector_webhook_receipts_unprocessed") == {
        ("shopify", "pending"): 2, ("woocommerce", "pending"): 1, ("shopify", "dead"): 1}
    age = value(samples, "connector_webhook_receipt_oldest_pending_age_seconds")
    assert 400 - 1 <= age <= 400 + (after - before) + 5


def _message(shop, contact, key: str, status: str, reason: str | None = None, code: int | None = None,
             sent: bool = False) -> None:
    now = utcnow()
    db.session.add(Message(shop_id=shop.id, contact_id=contact.id, idempotency_key=key, automation="abandoned_cart",
                           purpose="marketing", kind="template", template_name="cart_reminder", language="de",
                           content={}, status=status, status_reason=reason, error_code=code, due_at=now,
                           sent_at=now if sent else None))


def test_13_13_messages_by_status_and_deferral_reason(ctx, client, metrics_token):
    shop = make_shop()
    other = make_shop("other-shop.myshopify.com", phone_number_id="2000002")
    contact, other_contact = make_contact(shop), make_contact(other, "+4915199990000")
    rows = [("queued", "quiet_hours"), ("queued", "quiet_hours"), ("queued", "frequency_cap"), ("queued", None),
            ("sending", "in_doubt:timeout"), ("sending", None), ("sent", None), ("delivered", None), ("read", None),
            ("suppressed", "no_marketing_consent"), ("cancelled", "contact_ordered")]
    for index, (status, reason) in enumerate(rows):
        _message(shop, contact, f"a{index}", status, reason, sent=status in ("sent", "delivered", "read"))
    _message(shop, contact, "f0", "failed", "error:131026", code=131026)  # refused at send
    _message(shop, contact, "f1", "failed", "error:131000", code=131000, sent=True)  # accepted, failed later
    _message(other, other_contact, "b0", "queued", "quiet_hours")
    db.session.commit()

    samples = scrape(client)
    statuses = {"queued": 5, "sending": 2, "sent": 1, "delivered": 1, "read": 1, "failed": 2, "suppressed": 1,
                "cancelled": 1}
    for status, count in statuses.items():
        assert value(samples, "connector_messages", status=status) == count, status
    waiting = {(dict(labels)["status"], dict(labels)["reason"]): count
               for (name, labels), count in samples.items() if name == "connector_messages_waiting"}
    assert waiting == {("queued", "quiet_hours"): 3, ("queued", "frequency_cap"): 1, ("queued", "none"): 1,
                       ("sending", "in_doubt:timeout"): 1, ("sending", "none"): 1}
    assert value(samples, "connector_whatsapp_messages_sent_total", phone_number_id="1000001") == 4
    assert value(samples, "connector_whatsapp_messages_sent_total", phone_number_id="2000002") == 0
    assert value(samples, "connector_whatsapp_messages_failed_total", phone_number_id="1000001") == 2
    assert value(samples, "connector_whatsapp_refused_messages", phone_number_id="1000001", code="131000",
                 status="failed") == 1


def test_13_13_sends_and_refusals_per_number_through_the_sandbox(ctx, client, metrics_token, drain, run_worker,
                                                                    sandbox):
    shop = make_shop()  # number 1000001
    other = make_shop("other-shop.myshopify.com", phone_number_id="2000002")
    delivered_to = make_contact(shop, "+4915111111111")
    refused_to = make_contact(shop, "+4915122222222")
    throttled_to = make_contact(other, "+4915133333333")
    sandbox.inject(kind="error", code=131026, count=1, to="4915122222222")  # permanent: undeliverable
    sandbox.inject(kind="error", code=130429, count=1000, to="4915133333333", http_status=400)  # throughput

    delivered = order_confirmation(shop, delivered_to, key="order:1:confirmation").message
    refused = order_confirmation(shop, refused_to, key="order:2:confirmation").message
    assert drain(lambda: db.session.get(Message, delivered.id).status in (MessageStatus.DELIVERED, MessageStatus.READ)
                 and db.session.get(Message, refused.id).status == MessageStatus.FAILED)
    throttled = order_confirmation(other, throttled_to, key="order:3:confirmation").message
    run_worker()
    db.session.expire_all()
    row = db.session.get(Message, throttled.id)
    # refused; retried and refused again, perhaps deferred for pair rate since: queued, code kept
    assert (row.status, row.error_code) == ("queued", 130429)
    assert row.status_reason in ("retry:rate_limit_hit", "pair_rate")

    samples = scrape(client)
    assert value(samples, "connector_whatsapp_messages_sent_total", phone_number_id="1000001") == 1
    assert value(samples, "connector_whatsapp_messages_sent_total", phone_number_id="2000002") == 0
    assert value(samples, "connector_whatsapp_messages_failed_total", phone_number_id="1000001") == 1
    assert value(samples, "connector_whatsapp_messages_failed_total", phone_number_id="2000002") == 0
    refusals = {tuple(dict(labels)[k] for k in ("phone_number_id", "code", "status")): count
                for (name, labels), count in samples.items() if name == "connector_whatsapp_refused_messages"}
    assert refusals == {("1000001", "131026", "failed"): 1, ("2000002", "130429", "queued"): 1}
    assert value(samples, "connector_messages_waiting", status="queued", reason=row.status_reason) == 1
    body = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    for phone in ("4915111111111", "4915122222222", "4915133333333"):
        assert phone not in body  # numbers of shoppers never appear, only our own numbers' ids


def test_13_13_sweep_last_success_gauge_from_the_redis_key(ctx, client, metrics_token):
    name = "connector_sweep_last_success_timestamp_seconds"
    samples = scrape(client)
    assert name not in names(samples)  # absent, so absent() in the alert fires
    assert value(samples, "connector_metrics_source_up", source="sweep") == 1

    get_redis().set(SWEEP_LAST_SUCCESS_KEY, "1764650000.25")
    assert value(scrape(client), name) == 1764650000.25

    get_redis().set(SWEEP_LAST_SUCCESS_KEY, "not a time")
    assert name not in names(scrape(client))


def test_13_13_a_failing_source_drops_only_its_own_families(ctx, metrics_token):
    shop = make_shop()
    _receipt(shop, "r", outcome="processed", processed=True)
    db.session.commit()
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1, socket_timeout=1,
                        retry=Retry(NoBackoff(), 0))
    registry = CollectorRegistry()
    registry.register(ConnectorCollector(engine=db.engine, redis=unreachable))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(generate_latest(registry).decode())
               for s in family.samples}
    assert value(samples, "connector_metrics_source_up", source="queues") == 0
    assert value(samples, "connector_metrics_source_up", source="sweep") == 0
    assert value(samples, "connector_metrics_source_up", source="receipts") == 1
    assert "connector_queue_jobs" not in names(samples)
    assert value(samples, "connector_webhook_receipts_recent", platform="shopify", outcome="processed") == 1


def test_13_13_a_scrape_never_waits_on_the_database_past_its_budget(ctx, client, metrics_token):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the statement budget is PostgreSQL's statement_timeout and lock_timeout")
    locked, release = threading.Event(), threading.Event()
    engine = db.engine

    def hold_lock() -> None:  # a migration-like lock: every read of the table has to wait
        with engine.connect() as connection, connection.begin():
            connection.execute(text("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        samples = scrape(client)
    finally:
        release.set()
        holder.join()
    assert value(samples, "connector_metrics_source_up", source="messages") == 0
    assert "connector_messages" not in names(samples)
    assert value(samples, "connector_metrics_source_up", source="receipts") == 1
    assert math.isfinite(value(samples, "connector_webhook_receipt_oldest_pending_age_seconds"))
