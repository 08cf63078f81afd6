"""Validation of the catalogue files against Meta's template rules (and a few of ours).

``parse_template`` checks one ``<name>.json`` and builds its ``TemplateDefinition``;
``parse_texts`` checks ``texts.json``. Every error names the file and the language.
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

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
    MAX_PARAMETERS,
    MAX_TEXT_MESSAGE_CHARS,
    MAX_URL_BUTTONS,
    MAX_URL_CHARS,
    OPT_OUT_PAYLOAD,
    PARAMETER_NAME,
    PAYLOAD_NAME,
    PLACEHOLDER,
    TEMPLATE_NAME,
    TEXTS_FILE,
    URL_VARIABLE,
    ButtonSpec,
    CatalogueError,
    LanguageVariant,
    TemplateDefinition,
)

# text around a parameter that Meta treats as "nothing": whitespace and punctuation
_FILLER = re.compile(r"^[\s.,;:!?¡¿\"'«»„“”‘’()\-–—…]*$")
# what Meta refuses inside a parameter value: line breaks, tabs, more than 4 spaces in a row
_FORBIDDEN_IN_PARAMETER = re.compile(r"[\r\n\t\f\v]| {5,}")


def parse_template(data: Any, *, source: str) -> TemplateDefinition:
    """Validate one template document; every error names ``source`` and the language."""
    return _parse(data, source=source, shop_template=False)


def parse_shop_template(data: Any, *, source: str) -> TemplateDefinition:
    """Validate a merchant's own template: the catalogue's JSON format and every rule of
    ``parse_template`` (Meta's limits, NAMED parameters, the opt-out button of MARKETING), with
    three differences. It needs only some of the catalogue's languages (at least one, no
    other), as a shop writes in its own; every key must be one this format knows (the document
    is not ours, and what it holds is sent to Meta); and a URL button is always
    ``{app_url}/l/{{1}}``, the tracked short link made when the message is queued."""
    return _parse(data, source=source, shop_template=True)


def _parse(data: Any, *, source: str, shop_template: bool) -> TemplateDefinition:
    def fail(message: str, language: str | None = None) -> CatalogueError:
        error = CatalogueError(f"{source}" + (f" [{language}]" if language else "") + f": {message}")
        error.language, error.detail = language, message
        return error

    if not isinstance(data, dict):
        raise fail("a template file holds one JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
        raise fail(f"name {name!r} must be lowercase letters, digits and underscores, starting with a letter")
    if not shop_template and source.endswith(".json") and Path(source).stem != name:
        raise fail(f"name {name!r} does not match the file name")
    if shop_template:
        _check_shop_document(data, fail)
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
    if shop_template:
        other = sorted(code for code in languages if code not in LANGUAGES)
        if other or not languages:
            raise fail(f"languages must be some of {list(LANGUAGES)}" + (f", not {other}" if other else ""))
    else:
        missing = [code for code in LANGUAGES if code not in languages]
        if missing:
            raise fail(f"missing languages {missing}")
    variants = {}
    for language, spec in languages.items():
        if not LANGUAGE_CODE.match(language):
            raise fail(f"{language!r} is not a language code like 'de' or 'pt_BR'")
        variants[language] = _parse_variant(language, spec, buttons, lambda m, lang=language: fail(m, lang))
    first = DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in variants else sorted(variants)[0]
    reference = variants[first]
    for language, variant in variants.items():
        if set(variant.parameters) != set(reference.parameters):
            raise fail(f"parameters {sorted(variant.parameters)} differ from {first} "
                       f"{sorted(reference.parameters)}", language)
        if variant.header_format != reference.header_format:
            raise fail(f"header format {variant.header_format} differs from {first} {reference.header_format}",
                       language)
    return TemplateDefinition(
        name=name, version=version, category=category, parameter_format="NAMED", buttons=buttons,
        variants=MappingProxyType(variants), source=source, description=str(data.get("description", "")),
    )


#: the keys a shop template may hold, per level (the catalogue files are ours and not checked so)
_TEMPLATE_KEYS = frozenset({"name", "version", "category", "parameter_format", "description", "buttons", "languages"})
_COMPONENT_KEYS = {"HEADER": frozenset({"type", "format", "text"}), "BODY": frozenset({"type", "text", "example"}),
                   "FOOTER": frozenset({"type", "text"}), "BUTTONS": frozenset({"type", "buttons"})}
_BUTTON_KEYS = {"URL": frozenset({"type", "text", "url", "example"}), "QUICK_REPLY": frozenset({"type", "text"})}
_SPEC_KEYS = {"URL": frozenset({"type", "suffix"}), "QUICK_REPLY": frozenset({"type", "payload"})}
#: a shop template's URL button: our short link, its code the dynamic suffix
SHORT_LINK_URL = f"{APP_URL}/l/{URL_VARIABLE}"
_MAX_DESCRIPTION_CHARS = 500


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _all_storable(value: Any) -> bool:
    pending = [value]
    while pending:  # iterative: a document nested deep must not exhaust the stack
        item = pending.pop()
        if isinstance(item, str) and _UNSTORABLE.search(item):
            return False
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def _check_keys(item: Mapping[str, Any], allowed: frozenset[str], what: str, fail) -> None:
    unknown = sorted(str(key) for key in item if key not in allowed)
    if unknown:
        raise fail(f"{what} has unknown keys {unknown}; allowed: {sorted(allowed)}")


def _check_shop_document(data: Mapping[str, Any], fail) -> None:
    """What ``parse_template`` trusts in our own files but not in a merchant's: only keys the
    format knows, each of the type it must have (so the rules below never meet a list where a
    text belongs), storable text, and the URL button's one form."""
    _check_keys(data, _TEMPLATE_KEYS, "the template", fail)
    if not _all_storable(data):
        raise fail("a text holds a NUL character or an unpaired surrogate")
    for key in ("category", "parameter_format", "description"):
        if key in data and not isinstance(data[key], str):
            raise fail(f"{key} must be a text")
    if len(data.get("description", "")) > _MAX_DESCRIPTION_CHARS:
        raise fail(f"description has more than {_MAX_DESCRIPTION_CHARS} characters")
    buttons = data.get("buttons", [])
    if not isinstance(buttons, list) or not all(isinstance(button, dict) for button in buttons):
        raise fail("buttons must be a list of objects")
    for index, button in enumerate(buttons):
        if not all(isinstance(value, str) for value in button.values()):
            raise fail(f"button {index}: its type, suffix and payload are texts")
        _check_keys(button, _SPEC_KEYS.get(button.get("type", ""), frozenset({"type"})), f"button {index}", fail)
    languages = data.get("languages")
    if not isinstance(languages, dict):
        return  # parse_template says so
    for language, spec in languages.items():
        _check_shop_variant(spec, lambda message, lang=language: fail(message, lang))


def _check_shop_variant(spec: Any, fail) -> None:
    if not isinstance(spec, dict):
        raise fail("a language holds an object with its components")
    _check_keys(spec, frozenset({"components"}), "the language", fail)
    components = spec.get("components")
    if not isinstance(components, list) or not all(isinstance(component, dict) for component in components):
        raise fail("components must be a list of objects")
    for component in components:
        kind = component.get("type")
        if not isinstance(kind, str) or kind not in _COMPONENT_KEYS:
            raise fail(f"component type {kind!r} must be HEADER, BODY, FOOTER or BUTTONS")
        _check_keys(component, _COMPONENT_KEYS[kind], f"the {kind} component", fail)
        if not all(isinstance(component[key], str) for key in ("format", "text") if key in component):
            raise fail(f"the {kind} component's format and text are texts")
        if "example" in component:
            _check_body_example(component["example"], fail)
        if kind == "BUTTONS":
            _check_button_texts(component.get("buttons"), fail)


def _check_body_example(example: Any, fail) -> None:
    if not isinstance(example, dict):
        raise fail("the body's example is an object with body_text_named_params")
    _check_keys(example, frozenset({"body_text_named_params"}), "the body's example", fail)
    items = example.get("body_text_named_params", [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise fail("body_text_named_params must be a list of objects")
    for item in items:
        _check_keys(item, frozenset({"param_name", "example"}), "an example", fail)
        if not all(isinstance(value, str) for value in item.values()):
            raise fail("an example's param_name and example are texts")


def _check_button_texts(buttons: Any, fail) -> None:
    if not isinstance(buttons, list) or not all(isinstance(button, dict) for button in buttons):
        raise fail("BUTTONS.buttons must be a list of objects")
    for index, button in enumerate(buttons):
        if not all(isinstance(button[key], str) for key in ("type", "text", "url") if key in button):
            raise fail(f"button {index}: its type, text and url are texts")
        _check_keys(button, _BUTTON_KEYS.get(button.get("type", ""), frozenset({"type"})), f"button {index}", fail)
        if button.get("type") == "URL":
            example = button.get("example")
            if button.get("url") != SHORT_LINK_URL:
                raise fail(f"button {index}: url must be {SHORT_LINK_URL} (the link given at send becomes a "
                           "tracked short link)")
            if not isinstance(example, list) or not all(isinstance(value, str) for value in example):
                raise fail(f"button {index}: example must be a list of texts")


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
    order: list[str | None] = ["HEADER", "BODY", "FOOTER", "BUTTONS"]
    types = [c.get("type") if isinstance(c, dict) else None for c in components]
    if any(t not in order for t in types) or types != sorted(types, key=order.index) or len(set(types)) != len(types):
        raise fail(f"components {types} must be HEADER?, BODY, FOOTER?, BUTTONS? in that order, each at most once")
    if "BODY" not in types:
        raise fail("a BODY component is required")
    by_type = dict(zip(types, components, strict=True))
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
        for left, right in zip(matches, matches[1:], strict=False):
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
    if variables and (not isinstance(example, list) or len(example) != 1
                      or not str(example[0]).startswith(APP_URL + "/")):
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
