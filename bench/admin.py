"""The admin API at a big shop's size: 5,000,000 messages and 200,000 contacts over 90 days.

Goal (issue 16): every dashboard and list API call p99 ≤ 100 ms, the dashboard read from the
daily rollups (never a scan of the outbox).

Seeding: one shop (Europe/Berlin) with ``--contacts`` contacts and ``--messages`` outbox rows
spread evenly over ``--days`` days, across six automations, in a realistic mix of statuses
(read, delivered, sent, failed with Cloud API codes, suppressed); every 20th read message
clicked (a short link and its click), every 100th read message credited with an order; every
10th contact opted in (widget or checkout), every 50th opted out. On PostgreSQL every table is
filled by ``COPY … FROM STDIN`` (psycopg), on SQLite by executemany. The rollups are then
built the way an existing install builds them, by ``connector.rollups.rebuild`` (timed as
``rebuild_s``).

Timing: the app is served over real HTTP (werkzeug, threaded, in this process); one client
asks each route in turn, ``--requests`` times per route after a warm-up, each request with a
fresh App Bridge session token (HS256, as Shopify mints them), and the latency of each answer
is taken from send to last byte. Routes: GET /home, /dashboard?days=7|30|90 (and 90 days of
one automation), and the list routes /messages (all; failed of one automation) and /contacts
(all; ?q= a name, a phone) when this build serves them (a route the app does not have is
listed in ``skipped``). ``api_p99_ms`` is the worst route's p99.

    python bench/admin.py [--messages 5000000] [--contacts 200000] [--days 90] [--requests 300]

PostgreSQL when BENCH_DATABASE_URL is set or a server answers on 127.0.0.1:5432 (scratch
database ``connector_bench_admin``), SQLite otherwise. The last line is one JSON object; the
page's figures come from headless Chromium (Debian's /usr/bin/chromium driven by Playwright, App
Bridge stood in for as in the browser tests) loading the dashboard page ``--page-loads`` times,
each in a fresh context (cold cache), against the same server: ``lcp_ms`` (median largest
contentful paint), ``cls`` (the worst cumulative layout shift), ``longest_task_ms`` (the longest
main-thread task over all loads, from the Long Tasks API; 0 when none reached 50 ms) and
``transfer_kb`` (the JS and CSS the page loaded, as Resource Timing counts it; the development
server sends them uncompressed, so ``transfer_gzip_kb`` adds what gzip would send). Skip it with
``--no-page``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._support import database_url  # noqa: E402

API_KEY, API_SECRET = "bench-admin-key", "bench-admin-secret"
DOMAIN = "bench-admin.myshopify.com"
AUTOMATIONS = ("abandoned_cart", "order_confirmation", "shipping_update", "review_request", "back_in_stock",
               "cod_confirmation")
#: per 100 messages: the status each one ends in
STATUS_MIX = (["read"] * 55 + ["delivered"] * 25 + ["sent"] * 10 + ["failed"] * 6 + ["suppressed"] * 4)
FAILURES = ("error:131026", "error:131049", "error:131047", "retries_exhausted")
CHUNK = 50_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per route")
    parser.add_argument("--page-loads", type=int, default=5, help="cold loads of the dashboard page")
    parser.add_argument("--no-page", action="store_true", help="time the API only")
    options = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench-admin-")
    url = database_url(workdir, "connector_bench_admin")
    os.environ.setdefault("CONNECTOR_INSTANCE_PATH", workdir)
    from flask_migrate import upgrade

    from connector.app import create_app
    from connector.extensions import db

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CONNECTOR_ENV": "test",
                      "SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": API_SECRET, "LOG_LEVEL": "WARNING",
                      **({"REDIS_URL": os.environ["REDIS_URL"]} if os.environ.get("REDIS_URL") else {})})
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        shop_id = seed(options)
        seed_s = time.perf_counter() - started
        started = time.perf_counter()
        rollup_rows = rebuild(shop_id)
        rebuild_s = time.perf_counter() - started
        db.session.remove()
    routes, skipped, page = timed_routes(app, options.requests, 0 if options.no_page else options.page_loads)
    with app.app_context():
        db.engine.dispose()
    worst = max((r["p99_ms"] for r in routes.values()), default=None)
    print(json.dumps({
        "bench": "admin", "database": url.split(":")[0], "messages": options.messages, "contacts": options.contacts,
        "days": options.days, "requests_per_route": options.requests, "seed_s": round(seed_s, 1),
        "rebuild_s": round(rebuild_s, 2), "rollup_rows": rollup_rows, "routes": routes, "skipped": skipped,
        "load_average": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count(),
        "page": page, "api_p99_ms": worst, "lcp_ms": page.get("lcp_ms"), "cls": page.get("cls"),
        "longest_task_ms": page.get("longest_task_ms"), "transfer_kb": page.get("transfer_kb"),
    }))
    return 0


# --- seeding ----------------------------------------------------------------------------------


def seed(options) -> int:
    from connector.extensions import db
    from connector.models import Shop, WhatsAppAccount

    shop = Shop(platform="shopify", domain=DOMAIN, name="Bench Coffee", time_zone="Europe/Berlin", locale="de",
                country="DE", currency="EUR", settings={})
    shop.credentials = {"kind": "custom_app", "access_token": "shpat_bench"}
    db.session.add(shop)
    db.session.flush()
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id="900000001", waba_id="WABA-BENCH",
                                   access_token="EAAG-bench", throughput_per_second=80, messaging_limit=100000))
    db.session.commit()
    writer = Writer(db)
    now = datetime.now(timezone.utc)
    start = now - timedelta(days=options.days)
    span = (now - start).total_seconds()
    stamp = _stamp(writer.postgres)

    writer.write("contacts", ("shop_id", "phone_e164", "name", "locale", "country", "time_zone", "marketing_consent",
                              "transactional_consent", "created_at", "updated_at"),
                 ((shop.id, f"+49151{i:08d}", f"Contact {i}", "de", "DE", "Europe/Berlin",
                   "revoked" if i % 50 == 0 else "granted" if i % 10 == 0 else "none", "granted",
                   stamp(start), stamp(start)) for i in range(options.contacts)))
    contact_ids = writer.ids("contacts", shop.id)

    def message_rows():
        for i in range(options.messages):
            at = start.timestamp() + span * i / options.messages
            status = STATUS_MIX[i % 100]
            sent = at + 1
            delivered = at + 5 if status in ("read", "delivered") else None
            read = at + 60 if status == "read" else None
            failed = at + 5 if status == "failed" else None
            reason = FAILURES[i % len(FAILURES)] if status == "failed" else \
                "no_marketing_consent" if status == "suppressed" else None
            ts = stamp(at)
            yield (shop.id, contact_ids[i % len(contact_ids)], f"bench:{i}", AUTOMATIONS[i % len(AUTOMATIONS)],
                   "marketing", "template", "cart_reminder_1", "de", "{}", status, reason, 1, 0, 1, ts,
                   None if status == "suppressed" else stamp(sent), stamp(delivered), stamp(read), stamp(failed),
                   False, ts, ts)

    writer.write("messages", ("shop_id", "contact_id", "idempotency_key", "automation", "purpose", "kind",
                              "template_name", "language", "content", "status", "status_reason", "attempts",
                              "deferrals", "priority", "due_at", "sent_at", "delivered_at", "read_at", "failed_at",
                              "counts_toward_tier", "created_at", "updated_at"), message_rows())
    first_id = writer.first_id("messages", shop.id, options.messages)

    def read_messages(step: int):
        """(message id, index) of every ``step``-th message that was read."""
        for i in range(0, options.messages, step):
            if STATUS_MIX[i % 100] == "read":
                yield first_id + i, i

    clicked = list(read_messages(20))
    writer.write("short_links", ("shop_id", "code", "link_key", "target_url", "automation", "contact_id", "message_id",
                                 "clicks", "created_at", "updated_at"),
                 ((shop.id, f"b{n:09d}", f"bench:{i}:button:0", f"https://{DOMAIN}/", AUTOMATIONS[i % len(AUTOMATIONS)],
                   contact_ids[i % len(contact_ids)], message_id, 1, stamp(start), stamp(start))
                  for n, (message_id, i) in enumerate(clicked)))
    link_ids = writer.ids("short_links", shop.id)
    writer.write("link_clicks", ("shop_id", "link_id", "contact_id", "message_id", "clicked_at"),
                 ((shop.id, link_id, contact_ids[i % len(contact_ids)], message_id,
                   stamp(start.timestamp() + span * i / options.messages + 120))
                  for link_id, (message_id, i) in zip(link_ids, clicked, strict=True)))
    writer.write("orders", ("shop_id", "order_id", "contact_id", "name", "currency", "total", "placed_at",
                            "attributed_message_id", "attributed_automation", "attribution", "created_at",
                            "updated_at"),
                 ((shop.id, str(100000 + n), contact_ids[i % len(contact_ids)], f"#{100000 + n}", "EUR",
                   f"{20 + n % 80}.90", stamp(start.timestamp() + span * i / options.messages + 600), message_id,
                   AUTOMATIONS[i % len(AUTOMATIONS)], "click", stamp(start), stamp(start))
                  for n, (message_id, i) in enumerate(clicked[::5])))

    def consent_rows():
        for n, contact_id in enumerate(contact_ids):
            if n % 10 and n % 50:
                continue
            at = stamp(start.timestamp() + span * n / len(contact_ids))
            source = "widget_popup" if n % 20 else "checkout_checkbox"
            yield (shop.id, contact_id, "marketing", "granted", source, "Angebote per WhatsApp", at, at)
            if n % 50 == 0:
                yield (shop.id, contact_id, "marketing", "revoked", "keyword", None, at, at)

    writer.write("consent_events", ("shop_id", "contact_id", "purpose", "state", "source", "text_shown",
                                    "occurred_at", "created_at"), consent_rows())
    writer.analyze()
    return shop.id


def _stamp(postgres: bool):
    def stamp(value):
        if value is None:
            return None
        if isinstance(value, (int, float)):
            value = datetime.fromtimestamp(value, timezone.utc)
        return value if postgres else value.replace(tzinfo=None)
    return stamp


class Writer:
    """COPY on PostgreSQL (psycopg's ``copy``, rows as tuples), executemany on SQLite."""

    def __init__(self, db) -> None:
        self.db = db
        self.postgres = db.engine.dialect.name == "postgresql"

    def write(self, table: str, columns: tuple[str, ...], rows) -> None:
        started, count = time.perf_counter(), 0
        if self.postgres:
            raw = self.db.engine.raw_connection()
            try:
                with raw.cursor() as cursor:
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                            count += 1
                raw.commit()
            finally:
                raw.close()
        else:
            from sqlalchemy import text

            statement = text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                             f"({', '.join(':' + c for c in columns)})")
            batch: list[dict] = []
            for row in rows:
                batch.append(dict(zip(columns, row, strict=True)))
                count += 1
                if len(batch) == CHUNK:
                    self.db.session.execute(statement, batch)
                    batch = []
            if batch:
                self.db.session.execute(statement, batch)
            self.db.session.commit()
        print(f"seeded {count:,} {table} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    def ids(self, table: str, shop_id: int) -> list[int]:
        from sqlalchemy import text

        return list(self.db.session.scalars(text(f"SELECT id FROM {table} WHERE shop_id = :s ORDER BY id"),
                                            {"s": shop_id}))

    def first_id(self, table: str, shop_id: int, expected: int) -> int:
        from sqlalchemy import text

        low, high, count = self.db.session.execute(text(
            f"SELECT min(id), max(id), count(*) FROM {table} WHERE shop_id = :s"), {"s": shop_id}).one()
        assert count == expected and high - low + 1 == count, "ids of one COPY are consecutive in a fresh table"
        return int(low)

    def analyze(self) -> None:
        if self.postgres:
            from sqlalchemy import text

            with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))


def rebuild(shop_id: int) -> int:
    from connector import rollups
    from connector.extensions import db
    from connector.models import Shop

    shop = db.session.get(Shop, shop_id)
    written = rollups.rebuild(db.session, shop)
    db.session.commit()
    return written


# --- timing -----------------------------------------------------------------------------------


ROUTES = ("/admin/api/home", "/admin/api/dashboard?days=7", "/admin/api/dashboard?days=30",
          "/admin/api/dashboard?days=90", "/admin/api/dashboard?days=90&automation=abandoned_cart",
          "/admin/api/messages", "/admin/api/messages?status=failed&automation=review_request",
          "/admin/api/contacts", "/admin/api/contacts?q=Contact%2012345", "/admin/api/contacts?q=%2B4915100012345")


def timed_routes(app, requests: int, page_loads: int) -> tuple[dict, list[str], dict]:
    import httpx
    import jwt
    from werkzeug.exceptions import MethodNotAllowed, NotFound
    from werkzeug.serving import make_server

    adapter = app.url_map.bind("localhost")
    present, skipped = [], []
    for route in ROUTES:
        try:
            adapter.match(route.split("?")[0], method="GET")
            present.append(route)
        except (NotFound, MethodNotAllowed):
            skipped.append(route)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

    def token_for(lifetime: int) -> str:
        issued = int(time.time())
        return jwt.encode({"iss": f"https://{DOMAIN}/admin", "dest": f"https://{DOMAIN}", "aud": API_KEY, "sub": "1",
                           "exp": issued + lifetime, "nbf": issued - 1, "iat": issued, "jti": secrets.token_hex(8),
                           "sid": secrets.token_hex(8)}, API_SECRET, algorithm="HS256")

    def token() -> str:
        return token_for(60)

    timings: dict[str, list[float]] = {route: [] for route in present}
    sizes: dict[str, int] = {}
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for round_number in range(requests + 10):
                for route in present:
                    started = time.perf_counter()
                    response = client.get(route, headers={"Authorization": f"Bearer {token()}"})
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise SystemExit(f"{route} answered {response.status_code}: {response.text[:300]}")
                    sizes[route] = len(response.content)
                    if round_number >= 10:  # the first ten rounds warm the pools and caches
                        timings[route].append(elapsed)
        page = measure_page(base, lambda: token_for(600), page_loads) if page_loads else {}
    finally:
        server.shutdown()
    return {route: {"p50_ms": round(statistics.median(values), 2), "p99_ms": round(_percentile(values, 99), 2),
                    "max_ms": round(max(values), 2), "bytes": sizes[route]}
            for route, values in timings.items()}, skipped, page


#: installed before the page's own scripts: what the page paints, shifts and blocks
_PAGE_OBSERVERS = """
  window.__bench = {lcp: 0, cls: 0, longest: 0};
  const seen = (type, take) => new PerformanceObserver((list) => list.getEntries().forEach(take))
    .observe({type, buffered: true});
  seen("largest-contentful-paint", (e) => { window.__bench.lcp = e.startTime; });
  seen("layout-shift", (e) => { if (!e.hadRecentInput) window.__bench.cls += e.value; });
  seen("longtask", (e) => { window.__bench.longest = Math.max(window.__bench.longest, e.duration); });
"""


def measure_page(base: str, session_token, loads: int) -> dict:
    """The dashboard page in headless Chromium: LCP, CLS, the longest task, the JS and CSS sent."""
    import gzip
    import urllib.request

    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, FLAGS, app_bridge_stand_in

    url = f"{base}/admin/?shop={DOMAIN}&host=YWRtaW4&page=dashboard"
    lcps, shifts, longest, transfer, assets = [], [], 0.0, 0, {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            for _ in range(loads):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                stand_in = app_bridge_stand_in(session_token())
                context.route("**/*", _only_ours(base, stand_in))
                context.add_init_script(_PAGE_OBSERVERS)
                tab = context.new_page()
                tab.goto(url, wait_until="load")
                tab.wait_for_selector("[data-testid$='-chart'] svg, [data-testid$='-table']", timeout=30_000)
                tab.wait_for_timeout(1000)  # the last paints and shifts are reported
                figures = tab.evaluate(_READ_FIGURES)
                lcps.append(figures["lcp"])
                shifts.append(figures["cls"])
                longest = max(longest, figures["longest"])
                ours = [(name, size) for name, size in figures["resources"] if name.startswith(base)]
                transfer = max(transfer, sum(size for _, size in ours))  # App Bridge's own script not counted
                assets.update(ours)
                context.close()
        finally:
            browser.close()
    gzipped = sum(len(gzip.compress(urllib.request.urlopen(name).read(), 6)) for name in assets)
    return {"loads": loads, "lcp_ms": round(statistics.median(lcps), 1), "lcp_all_ms": [round(v, 1) for v in lcps],
            "cls": round(max(shifts), 4), "longest_task_ms": round(longest, 1),
            "transfer_kb": round(transfer / 1024, 1), "transfer_gzip_kb": round(gzipped / 1024, 1),
            "assets": len(assets)}


_READ_FIGURES = """() => ({...window.__bench, resources: performance.getEntriesByType("resource")
  .filter((e) => /[.](js|css)([?]|$)/.test(e.name)).map((e) => [e.name, e.transferSize || e.encodedBodySize])})"""


def _only_ours(base: str, stand_in: str):
    """A route handler: requests leave only for our server; App Bridge's script is the stand-in."""
    from tests.browser import APP_BRIDGE_URL

    def handle(route) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        elif route.request.url == APP_BRIDGE_URL:
            route.fulfill(status=200, content_type="text/javascript", body=stand_in)
        else:
            route.abort()

    return handle


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


if __name__ == "__main__":
    raise SystemExit(main())
