"""The sandbox's media endpoints: upload, the media object with its download URL, delete,
and the download itself. ``GET /{id}`` of any id that is not a media id answers the business
phone number's node (its messaging limit tier and throughput).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from typing import Any

from aiohttp import web

from integrations.whatsapp.sandbox_http import HttpMixin
from integrations.whatsapp.sandbox_limits import GraphError


def _is_media_id(object_id: str) -> bool:
    """Media ids the sandbox hands out are ``10**15 + n`` (16 digits); any other id is a business number."""
    return len(object_id) == 16 and object_id.isdigit()


class MediaMixin(HttpMixin):
    """``/{version}/{phone_number_id}/media``, ``/{version}/{media_id}`` and ``/_sandbox/media/{media_id}``."""

    display_phone_number: str
    _lock: threading.Lock
    _media: dict[str, tuple[bytes, str, str]]
    _numbers: dict[str, dict[str, Any]]

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
