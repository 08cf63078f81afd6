"""Webhooks the sandbox posts to the app: a message's statuses (sent, delivered, read or
failed, each at its delay), and shopper messages from ``post_inbound``. Each POST is signed
like Meta's (``X-Hub-Signature-256``), bounded in concurrency, and retried with backoff.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import logging
import threading
import time
from typing import Any

import aiohttp

from integrations.whatsapp.consts import (
    SIGNATURE_HEADER,
    SIGNATURE_PREFIX,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_READ,
    STATUS_SENT,
    WEBHOOK_OBJECT,
)
from integrations.whatsapp.sandbox_limits import Fault, status_item

log = logging.getLogger(__name__)


class WebhooksMixin:
    """Building, signing and delivering the sandbox's webhooks."""

    app_secret: str
    webhook_url: str | None
    webhook_retry_delays: tuple[float, ...]
    status_delays: tuple[float, ...]
    waba_id: str
    display_phone_number: str
    _lock: threading.Lock
    _webhooks: collections.Counter[str]
    _last_giveup_log: float
    _session: aiohttp.ClientSession | None
    _post_slots: asyncio.Semaphore | None

    def _inbound_body(self, phone_number_id: str, value: dict[str, Any], field: str | None) -> bytes:
        if not self.webhook_url:
            raise RuntimeError("no webhook_url configured")
        field = field or ("user_preferences" if "user_preferences" in value else "messages")
        return self._envelope(phone_number_id, field, value)

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

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._webhooks[outcome] += 1
