"""Sender throughput against the sandbox Cloud API with 100 ms latency.

For per-number limits of 80 and 1,000 msg/s: queue enough messages for ~10 s of sending,
run the shop's dispatcher (the same code the `send` job runs) in this process, and measure
  - achieved: messages accepted by the sandbox per second, first to last arrival;
  - max_1s_window: the most arrivals in any sliding one-second window (must be ≤ limit);
  - cpu_ms_per_message: this process's CPU time (user + system, all threads; database
    work included) divided by the messages sent.
The sandbox runs in its own process, so its CPU is not counted; it enforces the limit and
answers 130429 beyond it, which is counted as `rejected`. Before measuring, one small
dispatch (20 messages) warms the process up as a running worker would be: imports, aiohttp's
SSL contexts, the database pool. Per-run costs (session, queries, event loop) stay measured.

    python bench/send_throughput.py [--seconds 10] [--limits 80,1000]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start_sandbox(latency_ms: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "integrations.whatsapp.sandbox", "--port", "0", "--latency-ms", str(latency_ms),
         "--throughput", "1000", "--no-statuses", "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if "listening on" not in line:
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return process, line.strip().rsplit(" ", 1)[-1]


def max_in_window(times: list[float], window: float = 1.0) -> int:
    best = 0
    for index, start in enumerate(times):
        best = max(best, bisect_right(times, start + window - 1e-9) - index)
    return best


def seed(limit: int, count: int, phone_number_id: str):
    """A shop whose number allows `limit` msg/s, `count` contacts, one due message each."""
    from connector.extensions import db
    from connector.models import Shop, WhatsAppAccount
    from tests.factories import queue_due_confirmations

    shop = Shop(platform="demo", domain=f"bench-{limit}.example",
                settings={"governor": {"quiet_hours": {"enabled": False}}},
                time_zone="UTC", locale="en")
    db.session.add(shop)
    db.session.flush()
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id=phone_number_id, access_token="bench-token",
                                   throughput_per_second=limit, messaging_limit=None))
    queue_due_confirmations(shop.id, count, 4915100000000 + limit * 100000)
    return shop.id


def floor_payloads(limit: int, count: int) -> list[bytes]:
    """The bodies the dispatcher sends for the seeded messages, built once, outside the timing."""
    from integrations.whatsapp import payloads

    base = 4915100000000 + limit * 100000
    return [json.dumps(payloads.message_payload(
        to=f"+{base + i}", kind="template", content={"body": ["Alex", f"#{1000 + i}", "49.90 EUR"],
                                                       "buttons": [{"index": 0, "url_suffix": f"o/{i}"}]},
        template_name="order_confirmation", language="en", callback_data=str(i))).encode() for i in range(count)]


def run_floor(sandbox_url: str, limit: int, bodies: list[bytes]) -> dict:
    """The floor: a bare aiohttp loop posting the same bodies to the same sandbox at the pacer's
    rate (limit x 0.97, evenly spaced in the same groups of ~4 ms), nothing else: no database,
    no claims, no bookkeeping. Its CPU per message is what any sender in Python pays here."""
    import asyncio

    import aiohttp

    from integrations.whatsapp.consts import GRAPH_API_VERSION

    phone_number_id = f"80000{limit}"
    url = f"{sandbox_url}/{GRAPH_API_VERSION}/{phone_number_id}/messages"
    rate = limit * 0.97
    group = min(0.06, max(0.003, 4 / rate))
    with httpx.Client(base_url=sandbox_url, timeout=30) as control:
        control.post("/_sandbox/reset")
        control.post("/_sandbox/limits", json={"phone_number_id": phone_number_id, "throughput_per_second": limit})
    refused = 0

    async def post(session: aiohttp.ClientSession, body: bytes) -> None:
        nonlocal refused
        async with session.post(url, data=body) as response:
            await response.read()
            refused += response.status >= 400

    async def run() -> None:
        connector = aiohttp.TCPConnector(limit=max(32, limit // 4))
        headers = {"Authorization": "Bearer bench-token", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            loop = asyncio.get_running_loop()
            start, tasks = loop.time(), set()
            for index, body in enumerate(bodies):
                wait = start + index / rate - loop.time()
                if wait > 0:
                    await asyncio.sleep(max(wait, group))
                task = asyncio.create_task(post(session, body))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.wait(tasks)

    cpu_before = time.process_time()
    asyncio.run(run())
    cpu = time.process_time() - cpu_before
    with httpx.Client(base_url=sandbox_url, timeout=30) as control:
        received = sorted(m["received_at"] for m in control.get("/_sandbox/messages",
                                                                params={"phone_number_id": phone_number_id}).json())
    span = received[-1] - received[0] if len(received) > 1 else float("nan")
    return {"messages": len(received), "achieved": round((len(received) - 1) / span, 1),
            "achieved_ratio": round((len(received) - 1) / span / limit, 3),
            "cpu_ms_per_message": round(cpu * 1000 / max(1, len(received)), 3), "rejected": refused}


def run_limit(app, sandbox_url: str, limit: int, seconds: float) -> dict:
    from connector.extensions import db, get_redis
    from connector.messaging.dispatcher import dispatch_shop

    phone_number_id = f"90000{limit}"
    count = int(limit * seconds)
    with httpx.Client(base_url=sandbox_url, timeout=30) as control:
        control.post("/_sandbox/reset")
        control.post("/_sandbox/limits", json={"phone_number_id": phone_number_id, "throughput_per_second": limit})
        with app.app_context():
            shop_id = seed(limit, count, phone_number_id)
            db.session.remove()
            cpu_before, wall_before = time.process_time(), time.monotonic()
            report = dispatch_shop(shop_id, redis=get_redis(), lease_seconds=120, retry_base_seconds=1.0,
                                   time_budget=3600)
            cpu, wall = time.process_time() - cpu_before, time.monotonic() - wall_before
            db.session.remove()
        received = sorted(m["received_at"] for m in control.get("/_sandbox/messages",
                                                                params={"phone_number_id": phone_number_id}).json())
        stats = control.get("/_sandbox/stats").json()
    span = received[-1] - received[0] if len(received) > 1 else float("nan")
    return {
        "limit": limit,
        "messages": len(received),
        "achieved": round((len(received) - 1) / span, 1),
        "achieved_ratio": round((len(received) - 1) / span / limit, 3),
        "max_1s_window": max_in_window(received),
        "cpu_ms_per_message": round(cpu * 1000 / max(1, report.sent), 3),
        "rejected": sum(stats.get("rejected", {}).values()),
        "sent": report.sent,
        "wall_seconds": round(wall, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of sending per limit")
    parser.add_argument("--limits", default="80,1000")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()

    from cryptography.fernet import Fernet

    from connector import embedded_redis
    from connector.app import create_app

    workdir = tempfile.mkdtemp(prefix="connector-bench-")
    redis = embedded_redis.start()
    sandbox, sandbox_url = start_sandbox(args.latency_ms)
    os.environ["CONNECTOR_INSTANCE_PATH"] = workdir
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir}/bench.db"
    try:
        app = create_app({
            "CONNECTOR_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": redis.url,
            "WHATSAPP_API_BASE_URL": sandbox_url, "SECRET_KEY": "bench",
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "WHATSAPP_APP_SECRET": "bench", "WHATSAPP_VERIFY_TOKEN": "bench", "LOG_LEVEL": "WARNING"})
        with app.app_context():
            from flask_migrate import upgrade

            from connector.extensions import db

            db.drop_all()
            with db.engine.begin() as connection:
                connection.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
            upgrade()
        run_limit(app, sandbox_url, 20, 1.0)  # warm-up, not reported
        results = []
        for limit in (int(value) for value in args.limits.split(",")):
            result = run_limit(app, sandbox_url, limit, args.seconds)
            floor = run_floor(sandbox_url, limit, floor_payloads(limit, int(limit * args.seconds)))
            result["floor"] = floor
            result["cpu_ratio_to_floor"] = round(result["cpu_ms_per_message"] / floor["cpu_ms_per_message"], 2)
            result["goal_met"] = (result["cpu_ratio_to_floor"] <= 2.0 and result["rejected"] == 0
                                  and (result["achieved_ratio"] >= 0.95 or floor["achieved_ratio"] < 0.95))
            results.append(result)
            print(f"limit {limit:>5} msg/s: achieved {result['achieved']:>7.1f} msg/s "
                  f"({result['achieved_ratio']:.1%}), "
                  f"max 1-s window {result['max_1s_window']}, {result['cpu_ms_per_message']:.3f} ms CPU/message, "
                  f"{result['messages']} messages, {result['rejected']} rejected; floor (bare aiohttp loop) "
                  f"{floor['achieved']:.1f} msg/s, {floor['cpu_ms_per_message']:.3f} ms CPU/message, "
                  f"{floor['rejected']} rejected; CPU ratio to floor {result['cpu_ratio_to_floor']}", flush=True)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    load = os.getloadavg()
    print(json.dumps({"benchmark": "send_throughput", "latency_ms": args.latency_ms,
                      "database": database_url.split(":")[0], "cpus": os.cpu_count(),
                      "load_average_1m_after": round(load[0], 2),
                      "goal": "cpu_ratio_to_floor <= 2.0, 0 rejected, achieved_ratio >= 0.95 "
                              "where the floor reaches it",
                      "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
