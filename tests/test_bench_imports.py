"""The benchmarks are not run by the suite, so their imports of the project are checked here:
every ``from connector… import name`` in bench/ must name something that exists (a module
renamed or moved breaks a benchmark the moment someone needs its figures)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHES = sorted((ROOT / "bench").glob("*.py"))


def _imports(path: Path) -> list[tuple[str, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in ("connector", "integrations"):
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names
                      if alias.name.split(".")[0] in ("connector", "integrations")]
    return found


@pytest.mark.parametrize("bench", BENCHES, ids=lambda path: path.name)
def test_every_name_a_benchmark_imports_exists(bench):
    missing = []
    for module_name, name in _imports(bench):
        module = importlib.import_module(module_name)
        if name and not hasattr(module, name):
            try:
                importlib.import_module(f"{module_name}.{name}")
            except ModuleNotFoundError:
                missing.append(f"{module_name}.{name}")
    assert missing == []
