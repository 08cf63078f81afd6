"""One registry per platform: outside ``connector/stores`` no code branches on a platform's name.

What a platform can do is asked of ``connector.stores.platforms.PLATFORMS``; the few places
that are about one platform by nature (Shopify's session token, the WordPress plugin's
settings) are listed below with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from connector.models import Shop
from connector.stores.platforms import PLATFORMS, StorePlatform, UnknownPlatformError, platform_of

ROOT = Path(__file__).resolve().parents[1]
NAMES = set(PLATFORMS)

#: (file, function): code that is about one platform by nature
ALLOWED = {
    ("connector/web/admin_auth.py", "_shopify_session"),  # a Shopify session token names a Shopify shop
    ("connector/cli.py", "shops_plugin_settings"),  # the WordPress plugin's settings: WooCommerce only
    ("connector/cli.py", "shops_subscribe"),  # Shopify webhook subscriptions: Shopify only
}


def _branches(tree: ast.Module):
    """(top-level function, line) of each comparison of something with a platform name, and
    of each literal dict keyed by two or more platform names."""
    for top in tree.body:
        name = top.name if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else "<module>"
        for node in ast.walk(top):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                literals = {op.value for op in operands if isinstance(op, ast.Constant)}
                literals |= {elt.value for op in operands if isinstance(op, (ast.Tuple, ast.List, ast.Set))
                             for elt in op.elts if isinstance(elt, ast.Constant)}
                if literals & NAMES:
                    yield name, node.lineno
            elif isinstance(node, ast.Dict):
                keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
                if len(keys & NAMES) >= 2:
                    yield name, node.lineno


def _offenders(root: Path, allowed: set[tuple[str, str]]) -> list[str]:
    found = set()
    for path in sorted((root / "connector").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(("connector/stores/", "connector/migrations/")):
            continue
        for function, line in _branches(ast.parse(path.read_text())):
            if (relative, function) not in allowed:
                found.add(f"{relative}:{line} ({function})")
    return sorted(found)


def test_no_code_outside_the_store_layer_branches_on_a_platform_name():
    assert _offenders(ROOT, ALLOWED) == []


def test_the_check_finds_a_branch_on_a_platform_name(tmp_path):
    """The scan is not vacuous: a new `if shop.platform == "woocommerce"` in an automation is caught."""
    (tmp_path / "connector" / "automations").mkdir(parents=True)
    (tmp_path / "connector" / "automations" / "thing.py").write_text(
        "def link(shop):\n    if shop.platform == 'woocommerce':\n        return 1\n"
        "MAKERS = {'shopify': 1, 'woocommerce': 2}\n")
    assert _offenders(tmp_path, set()) == ["connector/automations/thing.py:2 (link)",
                                           "connector/automations/thing.py:4 (<module>)"]


def test_the_allow_list_names_code_that_exists():
    """An entry whose function is gone would hide nothing and mislead the reader."""
    for relative, function in ALLOWED:
        tree = ast.parse((ROOT / relative).read_text())
        assert function in {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}, relative


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_platform_is_complete(name):
    platform = PLATFORMS[name]
    assert isinstance(platform, StorePlatform) and platform.name == name
    assert callable(platform.cart_url)
    assert platform.redact_after_uninstall.total_seconds() > 0


def test_an_unknown_platform_is_a_clear_error():
    with pytest.raises(UnknownPlatformError, match="'magento'"):
        platform_of(Shop(platform="magento", domain="x.example"))
