"""Nothing happens at import: a module is loaded, not run.

Importing any module of ``integrations/`` loads no Flask, no SQLAlchemy and nothing of the
app; importing every module of ``connector/`` builds no app, opens no engine and installs no
session or engine listener (``connector.app.create_app`` installs them). Each check runs in a
fresh interpreter, so what this test process imported does not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> list[str]:
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        names.append(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"))
    return names


def _run(code: str, **env: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_integrations_load_no_flask_no_sqlalchemy_and_nothing_of_the_app():
    modules = _modules("integrations")
    assert len(modules) > 20
    loaded = _run(
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'flask_sqlalchemy', 'sqlalchemy', 'redis', 'rq') "
        "or m in ('connector.app', 'connector.extensions'))))")
    assert loaded == []


def test_importing_every_connector_module_installs_no_listener_and_builds_no_app():
    modules = _modules("connector")
    state = _run(
        "import importlib, json\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from sqlalchemy import event\n"
        "from sqlalchemy.engine import Engine\n"
        "from sqlalchemy.orm import Session\n"
        "from connector import app, consent_signal, rollups\n"
        "from connector.extensions import db\n"
        "from connector.jobs import inventory\n"
        "hooks = [event.contains(Engine, 'connect', app._sqlite_pragmas),\n"
        "         event.contains(Session, 'after_commit', inventory._kick_after_commit),\n"
        "         event.contains(Session, 'after_commit', consent_signal._signal_after_commit),\n"
        "         event.contains(Session, 'before_commit', rollups._write_before_commit)]\n"
        "print(json.dumps({'hooks': hooks, 'engines': len(getattr(db, '_app_engines', {}))}))")
    assert state == {"hooks": [False, False, False, False], "engines": 0}


def test_create_app_installs_the_hooks_once(tmp_path):
    state = _run(
        "import json\n"
        "from sqlalchemy import event\n"
        "from sqlalchemy.orm import Session\n"
        "from connector import consent_signal, rollups\n"
        "from connector.app import create_app\n"
        "from connector.jobs import inventory\n"
        "create_app({'DATABASE_URL': 'sqlite://', 'SECRET_KEY': 'x', 'CONNECTOR_ENV': 'test'})\n"
        "create_app({'DATABASE_URL': 'sqlite://', 'SECRET_KEY': 'x', 'CONNECTOR_ENV': 'test'})\n"
        "listeners = list(Session().dispatch.after_commit)\n"
        "print(json.dumps({'inventory': sum(1 for fn in listeners if fn is inventory._kick_after_commit),\n"
        "                  'consent': sum(1 for fn in listeners if fn is consent_signal._signal_after_commit),\n"
        "                  'rollups': sum(1 for fn in Session().dispatch.before_commit\n"
        "                                 if fn is rollups._write_before_commit)}))",
        CONNECTOR_INSTANCE_PATH=str(tmp_path))
    assert state == {"inventory": 1, "consent": 1, "rollups": 1}
