"""Synchronous Cloud API client (httpx): single sends, media, templates, the number's limits.

One client per WhatsApp number, explicit timeouts, the token in a header, the pinned Graph
version in every URL. Errors come back as typed exceptions from ``errors.py`` that say
whether a retry can help. The paced bulk path lives in ``sender.py``.
"""

from __future__ import annotations

from typing import Any

import httpx

from integrations.whatsapp import payloads
from integrations.whatsapp.consts import (
    DEFAULT_BASE_URL,
    GRAPH_API_VERSION,
    MARKETING_MESSAGES_ENDPOINT,
    MESSAGES_ENDPOINT,
)
from integrations.whatsapp.errors import WhatsAppApiError, WhatsAppTransportError, error_from_response
from integrations.whatsapp.types import SendResult, parse_send_response

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class WhatsAppClient:
    """Calls the Cloud API for one phone number."""

    def __init__(
        self,
        *,
        access_token: str,
        phone_number_id: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ):
        self.phone_number_id = phone_number_id
        self._access_token = access_token
        self._http = httpx.Client(
            base_url=f"{base_url.rstrip('/')}/{GRAPH_API_VERSION}/",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> "WhatsAppClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, payload: dict[str, Any], *, marketing: bool = False) -> SendResult:
        """POST a complete message body (see ``payloads.message_payload``); ``marketing`` sends a
        MARKETING template through the Marketing Messages API (``/marketing_messages``)."""
        endpoint = MARKETING_MESSAGES_ENDPOINT if marketing else MESSAGES_ENDPOINT
        data = self._request("POST", f"{self.phone_number_id}/{endpoint}", json=payload)
        try:
            return parse_send_response(data)
        except ValueError as error:
            raise WhatsAppApiError.unexpected(str(error)) from None

    def send_text(
        self,
        to: str,
        body: str,
        *,
        preview_url: bool = False,
        callback_data: str | None = None,
    ) -> SendResult:
        """A free-form text; only allowed inside the 24-hour customer-service window."""
        return self.send(
            payloads.message_payload(
                to=to, kind="text", content={"text": body, "preview_url": preview_url}, callback_data=callback_data
            )
        )

    def send_template(
        self,
        to: str,
        name: str,
        language: str,
        *,
        header: dict[str, Any] | None = None,
        body: list[Any] | dict[str, Any] | None = None,
        buttons: list[dict[str, Any]] | None = None,
        callback_data: str | None = None,
        marketing: bool = False,
    ) -> SendResult:
        """An approved template with optional header media, body parameters and URL-button suffixes
        (``marketing``: a MARKETING template sent through the Marketing Messages API)."""
        content = {key: value for key, value in (("header", header), ("body", body), ("buttons", buttons)) if value}
        return self.send(
            payloads.message_payload(
                to=to, kind="template", content=content, template_name=name, language=language,
                callback_data=callback_data,
            ),
            marketing=marketing,
        )

    def send_document(
        self,
        to: str,
        *,
        link: str | None = None,
        media_id: str | None = None,
        filename: str | None = None,
        caption: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """A document (e.g. an invoice PDF) by uploaded media id or public link."""
        spec = {"link": link, "media_id": media_id, "filename": filename, "caption": caption}
        return self.send(
            payloads.message_payload(
                to=to, kind="document", content={"document": {k: v for k, v in spec.items() if v}},
                callback_data=callback_data,
            )
        )

    def upload_media(self, content: bytes, *, mime_type: str, filename: str) -> str:
        """Upload a file once (``POST /{phone-number-id}/media``) and return its media id."""
        data = self._request(
            "POST",
            f"{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        if not isinstance(data, dict) or not data.get("id"):
            raise WhatsAppApiError.unexpected("media upload response carries no id")
        return str(data["id"])

    def create_template(self, waba_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Submit one template in one language (``POST /{waba-id}/message_templates``).

        ``payload`` is ``catalogue.creation_payload(...)``. Returns Meta's answer,
        ``{"id", "status", "category"}``; the final verdict comes later by the
        ``message_template_status_update`` webhook.
        https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates
        """
        data = self._request("POST", f"{waba_id}/message_templates", json=payload)
        if not isinstance(data, dict) or not data.get("id"):
            raise WhatsAppApiError.unexpected("template creation response carries no id")
        return data

    def find_templates(self, waba_id: str, name: str) -> list[dict[str, Any]]:
        """The WABA's templates called ``name``, every language (``GET /{waba-id}/message_templates``).

        Used when Meta refuses a creation because the name and language exist (subcode
        2388024): the existing template's id is what an edit needs.
        """
        data = self._request("GET", f"{waba_id}/message_templates",
                             params={"name": name, "fields": "id,name,language,status,category", "limit": 100})
        items = data.get("data") if isinstance(data, dict) else None
        return [item for item in items if isinstance(item, dict) and item.get("name") == name] if isinstance(
            items, list) else []

    def edit_template(self, template_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Replace an existing template's content (``POST /{template-id}``); Meta reviews it again.

        ``payload`` carries ``components`` (and ``category``, which Meta lets change only on a
        rejected or paused template). Only APPROVED, REJECTED and PAUSED templates can be
        edited; an approved one once a day and ten times in 30 days. Answer: ``{"success": true}``.
        https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates#edit-a-message-template
        """
        data = self._request("POST", str(template_id), json=payload)
        if not isinstance(data, dict) or data.get("success") is not True:
            raise WhatsAppApiError.unexpected("template edit response does not say success")
        return data

    def upload_sample(self, app_id: str, content: bytes, *, mime_type: str, filename: str) -> str:
        """Upload a sample file with Graph's Resumable Upload API and return its handle.

        Two steps: ``POST /{app-id}/uploads?file_name=&file_length=&file_type=`` opens a
        session (``{"id": "upload:..."}``), then ``POST /{session-id}`` with the bytes,
        ``file_offset: 0`` and ``Authorization: OAuth <token>`` answers ``{"h": "<handle>"}``.
        A template's media header takes the handle as ``example.header_handle``.
        https://developers.facebook.com/docs/graph-api/guides/upload
        """
        session = self._request("POST", f"{app_id}/uploads",
                                params={"file_name": filename, "file_length": len(content), "file_type": mime_type})
        session_id = session.get("id") if isinstance(session, dict) else None
        if not isinstance(session_id, str) or not session_id.startswith("upload:"):
            raise WhatsAppApiError.unexpected("upload session response carries no upload: id")
        # absolute URL: a relative "upload:..." would read as a URL scheme
        data = self._request("POST", f"{self._http.base_url}{session_id}", content=content,
                             headers={"Authorization": f"OAuth {self._access_token}", "file_offset": "0",
                                      "Content-Type": "application/octet-stream"})
        handle = data.get("h") if isinstance(data, dict) else None
        if not isinstance(handle, str) or not handle:
            raise WhatsAppApiError.unexpected("upload response carries no file handle")
        return handle

    def phone_number(self, fields: tuple[str, ...]) -> dict[str, Any]:
        """The business number's node (``GET /{phone-number-id}?fields=...``), e.g. its limits.

        https://developers.facebook.com/docs/whatsapp/messaging-limits#via-api
        """
        data = self._request("GET", self.phone_number_id, params={"fields": ",".join(fields)})
        if not isinstance(data, dict):
            raise WhatsAppApiError.unexpected("phone number response is not an object")
        return data

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            # never connected: the request cannot have reached Graph
            raise WhatsAppTransportError(f"{type(error).__name__} calling the Cloud API", in_doubt=False) from error
        except httpx.HTTPError as error:
            raise WhatsAppTransportError(f"{type(error).__name__} calling the Cloud API") from error
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.content)
        try:
            return response.json()
        except ValueError:
            raise WhatsAppApiError.unexpected("Cloud API answered with a body that is not JSON") from None
