"""Every setting a shop can change, in one place: name, type, default, bounds and meaning.

A shop stores only what it changed (``Shop.settings``, JSON); :func:`effective` is the full
settings with every default filled in, and every module reads its settings through it. The
admin API changes them with a JSON merge patch (RFC 7396: ``null`` deletes a key, which
brings its default back) through :func:`update`, which validates, writes and keeps an audit
row (``SettingsChange``) in one transaction.

Two kinds of bounds:

- **What the code can run with** (types, ``HH:MM`` times, percentages, steps in increasing
  order, nothing later than 30 days): checked on every read. A stored value that breaks one
  is read as its default, with a warning naming the setting's path (never its value), so a
  bad row never stops sending.
- **What a merchant may set** (the first cart reminder no sooner than 15 minutes, a review
  request no sooner than an hour, the pair interval no lower than Meta's ~6 s): checked
  when the admin API writes. Below them an operator may store shorter delays directly (the
  demo's compressed clock, the tests), and those are read as they are.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import select

from connector.extensions import db
from connector.models import SettingsChange, Shop, utcnow
from connector.shop_settings_schema import MERCHANT, SCHEMA

log = logging.getLogger(__name__)

# -- reading -----------------------------------------------------------------------------------

def defaults() -> dict[str, Any]:
    """Every setting at its default."""
    return json.loads(_load_canonical("{}")[0])


def effective(shop: Shop) -> dict[str, Any]:
    """The shop's full settings: what it stored over the defaults. A stored value the code
    cannot run with is read as its default and logged (its path, never its value)."""
    stored = _canonical(shop.settings or {})
    settings, dropped = _load_canonical(stored)
    if dropped and (shop.id, stored) not in _WARNED:  # once per shop and content, not on every read
        if len(_WARNED) > 4096:
            _WARNED.clear()
        _WARNED.add((shop.id, stored))
        log.warning("shop_settings.invalid_ignored", extra={"shop_id": shop.id, "paths": list(dropped)})
    return json.loads(settings)


_WARNED: set[tuple[int | None, str]] = set()


def automation(shop: Shop, name: str) -> dict[str, Any]:
    """One automation's settings (``automations.<name>``)."""
    return effective(shop)["automations"][name]


@lru_cache(maxsize=512)
def _load_canonical(stored: str) -> tuple[str, tuple[str, ...]]:
    # keyed by content, so a change is never missed; the answer is JSON so no caller can alter it
    raw = json.loads(stored)
    if not isinstance(raw, dict):  # a row edited by hand into something else altogether
        return json.dumps(SCHEMA.load({})), ("*",)
    usable, dropped = _usable(raw)
    return json.dumps(SCHEMA.load(usable)), tuple(dropped)


def _usable(stored: dict) -> tuple[dict, list[str]]:
    """``stored`` without the values the schema refuses on read, and their paths."""
    data = json.loads(json.dumps(stored))
    dropped: list[str] = []
    for _ in range(5):  # each pass removes what the previous one revealed
        errors = SCHEMA.validate(data)
        if not errors:
            return data, dropped
        _drop(SCHEMA, data, errors, "", dropped)
    return {}, dropped + ["*"]


def _drop(schema: Schema, data: dict, errors: dict, prefix: str, dropped: list[str]) -> None:
    for key, error in errors.items():
        if key == "_schema":
            data.clear()
            dropped.append(prefix.rstrip(".") or "*")
            return
        if key not in data:
            continue
        field = schema.fields.get(key)
        if isinstance(field, fields.Nested) and isinstance(data[key], dict) and isinstance(error, dict):
            _drop(field.schema, data[key], error, f"{prefix}{key}.", dropped)
        else:
            del data[key]
            dropped.append(f"{prefix}{key}")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# -- changing ----------------------------------------------------------------------------------

class SettingsInvalidError(ValueError):
    """A change the schema refuses; ``errors`` is marshmallow's nested error dict."""

    def __init__(self, errors: dict) -> None:
        super().__init__("invalid settings")
        self.errors = errors


class SettingsChangedError(RuntimeError):
    """``If-Match`` names settings that have changed since (HTTP 412)."""


def etag(shop: Shop) -> str:
    """A strong entity tag of the shop's stored settings."""
    return '"' + hashlib.sha256(_canonical(shop.settings or {}).encode()).hexdigest()[:32] + '"'


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: ``patch`` applied to ``target``; ``null`` removes a member."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass(frozen=True, slots=True)
class Patched:
    stored: dict[str, Any]  #: what the shop will store
    settings: dict[str, Any]  #: the full settings that gives


def apply_patch(stored: dict | None, patch: dict) -> Patched:
    """``patch`` over the shop's stored settings, validated with the merchant bounds.

    Only what the patch touches must meet them: a value stored earlier by an operator below
    a merchant bound stays. Raises ``SettingsInvalidError`` with marshmallow's error dict.
    """
    usable, _ = _usable(stored if isinstance(stored, dict) else {})
    new = merge_patch(usable, patch)
    token = MERCHANT.set(True)
    try:
        errors = _touched(SCHEMA.validate(new), patch)
    finally:
        MERCHANT.reset(token)
    if errors:
        raise SettingsInvalidError(errors)
    return Patched(stored=new, settings=SCHEMA.load(new))


def _touched(errors: dict, patch: Any) -> dict:
    if not isinstance(patch, dict):
        return errors
    kept: dict = {}
    for key, error in errors.items():
        if key == "_schema" or key in patch:
            kept[key] = _touched(error, patch[key]) if isinstance(error, dict) and key in patch else error
            if kept[key] == {}:
                del kept[key]
    return kept


def changes(before: dict, after: dict, prefix: str = "") -> list[dict[str, Any]]:
    """``[{"path", "before", "after"}]`` for each setting that differs (sections recursed)."""
    found: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after)):
        old, new, path = before.get(key), after.get(key), f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict) and _is_section(path):
            found.extend(changes(old, new, f"{path}."))
        elif old != new:
            found.append({"path": path, "before": old, "after": new})
    return found


def _is_section(path: str) -> bool:
    schema: Schema = SCHEMA
    for part in path.split("."):
        field = schema.fields.get(part)
        if not isinstance(field, fields.Nested):
            return False
        schema = field.schema
    return True


def update(shop_id: int, patch: dict, *, if_match: str | None, changed_by: str | None) -> Shop:
    """Apply a merchant's merge patch to the shop's settings, with its audit row; commits.

    The shop's row is locked for the read-check-write, so two saves cannot interleave.
    """
    shop = db.session.scalars(select(Shop).where(Shop.id == shop_id).with_for_update()
                                .execution_options(populate_existing=True)).one()
    if if_match is not None and if_match.strip() != "*" and \
            etag(shop) not in [tag.strip().removeprefix("W/") for tag in if_match.split(",")]:
        db.session.rollback()
        raise SettingsChangedError("the settings changed since they were read")
    before = effective(shop)
    try:
        patched = apply_patch(shop.settings, patch)
    except SettingsInvalidError:
        db.session.rollback()
        raise
    diff = changes(before, patched.settings)
    if diff or patched.stored != (shop.settings or {}):
        shop.settings = patched.stored
    if diff:
        db.session.add(SettingsChange(shop_id=shop.id, changed_by=(changed_by or "")[:255] or None,
                                      changed_at=utcnow(), changes=diff))
        log.info("shop_settings.changed", extra={"shop_id": shop.id, "paths": [c["path"] for c in diff]})
    db.session.commit()
    return shop


def history(shop_id: int, *, limit: int = 50, before: int | None = None) -> list[SettingsChange]:
    """The shop's settings changes, newest first; ``before`` an id to page on from."""
    query = select(SettingsChange).where(SettingsChange.shop_id == shop_id)
    if before is not None:
        query = query.where(SettingsChange.id < before)
    return list(db.session.scalars(query.order_by(SettingsChange.id.desc()).limit(limit)))


def describe(schema: Schema = SCHEMA) -> dict[str, Any]:
    """Each setting's meaning, type and default, as a nested dict (for documentation and the page)."""
    described: dict[str, Any] = {}
    for name, field in schema.fields.items():
        if isinstance(field, fields.Nested):
            described[name] = describe(field.schema)
        else:
            default = field.load_default
            described[name] = {"type": type(field).__name__, "description": field.metadata.get("description"),
                               "default": default() if callable(default) else default}
    return described


__all__ = ["SCHEMA", "Patched", "SettingsChangedError", "SettingsInvalidError", "apply_patch", "automation",
           "changes", "defaults", "describe", "effective", "etag", "history", "merge_patch", "update"]
