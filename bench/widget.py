"""The storefront widget's cost to a shop's page, and the opt-in API under load.

Goals (issue 17): the always-loaded part (widget.js) ≤ 10 KB gzipped, the rest loaded on
interaction; layout shift added 0; main-thread time added ≤ 20 ms; no request before the
page is idle except the one for the settings; the opt-in API's p99 ≤ 50 ms.

The app runs under gunicorn with the web process's own settings (gunicorn.conf.py, as the
Procfile runs it), on a scratch database with one shop whose widget is switched on (chat
button; popup on exit intent, so that it stays closed while the page is measured).

Page: a sample product page (text, an inline image, a variant form), answered by Playwright at
the shop's own origin, loaded ``--runs`` times each without and with the widget's script tag in
headless Chromium (/usr/bin/chromium, never a downloaded browser). Per load, after the widget
has drawn its button and one more second has passed:
  - cls: the sum of the layout-shift entries (PerformanceObserver, buffered);
  - main_thread_ms: Chromium's TaskDuration (CDP Performance.getMetrics), all main-thread
    work of the page from navigation on; long_tasks: the tasks over 50 ms;
  - requests_before_idle: the requests the widget made before the load event other than its
    own script; ui_loaded: whether widget-ui.js was loaded without any interaction.
``cls_added`` and ``main_thread_ms_added`` are the medians with minus the medians without.

API: POST /storefront/api/opt-in, open loop at ``--rate`` requests/s for ``--seconds``: each
with a new German mobile number and its own visitor address (X-Forwarded-For, one trusted
proxy), as many shoppers would, so the per-visitor and per-number limits are not what is
measured; the requests go round ``--shops`` shops (the Shopify one and more like it), since
each shop's pooled limit (500 an hour) bounds its share of rate × seconds. Latency from send
to the last byte; ``api_p99_ms`` is its p99 over the 202 answers (every other status is
counted in ``api_statuses``).

Lighthouse: the same page without and with the widget, served over HTTP from this process at
a WooCommerce store's origin (http://127.0.0.1:<port>, whose widget is on too), audited
``--lighthouse-runs`` times each by npm lighthouse 12.2.3 (bench/lighthouse, installed there
with ``npm ci`` on first use) driving Debian's Chromium, performance category only, its default
(simulated mobile) throttling. ``lighthouse_delta`` is the median score with minus the median
without, in points (0-100); null with ``--no-lighthouse`` or when npm is missing.

    python bench/widget.py [--runs 5] [--rate 25] [--seconds 8] [--shops 1] [--lighthouse-runs 3 | --no-lighthouse]

The issue's load goal: ``--rate 200 --seconds 5 --shops 3``.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._support import database_url, port_open  # noqa: E402

BUILT = ROOT / "connector" / "static" / "storefront"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
DOMAIN = "bench-widget.myshopify.com"
STORE = f"https://{DOMAIN}"
PAGE_URL = f"{STORE}/products/becher-blau"
CONSENT = "Ja, schickt mir Angebote und Neuigkeiten per WhatsApp. Abmelden jederzeit mit STOP."

PAGE = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Becher Blau – Bench Shop</title><meta property="og:type" content="product">
<style>body{{font:16px/1.5 system-ui,sans-serif;margin:0}}header,main,footer{{padding:16px 24px}}
header{{background:#222;color:#fff}}.grid{{display:grid;grid-template-columns:1fr 1fr;gap:24px}}
svg{{width:100%;height:auto;display:block}}</style></head>
<body><header><strong>Bench Shop</strong> · Becher · Teller · Kontakt</header>
<main><div class="grid"><svg viewBox="0 0 400 300" role="img" aria-label="Becher Blau">
<rect width="400" height="300" fill="#dfe8f5"/><circle cx="200" cy="150" r="90" fill="#2f5da8"/></svg>
<div><h1>Becher Blau</h1><p>29,90 €</p>
<form action="/cart/add" method="post"><label for="variant">Größe</label>
<select id="variant" name="id"><option value="111">Klein</option><option value="222">Groß</option></select>
<button type="submit">In den Warenkorb</button></form>
{paragraphs}</div></div></main><footer>© Bench Shop</footer>
{widget}
</body></html>"""
WIDGET_TAG = ('<script src="{base}/storefront/widget.js" data-shop="{shop_key}" data-api="{base}/storefront/api" '
              'data-locale="de" data-country="DE" data-product-id="9001" '
              """data-variants='[{{"id":"111","available":true}},{{"id":"222","available":true}}]' defer></script>""")
MEASURE = """async (withWidget) => {
  const entries = (type) => new Promise((resolve) => {
    const found = [];
    try {
      new PerformanceObserver((list) => found.push(...list.getEntries())).observe({type, buffered: true});
    } catch (error) {}
    setTimeout(() => resolve(found), 50);
  });
  if (withWidget) {
    const deadline = Date.now() + 15000;
    while (!document.querySelector('[data-whatsapp-widget]') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const shifts = await entries('layout-shift');
  const tasks = await entries('longtask');
  const load = performance.getEntriesByType('navigation')[0].loadEventStart;
  const resources = performance.getEntriesByType('resource');
  return {
    drawn: Boolean(document.querySelector('[data-whatsapp-widget]')),
    cls: shifts.filter((e) => !e.hadRecentInput).reduce((sum, e) => sum + e.value, 0),
    long_tasks: tasks.length,
    long_task_ms: tasks.reduce((sum, e) => sum + e.duration, 0),
    requests_before_idle: resources.filter((r) => r.startTime < load && !r.name.includes('/widget.js')).length,
    ui_loaded: resources.some((r) => r.name.includes('widget-ui.js')),
    widget_requests: resources.map((r) => r.name.replace(/^https?:\\/\\/[^/]+/, '')),
  };
}"""


def seed(env: dict[str, str], woo_origin: str, shops: int) -> tuple[list[str], str]:
    """Schema by the real migrations; ``shops`` Shopify shops and a WooCommerce store (at
    ``woo_origin``, for Lighthouse), each with a WhatsApp number and the widget on. Their keys."""
    from flask_migrate import upgrade

    from connector.app import create_app
    from connector.extensions import db
    from connector.models import Shop, WhatsAppAccount

    app = create_app(env)
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        keys = []
        stores = [("woocommerce", woo_origin), ("shopify", DOMAIN),
                  *(("shopify", f"bench-widget-{n}.myshopify.com") for n in range(1, shops))]
        for number, (platform, domain) in enumerate(stores):
            shop = Shop(platform=platform, domain=domain, time_zone="Europe/Berlin", locale="de", country="DE",
                        settings={"governor": {"quiet_hours": {"enabled": False}},
                                  "storefront": {"enabled": True, "popup": {"enabled": True, "trigger": "exit"}}})
            shop.credentials = {"access_token": "shpat_bench", "webhook_secret": "bench"}
            db.session.add(shop)
            db.session.flush()
            db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id=f"9{number:05d}", waba_id="WABA-BENCH",
                                           access_token="EAAG-bench", display_phone_number="+49 30 1234567"))
            keys.append(shop.shop_key)
        db.session.commit()
        db.engine.dispose()
    return keys[1:], keys[0]


def answer(html: str, base: str):
    """The browser's edge: the shop's page from here, the app from its server, nothing else."""
    def route(request_route) -> None:
        if request_route.request.url == PAGE_URL:
            request_route.fulfill(status=200, content_type="text/html", body=html)
        elif request_route.request.url.startswith(base):
            request_route.continue_()
        else:
            request_route.abort()

    return route


def sample_pages(base: str, shop_key: str) -> dict[bool, str]:
    paragraphs = "".join(f"<p>Absatz {n}: ein Becher aus Steingut, spülmaschinenfest, 350 ml.</p>" for n in range(40))
    return {False: PAGE.format(paragraphs=paragraphs, widget=""),
            True: PAGE.format(paragraphs=paragraphs, widget=WIDGET_TAG.format(base=base, shop_key=shop_key))}


def serve_pages(pages: dict[bool, str], server: ThreadingHTTPServer) -> None:
    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the handler's API)
            body = {"/without": pages[False], "/with": pages[True]}.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "").encode())

        def log_message(self, *args) -> None:
            pass

    server.RequestHandlerClass = Pages
    threading.Thread(target=server.serve_forever, daemon=True).start()


def lighthouse_delta(origin: str, runs: int) -> dict:
    """Median Lighthouse performance scores (0-100) of /without and /with at ``origin``."""
    folder = ROOT / "bench" / "lighthouse"
    if shutil.which("npm") is None:
        return {"lighthouse_delta": None, "lighthouse_note": "npm not installed"}
    if not (folder / "node_modules" / ".bin" / "lighthouse").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True,
                       timeout=300, stdout=subprocess.DEVNULL)
    scores: dict[str, list[float]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(runs):
            for variant in ("without", "with"):
                report = Path(scratch) / f"{variant}.json"
                subprocess.run(
                    [str(folder / "node_modules" / ".bin" / "lighthouse"), f"{origin}/{variant}",
                     "--only-categories=performance", "--output=json", f"--output-path={report}", "--quiet",
                     "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-background-networking"],
                    env={**os.environ, "CHROME_PATH": CHROMIUM}, check=True, timeout=180)
                result = json.loads(report.read_text())
                if result.get("runtimeError"):
                    raise SystemExit(f"lighthouse: {result['runtimeError']}")
                requested = [item["url"] for item in result["audits"]["network-requests"]["details"]["items"]]
                if variant == "with" and not any("/widget-settings" in url for url in requested):
                    raise SystemExit(f"lighthouse: the widget did not start on the page ({requested})")
                scores[variant].append(result["categories"]["performance"]["score"] * 100)
    without, with_widget = statistics.median(scores["without"]), statistics.median(scores["with"])
    return {"lighthouse_without": without, "lighthouse_with": with_widget,
            "lighthouse_delta": round(with_widget - without, 1), "lighthouse_scores": scores}


def measure_page(base: str, shop_key: str, runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    pages = sample_pages(base, shop_key)
    samples: dict[bool, list[dict]] = {False: [], True: []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-quic", "--disable-sync"])
        try:
            for run in range(runs + 1):  # the first round warms the browser, the server and the caches
                for with_widget in (False, True):
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    context.grant_permissions(["local-network-access"], origin=STORE)  # a loopback app

                    context.route("**/*", answer(pages[with_widget], base))
                    page = context.new_page()
                    cdp = context.new_cdp_session(page)
                    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
                    page.goto(PAGE_URL, wait_until="load")
                    figures = page.evaluate(MEASURE, with_widget)
                    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                    figures["main_thread_ms"] = metrics.get("TaskDuration", 0.0) * 1000
                    if with_widget and not figures["drawn"]:
                        raise SystemExit(f"the widget drew no button: {figures}")
                    if run:
                        samples[with_widget].append(figures)
                    context.close()
        finally:
            browser.close()

    def median(with_widget: bool, key: str) -> float:
        return statistics.median(float(s[key]) for s in samples[with_widget])

    return {
        "cls_without": round(median(False, "cls"), 4), "cls_with": round(median(True, "cls"), 4),
        "cls_added": round(median(True, "cls") - median(False, "cls"), 4),
        "main_thread_ms_without": round(median(False, "main_thread_ms"), 1),
        "main_thread_ms_with": round(median(True, "main_thread_ms"), 1),
        "main_thread_ms_added": round(median(True, "main_thread_ms") - median(False, "main_thread_ms"), 1),
        "long_tasks_added": median(True, "long_tasks") - median(False, "long_tasks"),
        "requests_before_idle": max(s["requests_before_idle"] for s in samples[True]),
        "ui_loaded_without_interaction": any(s["ui_loaded"] for s in samples[True]),
        "widget_requests": samples[True][-1]["widget_requests"],
    }


async def opt_in_load(base: str, shop_keys: list[str], rate: float, seconds: float) -> dict:
    import aiohttp

    count = int(rate * seconds)
    numbers = random.sample(range(10_000_000, 99_999_999), count)
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async def one(session, index: int) -> None:
        await asyncio.sleep(index / rate)
        body = {"shop_key": shop_keys[index % len(shop_keys)], "phone": f"+49151{numbers[index]}",
                "consent_text": CONSENT, "source": "widget_popup", "locale": "de", "country": "DE"}
        visitor = f"198.51.{index // 250}.{index % 250 + 1}"
        started = time.perf_counter()
        try:
            async with session.post(f"{base}/storefront/api/opt-in", json=body,
                                    headers={"X-Forwarded-For": visitor},
                                    timeout=aiohttp.ClientTimeout(total=30)) as response:
                await response.read()
                status = str(response.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            status = type(error).__name__
        elapsed = (time.perf_counter() - started) * 1000
        statuses[status] = statuses.get(status, 0) + 1
        if status == "202":
            latencies.append(elapsed)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        # warm-up: one request per worker process and connection pool
        for _ in range(4):
            async with session.post(f"{base}/storefront/api/opt-in", json={"shop_key": shop_keys[0]}) as response:
                await response.read()
        await asyncio.gather(*(one(session, index) for index in range(count)))
    ordered = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2) if ordered else None

    return {"api_rate": rate, "api_shops": len(shop_keys), "api_requests": count, "api_statuses": statuses,
            "api_p50_ms": pct(50), "api_p99_ms": pct(99), "api_max_ms": round(ordered[-1], 2) if ordered else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="page loads measured per variant")
    parser.add_argument("--rate", type=float, default=25.0, help="opt-in requests per second")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--shops", type=int, default=1, help="shops the opt-ins go round")
    parser.add_argument("--lighthouse-runs", type=int, default=3)
    parser.add_argument("--no-lighthouse", action="store_true")
    args = parser.parse_args()
    if args.rate * args.seconds > 480 * args.shops:
        parser.error("rate × seconds / shops must stay under a shop's pooled limit of 500 opt-ins an hour")
    if not (BUILT / "widget.js").is_file():
        raise SystemExit("the widget is not built: run make (it builds widget/ into connector/static/storefront)")

    from cryptography.fernet import Fernet

    from connector import embedded_redis

    sizes = {name: len(gzip.compress((BUILT / name).read_bytes(), compresslevel=9))
             for name in ("widget.js", "widget-ui.js")}
    workdir = tempfile.mkdtemp(prefix="connector-widget-bench-")
    redis = None if os.environ.get("REDIS_URL") else embedded_redis.start()
    redis_url = os.environ.get("REDIS_URL") or redis.url
    env = {
        "CONNECTOR_ENV": "test", "CONNECTOR_INSTANCE_PATH": workdir,
        "DATABASE_URL": database_url(workdir, "connector_bench_widget"), "REDIS_URL": redis_url,
        "SECRET_KEY": "bench", "ENCRYPTION_KEY": Fernet.generate_key().decode(), "WHATSAPP_APP_SECRET": "bench",
        "WHATSAPP_VERIFY_TOKEN": "bench", "SHOPIFY_API_KEY": "bench", "SHOPIFY_API_SECRET": "bench-secret",
        "LOG_LEVEL": "WARNING", "TRUSTED_PROXY_COUNT": "1",
    }
    server = None
    page_server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    woo_origin = f"http://127.0.0.1:{page_server.server_port}"
    serving = False
    try:
        shop_keys, woo_key = seed(env, woo_origin, args.shops)
        import redis as redis_module

        redis_module.Redis.from_url(redis_url).flushdb()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "connector.app:create_app()"],
            cwd=ROOT, env={**os.environ, **env})
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        page = measure_page(base, shop_keys[0], args.runs)
        lighthouse: dict = {"lighthouse_delta": None}
        if not args.no_lighthouse:
            serve_pages(sample_pages(base, woo_key), page_server)
            serving = True
            lighthouse = lighthouse_delta(woo_origin, args.lighthouse_runs)
        api = asyncio.run(opt_in_load(base, shop_keys, args.rate, args.seconds))
    finally:
        if serving:
            page_server.shutdown()  # it waits for serve_forever, which runs only for Lighthouse
        page_server.server_close()
        if server is not None:
            server.terminate()
            server.wait(10)
        if redis is not None:
            redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"widget.js {sizes['widget.js']} B gzipped (budget 10240), widget-ui.js {sizes['widget-ui.js']} B on demand")
    print(f"layout shift added {page['cls_added']}, main thread added {page['main_thread_ms_added']} ms, "
          f"requests before idle {page['requests_before_idle']}")
    print(f"lighthouse performance: {lighthouse.get('lighthouse_without')} without, "
          f"{lighthouse.get('lighthouse_with')} with the widget (delta {lighthouse['lighthouse_delta']})")
    print(f"opt-in at {api['api_rate']:.0f} req/s: p50 {api['api_p50_ms']} ms, p99 {api['api_p99_ms']} ms "
          f"({api['api_statuses']})")
    print(json.dumps({"bench": "widget", "widget_gzip_bytes": sizes["widget.js"],
                      "widget_ui_gzip_bytes": sizes["widget-ui.js"], **page, **lighthouse, **api}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
