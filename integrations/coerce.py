"""Tolerant readers for vendor JSON, shared by every adapter.

Vendors add, drop and retype fields without notice; a parser reads a value through one of
these and gets the type it needs or an empty/None answer, never an exception.
"""

from __future__ import annotations


def text(value: object) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def id_text(value: object) -> str | None:
    """An id as text: integers (beyond 2**53 too) become their digits; booleans are not ids."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


def as_dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list:
    return value if isinstance(value, list) else []


def dicts(value: object) -> list[dict]:
    """The objects of a list (anything else in it is skipped)."""
    return [item for item in as_list(value) if isinstance(item, dict)]
