"""A built wheel is a working install (issue 14, point 10).

The wheel is built from the checkout, installed into a fresh virtualenv in a temporary folder
outside the checkout, and its own ``connector`` command runs ``db upgrade`` and the demo there.
The fresh environment takes its third-party packages from this test's environment (a path
entry, so no download), but the connector itself only from the wheel: the checkout is on no
path and the editable install of the test environment is not visible to it.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (built,) = out.glob("whatsapp_commerce_connector-*.whl")
    return built


def test_14_10_wheel_carries_templates_and_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("connector/templates/whatsapp/order_confirmation.json", "connector/templates/whatsapp/texts.json",
                   "connector/templates/admin/index.html", "connector/migrations/alembic.ini",
                   "connector/migrations/env.py", "connector/migrations/script.py.mako",
                   "connector/migrations/versions/0001_initial.py",
                   "connector/static/admin/manifest.json"):
        assert needed in names, needed
    # the admin app's built entry (make builds frontend/ before the tests)
    manifest = json.loads(zipfile.ZipFile(wheel).read("connector/static/admin/manifest.json"))
    entry = manifest["src/main.jsx"]
    for built in (entry["file"], *entry["css"]):
        assert f"connector/static/admin/{built}" in names, built
    catalogue = {name for name in names if name.startswith("connector/templates/whatsapp/")}
    on_disk = {f"connector/templates/whatsapp/{path.name}"
               for path in (ROOT / "connector/templates/whatsapp").glob("*.json")}
    assert catalogue == on_disk


def test_14_10_wheel_installed_outside_the_checkout_upgrades_and_runs_the_demo(wheel, tmp_path):
    home = tmp_path / "elsewhere"
    home.mkdir()
    env_dir = tmp_path / "fresh-venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    fresh_site = Path(subprocess.check_output(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    # third-party packages from this environment, as plain path entries (their .pth files, the
    # editable install of the checkout among them, are not processed from there)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    (fresh_site / "zz_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")

    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "DATABASE_URL", "REDIS_URL", "CONNECTOR_INSTANCE_PATH", "VIRTUAL_ENV")}
    where = subprocess.run([str(python), "-c", "import connector; print(connector.__file__)"], cwd=home, env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr[-2000:]
    assert Path(where.stdout.strip()).is_relative_to(fresh_site), where.stdout

    command = env_dir / "bin" / "connector"
    upgrade = subprocess.run([str(command), "db", "upgrade"], cwd=home, env=env, capture_output=True, text=True,
                             timeout=120)
    assert upgrade.returncode == 0, upgrade.stdout[-2000:] + upgrade.stderr[-2000:]
    assert (home / "instance" / "connector.db").exists()  # the instance folder is the working folder's

    demo = subprocess.run([str(command), "demo"], cwd=home, env=env, capture_output=True, text=True, timeout=180)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "template order_confirmation (de)" in demo.stdout
    assert "automation           triggered" in demo.stdout
