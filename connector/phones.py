"""Phone numbers: E.164 normalisation, country and time zone from the number."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone as phone_timezones


class InvalidPhoneError(ValueError):
    """Not a possible, valid phone number (the message never says which number)."""


@dataclass(frozen=True, slots=True)
class Phone:
    e164: str
    country: str | None
    time_zone: str | None

    @property
    def wa_id(self) -> str:
        """The Cloud API's form: digits only, no leading +."""
        return self.e164.lstrip("+")


def normalise(raw: str, default_country: str | None = None) -> Phone:
    """Parse ``raw`` (any common format; ``default_country`` for national numbers) to E.164.

    WhatsApp ids (``4915112345678``, digits without +) are accepted too.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneError("empty phone number")
    if text.isdigit() and not default_country:
        # bare digits without a country can only be international (a WhatsApp id, no "+")
        text = "+" + text
    try:
        number = phonenumbers.parse(text, (default_country or "").upper() or None)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneError("unparseable phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneError("impossible phone number")
    zones = [zone for zone in phone_timezones.time_zones_for_number(number) if zone != "Etc/Unknown"]
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        country=phonenumbers.region_code_for_number(number),
        # a number spanning several zones (US, BR, RU...) gets none: the shop's zone applies
        time_zone=zones[0] if len(zones) == 1 else None,
    )


def may_be_mobile(e164: str) -> bool:
    """False only for numbers known to be landlines, toll-free or premium: WhatsApp lives on
    mobiles. Numbering plans that do not tell (US "fixed line or mobile") pass."""
    import phonenumbers
    from phonenumbers import PhoneNumberType

    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    return kind not in (PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE, PhoneNumberType.PREMIUM_RATE,
                        PhoneNumberType.SHARED_COST)
