"""Sandbox WhatsApp Cloud API: a real HTTP server that answers like Meta's Graph endpoints.

Dev, demo, tests and benchmarks point ``WHATSAPP_API_BASE_URL`` at it instead of
https://graph.facebook.com, and merchants use it to try the product before they connect a
real number. Where it matters it behaves like Meta: it validates send payloads, answers
Graph-shaped errors, enforces per-number throughput (130429) and per-recipient pair rate
(131056) at arrival, delays answers by a configurable latency, and posts signed status
webhooks (sent, delivered, read, or failed) to the app. Faults are injected on demand.

In-process: ``url = Sandbox(webhook_url=...).start()``; standalone:
``python -m integrations.whatsapp.sandbox --port 8025 --webhook-url URL``.
Control endpoints live under ``/_sandbox/`` (faults, reset, messages, stats, limits, inbound).
Templates (create, list, edit with Meta's edit rules), Resumable Upload sessions for their
sample media, and the phone number's node with its messaging limit answer as Graph does.

This module holds the ``Sandbox`` class (configuration, state, start/stop, the Python API)
and the CLI; the endpoints come from mixins beside it: ``sandbox_http`` (routes, edge checks,
answers), ``sandbox_messages`` (sends), ``sandbox_media``, ``sandbox_templates``,
``sandbox_control`` (``/_sandbox/``) and ``sandbox_webhooks`` (what is posted to the app).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from integrations.whatsapp.consts import WEBHOOK_OBJECT
from integrations.whatsapp.sandbox_control import ControlMixin
from integrations.whatsapp.sandbox_http import make_app
from integrations.whatsapp.sandbox_limits import Fault, PairLimiter, ThroughputLimiter, parse_fault
from integrations.whatsapp.sandbox_media import MediaMixin
from integrations.whatsapp.sandbox_messages import MessagesMixin
from integrations.whatsapp.sandbox_templates import TemplatesMixin

__all__ = ["Sandbox", "main", "make_app"]


class Sandbox(MessagesMixin, MediaMixin, TemplatesMixin, ControlMixin):
    """An in-memory WhatsApp Cloud API: HTTP server, limiters, fault queue and status webhooks.

    All state sits behind one lock so tests may read it from other threads while the server's
    own event loop (a daemon thread after :meth:`start`) serves requests.
    """

    #: seconds between webhook retries; Meta retries with backoff (for up to 7 days)
    webhook_retry_delays: tuple[float, ...] = (0.25, 1.0, 4.0)

    def __init__(self, *, app_secret: str = "sandbox-app-secret", webhook_url: str | None = None,
                 latency_ms: float = 0, throughput_per_second: int = 80, pair_interval_seconds: float = 6.0,
                 pair_burst: int = 45, status_delays: tuple[float, float, float] = (0.05, 0.3, 0.8),
                 send_statuses: bool = True, waba_id: str = "SANDBOX_WABA",
                 display_phone_number: str = "15550000000", webhook_concurrency: int = 32) -> None:
        self.app_secret = app_secret
        self.webhook_url = webhook_url
        self.status_delays = tuple(status_delays)
        self.send_statuses = send_statuses
        self.waba_id = waba_id
        self.display_phone_number = display_phone_number
        self.webhook_concurrency = webhook_concurrency
        self.base_url = ""
        self._initial_latency = self._latency = latency_ms / 1000.0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._throughput = ThroughputLimiter(throughput_per_second)
        self._pairs = PairLimiter(pair_burst, pair_interval_seconds)
        self._faults: list[Fault] = []
        #: how many requests a fault hit, and when the last one was hit (``time.time()``), so a
        #: test or benchmark can measure recovery from the moment a storm of faults ended
        self._faults_applied = 0
        self._last_fault_at: float | None = None
        self._messages: list[dict[str, Any]] = []
        self._media: dict[str, tuple[bytes, str, str]] = {}  # id -> (bytes, mime, sha256)
        self._rejected: collections.Counter[str] = collections.Counter()
        self._webhooks: collections.Counter[str] = collections.Counter()
        self._versions: set[str] = set()
        self._last_giveup_log = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._post_slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._templates: list[dict[str, Any]] = []
        #: template name -> (event, reason) its reviews end with instead of APPROVED
        self._template_verdicts: dict[str, tuple[str, str]] = {}
        self._upload_sessions: dict[str, dict[str, Any]] = {}  # "upload:..." -> declared file
        self._handles: dict[str, tuple[bytes, str]] = {}  # Resumable Upload handle -> (bytes, mime)
        #: phone number id -> {"messaging_limit_tier", "whatsapp_business_manager_messaging_limit", ...}
        self._numbers: dict[str, dict[str, Any]] = {}
        #: seconds after a template is created until its APPROVED status webhook is posted
        self.template_review_delay = 0.05

    # ---- lifecycle -------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread with its own event loop; return the base URL once listening."""
        if self._thread is not None:
            raise RuntimeError("sandbox already started")
        ready, failure = threading.Event(), []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._open(host, port))
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                self._loop = None
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._close())
                loop.close()

        self._thread = threading.Thread(target=run, name="whatsapp-sandbox", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            self._thread = None
            raise failure[0]
        return self.base_url

    def stop(self) -> None:
        """Stop the server thread, cancelling pending status webhooks."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
        self._thread = self._loop = None

    async def serve(self, host: str = "127.0.0.1", port: int = 8025,
                    on_ready: Callable[[str], None] | None = None) -> None:
        """Serve on the running loop until SIGINT/SIGTERM (the CLI's foreground mode)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
                pass
        url = await self._open(host, port)
        if on_ready:
            on_ready(url)
        try:
            await stop.wait()
        finally:
            await self._close()

    async def _open(self, host: str, port: int) -> str:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=5),
            connector=aiohttp.TCPConnector(limit=self.webhook_concurrency))
        self._post_slots = asyncio.Semaphore(self.webhook_concurrency)
        self._runner = web.AppRunner(make_app(self), access_log=None, shutdown_timeout=2.0)
        try:
            await self._runner.setup()
            await web.TCPSite(self._runner, host, port, backlog=2048).start()
        except BaseException:  # e.g. port in use: release the session and runner, then report
            await self._close()
            raise
        bound = self._runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{bound}"
        return self.base_url

    async def _close(self) -> None:
        await self._cancel_tasks()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- Python API ----------------------------------------------------------------------
    def messages(self, phone_number_id: str | None = None) -> list[dict[str, Any]]:
        """A copy of the accepted message records, optionally of one business number."""
        with self._lock:
            return [dict(m) for m in self._messages
                    if phone_number_id is None or m["phone_number_id"] == phone_number_id]

    def wait_for_messages(self, count: int, timeout: float = 10.0, phone_number_id: str | None = None) -> bool:
        """Block until at least ``count`` messages were accepted; False on timeout."""
        def enough() -> bool:
            if phone_number_id is None:
                return len(self._messages) >= count
            return sum(m["phone_number_id"] == phone_number_id for m in self._messages) >= count
        with self._cond:
            return self._cond.wait_for(enough, timeout)

    def received_at(self) -> list[float]:
        """Arrival times (``time.time()``) of accepted messages, for benchmarks."""
        with self._lock:
            return [m["received_at"] for m in self._messages]

    def inject(self, **fault: Any) -> None:
        """Queue a fault (same fields as ``POST /_sandbox/faults``); ValueError if malformed.

        ``http`` faults hit the next requests of any Graph endpoint before anything is checked
        (like a proxy in front of Graph); ``error`` faults hit the next valid sends matching
        ``to`` before the limiters; ``status_failure`` faults the next accepted matching sends;
        ``lost_reply`` faults accept the next matching sends but answer them with a bare 5xx.
        Within a kind faults apply in FIFO order, and ``count`` drops only when one applies.
        """
        try:
            parsed = parse_fault(fault)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad fault {fault!r}: {exc}") from exc
        with self._lock:
            if isinstance(parsed, float):
                self._latency = parsed
            else:
                self._faults.append(parsed)

    def set_limits(self, phone_number_id: str, *, throughput_per_second: int | None = None) -> None:
        """Override the throughput of one business number (None restores the default)."""
        with self._lock:
            if throughput_per_second is None:
                self._throughput.overrides.pop(phone_number_id, None)
            else:
                self._throughput.overrides[phone_number_id] = throughput_per_second

    def set_number(self, phone_number_id: str, **fields: Any) -> None:
        """Set fields of a phone number's node as ``GET /{phone-number-id}`` answers them,
        e.g. ``messaging_limit_tier="TIER_10K"`` or
        ``whatsapp_business_manager_messaging_limit="TIER_2K"``; None leaves a field out of the
        answer (as Meta does for the per-number tier it is retiring)."""
        with self._lock:
            self._numbers.setdefault(phone_number_id, {}).update(fields)

    def set_template_verdict(self, name: str, event: str | None = "REJECTED", reason: str = "INVALID_FORMAT") -> None:
        """Make every later review of template ``name`` end with ``event`` (None: approve again)."""
        with self._lock:
            if event is None:
                self._template_verdicts.pop(name, None)
            else:
                self._template_verdicts[name] = (event, reason)

    def recategorise_template(self, name: str, language: str, new_category: str, *,
                              impending: bool = False) -> int:
        """Change a created template's category the way Meta's review does after approval, and POST
        the ``template_category_update`` webhook; returns the app's HTTP status. ``impending``
        sends the advance notice instead (``correct_category``, the category kept until then).
        https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/template_category_update
        """
        with self._lock:
            record = next((t for t in self._templates if t["name"] == name and t["language"] == language), None)
            if record is None:
                raise KeyError(f"no template {name} in {language}")
            previous = record["category"]
            value: dict[str, Any] = {"message_template_id": int(record["id"]), "message_template_name": name,
                                     "message_template_language": language}
            if impending:
                value.update(correct_category=new_category, new_category=previous,
                             category_update_timestamp=int(time.time()) + 86400)
            else:
                record["category"] = new_category
                value.update(previous_category=previous, new_category=new_category)
            record["webhook_time"] = max(int(time.time()), record.get("webhook_time", 0) + 1)
            envelope = {"object": WEBHOOK_OBJECT, "entry": [{"id": record["waba_id"], "time": record["webhook_time"],
                        "changes": [{"value": value, "field": "template_category_update"}]}]}
        return self._run_on_loop(self._post(json.dumps(envelope, separators=(",", ":")).encode()))

    def uploaded(self, handle: str) -> tuple[bytes, str] | None:
        """The bytes and MIME type behind a Resumable Upload handle, or None."""
        with self._lock:
            return self._handles.get(handle)

    def templates(self) -> list[dict[str, Any]]:
        """A copy of the templates created so far."""
        with self._lock:
            return [dict(t) for t in self._templates]

    def reset(self) -> None:
        """Clear messages, media, faults (latency too), limiter windows, stats, pending webhooks.

        Per-number limits from :meth:`set_limits` are configuration and stay.
        """
        self._reset_state()
        if self._loop is not None and self._loop.is_running():
            self._run_on_loop(self._cancel_tasks())

    def _reset_state(self) -> None:
        with self._lock:
            self._messages.clear()
            self._media.clear()
            self._faults.clear()
            self._faults_applied, self._last_fault_at = 0, None
            self._latency = self._initial_latency
            self._throughput.reset()
            self._pairs.reset()
            self._rejected.clear()
            self._webhooks.clear()
            self._templates.clear()
            self._template_verdicts.clear()
            self._upload_sessions.clear()
            self._handles.clear()
            self._numbers.clear()

    def stats(self) -> dict[str, Any]:
        """Counts: accepted messages, rejections by code, uploaded media, webhook outcomes."""
        with self._lock:
            return {"accepted": len(self._messages), "rejected": dict(self._rejected),
                    "media": len(self._media), "webhooks": dict(self._webhooks),
                    "pending_faults": sum(f.count for f in self._faults),
                    "faults_applied": self._faults_applied, "last_fault_at": self._last_fault_at,
                    "latency_ms": self._latency * 1000.0, "api_versions": sorted(self._versions)}

    def post_inbound(self, phone_number_id: str, value: dict[str, Any], *, field: str | None = None) -> int:
        """POST a signed webhook carrying ``value`` (a shopper message, user_preferences, ...).

        ``messaging_product`` and ``metadata`` are filled in when absent; ``field`` defaults to
        ``user_preferences`` when the value has that key, else ``messages``. Returns the app's
        HTTP status; raises ConnectionError when the app cannot be reached.
        """
        body = self._inbound_body(phone_number_id, value, field)
        return self._run_on_loop(self._post(body))

    def _run_on_loop(self, coro: Any) -> Any:
        """Run a coroutine on the server loop from another thread and wait for its result."""
        loop = self._loop
        if loop is None or not loop.is_running():
            coro.close()
            raise RuntimeError("sandbox is not running; call start() first")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("call the async variant from the sandbox's own loop")
        try:
            return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=15)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ConnectionError(f"webhook POST to {self.webhook_url} failed: {exc!r}") from exc


def main(argv: list[str] | None = None) -> int:
    """CLI: run the sandbox in the foreground until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m integrations.whatsapp.sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--app-secret", default="sandbox-app-secret")
    parser.add_argument("--webhook-url", default=None, help="where status webhooks are POSTed")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--throughput", type=int, default=80, help="accepted msg/s per phone number")
    parser.add_argument("--pair-interval", type=float, default=6.0)
    parser.add_argument("--pair-burst", type=int, default=45)
    parser.add_argument("--status-delays", default="0.05,0.3,0.8", help="sent,delivered,read seconds")
    parser.add_argument("--no-statuses", action="store_true", help="do not post status webhooks")
    parser.add_argument("--waba-id", default="SANDBOX_WABA")
    parser.add_argument("--display-phone-number", default="15550000000")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    delays = tuple(float(x) for x in args.status_delays.split(","))
    if len(delays) != 3:
        parser.error("--status-delays needs three comma-separated numbers")
    sandbox = Sandbox(app_secret=args.app_secret, webhook_url=args.webhook_url, latency_ms=args.latency_ms,
                      throughput_per_second=args.throughput, pair_interval_seconds=args.pair_interval,
                      pair_burst=args.pair_burst, status_delays=delays,
                      send_statuses=not args.no_statuses, waba_id=args.waba_id,
                      display_phone_number=args.display_phone_number)
    asyncio.run(sandbox.serve(args.host, args.port,
                              on_ready=lambda url: print(f"sandbox listening on {url}", flush=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
