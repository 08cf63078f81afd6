"""The WhatsApp template catalogue: versioned files in ``connector/templates/whatsapp/`` (package data), per language.

Each ``<name>.json`` holds one template: ``name``, ``version``, ``category``,
``parameter_format`` (always ``NAMED``), the language-neutral ``buttons`` (what each
button does: the URL suffix it takes, or the quick-reply payload we send with it) and,
per language, the ``components`` exactly as ``POST /{waba_id}/message_templates``
takes them, with ``{app_url}`` standing for our public base URL. ``texts.json`` holds the
free-form replies we send inside the 24-hour window (opt-out confirmed, ...).

Every file is validated on load against Meta's template rules, so a bad translation fails
in CI rather than in Meta's review or, worse, at send time.
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components
"""

from __future__ import annotations

import copy
import json
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

CATALOGUE_DIR = Path(str(files("connector") / "templates" / "whatsapp"))  # package data
TEXTS_FILE = "texts.json"
#: every template and every text exists in all of these (Meta's language codes)
LANGUAGES = ("en", "de", "es", "fr", "it", "nl", "pt_BR")
DEFAULT_LANGUAGE = "en"
CATEGORY_PURPOSE = {"MARKETING": "marketing", "UTILITY": "transactional"}

#: quick-reply payloads the inbound handlers act on; they never depend on the language
OPT_OUT_PAYLOAD = "marketing_stop"
REPLY_CONTEXT_SEPARATOR = ":"

# Meta's limits for template components (the components reference linked above).
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
# text around a parameter that Meta treats as "nothing": whitespace and punctuation
_FILLER = re.compile(r"^[\s.,;:!?¡¿\"'«»„“”‘’()\-–—…]*$")
_WHITESPACE_RUN = re.compile(r"\s+")
# what Meta refuses inside a parameter value: line breaks, tabs, more than 4 spaces in a row
_FORBIDDEN_IN_PARAMETER = re.compile(r"[\r\n\t\f\v]| {5,}")
_CONTROL_WHITESPACE = re.compile(r"[\r\n\t\f\v]+")
_SPACE_RUN = re.compile(r" {2,}")


class CatalogueError(ValueError):
    """A template file breaks a rule; the message names the file and the language."""


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
    def parameters(self) -> frozenset[str]:
        return frozenset(self.variants[DEFAULT_LANGUAGE].parameters)

    @property
    def header_format(self) -> str | None:
        return self.variants[DEFAULT_LANGUAGE].header_format

    def variant(self, language: str) -> LanguageVariant:
        try:
            return self.variants[language]
        except KeyError:
            raise RenderError(f"template {self.name!r} has no language {language!r}") from None


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


# --- validation -----------------------------------------------------------------------------


def parse_template(data: Any, *, source: str) -> TemplateDefinition:
    """Validate one template document; every error names ``source`` and the language."""

    def fail(message: str, language: str | None = None) -> CatalogueError:
        return CatalogueError(f"{source}" + (f" [{language}]" if language else "") + f": {message}")

    if not isinstance(data, dict):
        raise fail("a template file holds one JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
        raise fail(f"name {name!r} must be lowercase letters, digits and underscores, starting with a letter")
    if source.endswith(".json") and Path(source).stem != name:
        raise fail(f"name {name!r} does not match the file name")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise fail(f"version {version!r} must be a positive integer")
    category = data.get("category")
    if category not in CATEGORY_PURPOSE:
        raise fail(f"category {category!r} must be one of {sorted(CATEGORY_PURPOSE)}")
    if data.get("parameter_format") != "NAMED":
        raise fail("parameter_format must be NAMED")
    buttons = _parse_button_specs(data.get("buttons", []), fail)
    if category == "MARKETING" and not any(b.payload == OPT_OUT_PAYLOAD for b in buttons):
        # our rule: every promotional message carries a one-tap way out (PRODUCT.md, consent)
        raise fail(f"a MARKETING template needs a QUICK_REPLY button with payload {OPT_OUT_PAYLOAD!r}")
    languages = data.get("languages")
    if not isinstance(languages, dict):
        raise fail("languages must be an object keyed by language code")
    missing = [code for code in LANGUAGES if code not in languages]
    if missing:
        raise fail(f"missing languages {missing}")
    variants = {}
    for language, spec in languages.items():
        if not LANGUAGE_CODE.match(language):
            raise fail(f"{language!r} is not a language code like 'de' or 'pt_BR'")
        variants[language] = _parse_variant(language, spec, buttons, lambda m, lang=language: fail(m, lang))
    reference = variants[DEFAULT_LANGUAGE]
    for language, variant in variants.items():
        if set(variant.parameters) != set(reference.parameters):
            raise fail(f"parameters {sorted(variant.parameters)} differ from en {sorted(reference.parameters)}", language)
        if variant.header_format != reference.header_format:
            raise fail(f"header format {variant.header_format} differs from en {reference.header_format}", language)
    return TemplateDefinition(
        name=name, version=version, category=category, parameter_format="NAMED", buttons=buttons,
        variants=MappingProxyType(variants), source=source, description=str(data.get("description", "")),
    )


def _parse_button_specs(raw: Any, fail) -> tuple[ButtonSpec, ...]:
    if not isinstance(raw, list):
        raise fail("buttons must be a list")
    specs = []
    for index, button in enumerate(raw):
        kind = button.get("type") if isinstance(button, dict) else None
        if kind == "URL" and isinstance(button.get("suffix"), str):
            specs.append(ButtonSpec(index, "URL", suffix=button["suffix"]))
        elif kind == "QUICK_REPLY" and PAYLOAD_NAME.match(str(button.get("payload", ""))):
            specs.append(ButtonSpec(index, "QUICK_REPLY", payload=button["payload"]))
        else:
            raise fail(f"button {index}: needs type URL with a suffix, or QUICK_REPLY with a payload like 'optin_yes'")
    return tuple(specs)


def _parse_variant(language: str, spec: Any, buttons: tuple[ButtonSpec, ...], fail) -> LanguageVariant:
    components = spec.get("components") if isinstance(spec, dict) else None
    if not isinstance(components, list) or not components:
        raise fail("components must be a non-empty list")
    order = ["HEADER", "BODY", "FOOTER", "BUTTONS"]
    types = [c.get("type") if isinstance(c, dict) else None for c in components]
    if any(t not in order for t in types) or types != sorted(types, key=order.index) or len(set(types)) != len(types):
        raise fail(f"components {types} must be HEADER?, BODY, FOOTER?, BUTTONS? in that order, each at most once")
    if "BODY" not in types:
        raise fail("a BODY component is required")
    by_type = dict(zip(types, components))
    header_format, header_text = _check_header(by_type.get("HEADER"), fail)
    body, parameters = _check_body(by_type["BODY"], fail)
    footer = by_type.get("FOOTER")
    if footer is not None:
        footer = _check_static_text(footer.get("text"), "footer", MAX_FOOTER_CHARS, fail)
    button_texts = _check_buttons(by_type.get("BUTTONS"), buttons, fail)
    return LanguageVariant(
        language=language, components=tuple(components), body=body, parameters=parameters,
        header_format=header_format, header_text=header_text, footer=footer, button_texts=button_texts,
    )


def _check_static_text(text: Any, what: str, limit: int, fail) -> str:
    if not isinstance(text, str) or not text.strip():
        raise fail(f"{what} text is required")
    if len(text) > limit:
        raise fail(f"{what} text is {len(text)} characters; Meta allows {limit}")
    if PLACEHOLDER.search(text):
        raise fail(f"{what} text may not contain parameters in this catalogue")
    if "\n" in text or "\t" in text:
        raise fail(f"{what} text may not contain newlines or tabs")
    return text


def _check_header(header: Mapping[str, Any] | None, fail) -> tuple[str | None, str | None]:
    if header is None:
        return None, None
    header_format = header.get("format")
    if header_format == "TEXT":
        return "TEXT", _check_static_text(header.get("text"), "header", MAX_HEADER_CHARS, fail)
    if header_format in ("DOCUMENT", "IMAGE", "VIDEO"):
        if "text" in header:
            raise fail(f"a {header_format} header has no text")
        # the example (an upload handle) is added per WABA by creation_payload
        return header_format, None
    raise fail(f"header format {header_format!r} must be TEXT, DOCUMENT, IMAGE or VIDEO")


def _check_body(body: Mapping[str, Any], fail) -> tuple[str, tuple[str, ...]]:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise fail("body text is required")
    if len(text) > MAX_BODY_CHARS:
        raise fail(f"body is {len(text)} characters; Meta allows {MAX_BODY_CHARS}")
    if "\t" in text or "     " in text or "\n\n\n" in text:
        raise fail("body may not contain tabs, more than 4 consecutive spaces or more than one blank line")
    matches = list(PLACEHOLDER.finditer(text))
    names = tuple(dict.fromkeys(m.group(1) for m in matches))
    for name in names:
        if not PARAMETER_NAME.match(name):
            raise fail(f"parameter {{{{{name}}}}} must be a lowercase name like {{{{customer_name}}}} (NAMED format)")
    if len(names) > MAX_PARAMETERS:
        raise fail(f"{len(names)} parameters; at most {MAX_PARAMETERS}")
    if matches:
        # Meta rejects bodies that start or end with a variable, and variables side by side
        if _FILLER.match(text[: matches[0].start()]):
            raise fail("body may not start with a parameter")
        if _FILLER.match(text[matches[-1].end():]):
            raise fail("body may not end with a parameter")
        for left, right in zip(matches, matches[1:]):
            if _FILLER.match(text[left.end(): right.start()]):
                raise fail(f"parameters {left.group(0)} and {right.group(0)} are adjacent; put words between them")
    examples = (body.get("example") or {}).get("body_text_named_params") if names else None
    if names:
        if not isinstance(examples, list):
            raise fail("body needs example.body_text_named_params (Meta requires a sample per parameter)")
        given = {}
        for item in examples:
            if not isinstance(item, dict) or not isinstance(item.get("example"), str) or not item["example"].strip():
                raise fail(f"example {item!r} needs a param_name and a non-empty example")
            if _FORBIDDEN_IN_PARAMETER.search(item["example"]):
                raise fail(f"example for {item.get('param_name')!r} may not contain newlines, tabs or runs of spaces")
            given[item.get("param_name")] = item["example"]
        if set(given) != set(names) or len(given) != len(examples):
            raise fail(f"examples name {sorted(map(str, given))}, body uses {sorted(names)}")
    elif body.get("example"):
        raise fail("body has examples but no parameters")
    return text, names


def _check_buttons(component: Mapping[str, Any] | None, specs: tuple[ButtonSpec, ...], fail) -> tuple[str, ...]:
    buttons = component.get("buttons") if component is not None else []
    if not isinstance(buttons, list):
        raise fail("BUTTONS.buttons must be a list")
    if not buttons and component is not None:
        raise fail("a BUTTONS component needs at least one button")
    if len(buttons) > MAX_BUTTONS:
        raise fail(f"{len(buttons)} buttons; Meta allows {MAX_BUTTONS}")
    kinds = [b.get("type") if isinstance(b, dict) else None for b in buttons]
    if kinds != [s.type for s in specs]:
        raise fail(f"button types {kinds} differ from the template's buttons {[s.type for s in specs]}")
    if kinds.count("URL") > MAX_URL_BUTTONS:
        raise fail(f"at most {MAX_URL_BUTTONS} URL buttons")
    quick = [i for i, kind in enumerate(kinds) if kind == "QUICK_REPLY"]
    if quick and quick != list(range(quick[0], quick[-1] + 1)):
        # Meta renders quick replies and call-to-action buttons as two groups
        raise fail("QUICK_REPLY buttons must be next to each other")
    texts = []
    for index, button in enumerate(buttons):
        text = _check_static_text(button.get("text"), f"button {index}", MAX_BUTTON_TEXT_CHARS, fail)
        if button["type"] == "URL":
            _check_url_button(index, button, fail)
        texts.append(text)
    if len(set(texts)) != len(texts):
        raise fail("button texts must differ from each other")
    return tuple(texts)


def _check_url_button(index: int, button: Mapping[str, Any], fail) -> None:
    url = button.get("url")
    if not isinstance(url, str) or not url.startswith(APP_URL + "/") or len(url) > MAX_URL_CHARS:
        raise fail(f"button {index}: url must start with {APP_URL}/ (our tracked links)")
    variables = PLACEHOLDER.findall(url)
    if variables not in ([], ["1"]) or (variables and not url.endswith(URL_VARIABLE)):
        raise fail(f"button {index}: a URL may only end with one dynamic suffix {URL_VARIABLE}")
    example = button.get("example")
    if variables and (not isinstance(example, list) or len(example) != 1 or not str(example[0]).startswith(APP_URL + "/")):
        raise fail(f"button {index}: a dynamic URL needs example [\"{APP_URL}/l/<code>\"]")


def parse_texts(data: Any, *, source: str = TEXTS_FILE) -> dict[str, Mapping[str, str]]:
    """Validate ``texts.json``: every language, the same keys and the same ``{placeholders}``."""
    if not isinstance(data, dict):
        raise CatalogueError(f"{source}: an object keyed by language code")
    missing = [code for code in LANGUAGES if code not in data]
    if missing:
        raise CatalogueError(f"{source}: missing languages {missing}")
    reference = data[DEFAULT_LANGUAGE]
    parsed: dict[str, Mapping[str, str]] = {}
    for language, entries in data.items():
        where = f"{source} [{language}]"
        if not LANGUAGE_CODE.match(language) or not isinstance(entries, dict):
            raise CatalogueError(f"{where}: not a language code with an object of texts")
        if set(entries) != set(reference):
            raise CatalogueError(f"{where}: keys {sorted(entries)} differ from en {sorted(reference)}")
        for key, text in entries.items():
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_MESSAGE_CHARS:
                raise CatalogueError(f"{where}: {key} must be a text of 1 to {MAX_TEXT_MESSAGE_CHARS} characters")
            if _placeholders(text) != _placeholders(reference[key]):
                raise CatalogueError(f"{where}: {key} uses {sorted(_placeholders(text))}, en uses "
                                     f"{sorted(_placeholders(reference[key]))}")
        parsed[language] = MappingProxyType(dict(entries))
    return parsed


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


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
    """The contact's language if the template has it, else the shop's, else English."""
    return _fallback(definition.variants.keys(), contact_locale, shop_locale)


def _fallback(available: Any, contact_locale: str | None, shop_locale: str | None) -> str:
    available = list(available)
    for locale in (contact_locale, shop_locale):
        match = match_language(locale, available)
        if match:
            return match
    return DEFAULT_LANGUAGE


# --- rendering ------------------------------------------------------------------------------


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
        raise RenderError(f"template {definition.name!r} has {len(url_buttons)} URL buttons, got {len(suffixes)} suffixes")
    buttons: list[dict[str, Any]] = []
    for spec in definition.buttons:
        if spec.type == "URL":
            suffix = str(suffixes.pop(0))
            if not suffix or _WHITESPACE_RUN.search(suffix):
                raise RenderError(f"template {definition.name!r}: URL suffix {suffix!r} must be non-empty, without spaces")
            buttons.append({"index": spec.index, "url_suffix": suffix})
        else:
            payload = spec.payload if reply_context is None else f"{spec.payload}{REPLY_CONTEXT_SEPARATOR}{reply_context}"
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
