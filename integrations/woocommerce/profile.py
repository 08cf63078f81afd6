"""A WooCommerce store's profile (name, time zone, locale, country, currency) from what its
REST keys, and the public WordPress index, can read. Pure: the caller fetches the three bodies.

- ``GET /wp-json/wc/v3/system_status`` (the keys' check): ``environment.language`` is
  WordPress's ``get_locale()`` ("de_DE"); ``settings.currency`` is ``get_woocommerce_currency()``.
  https://woocommerce.github.io/woocommerce-rest-api-docs/#system-status-properties
- ``GET /wp-json/wc/v3/settings/general``: a list of ``{id, value, ...}``;
  ``woocommerce_default_country`` is "DE" or "US:CA" (country:state), ``woocommerce_currency``
  "EUR". https://woocommerce.github.io/woocommerce-rest-api-docs/#setting-options
- ``GET /wp-json/`` (the WordPress REST index, public, no keys): ``name`` (Settings → General
  → Site Title), ``timezone_string`` ("Europe/Berlin", empty when the site is set to a
  plain UTC offset) and ``gmt_offset`` (hours, may be fractional).
  https://developer.wordpress.org/rest-api/reference/ (index), WP_REST_Server::get_index.
  WordPress's own ``/wp/v2/settings`` would give the same but needs a logged-in
  administrator: WooCommerce's REST keys authenticate only WooCommerce's routes.

``system_status.environment.default_timezone`` is PHP's ``date_default_timezone_get()``,
which WordPress forces to UTC: it is never the store's time zone and is not used.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.coerce import as_dict as _dict
from integrations.coerce import dicts as _dicts
from integrations.coerce import text as _text

_LOCALE = re.compile(r"([a-z]{2,3})(?:_([A-Z]{2}))?(?:_[a-z0-9]+)?")


def store_profile(system_status: Mapping[str, Any] | None, general_settings: Any,
                  site_index: Mapping[str, Any] | None) -> dict[str, str | None]:
    """``{name, time_zone, locale, country, currency}``; ``None`` for what the store did not say."""
    environment = _dict(_dict(system_status).get("environment"))
    status_settings = _dict(_dict(system_status).get("settings"))
    general = {entry.get("id"): entry.get("value") for entry in _dicts(general_settings)
               if isinstance(entry.get("id"), str)}
    index = _dict(site_index)
    country = _text(general.get("woocommerce_default_country"))
    currency = _text(general.get("woocommerce_currency")) or _text(status_settings.get("currency"))
    name = _text(index.get("name"))
    return {
        "name": html.unescape(name)[:255] if name else None,  # blogname is stored HTML-escaped
        "time_zone": _time_zone(index.get("timezone_string"), index.get("gmt_offset")),
        "locale": _locale(environment.get("language")),
        "country": country.split(":")[0].upper() if country and re.fullmatch(r"[A-Za-z]{2}(:.*)?", country) else None,
        "currency": currency.upper() if currency and re.fullmatch(r"[A-Za-z]{3}", currency) else None,
    }


def _locale(value: object) -> str | None:
    """WordPress locales ("de_DE", "de_DE_formal", "pt_BR", "fi") as BCP 47 ("de-DE", "fi")."""
    match = _LOCALE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    return f"{match.group(1)}-{match.group(2)}" if match.group(2) else match.group(1)


def _time_zone(name: object, offset: object) -> str | None:
    """An IANA name; a whole-hour ``gmt_offset`` as ``Etc/GMT∓N`` (POSIX signs are inverted)."""
    if isinstance(name, str) and name.strip():
        name = name.strip()
        if name.startswith("UTC") and len(name) > 3:  # "UTC+2": WordPress's manual offsets
            offset, name = name[3:], ""
        elif _is_zone(name):
            return name
    try:
        hours = Decimal(str(offset)) if offset not in (None, "") else None
    except InvalidOperation:
        return None
    if hours is None or hours != hours.to_integral_value() or not -12 <= hours <= 14:
        return None  # a half-hour offset has no Etc/ zone: left as it was
    zone = "Etc/UTC" if hours == 0 else f"Etc/GMT{-int(hours):+d}"
    return zone if _is_zone(zone) else None


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
