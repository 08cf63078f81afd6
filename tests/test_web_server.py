"""The web process as the Procfile runs it: gunicorn with gunicorn.conf.py (gevent workers).

Under gevent every request of a worker shares one OS thread, so a webhook whose receipt is
waiting on PostgreSQL must wait cooperatively (connector.receipt_libpq.execute): a blocking
libpq call would stall every other request of that worker until the server answered.
These tests hold a receipt's INSERT on a row lock in another transaction and check that
the worker keeps answering meanwhile, and that the deliveries that queue up behind the held
one are written by one statement once it is released.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from connector.extensions import db
from integrations.shopify.webhooks import sign
from tests.factories import make_shop

ROOT = Path(__file__).resolve().parent.parent
BODY = (ROOT / "tests" / "fixtures" / "payloads" / "shopify" / "orders_paid__sample.json").read_bytes()


@pytest.fixture
def server(ctx, app_env):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the group-commit writer serves PostgreSQL (TEST_DATABASE_URL)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **app_env, "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING"}
    env.pop("WEB_WORKER_CLASS", None)  # the default of gunicorn.conf.py
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "connector.app:create_app()"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(10)


def _post(base: str, shop_domain: str, event_id: str, secret: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid",
               "X-Shopify-Shop-Domain": shop_domain,
               "X-Shopify-Hmac-Sha256": sign(BODY, secret), "X-Shopify-Event-Id": event_id}
    return httpx.post(f"{base}/webhooks/shopify", content=BODY, headers=headers, timeout=30)


def _wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _conninfo() -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def test_a_receipt_waiting_on_the_database_does_not_stall_the_worker(server, app_env):
    shop = make_shop()
    blocker = psycopg.connect(_conninfo())
    # the held delivery's key, taken by a transaction that stays open: its INSERT must wait
    blocker.execute("INSERT INTO webhook_receipts (platform, dedupe_key, topic, shop_id, body, received_at, attempts) "
                    "VALUES ('shopify', %s, 'orders/paid', %s, '\\x7b7d', now(), 0)",
                    (f"{shop.id}:orders/paid:held", shop.id))
    answers: dict[str, httpx.Response] = {}

    def deliver(event_id: str) -> None:
        answers[event_id] = _post(server, shop.domain, event_id, app_env["SHOPIFY_API_SECRET"])

    held = threading.Thread(target=deliver, args=("held",))
    held.start()
    with psycopg.connect(_conninfo(), autocommit=True) as watcher:  # the writer's statement waits on the lock
        _wait_until(lambda: watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'connector-receipts-%%' "
            "AND datname = current_database() AND application_name <> %s AND wait_event_type = 'Lock'",
            (f"connector-receipts-{os.getpid()}",),
        ).fetchone()[0] == 1)
    behind = [threading.Thread(target=deliver, args=(f"behind-{i}",)) for i in range(5)]
    for thread in behind:
        thread.start()
    health = httpx.get(f"{server}/healthz", timeout=5)  # answered while the write is held
    assert health.status_code == 200 and health.json()["database"] == "ok"
    time.sleep(0.5)  # the five are queued behind the held statement
    assert answers == {}  # nothing is answered before its receipt is committed
    blocker.rollback()  # the held INSERT goes ahead
    blocker.close()
    for thread in [held, *behind]:
        thread.join(30)
    assert {key: (answer.status_code, answer.json()["status"]) for key, answer in answers.items()} == {
        key: (200, "accepted") for key in ["held", *(f"behind-{i}" for i in range(5))]}
    with psycopg.connect(_conninfo()) as reader:
        transactions = reader.execute(
            "SELECT count(*), count(DISTINCT xmin::text) FROM webhook_receipts WHERE dedupe_key LIKE %s",
            (f"{shop.id}:orders/paid:behind-%",)).fetchone()
    assert transactions[0] == 5
    assert transactions[1] < 5  # they queued up together and shared a statement


def test_a_lost_writer_connection_is_replaced_under_gevent(server, app_env):
    shop = make_shop()
    secret = app_env["SHOPIFY_API_SECRET"]
    assert _post(server, shop.domain, "before", secret).json() == {"status": "accepted"}
    with psycopg.connect(_conninfo(), autocommit=True) as admin:
        # the gunicorn worker's writer (this process has a writer of its own too)
        writers = admin.execute("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'connector-receipts-%%' "
                                "AND datname = current_database() AND application_name <> %s",
                                (f"connector-receipts-{os.getpid()}",)).fetchall()
        assert len(writers) == 1
        admin.execute("SELECT pg_terminate_backend(%s)", writers[0])
    after = _post(server, shop.domain, "after", secret)  # the writer finds out, reconnects and writes it
    assert after.status_code == 200 and after.json() == {"status": "accepted"}
    with psycopg.connect(_conninfo()) as reader:
        keys = {key for (key,) in reader.execute("SELECT dedupe_key FROM webhook_receipts WHERE shop_id = %s",
                                                 (shop.id,))}
    assert keys == {f"{shop.id}:orders/paid:before", f"{shop.id}:orders/paid:after"}
