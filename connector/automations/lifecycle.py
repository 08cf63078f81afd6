"""What the lifecycle automations share: the shops that switched one on, codes derived from a
secret, the codes we issued, and a shipping address reduced to a comparable hash.

The lifecycle automations (``repurchase``, ``coupons``, ``referrals``) are marketing and off
until a shop switches them on, so the sweep finds their shops with one query on the stored
settings instead of reading every shop's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import datetime

from babel.dates import format_date
from sqlalchemy import select, true

from connector.dbutil import insert_or_ignore
from connector.extensions import db, settings
from connector.messaging.invoices import babel_locale
from connector.models import IssuedCode, Shop

#: lifecycle work queued per shop and sweep, at most (the next sweep takes the rest)
BATCH = 200


def enabled_shops(automation: str) -> list[Shop]:
    """The active shops whose stored settings switch ``automation`` on (its default is off)."""
    switch = Shop.settings[("automations", automation, "enabled")].as_boolean()
    return list(db.session.scalars(select(Shop).where(Shop.is_active.is_(True), switch == true())
                                   .order_by(Shop.id)))


def derived_code(shop: Shop, purpose: str, prefix: str = "WA") -> str:
    """A code nobody can guess from another (an HMAC with ``SECRET_KEY``), the same for the same
    purpose every time: a retried job asks the store for the same code."""
    digest = hmac.new(settings().secret_key.encode(), f"{purpose}:{shop.id}".encode(), hashlib.sha256)
    return f"{prefix}{digest.hexdigest()[:10].upper()}"


def record_issued_code(shop: Shop, contact_id: int | None, code: str, source: str, *, issued_at: datetime,
                       expires_at: datetime | None, message_id: int | None) -> None:
    """Remember a single-use code made for a contact and the message that gives it to them
    (once: the code is unique per shop)."""
    insert_or_ignore(db.session, IssuedCode, {
        "shop_id": shop.id, "contact_id": contact_id, "code": code.strip().upper()[:64], "source": source,
        "issued_at": issued_at, "expires_at": expires_at, "message_id": message_id,
    }, ("shop_id", "code"))


def order_codes(codes: tuple[str, ...]) -> list[str]:
    """An order's discount codes as we store them (WooCommerce lowercases coupon codes)."""
    return sorted({code.strip().upper()[:64] for code in codes if code and code.strip()})


#: (our name, the keys Shopify and WooCommerce give it) of the address parts that say where a parcel goes
_ADDRESS_PARTS = (("line1", ("address1", "address_1")), ("line2", ("address2", "address_2")),
                  ("zip", ("zip", "postcode")), ("city", ("city",)), ("country", ("country_code", "country")))


def address_hash(address: dict | None) -> str | None:
    """sha256 of a shipping address normalised (case, accents, punctuation, spacing, ``ß``), so
    "Hauptstraße 5" and "HAUPTSTRASSE  5," match; None without a street line and a postcode."""
    if not address:
        return None
    parts = {}
    for name, keys in _ADDRESS_PARTS:
        value = next((address[key] for key in keys if isinstance(address.get(key), str) and address[key].strip()), "")
        text = unicodedata.normalize("NFKD", value.replace("ß", "ss")).encode("ascii", "ignore").decode().lower()
        parts[name] = re.sub(r"[^a-z0-9]+", " ", text).strip()
    parts["zip"] = parts["zip"].replace(" ", "")
    if not parts["line1"] or not parts["zip"]:
        return None
    return hashlib.sha256("|".join(parts.values()).encode()).hexdigest()


def format_day(moment: datetime, locale: str | None) -> str:
    """A date as the shopper's language writes it (``20.12.2026``, ``Dec 20, 2026``)."""
    return format_date(moment.date(), format="medium", locale=babel_locale(locale))
