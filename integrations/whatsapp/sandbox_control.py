"""The sandbox's control endpoints under ``/_sandbox/``: the HTTP twins of the Python API
(faults, reset, messages, stats, limits, inbound) for a sandbox in another process.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web

from integrations.whatsapp.sandbox_http import json_response
from integrations.whatsapp.sandbox_webhooks import WebhooksMixin


class ControlMixin(WebhooksMixin):
    """``/_sandbox/*``; each calls the method of the same name on the sandbox (``inject``, ``stats``, ...)."""

    # the Sandbox's methods these call
    inject: Callable[..., None]
    stats: Callable[[], dict[str, Any]]
    messages: Callable[[str | None], list[dict[str, Any]]]
    set_limits: Callable[..., None]
    _cancel_tasks: Callable[[], Awaitable[None]]
    _reset_state: Callable[[], None]

    async def handle_faults(self, request: web.Request) -> web.Response:
        """``POST /_sandbox/faults``."""
        try:
            self.inject(**await request.json())
        except (ValueError, TypeError) as exc:
            return json_response({"ok": False, "error": str(exc)}, 400)
        return json_response({"ok": True, "pending_faults": self.stats()["pending_faults"]})

    async def handle_reset(self, request: web.Request) -> web.Response:
        """``POST /_sandbox/reset``."""
        await self._cancel_tasks()
        self._reset_state()
        return json_response({"ok": True})

    async def handle_health(self, request: web.Request) -> web.Response:
        """``GET /_sandbox/health``."""
        return json_response({"ok": True})

    async def handle_stats(self, request: web.Request) -> web.Response:
        """``GET /_sandbox/stats``."""
        return json_response(self.stats())

    async def handle_messages(self, request: web.Request) -> web.Response:
        """``GET /_sandbox/messages?phone_number_id=``."""
        return json_response(self.messages(request.query.get("phone_number_id")))

    async def handle_limits(self, request: web.Request) -> web.Response:
        """``POST /_sandbox/limits`` ``{"phone_number_id", "throughput_per_second"}``."""
        try:
            spec = await request.json()
            self.set_limits(str(spec["phone_number_id"]), throughput_per_second=spec.get("throughput_per_second"))
        except (ValueError, KeyError, TypeError) as exc:
            return json_response({"ok": False, "error": repr(exc)}, 400)
        return json_response({"ok": True})

    async def handle_inbound(self, request: web.Request) -> web.Response:
        """``POST /_sandbox/inbound`` ``{"phone_number_id", "value", "field"?}``: a shopper's webhook."""
        try:
            spec = await request.json()
            body = self._inbound_body(str(spec["phone_number_id"]), dict(spec["value"]), spec.get("field"))
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            return json_response({"ok": False, "error": repr(exc)}, 400)
        try:
            return json_response({"status": await self._post(body)})
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return json_response({"ok": False, "error": repr(exc)}, 502)
