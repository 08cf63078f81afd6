"""Tolerant readers for vendor JSON, shared by every adapter.

Vendors add, drop and retype fields without notice; a parser reads a value through one of
these and gets the type it needs or an empty/None answer, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, is_dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar

from integrations.base import PayloadError

T = TypeVar("T")


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


# -- storable values ---------------------------------------------------------------------------
# A signed body can still carry what no column takes: NUL characters (PostgreSQL text refuses
# them), lone surrogates (``"\udfff"`` is valid JSON but not UTF-8), strings longer than their
# column. Adapters pass what they return through ``storable()``, so the core only ever sees
# values it can store, and a value that cannot be made to fit is a ``PayloadError`` (the
# receipt ends as ``dead`` at once instead of failing the same way on every attempt).

#: ids: cutting one would make it another resource's id, so a longer one is refused
ID_LIMITS: dict[str, int] = {
    "order_id": 64, "variant_id": 64, "product_id": 64, "inventory_item_id": 64, "platform_customer_id": 64,
    "customer_id": 64, "cart_token": 128, "fulfillment_id": 128, "wamid": 128, "phone_number_id": 64,
    "context_wamid": 128,
}
#: free text: cut to the column (names, titles, reasons)
TEXT_LIMITS: dict[str, int] = {
    "name": 64, "order_name": 64, "title": 255, "first_name": 120, "last_name": 120, "profile_name": 255,
    "locale": 16, "status": 32, "financial_status": 64, "payment_method": 64, "tracking_company": 255,
    "reason": 255, "recovery_url": 2000, "status_url": 2000, "image_url": 2000, "sku": 255,
    "variant_title": 255, "reply_title": 255, "reply_id": 255, "user_id": 64, "recipient_user_id": 64,
    "callback_data": 512, "pricing_category": 64, "pricing_type": 64, "kind": 32, "value": 64,
    "category": 64, "field": 64, "code_text": 64,
}
#: codes of a fixed shape (ISO 4217 currency, ISO 3166 country): anything else is no code
CODE_LENGTHS: dict[str, int] = {"currency": 3, "country": 2}
#: money columns are NUMERIC(14, 2): an amount must stay below this
MONEY_LIMIT = Decimal(10) ** 12
#: phone numbers become E.164 (at most 15 digits and a "+") before they reach an event
PHONE_LIMIT = 20
_PHONE_FIELDS = frozenset({"phone", "from_phone", "recipient_phone"})


def clean_text(value: str) -> str:
    """``value`` without NUL characters and with every lone surrogate replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def clean_tree(value: Any) -> Any:
    """A parsed JSON document with every string (keys too) passed through ``clean_text``.

    Walks with a stack of its own, not by recursion: how deep a hostile body nests must not
    decide whether the interpreter's recursion limit is hit (a 500 instead of a clean skip)."""
    if not isinstance(value, (dict, list)):
        return clean_text(value) if isinstance(value, str) else value
    root: list[Any] = [None]
    pending: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while pending:
        node, parent, slot = pending.pop()
        items: Iterable[tuple[Any, Any]]
        if isinstance(node, dict):
            cleaned: Any = {}
            items = ((clean_text(key) if isinstance(key, str) else key, item) for key, item in node.items())
        else:
            cleaned = [None] * len(node)
            items = enumerate(node)
        parent[slot] = cleaned
        for key, item in items:
            if isinstance(item, (dict, list)):
                cleaned[key] = None  # keeps the keys' order; filled when its turn comes
                pending.append((item, cleaned, key))
            else:
                cleaned[key] = clean_text(item) if isinstance(item, str) else item
    return root[0]


def storable(event: T) -> T:
    """``event`` (a neutral event dataclass) with every string cleaned and fitted to its column.

    Raises ``PayloadError`` for an id longer than its column.
    """
    return _fit(event, None)


def _fit(value: Any, name: str | None) -> Any:
    if isinstance(value, str):
        return _fit_text(clean_text(value), name)
    if is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for spec in fields(value):
            current = getattr(value, spec.name)
            fitted = _fit(current, spec.name)
            if fitted is not current:
                changes[spec.name] = fitted
        return replace(value, **changes) if changes else value
    if isinstance(value, tuple):
        fitted = tuple(_fit(item, name) for item in value)
        return value if all(a is b for a, b in zip(fitted, value, strict=True)) else fitted
    if isinstance(value, dict):
        return clean_tree(value)
    if isinstance(value, Decimal) and (not value.is_finite() or abs(value) >= MONEY_LIMIT):
        raise PayloadError(f"{name} is not an amount: {value:.3g}"[:120])
    return value


def _fit_text(value: str, name: str | None) -> str | None:
    if name in ID_LIMITS:
        if len(value) > ID_LIMITS[name]:
            raise PayloadError(f"{name} is longer than {ID_LIMITS[name]} characters")
        return value
    if name in CODE_LENGTHS:
        length = CODE_LENGTHS[name]
        if len(value) == length and value.isascii() and value.isalpha():
            return value.upper()
        return "" if name == "currency" else None
    if name in _PHONE_FIELDS and len(value) > PHONE_LIMIT:
        return None
    limit = TEXT_LIMITS.get(name or "")
    return value[:limit] if limit is not None and len(value) > limit else value
