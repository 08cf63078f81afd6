"""The admin app's UI strings (frontend/src/i18n): German as complete as English, every key the
code asks for present, placeholders the same in both languages."""

from __future__ import annotations

import json
import re
from pathlib import Path

from connector.shop_settings import defaults

ROOT = Path(__file__).resolve().parent.parent
I18N = ROOT / "frontend" / "src" / "i18n"
SOURCES = ROOT / "frontend" / "src"
#: t("a.b") and t("a.b", {...}): the keys written out in full (templated ones are checked by the tables below)
STATIC_KEY = re.compile(r"""\bt\(\s*"([a-z_][a-z0-9_.]*)"\s*[,)]""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def flat(node: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def catalogue(language: str) -> dict[str, str]:
    return flat(json.loads((I18N / f"{language}.json").read_text(encoding="utf-8")))


def test_german_has_every_english_string_and_no_other():
    english, german = catalogue("en"), catalogue("de")
    assert set(german) == set(english)
    assert all(isinstance(text, str) and text.strip() for text in german.values())


def test_placeholders_match_between_the_languages():
    english, german = catalogue("en"), catalogue("de")
    for key, text in english.items():
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(german[key])), key


def test_every_key_the_code_names_is_in_the_catalogue():
    english = catalogue("en")
    used = {key for path in SOURCES.rglob("*.js*") for key in STATIC_KEY.findall(path.read_text(encoding="utf-8"))}
    assert used, "no t(...) call found: the pattern no longer matches the code"
    assert sorted(key for key in used if key not in english) == []


def test_every_setting_has_a_label_in_the_catalogue():
    english = catalogue("en")

    def leaves(node: dict, prefix: str = "") -> list[str]:
        paths = []
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and path not in NOT_SECTIONS:
                paths += leaves(value, f"{path}.")
            else:
                paths.append(path)
        return paths

    missing = [path for path in leaves(defaults())
               if f"settings.fields.{path}" not in english]
    assert missing == []


#: settings the form edits as one input (not a section of inputs)
NOT_SECTIONS = {"auto_reply.hours", "storefront.chat_button.hours", "storefront.consent_texts",
                "governor.frequency_caps.transactional"}
