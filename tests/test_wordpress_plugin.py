"""The WordPress plugin: PHP syntax, its pure helpers, and agreement with the Python side.

Needs the ``php`` command line; skipped with a visible reason where it is missing (CI
images may not have it: ``apt-get install php-cli``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.woocommerce.carts import cart_link
from integrations.woocommerce.webhooks import load_json, parse_cart_report, verify_cart_report

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "integrations" / "woocommerce" / "wordpress-plugin" / "whatsapp-commerce-connector"
FUNCTIONS = PLUGIN / "includes" / "functions.php"
PHP_TESTS = ROOT / "tests" / "php" / "woocommerce_plugin_functions_test.php"
PHP = shutil.which("php")

pytestmark = pytest.mark.skipif(PHP is None,
                                reason="php not installed: apt-get install php-cli to test the WordPress plugin")


def php(code: str) -> str:
    result = subprocess.run([PHP, "-r", f"require {json.dumps(str(FUNCTIONS))}; {code}"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("path", sorted([*PLUGIN.rglob("*.php"), PHP_TESTS]), ids=lambda path: path.name)
def test_php_syntax(path):
    result = subprocess.run([PHP, "-l", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_php_unit_tests():
    result = subprocess.run([PHP, str(PHP_TESTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"


def test_report_signed_in_php_verifies_and_parses_in_python():
    cart = {
        "store": "store-key-1",
        "cart_token": "t_abc",
        "updated_at": 1777629733,
        "currency": "EUR",
        "locale": "de_DE",
        "phone": "0151 23456789",
        "country": "DE",
        "whatsapp_opt_in": True,
        "consent_text": "Schick mir Bestellupdates über WhatsApp",
        "lines": [{"product_id": 93, "variation_id": 0, "quantity": 2, "price": 3, "title": "Woo Single #1"}],
        "subtotal": 6,
        "total": 16.5,
    }
    code = (
        f"$body = wcc_encode_report(wcc_build_cart_report(json_decode({json.dumps(json.dumps(cart))}, true)));"
        "echo json_encode(array('body' => $body, 'signature' => wcc_sign($body, 'shared-secret')));"
    )
    out = json.loads(php(code))
    raw = out["body"].encode("utf-8")
    verify_cart_report(raw, {"X-WCC-Signature": out["signature"]}, "shared-secret")

    class Context:
        country = "US"
        locale = "en"

    checkout = parse_cart_report(load_json(raw), Context())
    assert checkout.updated_at == datetime(2026, 5, 1, 10, 2, 13, tzinfo=UTC)
    assert checkout.customer.phone == "+4915123456789"
    assert checkout.customer.whatsapp_opt_in is True
    assert str(checkout.total) == "16.50"


def test_cart_link_built_in_python_parses_in_php():
    url = cart_link("https://store.example", [(123, 2), (456, 1)], supports_checkout_link=False, plugin_endpoint=True)
    value = url.split("wcc-cart=", 1)[1]
    assert json.loads(php(f"echo json_encode(wcc_parse_cart_param({json.dumps(value)}));")) == [[123, 2], [456, 1]]
