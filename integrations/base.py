"""What every store adapter offers the core, and the errors every adapter raises.

The core (``connector/``) never imports a vendor SDK: it calls these functions through the
``RECEIPT_PROCESSORS`` table of ``connector.automations`` and ``connector.stores``' per-platform
``receipt_events`` functions, and only ever sees ``connector.events``.
Adapters return or raise; the core decides what to store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from connector.events import Event


class AdapterError(Exception):
    """Base class of the errors adapters raise."""


class SignatureMissingError(AdapterError):
    """A webhook arrived without the vendor's signature header (or with an unusable one)."""


class SignatureInvalidError(AdapterError):
    """The signature does not match the raw body signed with the expected secret."""


class PayloadError(AdapterError):
    """The body is not the JSON shape this topic has (the delivery is refused with a 400)."""


class HeaderMap(Protocol):
    """A delivery's headers as adapters read them (``integrations.kit.header``): a dict, or a web
    framework's case-insensitive headers (Werkzeug's ``Headers`` is not a ``Mapping``)."""

    def get(self, key: str, /) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


class ParseContext(Protocol):
    """What a parser may know about the shop a payload belongs to."""

    @property
    def country(self) -> str | None:  # ISO 3166-1 alpha-2, to read national phone numbers
        ...

    @property
    def locale(self) -> str:
        ...


class StoreWebhooks(Protocol):
    """The webhook half of a store adapter (``integrations.<platform>.webhooks``)."""

    #: topics the connector subscribes to and parses
    TOPICS: tuple[str, ...]

    def verify(self, raw_body: bytes, headers: HeaderMap, secret: str) -> None:
        """Raise ``SignatureMissingError`` / ``SignatureInvalidError``; return when genuine."""

    def parse(self, topic: str, payload: Any, context: ParseContext) -> list[Event]:
        """Neutral events for one delivery; an unknown topic gives ``[]``, never an error."""
