"""The sandbox's HTTP layer: Graph's routes, the edge every Graph request passes first
(injected ``http`` faults, the bearer token, the API version), and answering after the
configured latency with Graph-shaped errors.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from integrations.whatsapp.consts import GRAPH_API_VERSION
from integrations.whatsapp.sandbox_limits import Fault, GraphError, take_fault

log = logging.getLogger(__name__)

_VERSION = r"{version:v\d+\.\d+}"
_MAX_UPLOAD = 110 * 1024 * 1024  # Meta accepts documents up to 100 MB; aiohttp's default is 1 MB

#: (method, path, name of the sandbox's handler), in the order aiohttp matches them
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("POST", f"/{_VERSION}/{{phone_number_id}}/messages", "handle_send"),
    ("POST", f"/{_VERSION}/{{phone_number_id}}/marketing_messages", "handle_send_marketing"),
    ("POST", f"/{_VERSION}/{{phone_number_id}}/media", "handle_media_upload"),
    ("POST", f"/{_VERSION}/{{waba_id}}/message_templates", "handle_create_template"),
    ("GET", f"/{_VERSION}/{{waba_id}}/message_templates", "handle_list_templates"),
    ("POST", f"/{_VERSION}/{{app_id}}/uploads", "handle_upload_session"),
    ("POST", f"/{_VERSION}/{{session_id:upload:[A-Za-z0-9_-]+}}", "handle_upload_data"),
    ("GET", f"/{_VERSION}/{{session_id:upload:[A-Za-z0-9_-]+}}", "handle_upload_data"),
    ("POST", rf"/{_VERSION}/{{object_id:\d+}}", "handle_edit_template"),
    ("GET", rf"/{_VERSION}/{{media_id:\d+}}", "handle_media_info"),
    ("DELETE", rf"/{_VERSION}/{{media_id:\d+}}", "handle_media_delete"),
    ("GET", r"/_sandbox/media/{media_id:\d+}", "handle_media_download"),
    ("POST", "/_sandbox/faults", "handle_faults"),
    ("POST", "/_sandbox/reset", "handle_reset"),
    ("GET", "/_sandbox/messages", "handle_messages"),
    ("POST", "/_sandbox/limits", "handle_limits"),
    ("POST", "/_sandbox/inbound", "handle_inbound"),
    ("GET", "/_sandbox/health", "handle_health"),
    ("GET", "/_sandbox/stats", "handle_stats"),
)


def make_app(sandbox: object) -> web.Application:
    """The aiohttp application of ``sandbox``: Graph-shaped routes plus ``/_sandbox/`` controls."""
    app = web.Application(client_max_size=_MAX_UPLOAD)
    add = {"GET": app.router.add_get, "POST": app.router.add_post, "DELETE": app.router.add_delete}
    for method, path, handler in ROUTES:
        add[method](path, getattr(sandbox, handler))
    return app


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` as a compact JSON answer, the way Graph sends it."""
    return web.Response(body=json.dumps(data, separators=(",", ":")).encode(), status=status,
                        content_type="application/json")


class RawReply(Exception):
    """An injected non-Graph HTTP failure (a 5xx from the edge, plain body)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class HttpMixin:
    """The edge and the answer, shared by every Graph endpoint of the sandbox."""

    _lock: threading.Lock
    _faults: list[Fault]
    _faults_applied: int
    _last_fault_at: float | None
    _latency: float
    _rejected: collections.Counter[str]
    _versions: set[str]

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
                raise RawReply(fault.status)
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
            response = result if isinstance(result, web.StreamResponse) else json_response(result)
        except GraphError as err:
            with self._lock:
                self._rejected[str(err.code)] += 1
            response = json_response(err.body(), err.http_status)
        except RawReply as raw:
            with self._lock:
                self._rejected[f"http_{raw.status}"] += 1
            response = web.Response(status=raw.status, text=f"{raw.status} injected by sandbox\n")
        if self._latency > 0:
            await asyncio.sleep(self._latency)  # never block the loop: other requests keep flowing
        return response

    def _note_fault(self) -> None:
        """Count one applied fault (the caller holds the lock)."""
        self._faults_applied += 1
        self._last_fault_at = time.time()
