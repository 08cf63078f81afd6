"""The sandbox's send endpoints: payload validation, then faults, throughput and pair rate
at arrival; an accepted message is recorded and its status webhooks are scheduled.

``/messages`` is the Cloud API's; ``/marketing_messages`` the Marketing Messages API's, which
takes the same body and answers the same way, sharing the number's throughput and pair rate,
but only for MARKETING templates: anything else is refused (code 100) there.
https://developers.facebook.com/documentation/business-messaging/whatsapp/marketing-messages/send-marketing-messages
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from aiohttp import web

from integrations.whatsapp.consts import MARKETING_MESSAGES_ENDPOINT, MESSAGES_ENDPOINT
from integrations.whatsapp.sandbox_http import HttpMixin, RawReply
from integrations.whatsapp.sandbox_limits import (
    GraphError,
    PairLimiter,
    ThroughputLimiter,
    new_wamid,
    take_fault,
    validate_send,
)
from integrations.whatsapp.sandbox_webhooks import WebhooksMixin


class MessagesMixin(HttpMixin, WebhooksMixin):
    """``POST /{version}/{phone_number_id}/messages``."""

    webhook_url: str | None
    send_statuses: bool
    _cond: threading.Condition
    _throughput: ThroughputLimiter
    _pairs: PairLimiter
    _messages: list[dict[str, Any]]
    _tasks: set[asyncio.Task[None]]
    _templates: list[dict[str, Any]]

    async def handle_send_marketing(self, request: web.Request) -> web.StreamResponse:
        """``POST /{version}/{phone_number_id}/marketing_messages``: marketing templates only."""
        return await self.handle_send(request, endpoint=MARKETING_MESSAGES_ENDPOINT)

    async def handle_send(self, request: web.Request, *, endpoint: str = MESSAGES_ENDPOINT) -> web.StreamResponse:
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
            category = self._template_category(body) if mtype == "template" else None
            if endpoint == MARKETING_MESSAGES_ENDPOINT and (mtype != "template" or category not in (None, "MARKETING")):
                raise GraphError(100, "The Marketing Messages API sends MARKETING templates only; "
                                      "send other messages through /messages.")
            return self._accept(request.match_info["phone_number_id"], request.match_info["version"],
                                token, to, mtype, body, arrived=arrived, endpoint=endpoint, category=category)
        return await self._answer(work)

    def _template_category(self, body: dict[str, Any]) -> str | None:
        """The category of the named template in its language, if it was created here."""
        template = body.get("template") or {}
        name, language = template.get("name"), (template.get("language") or {}).get("code")
        with self._lock:
            found = next((t for t in self._templates if t["name"] == name and t["language"] == language), None)
            return str(found["category"]) if found else None

    def _accept(self, pnid: str, version: str, token: str, to: str, mtype: str,
                body: dict[str, Any], *, arrived: float | None = None, endpoint: str = MESSAGES_ENDPOINT,
                category: str | None = None) -> dict[str, Any]:
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
                      "access_token": token, "api_version": version, "endpoint": endpoint,
                      "category": "MARKETING" if endpoint == MARKETING_MESSAGES_ENDPOINT else category}
            self._messages.append(record)
            self._cond.notify_all()
        if self.webhook_url and self.send_statuses:
            task = asyncio.get_running_loop().create_task(self._deliver_statuses(record, wa_id, failure))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if lost is not None:
            raise RawReply(lost.status)
        sent: dict[str, Any] = {"id": wamid}
        if mtype == "template":
            sent["message_status"] = "accepted"  # template pacing result; see pywa SentTemplateStatus
        return {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [sent]}
