"""What a failed webhook receipt deserves: a retry, or an end.

A receipt's body never changes, so most failures will happen again on every attempt: a
body that does not parse, a value the database refuses, a shape the code did not expect.
Retrying those only delays the receipts behind them and hides the fault. Only failures of
what surrounds the body can pass: the database or Redis unreachable, a timeout, a vendor
answering 5xx or not at all. ``classify()`` tells the three kinds apart:

- ``TRANSIENT``: retried soon, without counting an attempt (an outage is not the receipt's
  fault, and counting it would push the receipt into long back-off);
- ``DETERMINISTIC``: the receipt ends at once as ``dead``, its reason kept in ``error``;
- ``UNKNOWN``: anything else (a unique-key race between two drainers, a bug): retried with a
  growing, capped delay, and ``dead`` after ``RECEIPT_MAX_ATTEMPTS`` of these.
"""

from __future__ import annotations

from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from integrations.base import PayloadError

TRANSIENT = "transient"
DETERMINISTIC = "deterministic"
UNKNOWN = "unknown"

#: the database or Redis could not be reached or did not answer in time
_TRANSIENT_TYPES = (OperationalError, InterfaceError, PoolTimeoutError, RedisError, TimeoutError, ConnectionError)
#: raised by the body itself: the same body raises them again
_DETERMINISTIC_TYPES = (PayloadError, DataError, ValueError, TypeError, LookupError, AttributeError,
                        ArithmeticError, RecursionError)


def classify(error: BaseException) -> str:
    """``TRANSIENT``, ``DETERMINISTIC`` or ``UNKNOWN`` for an exception raised while processing a receipt."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return TRANSIENT
    if isinstance(error, _TRANSIENT_TYPES):
        return TRANSIENT
    if getattr(error, "is_retryable", False) is True:  # vendor adapters: 429, 5xx, no answer
        return TRANSIENT
    if isinstance(error, StatementError) and not isinstance(error, DBAPIError) and error.orig is not None:
        return classify(error.orig)  # a bind parameter our code could not convert: the value's fault
    if isinstance(error, _DETERMINISTIC_TYPES):
        return DETERMINISTIC
    return UNKNOWN


def describe(error: BaseException) -> str:
    """The reason kept on the receipt: the exception's type and its first line, at most 500 characters."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}"[:500] if message else type(error).__name__
