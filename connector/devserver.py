"""``connector dev``: web + worker (with scheduler) + sandbox Cloud API, one process tree.

Runs on embedded defaults (SQLite in the instance folder, a private redis-server) unless
``DATABASE_URL`` / ``REDIS_URL`` are set. What it runs against (database, Redis, Cloud API
base URL, app URL) is recorded in the instance folder, where the other ``connector`` commands of
the same folder find it (connector/devenv.py). Ctrl-C (or SIGTERM) stops every child; if one
child dies, the others are stopped too and the command exits non-zero.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from connector import devenv, embedded_redis
from connector.app import create_app


def run_dev(*, port: int, sandbox_port: int) -> None:
    from flask_migrate import upgrade


    os.environ["REDIS_URL"] = embedded_redis.ensure_url(os.environ.get("REDIS_URL"))
    os.environ.setdefault("APP_URL", f"http://127.0.0.1:{port}")
    os.environ.setdefault("WHATSAPP_API_BASE_URL", f"http://127.0.0.1:{sandbox_port}")
    app = create_app()
    settings = app.config["CONNECTOR"]
    app.config["MIGRATIONS_QUIET"] = True
    with app.app_context():
        upgrade()  # development only; production runs migrations in the Procfile's release step

    connector = shutil.which("connector", path=os.path.dirname(sys.executable)) or "connector"
    children = {
        "sandbox": [sys.executable, "-m", "integrations.whatsapp.sandbox", "--port", str(sandbox_port),
                    # one argument: a generated secret may start with "-", which argparse would take for an option
                    f"--app-secret={settings.whatsapp_app_secret}",
                    "--webhook-url", f"http://127.0.0.1:{port}/webhooks/whatsapp"],
        "web": [connector, "run", "--port", str(port), "--no-reload"],
        "worker": [connector, "worker"],
    }
    environment = {"DATABASE_URL": settings.database_url, "REDIS_URL": os.environ["REDIS_URL"],
                   "WHATSAPP_API_BASE_URL": settings.whatsapp_api_base_url, "APP_URL": settings.app_url}
    os.environ.update(environment)  # the children are told, not left to work it out
    recorded = devenv.record(app.instance_path, environment)
    processes = {name: subprocess.Popen(command) for name, command in children.items()}
    print(f"connector dev: web {settings.app_url}  sandbox {settings.whatsapp_api_base_url}\n"
          + "".join(f"  {name}={value}\n" for name, value in environment.items())
          + f"  (recorded in {recorded}: other `connector` commands run in this folder use them while this\n"
          "   runs, unless those variables are set; Ctrl-C stops all)", flush=True)

    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    try:
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"connector dev: {name} exited with {process.returncode}; stopping the rest", file=sys.stderr)
                    exit_code = process.returncode or 1
                    stopping = True
            time.sleep(0.2)
    finally:
        devenv.forget(app.instance_path)
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
    sys.exit(exit_code)
