"""What a catalogue template is: Meta's limits, the errors, and the parsed definition of a template.

``template_validation`` builds these from the files, ``catalogue`` loads and looks them
up, ``rendering`` turns one into message content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

TEXTS_FILE = "texts.json"
#: every template and every text exists in all of these (Meta's language codes)
LANGUAGES = ("en", "de", "es", "fr", "it", "nl", "pt_BR")
DEFAULT_LANGUAGE = "en"
CATEGORY_PURPOSE = {"MARKETING": "marketing", "UTILITY": "transactional"}

#: quick-reply payloads the inbound handlers act on; they never depend on the language
OPT_OUT_PAYLOAD = "marketing_stop"
REPLY_CONTEXT_SEPARATOR = ":"

# Meta's limits for template components:
# https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components
MAX_BODY_CHARS = 1024
MAX_HEADER_CHARS = 60
MAX_FOOTER_CHARS = 60
MAX_BUTTON_TEXT_CHARS = 25
MAX_BUTTONS = 10
MAX_URL_BUTTONS = 2
MAX_URL_CHARS = 2000
MAX_TEXT_MESSAGE_CHARS = 4096
# Ours, not Meta's: more parameters than this make a template hard to review and translate.
MAX_PARAMETERS = 10
# Ours: long shop data (a product title pasted with its description) is cut, not sent whole.
MAX_PARAMETER_CHARS = 200

TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,511}$")
PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PAYLOAD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
URL_VARIABLE = "{{1}}"
APP_URL = "{app_url}"


class CatalogueError(ValueError):
    """A template file breaks a rule; the message names the file and the language."""

    #: the language the rule was broken in (None: the template as a whole), and the rule alone
    language: str | None = None
    detail: str = ""


class UnknownTemplateError(KeyError):
    """No template of that name in the catalogue."""


class RenderError(ValueError):
    """The values given do not fit the template (missing, extra or unusable)."""


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    """What a button does, the same in every language."""

    index: int
    type: str  # "URL" | "QUICK_REPLY"
    suffix: str | None = None  # URL: what the dynamic suffix is (our short-link code)
    payload: str | None = None  # QUICK_REPLY: what comes back in the inbound message


@dataclass(frozen=True, slots=True)
class LanguageVariant:
    language: str
    components: tuple[Mapping[str, Any], ...]
    body: str
    parameters: tuple[str, ...]  # in the order they appear in this language's body
    header_format: str | None = None  # TEXT | DOCUMENT | IMAGE | VIDEO
    header_text: str | None = None
    footer: str | None = None
    button_texts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateDefinition:
    name: str
    version: int
    category: str
    parameter_format: str
    buttons: tuple[ButtonSpec, ...]
    variants: Mapping[str, LanguageVariant]
    source: str
    description: str = ""

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.variants))

    @property
    def purpose(self) -> str:
        """``marketing`` or ``transactional``: which consent the outbox checks."""
        return CATEGORY_PURPOSE[self.category]

    @property
    def reference_language(self) -> str:
        """English, which every catalogue template has; a shop's own template may lack it."""
        return DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in self.variants else min(self.variants)

    @property
    def parameters(self) -> frozenset[str]:
        return frozenset(self.variants[self.reference_language].parameters)

    @property
    def header_format(self) -> str | None:
        return self.variants[self.reference_language].header_format

    def variant(self, language: str) -> LanguageVariant:
        try:
            return self.variants[language]
        except KeyError:
            raise RenderError(f"template {self.name!r} has no language {language!r}") from None

