"""Field readers of WooCommerce bodies: meta data, dates, locales, countries, phones, addresses.

Each reads only what it needs and treats anything missing or mistyped as absent; none raises.
The readers both platforms share (ids, numbers, money) are in ``integrations.kit``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connector.phones import InvalidPhoneError, normalise
from integrations.base import ParseContext
from integrations.coerce import as_dict as _dict
from integrations.coerce import dicts as _dicts
from integrations.coerce import text as _text


def meta_of(payload: dict) -> dict[str, Any]:
    """``meta_data`` as {key: value}; for a repeated key the last entry wins."""
    return {
        entry["key"]: entry.get("value")
        for entry in _dicts(payload.get("meta_data"))
        if isinstance(entry.get("key"), str)
    }


def gmt_time(value: object) -> datetime | None:
    """``date_*_gmt`` fields: ISO 8601 without offset, in UTC ("2017-03-22T19:28:02")."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def iso_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp from our plugin; a missing offset means UTC."""
    if isinstance(value, str) and value.endswith("Z"):
        value = value[:-1] + "+00:00"
    return gmt_time(value)


def epoch_time(value: object) -> datetime | None:
    """Seconds since 1970 (a positive int or its digits) as an aware UTC datetime."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


_LOCALE_PATTERN = re.compile(r"([a-zA-Z]{2,3})(?:[_-]([a-zA-Z]{2}|[0-9]{3}))?")


def locale_tag(value: object) -> str | None:
    """"de_DE" / "pt-br" / "de" → "de-DE" / "pt-BR" / "de"; anything else → None."""
    match = _LOCALE_PATTERN.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    language, region = match.group(1).lower(), match.group(2)
    return f"{language}-{region.upper()}" if region else language


def country_code(value: object) -> str | None:
    """Two letters, upper-cased (ISO 3166-1 alpha-2 as WooCommerce stores it)."""
    return value.upper() if isinstance(value, str) and len(value) == 2 and value.isalpha() else None


def order_phone(billing: dict, shipping: dict, context: ParseContext) -> tuple[str | None, str | None]:
    """The first usable phone: billing, then shipping (``shipping.phone`` exists since
    WooCommerce 5.6). A national number is read with its address's country, then the
    shop's. Returns (E.164 or None, country of the address the phone came from)."""
    for address in (billing, shipping):
        raw, address_country = _text(address.get("phone")), country_code(address.get("country"))
        if raw is None:
            continue
        for default_country in dict.fromkeys((address_country, country_code(context.country))):
            try:
                return normalise(raw, default_country).e164, address_country
            except InvalidPhoneError:
                continue
    return None, country_code(billing.get("country")) or country_code(shipping.get("country"))


def address_fields(value: object) -> dict:
    """The string fields of a ``billing``/``shipping`` address."""
    return {key: item for key, item in _dict(value).items() if isinstance(item, str)}
