"""The sandbox's message templates: create (PENDING, then a verdict webhook), list, and edit
under Meta's edit rules; plus the Resumable Upload sessions that carry a template's sample media.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from typing import Any

from aiohttp import web

from integrations.whatsapp.consts import WEBHOOK_OBJECT
from integrations.whatsapp.sandbox_http import HttpMixin
from integrations.whatsapp.sandbox_limits import GraphError, validate_template
from integrations.whatsapp.sandbox_webhooks import WebhooksMixin


class TemplatesMixin(HttpMixin, WebhooksMixin):
    """``/{version}/{waba_id}/message_templates``, ``/{version}/{template_id}`` and the upload steps."""

    template_review_delay: float
    _lock: threading.Lock
    _tasks: set[asyncio.Task[None]]
    _templates: list[dict[str, Any]]
    _template_verdicts: dict[str, tuple[str, str]]
    _upload_sessions: dict[str, dict[str, Any]]
    _handles: dict[str, tuple[bytes, str]]

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
                    if ((existing["waba_id"], existing["name"], existing["language"])
                            == (waba_id, name, body["language"])):
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
