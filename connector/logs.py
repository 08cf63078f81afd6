"""Logging: dotted event keys as messages, ids in ``extra``, one line per event.

Nothing personal (phone numbers, names, message text) is passed to a logger at INFO or
above; ``tests/test_privacy_logs.py`` checks that over a whole send-and-webhook cycle.
"""

from __future__ import annotations

import logging
import sys

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """``2026-11-24T06:00:00 INFO connector.x event.key id=1 shop_id=2``."""

    def format(self, record: logging.LogRecord) -> str:
        base = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname} {record.name} {record.getMessage()}"
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items()
                          if k not in _STANDARD and not k.startswith("_"))
        text = f"{base} {extras}" if extras else base
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure(level: str = "INFO") -> None:
    """Install our formatter on the root logger once per process."""
    root = logging.getLogger()
    if any(getattr(h, "_connector", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler._connector = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO; our URLs carry no personal data but are noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
