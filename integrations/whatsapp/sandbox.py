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
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import hmac
import json
import logging
import secrets
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from integrations.whatsapp.consts import (
    GRAPH_API_VERSION, SIGNATURE_HEADER, SIGNATURE_PREFIX, STATUS_DELIVERED, STATUS_FAILED, STATUS_READ,
    STATUS_SENT, WEBHOOK_OBJECT,
)
from integrations.whatsapp.sandbox_limits import (
    Fault, GraphError, PairLimiter, ThroughputLimiter, new_wamid, parse_fault, status_item, take_fault,
    validate_send, validate_template,
)

log = logging.getLogger(__name__)

_VERSION = r"{version:v\d+\.\d+}"
_MAX_UPLOAD = 110 * 1024 * 1024  # Meta accepts documents up to 100 MB; aiohttp's default is 1 MB


def _is_media_id(object_id: str) -> bool:
    """Media ids the sandbox hands out are ``10**15 + n`` (16 digits); any other id is a business number."""
    return len(object_id) == 16 and object_id.isdigit()


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data, separators=(",", ":")).encode(), status=status,
                        content_type="application/json")


class _RawReply(Exception):
    """An injected non-Graph HTTP failure (a 5xx from the edge, plain body)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Sandbox:
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

    def uploaded(self, handle: str) -> tuple[bytes, str] | None:
        """The bytes and MIME type behind a Resumable Upload handle, or None."""
        with self._lock:
            return self._handles.get(handle)

    def reset(self) -> None:
        """Clear messages, media, faults (latency too), limiter windows, stats, pending webhooks.

        Per-number limits from :meth:`set_limits` are configuration and stay.
        """
        self._reset_state()
        if self._loop is not None and self._loop.is_running():
            self._run_on_loop(self._cancel_tasks())

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

    def _inbound_body(self, phone_number_id: str, value: dict[str, Any], field: str | None) -> bytes:
        if not self.webhook_url:
            raise RuntimeError("no webhook_url configured")
        field = field or ("user_preferences" if "user_preferences" in value else "messages")
        return self._envelope(phone_number_id, field, value)

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

    # ---- request handling ----------------------------------------------------------------
    def _edge_and_auth(self, request: web.Request) -> str:
        """Apply a queued ``http`` fault, then require ``Authorization: Bearer <token>``."""
        if self._faults:
            with self._lock:
                fault = take_fault(self._faults, "http")
                if fault is not None:
                    self._note_fault()
            if fault is not None:
                if fault.status == 429:
                    raise GraphError(130429, "Too many requests (injected).", http_status=429)
                raise _RawReply(fault.status)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token",
                             message="Invalid OAuth access token - Cannot parse access token")
        version = request.match_info.get("version")
        if version and version not in self._versions:
            with self._lock:
                self._versions.add(version)
            if version != GRAPH_API_VERSION:
                log.warning("client called Graph %s; the pinned version is %s", version, GRAPH_API_VERSION)
        return token

    async def _answer(self, work: Callable[[], Awaitable[Any]]) -> web.StreamResponse:
        """Decide at arrival (``work``), then wait the configured latency, then answer."""
        try:
            result = await work()
            response = result if isinstance(result, web.StreamResponse) else _json(result)
        except GraphError as err:
            with self._lock:
                self._rejected[str(err.code)] += 1
            response = _json(err.body(), err.http_status)
        except _RawReply as raw:
            with self._lock:
                self._rejected[f"http_{raw.status}"] += 1
            response = web.Response(status=raw.status, text=f"{raw.status} injected by sandbox\n")
        if self._latency > 0:
            await asyncio.sleep(self._latency)  # never block the loop: other requests keep flowing
        return response

    async def handle_send(self, request: web.Request) -> web.StreamResponse:
        """``POST /{version}/{phone_number_id}/messages``."""
        # Meta counts a request when it arrives; the earliest moment aiohttp lets us see it is
        # here, once its headers are parsed. Stamping after the body is read (or later, when
        # the handler got its turn on a busy loop) squeezes arrivals together and refuses
        # sends that kept to the limit (issue 14, 18).
        arrived = time.monotonic()

        async def work() -> dict[str, Any]:
            token = self._edge_and_auth(request)
            try:
                body = json.loads(await request.read())
            except ValueError:
                raise GraphError(100, "The request body is not valid JSON.") from None
            to, mtype = validate_send(body)
            return self._accept(request.match_info["phone_number_id"], request.match_info["version"],
                                token, to, mtype, body, arrived=arrived)
        return await self._answer(work)

    def _accept(self, pnid: str, version: str, token: str, to: str, mtype: str,
                body: dict[str, Any], *, arrived: float | None = None) -> dict[str, Any]:
        """Faults, then throughput, then pair rate; record the message if it passes."""
        wa_id = to.strip().lstrip("+")  # Meta answers wa_id without the "+"
        now = time.monotonic() if arrived is None else arrived
        with self._cond:
            failure = None
            if self._faults:
                fault = take_fault(self._faults, "error", wa_id)
                if fault is not None:
                    self._note_fault()
                    raise GraphError(fault.code, fault.details, fault.http_status)
            if not self._throughput.allows(pnid, now):
                raise GraphError(130429)
            if not self._pairs.take(pnid, wa_id, now):
                raise GraphError(131056)
            self._throughput.record(pnid, now)
            lost = None
            if self._faults:
                failure = take_fault(self._faults, "status_failure", wa_id)
                lost = take_fault(self._faults, "lost_reply", wa_id)
                if failure is not None or lost is not None:
                    self._note_fault()
            wamid = new_wamid(wa_id)
            record = {"wamid": wamid, "phone_number_id": pnid, "to": to, "type": mtype, "payload": body,
                      "received_at": time.time(), "callback_data": body.get("biz_opaque_callback_data"),
                      "access_token": token, "api_version": version}
            self._messages.append(record)
            self._cond.notify_all()
        if self.webhook_url and self.send_statuses:
            task = asyncio.get_running_loop().create_task(self._deliver_statuses(record, wa_id, failure))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if lost is not None:
            raise _RawReply(lost.status)
        sent: dict[str, Any] = {"id": wamid}
        if mtype == "template":
            sent["message_status"] = "accepted"  # template pacing result; see pywa SentTemplateStatus
        return {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [sent]}

    async def handle_media_upload(self, request: web.Request) -> web.StreamResponse:
        """``POST /{version}/{phone_number_id}/media`` (multipart: file, type, messaging_product)."""
        async def work() -> dict[str, Any]:
            self._edge_and_auth(request)
            try:
                form = await request.post()
            except ValueError:
                raise GraphError(100, "Expected a multipart/form-data body.") from None
            if form.get("messaging_product") != "whatsapp":
                raise GraphError(100, "The parameter messaging_product is required and must be 'whatsapp'.")
            upload = form.get("file")
            if not isinstance(upload, web.FileField):
                raise GraphError(131008, "Parameter file is required.")
            mime = form.get("type") or upload.content_type
            if not isinstance(mime, str) or "/" not in mime:
                raise GraphError(131008, "Parameter type (the MIME type) is required.")
            data = upload.file.read()
            media_id = str(10**15 + secrets.randbelow(9 * 10**15))
            with self._lock:
                self._media[media_id] = (data, mime, hashlib.sha256(data).hexdigest())
            return {"id": media_id}
        return await self._answer(work)

    async def handle_media_info(self, request: web.Request) -> web.StreamResponse:
        """``GET /{version}/{id}``: Meta's media object with a download URL; any other id is a
        business phone number's node (``?fields=messaging_limit_tier,...``)."""
        async def work() -> dict[str, Any]:
            self._edge_and_auth(request)
            media_id = request.match_info["media_id"]
            if not _is_media_id(media_id):  # the sandbox's media ids are 16 digits from 10**15; others are numbers
                return self._number_node(media_id, request.query.get("fields"))
            data, mime, digest = self._media_or_error(media_id)
            return {"messaging_product": "whatsapp", "url": f"{request.scheme}://{request.host}/_sandbox/media/"
                    f"{media_id}", "mime_type": mime, "sha256": digest, "file_size": len(data), "id": media_id}
        return await self._answer(work)

    async def handle_media_delete(self, request: web.Request) -> web.StreamResponse:
        """``DELETE /{version}/{media_id}``."""
        async def work() -> dict[str, Any]:
            self._edge_and_auth(request)
            self._media_or_error(request.match_info["media_id"])
            with self._lock:
                self._media.pop(request.match_info["media_id"], None)
            return {"success": True}
        return await self._answer(work)

    async def handle_media_download(self, request: web.Request) -> web.StreamResponse:
        """``GET /_sandbox/media/{id}``: the bytes; like Meta's URL it needs the bearer token."""
        async def work() -> web.Response:
            self._edge_and_auth(request)
            data, mime, _ = self._media_or_error(request.match_info["media_id"])
            return web.Response(body=data, content_type=mime)
        return await self._answer(work)

    def _media_or_error(self, media_id: str) -> tuple[bytes, str, str]:
        with self._lock:
            item = self._media.get(media_id)
        if item is None:  # Graph's answer for an unknown object id
            raise GraphError(100, f"Unsupported get request. Object with ID '{media_id}' does not exist.")
        return item

    async def handle_create_template(self, request: web.Request) -> web.StreamResponse:
        """``POST /{version}/{waba_id}/message_templates``: accepted as PENDING, then approved.

        Like Meta, the verdict arrives later as a ``message_template_status_update`` webhook
        (entry id = the WABA id, no phone number metadata).
        """
        async def work() -> dict[str, Any]:
            self._edge_and_auth(request)
            try:
                body = json.loads(await request.read())
            except ValueError:
                raise GraphError(100, "The request body is not valid JSON.") from None
            name, category = validate_template(body)
            waba_id = request.match_info["waba_id"]
            with self._lock:
                for existing in self._templates:
                    if (existing["waba_id"], existing["name"], existing["language"]) == (waba_id, name, body["language"]):
                        # Meta refuses a name + language that exists: code 100, subcode 2388024; the
                        # existing one can only be edited (POST /{template-id})
                        raise GraphError(
                            100, f"Content in {body['language']} already exists for template {name}.",
                            message="Invalid parameter", subcode=2388024,
                            user_title="Content in This Language Already Exists",
                            user_message=f"There is already {body['language']} content for this template. "
                                         "You can create a new template and try again.")
                template_id = str(10**15 + secrets.randbelow(9 * 10**15))
                record = {"id": template_id, "waba_id": waba_id, "name": name, "language": body["language"],
                          "category": category, "status": "PENDING", "body": body, "edits": []}
                self._templates.append(record)
            task = asyncio.get_running_loop().create_task(self._review_template(record))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return {"id": template_id, "status": "PENDING", "category": category}
        return await self._answer(work)

    def templates(self) -> list[dict[str, Any]]:
        """A copy of the templates created so far."""
        with self._lock:
            return [dict(t) for t in self._templates]

    async def handle_list_templates(self, request: web.Request) -> web.StreamResponse:
        """``GET /{version}/{waba_id}/message_templates?name=``: the WABA's templates, Graph's list shape."""
        async def work() -> dict[str, Any]:
            self._edge_and_auth(request)
            waba_id, name = request.match_info["waba_id"], request.query.get("name")
            with self._lock:
                found = [{"id": t["id"], "name": t["name"], "language": t["language"], "status": t["status"],
                          "category": t["category"]}
                         for t in self._templates if t["waba_id"] == waba_id and (not name or t["name"] == name)]
            return {"data": found, "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}}}
        return await self._answer(work)

    async def handle_edit_template(self, request: web.Request) -> web.StreamResponse:
        """``POST /{version}/{template_id}``: edit a template the way Meta allows.

        Only APPROVED, REJECTED and PAUSED templates can be edited; an approved one keeps its
        category and may be edited once in 24 hours and ten times in 30 days. The edit goes
        back to review (PENDING) and its verdict arrives as a status webhook.
        https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates#edit-a-message-template
        """
        async def work() -> dict[str, Any]:
            self._edge_and_auth(request)
            template_id = request.match_info["object_id"]
            try:
                body = json.loads(await request.read())
            except ValueError:
                raise GraphError(100, "The request body is not valid JSON.") from None
            if not isinstance(body, dict) or not isinstance(body.get("components"), list):
                raise GraphError(100, "Invalid parameter: components are required.")
            now = time.time()
            with self._lock:
                record = next((t for t in self._templates if t["id"] == template_id), None)
                if record is None:
                    raise GraphError(100, f"Unsupported post request. Object with ID '{template_id}' does not exist.",
                                     subcode=33)
                category = body.get("category") or record["category"]
                validate_template({**record["body"], "components": body["components"], "category": category})
                if record["status"] not in ("APPROVED", "REJECTED", "PAUSED"):
                    raise GraphError(100, f"A template with status {record['status']} cannot be edited.",
                                     message="Invalid parameter", user_title="Template can't be edited",
                                     user_message="Only approved, rejected or paused templates can be edited.")
                if record["status"] == "APPROVED":
                    if category != record["category"]:
                        rule = "The category of an approved template cannot be changed."
                        raise GraphError(100, rule, message="Invalid parameter", user_title="Category can't be changed",
                                         user_message=rule)
                    recent = [t for t in record["edits"] if now - t < 30 * 86400]
                    if len(recent) >= 10 or any(now - t < 86400 for t in recent):
                        rule = "An approved template can be edited once in 24 hours and ten times in 30 days."
                        raise GraphError(100, rule, message="Invalid parameter", user_title="Edit limit reached",
                                         user_message=rule)
                    record["edits"] = recent + [now]
                record["body"] = {**record["body"], "components": body["components"], "category": category}
                record["category"], record["status"] = category, "PENDING"
            task = asyncio.get_running_loop().create_task(self._review_template(record))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return {"success": True}
        return await self._answer(work)

    async def handle_upload_session(self, request: web.Request) -> web.StreamResponse:
        """``POST /{version}/{app_id}/uploads?file_name=&file_length=&file_type=``: a Resumable Upload session.

        https://developers.facebook.com/docs/graph-api/guides/upload
        """
        async def work() -> dict[str, Any]:
            self._edge_and_auth(request)
            query = request.query
            length, mime = query.get("file_length", ""), query.get("file_type", "")
            if not length.isdigit() or int(length) <= 0:
                raise GraphError(100, "Invalid parameter: file_length must be the file's size in bytes.")
            if mime not in ("application/pdf", "image/jpeg", "image/jpg", "image/png", "video/mp4"):
                raise GraphError(100, "Invalid parameter: file_type must be application/pdf, image/jpeg, "
                                      "image/jpg, image/png or video/mp4.")
            session_id = "upload:" + secrets.token_urlsafe(24)
            with self._lock:
                self._upload_sessions[session_id] = {"app_id": request.match_info["app_id"], "length": int(length),
                                                     "type": mime, "name": query.get("file_name") or "file",
                                                     "data": b""}
            return {"id": session_id}
        return await self._answer(work)

    async def handle_upload_data(self, request: web.Request) -> web.StreamResponse:
        """``POST /{version}/upload:...`` (bytes, ``file_offset``, ``Authorization: OAuth``) → ``{"h"}``;
        ``GET`` on the same path answers how far an interrupted upload got (``file_offset``)."""
        async def work() -> dict[str, Any]:
            self._edge_and_auth_upload(request)
            session_id = request.match_info["session_id"]
            with self._lock:
                session = self._upload_sessions.get(session_id)
            if session is None:
                raise GraphError(100, f"Unsupported request. Object with ID '{session_id}' does not exist.",
                                 subcode=33)
            if request.method == "GET":
                return {"id": session_id, "file_offset": len(session["data"])}
            offset = request.headers.get("file_offset", "")
            if not offset.isdigit() or int(offset) != len(session["data"]):
                raise GraphError(100, f"Invalid parameter: file_offset must be {len(session['data'])}.")
            data = session["data"] + await request.read()
            if len(data) > session["length"]:
                raise GraphError(100, "Invalid parameter: more bytes than file_length.")
            with self._lock:
                session["data"] = data
                if len(data) < session["length"]:
                    return {"id": session_id, "file_offset": len(data)}
                handle = f"4::{session['type'].replace('/', '-')}:" + secrets.token_urlsafe(32)
                self._handles[handle] = (data, session["type"])
                del self._upload_sessions[session_id]
            return {"h": handle}
        return await self._answer(work)

    def _edge_and_auth_upload(self, request: web.Request) -> None:
        """Graph's upload step takes ``Authorization: OAuth <token>``, not Bearer."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "OAuth" or not token.strip():
            raise GraphError(190, "Invalid OAuth access token - the upload step needs 'Authorization: OAuth <token>'",
                             message="Invalid OAuth access token - Cannot parse access token")

    def _number_node(self, phone_number_id: str, fields: str | None) -> dict[str, Any]:
        """A business number's node: what Meta shows for a fresh number, unless :meth:`set_number` said else."""
        with self._lock:
            node = {"id": phone_number_id, "display_phone_number": self.display_phone_number,
                    "verified_name": "Sandbox Shop", "quality_rating": "GREEN", "code_verification_status": "VERIFIED",
                    "platform_type": "CLOUD_API", "throughput": {"level": "STANDARD"},
                    "messaging_limit_tier": "TIER_1K", "whatsapp_business_manager_messaging_limit": "TIER_2K",
                    **self._numbers.get(phone_number_id, {})}
        wanted = [f.strip() for f in (fields or "").split(",") if f.strip()]
        if not wanted:  # Graph's default fields of the node
            wanted = ["verified_name", "code_verification_status", "display_phone_number", "quality_rating",
                      "platform_type", "throughput"]
        return {"id": phone_number_id, **{f: node[f] for f in wanted if node.get(f) is not None}}

    async def _review_template(self, record: dict[str, Any]) -> None:
        await asyncio.sleep(self.template_review_delay)
        with self._lock:
            if record["status"] != "PENDING":
                return
            event, reason = self._template_verdicts.get(record["name"], ("APPROVED", "NONE"))
            record["status"] = event
        if not self.webhook_url:
            return
        value = {"event": event, "message_template_id": int(record["id"]),
                 "message_template_name": record["name"], "message_template_language": record["language"],
                 "reason": reason, "message_template_category": record["category"]}
        with self._lock:  # a later verdict on the same template never repeats an earlier body byte for byte
            record["webhook_time"] = max(int(time.time()), record.get("webhook_time", 0) + 1)
        envelope = {"object": WEBHOOK_OBJECT, "entry": [{"id": record["waba_id"], "time": record["webhook_time"],
                    "changes": [{"value": value, "field": "message_template_status_update"}]}]}
        await self._deliver(json.dumps(envelope, separators=(",", ":")).encode())

    # ---- status webhooks -------------------------------------------------------------------
    async def _deliver_statuses(self, record: dict[str, Any], wa_id: str, failure: Fault | None) -> None:
        """sent, then delivered and read (or failed), each at its delay after acceptance."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        d_sent, d_delivered, d_read = self.status_delays
        steps = [(STATUS_SENT, d_sent)]
        steps += [(STATUS_FAILED, d_delivered)] if failure else [(STATUS_DELIVERED, d_delivered), (STATUS_READ, d_read)]
        for status, delay in steps:
            wait = start + delay - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            item = status_item(record, status, wa_id, failure)
            body = self._envelope(record["phone_number_id"], "messages", {"statuses": [item]})
            await self._deliver(body)

    def _envelope(self, pnid: str, field: str, value: dict[str, Any]) -> bytes:
        value = {"messaging_product": "whatsapp",
                 "metadata": {"display_phone_number": self.display_phone_number, "phone_number_id": pnid},
                 **value}
        envelope = {"object": WEBHOOK_OBJECT,
                    "entry": [{"id": self.waba_id, "changes": [{"value": value, "field": field}]}]}
        return json.dumps(envelope, separators=(",", ":")).encode()

    async def _post(self, body: bytes) -> int:
        """One signed POST to the app: ``X-Hub-Signature-256`` over the exact body bytes."""
        assert self._session is not None and self._post_slots is not None and self.webhook_url
        signature = SIGNATURE_PREFIX + hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {SIGNATURE_HEADER: signature, "Content-Type": "application/json"}
        async with self._post_slots:  # bounded, so webhooks cannot starve the send path
            async with self._session.post(self.webhook_url, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status

    async def _deliver(self, body: bytes) -> None:
        """POST with retries and backoff like Meta; give up quietly, never raise."""
        for attempt in range(len(self.webhook_retry_delays) + 1):
            if attempt:
                await asyncio.sleep(self.webhook_retry_delays[attempt - 1])
            try:
                status = await self._post(body)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                log.debug("status webhook attempt %d failed: %r", attempt + 1, exc)
            else:
                if 200 <= status < 300:
                    self._count("delivered")
                    return
                log.debug("status webhook attempt %d answered %d", attempt + 1, status)
            self._count("retried")
        self._count("gave_up")
        now = time.monotonic()
        if now - self._last_giveup_log > 10:  # one line per 10 s, not one per message
            self._last_giveup_log = now
            log.warning("gave up on status webhooks to %s (%d so far)", self.webhook_url, self._webhooks["gave_up"])

    def _note_fault(self) -> None:
        """Count one applied fault (the caller holds the lock)."""
        self._faults_applied += 1
        self._last_fault_at = time.time()

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._webhooks[outcome] += 1

    # ---- control endpoints ------------------------------------------------------------------
    async def handle_faults(self, request: web.Request) -> web.Response:
        """``POST /_sandbox/faults``."""
        try:
            self.inject(**await request.json())
        except (ValueError, TypeError) as exc:
            return _json({"ok": False, "error": str(exc)}, 400)
        return _json({"ok": True, "pending_faults": self.stats()["pending_faults"]})

    async def handle_reset(self, request: web.Request) -> web.Response:
        """``POST /_sandbox/reset``."""
        await self._cancel_tasks()
        self._reset_state()
        return _json({"ok": True})

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

    async def handle_health(self, request: web.Request) -> web.Response:
        """``GET /_sandbox/health``."""
        return _json({"ok": True})

    async def handle_stats(self, request: web.Request) -> web.Response:
        """``GET /_sandbox/stats``."""
        return _json(self.stats())

    async def handle_messages(self, request: web.Request) -> web.Response:
        """``GET /_sandbox/messages?phone_number_id=``."""
        return _json(self.messages(request.query.get("phone_number_id")))

    async def handle_limits(self, request: web.Request) -> web.Response:
        """``POST /_sandbox/limits`` ``{"phone_number_id", "throughput_per_second"}``."""
        try:
            spec = await request.json()
            self.set_limits(str(spec["phone_number_id"]), throughput_per_second=spec.get("throughput_per_second"))
        except (ValueError, KeyError, TypeError) as exc:
            return _json({"ok": False, "error": repr(exc)}, 400)
        return _json({"ok": True})

    async def handle_inbound(self, request: web.Request) -> web.Response:
        """``POST /_sandbox/inbound`` ``{"phone_number_id", "value", "field"?}``: a shopper's webhook."""
        try:
            spec = await request.json()
            body = self._inbound_body(str(spec["phone_number_id"]), dict(spec["value"]), spec.get("field"))
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            return _json({"ok": False, "error": repr(exc)}, 400)
        try:
            return _json({"status": await self._post(body)})
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return _json({"ok": False, "error": repr(exc)}, 502)


def make_app(sandbox: Sandbox) -> web.Application:
    """The aiohttp application of ``sandbox``: Graph-shaped routes plus ``/_sandbox/`` controls."""
    app = web.Application(client_max_size=_MAX_UPLOAD)
    app.router.add_post(f"/{_VERSION}/{{phone_number_id}}/messages", sandbox.handle_send)
    app.router.add_post(f"/{_VERSION}/{{phone_number_id}}/media", sandbox.handle_media_upload)
    app.router.add_post(f"/{_VERSION}/{{waba_id}}/message_templates", sandbox.handle_create_template)
    app.router.add_get(f"/{_VERSION}/{{waba_id}}/message_templates", sandbox.handle_list_templates)
    app.router.add_post(f"/{_VERSION}/{{app_id}}/uploads", sandbox.handle_upload_session)
    app.router.add_post(f"/{_VERSION}/{{session_id:upload:[A-Za-z0-9_-]+}}", sandbox.handle_upload_data)
    app.router.add_get(f"/{_VERSION}/{{session_id:upload:[A-Za-z0-9_-]+}}", sandbox.handle_upload_data)
    app.router.add_post(rf"/{_VERSION}/{{object_id:\d+}}", sandbox.handle_edit_template)
    app.router.add_get(rf"/{_VERSION}/{{media_id:\d+}}", sandbox.handle_media_info)
    app.router.add_delete(rf"/{_VERSION}/{{media_id:\d+}}", sandbox.handle_media_delete)
    app.router.add_get(r"/_sandbox/media/{media_id:\d+}", sandbox.handle_media_download)
    app.router.add_post("/_sandbox/faults", sandbox.handle_faults)
    app.router.add_post("/_sandbox/reset", sandbox.handle_reset)
    app.router.add_get("/_sandbox/messages", sandbox.handle_messages)
    app.router.add_post("/_sandbox/limits", sandbox.handle_limits)
    app.router.add_post("/_sandbox/inbound", sandbox.handle_inbound)
    app.router.add_get("/_sandbox/health", sandbox.handle_health)
    app.router.add_get("/_sandbox/stats", sandbox.handle_stats)
    return app


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
                      pair_burst=args.pair_burst, status_delays=delays,  # type: ignore[arg-type]
                      send_statuses=not args.no_statuses, waba_id=args.waba_id,
                      display_phone_number=args.display_phone_number)
    asyncio.run(sandbox.serve(args.host, args.port,
                              on_ready=lambda url: print(f"sandbox listening on {url}", flush=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
