"""What a running ``connector dev`` talks to, recorded for the other commands of the same folder.

``connector dev`` starts a private Redis, a sandbox Cloud API and the web app on ports of its
own. A ``connector …`` typed in a second terminal of the same folder would otherwise build its
own defaults: another private Redis (its jobs lost when it exits), the default sandbox URL, the
default app URL. So ``connector dev`` writes ``<instance>/dev-environment.json`` with the four
values that decide where a command's work goes, and its process id; a later command run in
development fills the variables that are unset from that record while the recording process
is alive, and says which it took. Nothing is read in production or in tests.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from pathlib import Path

#: the variables that decide which services a command talks to
RECORDED = ("DATABASE_URL", "REDIS_URL", "WHATSAPP_API_BASE_URL", "APP_URL")
FILE_NAME = "dev-environment.json"


def record_path(instance: str | os.PathLike[str]) -> Path:
    return Path(instance) / FILE_NAME


def record(instance: str | os.PathLike[str], values: dict[str, str], *, pid: int | None = None) -> Path:
    """Write the record of this ``connector dev`` (private to the user: the URLs may carry passwords)."""
    path = record_path(instance)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"pid": os.getpid() if pid is None else pid,
            "environment": {name: values[name] for name in RECORDED if values.get(name)}}
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(body, handle, indent=2)
    temporary.replace(path)
    return path


def forget(instance: str | os.PathLike[str], *, pid: int | None = None) -> None:
    """Remove the record when it is this process's (a newer ``connector dev`` may have replaced it)."""
    path = record_path(instance)
    owner = _read(path)
    if owner is not None and owner[0] == (os.getpid() if pid is None else pid):
        path.unlink(missing_ok=True)


def adopt(instance: str | os.PathLike[str], environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the unset ``RECORDED`` variables of ``environ`` from a live ``connector dev``'s record.

    Returns what was taken (empty when there is no record, its process has ended, or every
    variable was already set). Only in development: ``CONNECTOR_ENV`` unset or ``development``.
    """
    target = os.environ if environ is None else environ
    if (target.get("CONNECTOR_ENV") or "development").strip().lower() != "development":
        return {}
    found = _read(record_path(instance))
    if found is None or not _alive(found[0]):
        return {}
    taken = {name: value for name, value in found[1].items() if name in RECORDED and not target.get(name)}
    target.update(taken)
    return taken


def _read(path: Path) -> tuple[int, dict[str, str]] | None:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid, environment = ((body.get("pid"), body.get("environment")) if isinstance(body, dict)
                        else (None, None))
    if not isinstance(pid, int) or not isinstance(environment, dict):
        return None
    return pid, {str(name): str(value) for name, value in environment.items() if isinstance(value, str)}


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
