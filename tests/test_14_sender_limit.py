"""Issue 14, point 18: the sender never exceeds the number's throughput at the Cloud API.

The sandbox runs in its own process, as Meta's servers would (a sandbox thread inside the test
process would share its interpreter lock with the worker, and its arrival times would be ours,
not the network's). It enforces 1,000 msg/s for the number and answers 130429 beyond it.
A real RQ worker sends ~3 s worth of messages; another shop's jobs keep arriving, so the
dispatcher steps aside after every slice and a new run (a new pacer) takes over straight away.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from connector.extensions import db
from connector.jobs.send import dispatch_outbox
from connector.models import Message
from connector.queues import SEND, enqueue
from tests.factories import make_shop, queue_due_confirmations

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 1000
COUNT = 3000


def _start_sandbox() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "integrations.whatsapp.sandbox", "--port", "0", "--latency-ms", "30",
         "--throughput", "80", "--no-statuses", "--log-level", "WARNING"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert "listening on" in line, line
    return process, line.strip().rsplit(" ", 1)[-1]


def _queue(shop_id: int, count: int, base: int) -> None:
    queue_due_confirmations(shop_id, count, base)


def test_14_18_sender_never_exceeds_1000_per_second_at_the_sandbox(ctx, run_worker):
    process, url = _start_sandbox()
    settings = ctx.config["CONNECTOR"]
    ctx.config["CONNECTOR"] = dataclasses.replace(settings, whatsapp_api_base_url=url)
    stop = threading.Event()
    try:
        httpx.post(f"{url}/_sandbox/limits", json={"phone_number_id": "1000001", "throughput_per_second": LIMIT})
        busy = make_shop(throughput=LIMIT, messaging_limit=None)  # no daily tier cap here
        other = make_shop("other-shop.myshopify.com", phone_number_id="1000002")  # nothing due: short jobs
        busy_id, other_id = busy.id, other.id
        _queue(busy_id, COUNT, 4915100000000)
        enqueue(dispatch_outbox, busy_id, queue=SEND, timeout=900)

        def other_shops_jobs() -> None:
            # other shops' wake-ups keep arriving, so the busy shop's dispatcher hands over its
            # worker after each 2-s slice and re-queues itself: several runs, back to back
            with ctx.app_context():
                while not stop.wait(0.25):
                    enqueue(dispatch_outbox, other_id, queue=SEND, timeout=900)

        feeder = threading.Thread(target=other_shops_jobs, daemon=True)
        feeder.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run_worker()
            db.session.expire_all()
            left = db.session.scalar(select(func.count()).select_from(Message).where(
                Message.shop_id == busy_id, Message.status.in_(("queued", "sending"))))
            if not left:
                break
        stop.set()
        feeder.join(5)
        stats = httpx.get(f"{url}/_sandbox/stats").json()
        accepted = len(httpx.get(f"{url}/_sandbox/messages", params={"phone_number_id": "1000001"}).json())
    finally:
        stop.set()
        ctx.config["CONNECTOR"] = settings
        process.terminate()
        process.wait(10)
        process.stdout.close()
    assert stats.get("rejected", {}) == {}, f"the sandbox refused sends: {stats.get('rejected')}"
    assert accepted == COUNT
