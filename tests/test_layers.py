"""The layers point one way (docs/architecture.md, "Layers").

- ``lint-imports`` keeps the contracts in pyproject.toml (``[tool.importlinter]``): the
  layers, integrations free of Flask/SQLAlchemy/Redis, the three adapters independent;
- no import cycle among the modules of ``connector/`` and ``integrations/``, counting the
  imports made inside functions (which import-linter counts too, and which would otherwise
  be the way to hide one);
- no function-local import of our own modules at all: an import that must wait for a call
  is the sign of a cycle being dodged.

The last tests copy the tree, add a lower-to-higher import, and show each check failing.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("connector", "integrations")


def _module(path: Path, root: Path) -> str:
    name = ".".join(path.relative_to(root).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports(root: Path) -> dict[str, list[tuple[str, int, bool]]]:
    """module → [(imported module, line, inside a function)] for our own modules."""
    modules = {_module(path, root): path for package in OURS for path in (root / package).rglob("*.py")
               if "migrations" not in path.parts}
    found: dict[str, list[tuple[str, int, bool]]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        local = {id(node) for function in ast.walk(tree)
                 if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for node in ast.walk(function)}
        edges = []
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from connector import consent` imports the module connector.consent
                targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                           for alias in node.names]
            for target in targets:
                if target.split(".")[0] in OURS and target in modules and target != name:
                    edges.append((target, node.lineno, id(node) in local))
        found[name] = edges
    return found


def _cycles(graph: dict[str, list[tuple[str, int, bool]]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target, _, _ in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(command), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PATH": str(command.parent), "PYTHONPATH": str(root)})


def test_the_import_contracts_are_kept():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_import_cycle_counting_imports_inside_functions():
    assert _cycles(_imports(ROOT)) == []


def test_no_function_local_import_of_our_own_modules():
    local = [f"{module} -> {target} (line {line})" for module, edges in _imports(ROOT).items()
             for target, line, inside in edges if inside]
    assert local == []


def _copy(tmp_path: Path) -> Path:
    for package in OURS:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path):
    root = _copy(tmp_path)
    outbox = root / "connector" / "messaging" / "outbox.py"
    outbox.write_text(outbox.read_text() + "\nfrom connector.automations import carts  # messaging -> automations\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "Layers point one way" in result.stdout and "BROKEN" in result.stdout
    assert "connector.messaging.outbox -> connector.automations.carts" in result.stdout


def test_a_cycle_hidden_in_a_function_is_found(tmp_path):
    root = _copy(tmp_path)
    models = root / "connector" / "models" / "base.py"
    models.write_text(models.read_text() + "\n\ndef _sneaky():\n    from connector.messaging import outbox\n"
                      "    return outbox\n")
    graph = _imports(root)
    assert any("connector.models.base" in cycle and "connector.messaging.outbox" in cycle for cycle in _cycles(graph))
    assert any(target == "connector.messaging.outbox" and inside
               for target, _, inside in graph["connector.models.base"])
