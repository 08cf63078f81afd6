"""The plugin in WooCommerce's Checkout Block and on WordPress.org: HPOS and blocks
compatibility declared, the opt-in box through the Additional Checkout Fields API (optional,
on the order, copied to the meta the connector reads), cart reports from the Store API that
the connector verifies and parses, and a readme.txt in WordPress.org's format that discloses
the connector as an external service."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from integrations.woocommerce.webhooks import load_json, parse_cart_report

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "integrations" / "woocommerce" / "wordpress-plugin" / "whatsapp-commerce-connector"
BLOCKS_TEST = ROOT / "tests" / "php" / "woocommerce_plugin_blocks_test.php"
PHP = shutil.which("php")
CONSENT = "Send me offers and news on WhatsApp. You can unsubscribe at any time by replying STOP."


@pytest.fixture(scope="module")
def run():
    if PHP is None:
        pytest.skip("php not installed: apt-get install php-cli (.ci/run does)")
    result = subprocess.run([PHP, str(BLOCKS_TEST)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_hpos_and_the_blocks_are_declared_compatible(run):
    assert run["compatibility"] == {"custom_order_tables": ["whatsapp-commerce-connector.php", True],
                                    "cart_checkout_blocks": ["whatsapp-commerce-connector.php", True]}


def test_the_block_checkout_box_is_optional_and_belongs_to_the_order(run):
    assert run["fields"] == [{"id": "whatsapp-commerce-connector/whatsapp-opt-in", "label": CONSENT,
                              "location": "order", "type": "checkbox", "required": False}]


def test_the_boxs_value_reaches_the_meta_the_connector_reads(run):
    assert run["ticked"]["_wcc_whatsapp_opt_in"] == "yes" and run["ticked"]["_wcc_consent_text"] == CONSENT
    assert run["unticked"]["_wcc_whatsapp_opt_in"] == "no"
    assert run["ticked"]["_wcc_locale"] == "de_DE" and run["ticked"]["_wcc_cart_token"].startswith("t_")
    assert run["other_field"] == []  # another plugin's field changes nothing


def test_store_api_requests_send_signed_cart_reports_the_connector_parses(run):
    class Context:
        country = "DE"
        locale = "de"

    editing, placed = run["posts"]
    assert editing["url"] == placed["url"] == "https://connector.example/storefront/api/cart"
    assert editing["signed"] and placed["signed"]
    first = parse_cart_report(load_json(json.dumps(editing["report"]).encode()), Context())
    assert first.customer.phone == "+4915123456789" and first.customer.whatsapp_opt_in is False
    assert editing["report"]["completed"] is False
    final = parse_cart_report(load_json(json.dumps(placed["report"]).encode()), Context())
    assert placed["report"]["completed"] is True and final.customer.whatsapp_opt_in is True


def readme() -> dict[str, str]:
    text = (PLUGIN / "readme.txt").read_text()
    header = text.split("== Description ==")[0]
    fields = dict(re.findall(r"^([A-Za-z ]+):\s*(.+)$", header, re.MULTILINE))
    fields["_text"] = text
    fields["_short"] = [line for line in header.strip().splitlines() if line and ":" not in line
                        and not line.startswith("===")][0]
    return fields


def test_the_readme_follows_wordpress_orgs_format():
    fields = readme()
    main = (PLUGIN / "whatsapp-commerce-connector.php").read_text()
    version = re.search(r"^ \* Version:\s+(\S+)", main, re.MULTILINE).group(1)
    assert fields["Stable tag"] == version
    assert fields["Requires PHP"] == re.search(r"^ \* Requires PHP:\s+(\S+)", main, re.MULTILINE).group(1)
    assert len([tag for tag in fields["Tags"].split(",") if tag.strip()]) <= 5
    assert len(fields["_short"]) <= 150
    assert fields["License"].startswith("GPLv2")
    for section in ("== Description ==", "== Installation ==", "== Frequently Asked Questions ==", "== Changelog =="):
        assert section in fields["_text"]
    # the connector is disclosed as an external service, with what is sent and when
    assert "= External service =" in fields["_text"] and "privacy" in fields["_text"].lower()
    assert f"= {version} =" in fields["_text"]
