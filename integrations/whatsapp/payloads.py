"""Cloud API request bodies built from the outbox's neutral message content.

The outbox stores what to say in a vendor-neutral shape; this module is the one place that
knows the Cloud API's JSON for it.
https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages

Neutral template content::

    {"header": {"type": "document", "link": "...", "filename": "INV-1001.pdf"}   # or "media_id"; or type "image"
     "body": ["Maria", "#1001"]                       # positional parameters, or
     "body": {"customer_name": "Maria"}               # named parameters
     "buttons": [{"index": 0, "url_suffix": "c/abc123"}]}

Text: ``{"text": "...", "preview_url": true}``; document: ``{"document": {"link"|"media_id", "filename", "caption"}}``.
"""

from __future__ import annotations

from typing import Any


class PayloadError(ValueError):
    """The neutral content cannot be turned into a Cloud API message."""


def message_payload(
    *,
    to: str,
    kind: str,
    content: dict[str, Any],
    template_name: str | None = None,
    language: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """The full ``POST /{phone-number-id}/messages`` body for one message."""
    try:
        build = _BUILDERS[kind]
    except KeyError:
        raise PayloadError(f"unknown message kind {kind!r}") from None
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind}
    payload[kind] = build(content, template_name, language)
    if callback_data:
        # echoed back in every status webhook of this message: how a send whose answer was
        # lost (worker killed mid-request) is reconciled with its outbox row
        payload["biz_opaque_callback_data"] = callback_data
    return payload


def _text(content: dict[str, Any], _name: str | None, _language: str | None) -> dict[str, Any]:
    body = content.get("text")
    if not isinstance(body, str) or not body:
        raise PayloadError("text message without text")
    return {"body": body, "preview_url": bool(content.get("preview_url", False))}


def _media(spec: dict[str, Any], with_filename: bool) -> dict[str, Any]:
    if spec.get("media_id"):
        media: dict[str, Any] = {"id": str(spec["media_id"])}
    elif spec.get("link"):
        media = {"link": str(spec["link"])}
    else:
        raise PayloadError("media needs a media_id or a link")
    if with_filename and spec.get("filename"):
        media["filename"] = str(spec["filename"])
    if spec.get("caption"):
        media["caption"] = str(spec["caption"])
    return media


def _document(content: dict[str, Any], _name: str | None, _language: str | None) -> dict[str, Any]:
    spec = content.get("document")
    if not isinstance(spec, dict):
        raise PayloadError("document message without document")
    return _media(spec, with_filename=True)


def _template(content: dict[str, Any], name: str | None, language: str | None) -> dict[str, Any]:
    if not name or not language:
        raise PayloadError("template message needs a template name and a language")
    components: list[dict[str, Any]] = []
    header = content.get("header")
    if header:
        header_type = header.get("type")
        if header_type not in ("document", "image", "video", "text"):
            raise PayloadError(f"unsupported header type {header_type!r}")
        if header_type == "text":
            parameter: dict[str, Any] = {"type": "text", "text": str(header["text"])}
        else:
            parameter = {"type": header_type, header_type: _media(header, with_filename=header_type == "document")}
        components.append({"type": "header", "parameters": [parameter]})
    body = content.get("body")
    if body:
        components.append({"type": "body", "parameters": _body_parameters(body)})
    for button in content.get("buttons") or ():
        components.append(
            {
                "type": "button",
                "sub_type": button.get("sub_type", "url"),
                "index": str(button.get("index", 0)),
                # the dynamic suffix appended to the URL registered with the template
                "parameters": [{"type": "text", "text": str(button["url_suffix"])}]
                if "url_suffix" in button
                else [{"type": "payload", "payload": str(button["payload"])}],
            }
        )
    template: dict[str, Any] = {"name": name, "language": {"policy": "deterministic", "code": language}}
    if components:
        template["components"] = components
    return template


def _body_parameters(body: list[Any] | dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        # named-parameter templates: https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
        return [{"type": "text", "parameter_name": key, "text": str(value)} for key, value in body.items()]
    return [{"type": "text", "text": str(value)} for value in body]


_BUILDERS = {"text": _text, "template": _template, "document": _document}
