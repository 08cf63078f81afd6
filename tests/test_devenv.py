"""A second terminal talks to the services of `connector dev` (issue 14, point 13)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connector import devenv

ROOT = Path(__file__).resolve().parent.parent
CLEARED = ("DATABASE_URL", "REDIS_URL", "CONNECTOR_INSTANCE_PATH", "APP_URL", "WHATSAPP_API_BASE_URL",
           "CONNECTOR_ENV", "TEST_DATABASE_URL")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _connector(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "connector"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c",
            "import sys; from connector.cli import main; sys.argv = ['connector', *sys.argv[1:]]; main()",
            *args]


def test_14_13_adopt_fills_only_unset_variables_from_a_live_record(tmp_path):
    devenv.record(tmp_path, {"DATABASE_URL": "sqlite:///x.db", "REDIS_URL": "unix:///tmp/r.sock",
                             "WHATSAPP_API_BASE_URL": "http://127.0.0.1:8025", "APP_URL": "http://127.0.0.1:5000"})
    assert oct(os.stat(devenv.record_path(tmp_path)).st_mode & 0o777) == "0o600"
    environ = {"APP_URL": "https://mine.example"}
    taken = devenv.adopt(tmp_path, environ)
    assert taken == {"DATABASE_URL": "sqlite:///x.db", "REDIS_URL": "unix:///tmp/r.sock",
                     "WHATSAPP_API_BASE_URL": "http://127.0.0.1:8025"}
    assert environ["APP_URL"] == "https://mine.example"  # what the operator set wins
    assert devenv.adopt(tmp_path, {"CONNECTOR_ENV": "production"}) == {}
    assert devenv.adopt(tmp_path, {"CONNECTOR_ENV": "test"}) == {}


def test_14_13_a_record_of_an_ended_dev_server_is_ignored(tmp_path):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    devenv.record(tmp_path, {"REDIS_URL": "unix:///tmp/gone.sock"}, pid=ended.pid)
    assert devenv.adopt(tmp_path, {}) == {}
    devenv.record_path(tmp_path).write_text("{not json")
    assert devenv.adopt(tmp_path, {}) == {}


@pytest.mark.slow
def test_14_13_second_terminal_uses_connector_devs_services(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in CLEARED}
    env["PYTHONPATH"] = str(ROOT)
    port, sandbox_port = _free_port(), _free_port()
    dev = subprocess.Popen(_connector("dev", "--port", str(port), "--sandbox-port", str(sandbox_port)), cwd=tmp_path,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    record = tmp_path / "instance" / devenv.FILE_NAME
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if record.exists() and httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert dev.poll() is None, dev.stdout.read()
            assert time.monotonic() < deadline, "connector dev did not come up"
            time.sleep(0.2)
        recorded = json.loads(record.read_text())["environment"]
        assert recorded["REDIS_URL"].startswith("unix://")  # its private Redis
        assert recorded["APP_URL"] == f"http://127.0.0.1:{port}"
        assert recorded["WHATSAPP_API_BASE_URL"] == f"http://127.0.0.1:{sandbox_port}"

        second = subprocess.run(_connector("shops", "list"), cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 0, second.stderr
        said = second.stderr
        assert "using the `connector dev` running in this folder" in said, said
        for name in devenv.RECORDED:
            assert f"{name}={recorded[name]}" in said, (name, said)
        assert "private Redis" not in said

        # what the operator sets still wins, and is not reported as taken
        mine = subprocess.run(_connector("shops", "list"), cwd=tmp_path, env={**env, "APP_URL": "https://mine.example"},
                              capture_output=True, text=True, timeout=60)
        assert "APP_URL=" not in mine.stderr and "REDIS_URL=" in mine.stderr
    finally:
        try:
            os.killpg(dev.pid, signal.SIGINT)
        except ProcessLookupError:  # it ended already (the failure above says why)
            pass
        dev.wait(30)
        dev.stdout.close()
    assert not record.exists()  # a stopped dev server leaves nothing for the next command to follow
