"""The WhatsApp template catalogue: versioned files in ``connector/templates/whatsapp/`` (package data), per language.

Each ``<name>.json`` holds one template: ``name``, ``version``, ``category``,
``parameter_format`` (always ``NAMED``), the language-neutral ``buttons`` (what each
button does: the URL suffix it takes, or the quick-reply payload we send with it) and,
per language, the ``components`` exactly as ``POST /{waba_id}/message_templates``
takes them, with ``{app_url}`` standing for our public base URL. ``texts.json`` holds the
free-form replies we send inside the 24-hour window (opt-out confirmed, ...).

Every file is validated on load against Meta's template rules (``template_validation``), so a
bad translation fails in CI rather than in Meta's review or, worse, at send time. This module
loads and looks up templates and picks the language; ``rendering`` builds what is sent.
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

# The model, the validator and the renderer live in their own modules; their public names
# stay importable from here, where callers have always found them.
from connector.messaging.rendering import (
    clean_parameter,
    creation_payload,
    parse_reply_payload,
    preview_text,
    render_content,
)
from connector.messaging.template_model import (
    APP_URL,
    CATEGORY_PURPOSE,
    DEFAULT_LANGUAGE,
    LANGUAGE_CODE,
    LANGUAGES,
    MAX_BODY_CHARS,
    MAX_BUTTON_TEXT_CHARS,
    MAX_BUTTONS,
    MAX_FOOTER_CHARS,
    MAX_HEADER_CHARS,
    MAX_PARAMETER_CHARS,
    MAX_PARAMETERS,
    MAX_TEXT_MESSAGE_CHARS,
    MAX_URL_BUTTONS,
    MAX_URL_CHARS,
    OPT_OUT_PAYLOAD,
    PARAMETER_NAME,
    PAYLOAD_NAME,
    PLACEHOLDER,
    REPLY_CONTEXT_SEPARATOR,
    TEMPLATE_NAME,
    TEXTS_FILE,
    URL_VARIABLE,
    ButtonSpec,
    CatalogueError,
    LanguageVariant,
    RenderError,
    TemplateDefinition,
    UnknownTemplateError,
)
from connector.messaging.template_validation import parse_shop_template, parse_template, parse_texts

__all__ = [
    "APP_URL", "CATALOGUE_DIR", "CATEGORY_PURPOSE", "DEFAULT_LANGUAGE", "LANGUAGE_CODE", "LANGUAGES", "MAX_BODY_CHARS",
    "MAX_BUTTON_TEXT_CHARS", "MAX_BUTTONS", "MAX_FOOTER_CHARS", "MAX_HEADER_CHARS", "MAX_PARAMETER_CHARS",
    "MAX_PARAMETERS", "MAX_TEXT_MESSAGE_CHARS", "MAX_URL_BUTTONS", "MAX_URL_CHARS", "OPT_OUT_PAYLOAD", "PARAMETER_NAME",
    "PAYLOAD_NAME", "PLACEHOLDER", "REPLY_CONTEXT_SEPARATOR", "TEMPLATE_NAME", "TEXTS_FILE", "URL_VARIABLE",
    "ButtonSpec", "Catalogue", "CatalogueError", "LanguageVariant", "RenderError", "TemplateDefinition",
    "UnknownTemplateError", "choose_language", "clean_parameter", "creation_payload", "load_catalogue",
    "match_language", "parse_reply_payload", "parse_shop_template", "parse_template", "parse_texts", "preview_text",
    "render_content", "texts",
]

CATALOGUE_DIR = Path(str(files("connector") / "templates" / "whatsapp"))  # package data


@dataclass(frozen=True, slots=True)
class Catalogue:
    templates: Mapping[str, TemplateDefinition]
    texts_by_language: Mapping[str, Mapping[str, str]]

    def get(self, name: str) -> TemplateDefinition:
        try:
            return self.templates[name]
        except KeyError:
            raise UnknownTemplateError(name) from None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.templates))

    def texts(self, contact_locale: str | None, shop_locale: str | None = None) -> dict[str, str]:
        """The free-form texts in the contact's language, else the shop's, else English."""
        language = _fallback(self.texts_by_language.keys(), contact_locale, shop_locale)
        return dict(self.texts_by_language[language])


# --- loading --------------------------------------------------------------------------------


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and validate every template file under ``path`` (cached per directory)."""
    return _load(Path(path or CATALOGUE_DIR).resolve())


@lru_cache(maxsize=8)
def _load(directory: Path) -> Catalogue:
    if not directory.is_dir():
        raise CatalogueError(f"{directory}: no such template directory")
    templates: dict[str, TemplateDefinition] = {}
    for file in sorted(directory.glob("*.json")):
        if file.name == TEXTS_FILE:
            continue
        definition = parse_template(_read_json(file), source=file.name)
        templates[definition.name] = definition
    texts_path = directory / TEXTS_FILE
    texts = parse_texts(_read_json(texts_path), source=TEXTS_FILE) if texts_path.exists() else {}
    return Catalogue(MappingProxyType(templates), MappingProxyType(texts))


def texts(contact_locale: str | None, shop_locale: str | None = None) -> dict[str, str]:
    """``texts.json`` in the best language for the contact (see ``choose_language``)."""
    return load_catalogue().texts(contact_locale, shop_locale)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CatalogueError(f"{path.name}: not readable JSON ({error})") from None


# --- languages ------------------------------------------------------------------------------


def match_language(locale: str | None, available: Any) -> str | None:
    """The available language code that best serves ``locale``, or ``None``.

    ``de-DE``, ``de_AT`` and ``DE`` all match ``de``; ``pt``, ``pt-PT`` and ``pt_br`` match
    ``pt_BR`` when that is the only Portuguese; ``en-US`` matches ``en_US`` if present,
    else ``en``. Encodings and modifiers (``de_DE.UTF-8@euro``) are ignored.
    """
    if not locale or not locale.strip():
        return None
    cleaned = re.split(r"[.@]", locale.strip())[0].replace("-", "_")
    parts = [p for p in cleaned.split("_") if p]
    if not parts:
        return None
    lang = parts[0].lower()
    region = parts[-1].upper() if len(parts) > 1 else None
    by_lower = {code.lower(): code for code in available}
    if region and f"{lang}_{region}".lower() in by_lower:
        return by_lower[f"{lang}_{region}".lower()]
    if lang in by_lower:
        return by_lower[lang]
    same_language = sorted(code for key, code in by_lower.items() if key.split("_")[0] == lang)
    return same_language[0] if same_language else None


def choose_language(definition: TemplateDefinition, contact_locale: str | None, shop_locale: str | None) -> str:
    """The contact's language if the template has it, else the shop's, else English (else, for
    a shop's own template without English, its first language)."""
    return _fallback(definition.variants.keys(), contact_locale, shop_locale)


def _fallback(available: Any, contact_locale: str | None, shop_locale: str | None) -> str:
    available = list(available)
    for locale in (contact_locale, shop_locale):
        match = match_language(locale, available)
        if match:
            return match
    return DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in available or not available else min(available)

