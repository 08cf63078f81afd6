"""Rendering: a catalogue template plus its parameters as message content, a preview, or a creation body.

``render_content`` gives the outbox's neutral template content, ``preview_text`` what the
shopper reads, ``creation_payload`` the body of ``POST /{waba_id}/message_templates``.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Mapping

from connector.messaging.template_model import (
    APP_URL,
    MAX_PARAMETER_CHARS,
    PLACEHOLDER,
    REPLY_CONTEXT_SEPARATOR,
    RenderError,
    TemplateDefinition,
)

_WHITESPACE_RUN = re.compile(r"\s+")
_CONTROL_WHITESPACE = re.compile(r"[\r\n\t\f\v]+")
_SPACE_RUN = re.compile(r" {2,}")


def clean_parameter(value: Any) -> str:
    """A parameter value Meta will accept.

    Meta rejects parameter text with newlines, tabs or more than four consecutive spaces
    (error 132018); values come from shop data we do not control (a product title pasted
    with a line break), so line breaks, tabs and runs of spaces become one space instead of failing the
    message, and overly long values are shortened.
    https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
    """
    # no-break spaces are kept: babel puts them between an amount and its currency sign
    text = _SPACE_RUN.sub(" ", _CONTROL_WHITESPACE.sub(" ", str(value))).strip()
    if len(text) > MAX_PARAMETER_CHARS:
        text = text[: MAX_PARAMETER_CHARS - 1].rstrip() + "…"
    return text


def _body_values(definition: TemplateDefinition, language: str, params: Mapping[str, Any]) -> dict[str, str]:
    variant = definition.variant(language)
    missing = sorted(set(variant.parameters) - set(params))
    extra = sorted(set(params) - set(variant.parameters))
    if missing or extra:
        raise RenderError(f"template {definition.name!r} [{language}]: missing parameters {missing}, unknown {extra}")
    values = {}
    for name in variant.parameters:
        if params[name] is None or not clean_parameter(params[name]):
            raise RenderError(f"template {definition.name!r} [{language}]: parameter {name!r} is empty")
        values[name] = clean_parameter(params[name])
    return values


def render_content(
    definition: TemplateDefinition,
    language: str,
    params: Mapping[str, Any],
    *,
    header: Mapping[str, Any] | None = None,
    button_suffixes: list[str] | None = None,
    reply_context: str | None = None,
) -> dict[str, Any]:
    """The outbox's neutral template content (see ``integrations.whatsapp.payloads``).

    ``header`` is the media of a DOCUMENT/IMAGE/VIDEO header (``link`` or ``media_id``,
    ``filename`` for documents). ``button_suffixes`` fill the URL buttons in order (our
    short-link codes). Quick replies get the template's payload, suffixed with
    ``:<reply_context>`` when given (e.g. the order id of a COD confirmation), so the reply
    can be acted on without trusting the button's translated label.
    """
    variant = definition.variant(language)
    content: dict[str, Any] = {}
    if variant.header_format in ("DOCUMENT", "IMAGE", "VIDEO"):
        if not header or not (header.get("link") or header.get("media_id")):
            raise RenderError(f"template {definition.name!r} needs a {variant.header_format} header (link or media_id)")
        content["header"] = {**{k: v for k, v in header.items() if k != "type"}, "type": variant.header_format.lower()}
    elif header:
        raise RenderError(f"template {definition.name!r} has no media header")
    body = _body_values(definition, language, params)
    if body:
        content["body"] = body
    url_buttons = [b for b in definition.buttons if b.type == "URL"]
    suffixes = list(button_suffixes or [])
    if len(suffixes) != len(url_buttons):
        raise RenderError(f"template {definition.name!r} has {len(url_buttons)} URL buttons, "
                          f"got {len(suffixes)} suffixes")
    buttons: list[dict[str, Any]] = []
    for spec in definition.buttons:
        if spec.type == "URL":
            suffix = str(suffixes.pop(0))
            if not suffix or _WHITESPACE_RUN.search(suffix):
                raise RenderError(f"template {definition.name!r}: URL suffix {suffix!r} "
                                  "must be non-empty, without spaces")
            buttons.append({"index": spec.index, "url_suffix": suffix})
        else:
            payload = (spec.payload if reply_context is None
                       else f"{spec.payload}{REPLY_CONTEXT_SEPARATOR}{reply_context}")
            buttons.append({"index": spec.index, "sub_type": "quick_reply", "payload": payload})
    if buttons:
        content["buttons"] = buttons
    return content


def parse_reply_payload(payload: str | None) -> tuple[str | None, str | None]:
    """Split a quick-reply payload we sent into (action, context): ``cod_confirm:123``."""
    if not payload:
        return None, None
    action, _, context = payload.partition(REPLY_CONTEXT_SEPARATOR)
    return action, (context or None)


def preview_text(definition: TemplateDefinition, language: str, params: Mapping[str, Any]) -> str:
    """The message as the shopper reads it: header text, body, footer, then ``[button]`` lines."""
    variant = definition.variant(language)
    values = _body_values(definition, language, params)
    body = PLACEHOLDER.sub(lambda m: values[m.group(1)], variant.body)
    blocks = [variant.header_text, body, variant.footer]
    if variant.header_format in ("DOCUMENT", "IMAGE", "VIDEO"):
        blocks.insert(0, f"[{variant.header_format.lower()}]")
    text = "\n\n".join(block for block in blocks if block)
    if variant.button_texts:
        text += "\n\n" + "\n".join(f"[{label}]" for label in variant.button_texts)
    return text


def creation_payload(
    definition: TemplateDefinition, language: str, *, app_url: str, header_handle: str | None = None
) -> dict[str, Any]:
    """The body of ``POST /{waba_id}/message_templates`` for one language.

    ``app_url`` replaces ``{app_url}`` in URL buttons and their examples. A media header
    needs ``header_handle``: Meta wants a sample file uploaded with the Resumable Upload API.
    https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates
    """
    if not re.match(r"^https?://[^/\s]+", app_url or ""):
        raise ValueError(f"app_url {app_url!r} must be an absolute http(s) URL")
    base = app_url.rstrip("/")
    components = copy.deepcopy([dict(c) for c in definition.variant(language).components])
    for component in components:
        if component["type"] == "HEADER" and component["format"] != "TEXT":
            if not header_handle:
                raise ValueError(f"template {definition.name!r} has a {component['format']} header: pass header_handle")
            component["example"] = {"header_handle": [header_handle]}
        for button in component.get("buttons", ()):
            if button["type"] == "URL":
                button["url"] = button["url"].replace(APP_URL, base)
                if "example" in button:
                    button["example"] = [example.replace(APP_URL, base) for example in button["example"]]
    return {
        "name": definition.name,
        "language": language,
        "category": definition.category,
        "parameter_format": definition.parameter_format,
        "components": components,
    }
