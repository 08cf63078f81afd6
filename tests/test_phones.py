"""Phone numbers: E.164, country and time zone; errors never repeat the number."""

from __future__ import annotations

import re

import pytest

from connector.phones import InvalidPhoneError, Phone, normalise


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        ("0151 12345678", "DE"),
        ("015112345678", "de"),
        ("0151/123 456 78", "DE"),
    ],
)
def test_german_national_number_with_default_country(raw, country):
    phone = normalise(raw, country)
    assert phone == Phone(e164="+4915112345678", country="DE", time_zone="Europe/Berlin")
    assert phone.wa_id == "4915112345678"


@pytest.mark.parametrize(
    "raw",
    ["+49 151 12345678", "+49-151-123-456-78", "+49 (151) 123 456 78", " +49 (0)151 12345678 ", "0049 151 12345678"],
)
def test_international_formats(raw):
    assert normalise(raw, "DE").e164 == "+4915112345678"
    if raw.strip().startswith("+"):
        assert normalise(raw).e164 == "+4915112345678"  # no default country needed


def test_whatsapp_id_digits_without_plus():
    phone = normalise("4915112345678")
    assert phone.e164 == "+4915112345678"
    assert phone.country == "DE"
    assert phone.wa_id == "4915112345678"


@pytest.mark.parametrize(("wa_id", "country"), [("4741234567", "NO"), ("6581234567", "SG"), ("4520123456", "DK")])
def test_ten_digit_whatsapp_ids_are_accepted(wa_id, country):
    phone = normalise(wa_id)
    assert phone.e164 == "+" + wa_id
    assert phone.country == country


def test_german_number_gets_berlin_time():
    assert normalise("+4915112345678").time_zone == "Europe/Berlin"


def test_us_number_gets_country_us_and_no_single_time_zone():
    # a toll-free number belongs to no area: the shop's zone will apply
    phone = normalise("+1 800 253 0000")
    assert phone.country == "US"
    assert phone.time_zone is None


def test_us_geographic_number_gets_its_area_code_zone():
    # phonenumbers knows the zone of a geographic area code; only numbers spanning zones get None
    assert normalise("+1 212 736 5000").time_zone == "America/New_York"
    assert normalise("+1 650 253 0000").time_zone == "America/Los_Angeles"


def test_national_us_number_with_default_country():
    phone = normalise("(212) 736-5000", "US")
    assert phone.e164 == "+12127365000" and phone.country == "US"


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        ("", None),
        ("   ", "DE"),
        (None, None),
        ("not a number", None),
        ("abc", "DE"),
        ("+49 151", None),  # too short
        ("15", "DE"),  # too short
        ("12345", None),
        ("+49 000 0000000", None),  # impossible
        ("+999 123456789", None),  # no such country code
        ("+1 555 0100 999 888 777 666", None),  # too long
        ("015112345678", None),  # national without a country to read it in
    ],
)
def test_invalid_numbers_raise_without_repeating_the_digits(raw, country):
    with pytest.raises(InvalidPhoneError) as raised:
        normalise(raw, country)
    message = str(raised.value)
    assert message
    assert not re.search(r"\d{3}", message), message  # no run of the digits given
    digits = re.sub(r"\D", "", raw or "")
    if digits:
        assert digits not in message
    assert raw is None or raw.strip() == "" or raw.strip() not in message


def test_invalid_phone_error_is_a_value_error():
    assert issubclass(InvalidPhoneError, ValueError)
