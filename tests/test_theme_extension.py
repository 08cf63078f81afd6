"""The Shopify theme app extension (extensions/whatsapp-widget/): what Shopify checks when it is
deployed, checked here first. Each block's {% schema %} is JSON with a valid target and valid
setting types; every asset and translation a block refers to exists; the locales agree."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "extensions" / "whatsapp-widget"
BLOCKS = sorted((EXTENSION / "blocks").glob("*.liquid"))
APP_TOML = ROOT / "integrations" / "shopify" / "shopify.app.toml"

#: https://shopify.dev/docs/storefronts/themes/architecture/settings/input-settings and sidebar-settings
INPUT_TYPES = {"checkbox", "number", "radio", "range", "select", "text", "textarea", "article", "blog",
               "collection", "collection_list", "color", "color_background", "color_scheme",
               "color_scheme_group", "font_picker", "html", "image_picker", "inline_richtext", "link_list",
               "liquid", "metaobject", "metaobject_list", "page", "product", "product_list", "richtext",
               "text_alignment", "url", "video", "video_url"}
SIDEBAR_TYPES = {"header", "paragraph"}
SCHEMA = re.compile(r"{%-?\s*schema\s*-?%}(.*?){%-?\s*endschema\s*-?%}", re.S)
ASSET = re.compile(r"""['"]([^'"]+)['"]\s*\|\s*asset_url""")
STOREFRONT_KEY = re.compile(r"""['"]([\w.]+)['"]\s*\|\s*t\b""")


def schema_of(block: Path) -> dict:
    (found,) = SCHEMA.findall(block.read_text())
    return json.loads(found)


def locale(name: str) -> dict:
    return json.loads((EXTENSION / "locales" / name).read_text())


def lookup(table: dict, dotted: str):
    node = table
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def leaves(table: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in table.items():
        keys |= leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return keys


def schema_strings(node) -> list[str]:
    if isinstance(node, dict):
        return [text for value in node.values() for text in schema_strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in schema_strings(value)]
    return [node] if isinstance(node, str) else []


def test_the_extension_is_a_theme_extension_with_an_embed_and_two_app_blocks():
    config = tomllib.loads((EXTENSION / "shopify.extension.toml").read_text())
    assert config["type"] == "theme" and config["name"]
    targets = {block.stem: schema_of(block)["target"] for block in BLOCKS}
    assert targets == {"app-embed": "body", "notify-me": "section", "opt-in": "section"}


@pytest.mark.parametrize("block", BLOCKS, ids=[block.stem for block in BLOCKS])
def test_block_settings_have_valid_types_ids_and_defaults(block):
    schema = schema_of(block)
    ids = [setting["id"] for setting in schema["settings"] if "id" in setting]
    assert len(ids) == len(set(ids))
    for setting in schema["settings"]:
        assert setting["type"] in INPUT_TYPES | SIDEBAR_TYPES, setting
        if setting["type"] in SIDEBAR_TYPES:
            assert "content" in setting and "id" not in setting
            continue
        assert re.fullmatch(r"[a-z_]+", setting["id"]) and setting["label"]
        if setting["type"] in ("select", "radio"):
            values = [option["value"] for option in setting["options"]]
            assert setting.get("default", values[0]) in values
        if setting["type"] == "range":
            assert setting["min"] <= setting["default"] <= setting["max"]
            assert (setting["max"] - setting["min"]) % setting["step"] == 0
        # every setting the schema declares is read by the block
        assert f"block.settings.{setting['id']}" in block.read_text(), setting["id"]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.stem for block in BLOCKS])
def test_every_asset_and_translation_a_block_refers_to_exists(block):
    text = block.read_text()
    for asset in ASSET.findall(text):
        assert (EXTENSION / "assets" / asset).is_file(), f"{asset}: not in assets/ (make copies the built widget)"
    for key in STOREFRONT_KEY.findall(SCHEMA.sub("", text)):
        for name in ("en.default.json", "de.json"):
            assert isinstance(lookup(locale(name), key), str), f"{key} missing in {name}"
    for text_key in (value[2:] for value in schema_strings(schema_of(block)) if value.startswith("t:")):
        for name in ("en.default.schema.json", "de.schema.json"):
            assert isinstance(lookup(locale(name), text_key), str), f"{text_key} missing in {name}"


def test_the_locales_have_the_same_keys():
    assert leaves(locale("en.default.json")) == leaves(locale("de.json"))
    assert leaves(locale("en.default.schema.json")) == leaves(locale("de.schema.json"))


def test_the_embed_loads_the_bundled_widget_and_calls_through_the_app_proxy():
    text = (EXTENSION / "blocks" / "app-embed.liquid").read_text()
    proxy = tomllib.loads(APP_TOML.read_text())["app_proxy"]
    assert f'data-api="/{proxy["prefix"]}/{proxy["subpath"]}/api"' in text
    assert set(ASSET.findall(text)) == {"widget.js", "widget-ui.js"}
    assert "defer" in text  # never render-blocking
    # the copies are the built widget itself
    built = ROOT / "connector" / "static" / "storefront"
    for name in ("widget.js", "widget-ui.js"):
        assert (EXTENSION / "assets" / name).read_bytes() == (built / name).read_bytes()
