"""The readers every store adapter needs, once: headers, JSON bodies, HMAC signatures, numbers, ids.

Shopify and WooCommerce both sign a webhook with base64 HMAC-SHA256 of the raw body, send
JSON whose numbers must stay exact, and retype fields without notice. The adapters read
through these so that the same odd input gives the same answer on every platform. The
tolerant basics (``text``, ``as_dict``, ``dicts``, ``storable``, ...) are in
``integrations.coerce``; this module builds on them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.base import HeaderMap, PayloadError, SignatureInvalidError, SignatureMissingError
from integrations.coerce import as_list, clean_tree
from integrations.coerce import id_text as _coerce_id_text

__all__ = [
    "DIGEST_SIZE",
    "header",
    "hmac_signature",
    "id_text",
    "ids",
    "load_json",
    "money",
    "money_or_none",
    "to_int",
    "verify_hmac",
]

#: bytes of an HMAC-SHA256 digest
DIGEST_SIZE = 32
#: the most digits an integer may have, as Python's own ``int(str)`` limit
#: (``sys.get_int_max_str_digits()`` by default): a longer one is no count of anything
INT_DIGITS = 4300
_INTEGER = re.compile(r"-?[0-9]+")


# -- delivery ----------------------------------------------------------------------------------


def header(headers: HeaderMap, name: str) -> str | None:
    """The stripped value of header ``name`` in any case (a plain dict is case-sensitive), else None."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((item for key, item in headers.items() if isinstance(key, str) and key.lower() == wanted), None)
    return (value.strip() or None) if isinstance(value, str) else None


def load_json(raw: bytes | str) -> Any:
    """Parse a webhook body: integers stay exact, every fraction becomes ``Decimal`` (never ``float``).

    Strings are passed through ``clean_tree``. Raises ``PayloadError`` when the body is not JSON.
    """
    try:
        return clean_tree(json.loads(raw, parse_float=Decimal))
    except (ValueError, UnicodeDecodeError) as error:
        raise PayloadError(f"body is not JSON: {type(error).__name__}") from None
    except RecursionError:  # nested deeper than the parser recurses: never readable, not worth a retry
        raise PayloadError("body is not JSON: nested too deeply") from None


# -- signatures --------------------------------------------------------------------------------


def hmac_signature(raw_body: bytes, secret: str) -> str:
    """``base64(HMAC-SHA256(raw body, secret))``, as both platforms sign; any secret, even empty."""
    return base64.b64encode(hmac.digest(secret.encode("utf-8"), raw_body, "sha256")).decode("ascii")


def verify_hmac(raw_body: bytes, value: str | None, secret: str, name: str) -> None:
    """Check header ``name``'s ``value`` against the exact bytes received; return when genuine.

    Raises ``ValueError`` for an empty ``secret`` (it would let anyone sign),
    ``SignatureMissingError`` when the value is absent or not base64 of 32 bytes, and
    ``SignatureInvalidError`` when it does not match.
    """
    if not secret:
        raise ValueError("secret must not be empty")
    expected = hmac.digest(secret.encode("utf-8"), raw_body, "sha256")
    given = _b64_digest(value)
    if given is None:
        raise SignatureMissingError(f"{name} header missing or malformed")
    # Constant-time comparison, so response timing does not reveal how much matched.
    if not hmac.compare_digest(expected, given):
        raise SignatureInvalidError(f"{name} does not match the body")


def _b64_digest(value: str | None) -> bytes | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == DIGEST_SIZE else None


# -- numbers and ids (never raise) -----------------------------------------------------------


def to_int(value: object) -> int | None:
    """A whole number: ``int``, an integral ``Decimal`` or ``float`` ("2.0"), or ASCII digits
    with an optional "-"; ``None`` for booleans, fractions, non-finite and anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        value = _float_decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value() or value.adjusted() >= INT_DIGITS:
            return None
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        try:
            return int(value)
        except ValueError:  # longer than INT_DIGITS
            return None
    return None


def money_or_none(value: object) -> Decimal | None:
    """An amount from a decimal string ("29.35"), an ``int``, a ``Decimal`` or a ``float``
    (by its repr: 19.99 stays 19.99); ``None`` for booleans, non-finite and anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        amount = _float_decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except (InvalidOperation, ValueError):
            return None
    else:
        return None
    return amount if amount.is_finite() else None


def money(value: object) -> Decimal:
    """``money_or_none``, with 0 for no amount."""
    amount = money_or_none(value)
    return amount if amount is not None else Decimal(0)


def id_text(value: object) -> str | None:
    """An id as text: integers (beyond 2**53 too) become their digits, strings are stripped;
    booleans, blank strings and anything else are no id."""
    return _coerce_id_text(value.strip() if isinstance(value, str) else value)


def ids(value: object) -> list[str]:
    """The ids of a list, as ``id_text`` reads them; anything else in it is skipped."""
    return [item for item in map(id_text, as_list(value)) if item is not None]


def _float_decimal(value: float) -> Decimal:
    # repr is the shortest text that reads back as the same float: 19.99, not 19.989999...
    return Decimal(repr(value))


def yes_no(value: object) -> bool | None:
    """"yes"/"1"/1/True and "no"/"0"/0/False as booleans (order meta, cart attributes); None otherwise."""
    if value in ("yes", "1", 1, True):
        return True
    if value in ("no", "0", 0, False):
        return False
    return None
