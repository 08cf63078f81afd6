"""``connector dev``: web + worker (with scheduler) + sandbox Cloud API, one process tree.

Runs on embedded defaults (SQLite in the instance folder, a private redis-server) unless
``DATABASE_URL`` / ``REDIS_URL`` are set. Ctrl-C (or SIGTERM) stops every child; if one
child dies, the others are stopped too and the command exits non-zero.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time


def run_dev(*, port: int, sandbox_port: int) -> None:
    from flask_migrate import upgrade

    from connector import create_app, embedded_redis

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
                    "--app-secret", settings.whatsapp_app_secret,
                    "--webhook-url", f"http://127.0.0.1:{port}/webhooks/whatsapp"],
        "web": [connector, "run", "--port", str(port), "--no-reload"],
        "worker": [connector, "worker"],
    }
    processes = {name: subprocess.Popen(command) for name, command in children.items()}
    print(f"connector dev: web http://127.0.0.1:{port}  sandbox {settings.whatsapp_api_base_url}\n"
          f"  DATABASE_URL={settings.database_url}\n  REDIS_URL={os.environ['REDIS_URL']}\n"
          "  (export those two to use `connector ...` from another terminal; Ctrl-C stops all)", flush=True)

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
