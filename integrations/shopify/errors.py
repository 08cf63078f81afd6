"""Exceptions of the Shopify adapter.

Exception tree::

    AdapterError (integrations.base)
    ├── SignatureMissingError / SignatureInvalidError / PayloadError   (shared, webhooks)
    └── ShopifyError
        ├── InvalidShopDomainError     not a ``<name>.myshopify.com`` domain (also a ValueError)
        ├── SessionTokenError          App Bridge session token rejected
        ├── ShopifyAuthError           401 / rejected grant: refresh, re-exchange or reinstall
        ├── ShopifyApiError            Shopify answered with an error (``is_retryable`` says
        │   └── ShopifyUserError       whether trying again can help); userErrors of a mutation
        └── ShopifyTransportError      no answer: network failure or timeout (retryable)
"""

from __future__ import annotations

from typing import Any

from integrations.base import AdapterError


class ShopifyError(AdapterError):
    """Base class of the errors only the Shopify adapter raises."""


class InvalidShopDomainError(ShopifyError, ValueError):
    """The text is not a shop's ``<name>.myshopify.com`` domain."""


class SessionTokenError(ShopifyError):
    """An App Bridge session token failed verification (signature, audience, time, shop)."""


class ShopifyAuthError(ShopifyError):
    """Shopify refused the credentials: the access token is expired or revoked, or a grant
    (code, refresh token, session token) was rejected. Retrying the same request cannot help."""

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class ShopifyApiError(ShopifyError):
    """Shopify answered, with an error. ``is_retryable`` is true for 429 and 5xx only."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: list[Any] | None = None,
        is_retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or []
        self.is_retryable = is_retryable


class ShopifyUserError(ShopifyApiError):
    """A mutation ran but reported ``userErrors`` (bad input; never retryable)."""


class ShopifyTransportError(ShopifyError):
    """No usable answer: connection failure or timeout. Trying again later may help."""

    is_retryable = True
