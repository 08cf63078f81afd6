"""HTTP to Shopify: OAuth token grants and the GraphQL Admin API. The only module using httpx.

GraphQL only: "Starting April 1, 2025, all new public apps must be built exclusively with
the GraphQL Admin API" (https://shopify.dev/api/admin-rest/latest/resources/webhook).
Every call validates the shop domain (it becomes a URL host), sends explicit timeouts, and
maps failures to the typed errors of ``integrations.shopify.errors``. ``base_url`` (default
``https://{shop}``) lets tests point everything at ``tests/fakes/shopify.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from integrations.coerce import as_dict as _dict
from integrations.coerce import as_list as _list
from integrations.shopify.consts import (
    ACCESS_TOKEN_HEADER,
    API_VERSION,
    DEFAULT_BASE_URL,
    GRANT_TYPE_REFRESH_TOKEN,
    GRANT_TYPE_TOKEN_EXCHANGE,
    TOKEN_TYPE_ID_TOKEN,
    TOKEN_TYPE_OFFLINE,
)
from integrations.shopify.errors import (
    ShopifyApiError,
    ShopifyAuthError,
    ShopifyTransportError,
    ShopifyUserError,
)
from integrations.shopify.oauth import normalise_shop_domain

__all__ = [
    "DEFAULT_TIMEOUT",
    "LOOKUP_TIMEOUT",
    "GraphQLClient",
    "TokenSet",
    "admin_base_url",
    "exchange_code",
    "gid",
    "migrate_to_expiring",
    "numeric_id",
    "refresh",
    "token_exchange",
]

log = logging.getLogger(__name__)

#: Shopify answers Admin API calls in well under a second; 10 s read leaves room for big queries
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: for look-ups a job can retry later (an inventory item's variant): a Shopify that does not
#: answer within a few seconds is treated as down, not waited for
LOOKUP_TIMEOUT = httpx.Timeout(3.0, connect=2.0)


def admin_base_url(shop: str, base_url: str | None = None) -> str:
    """``https://<shop>`` for a valid shop domain, or ``base_url`` (``{shop}`` filled in)."""
    domain = normalise_shop_domain(shop)
    template = base_url or DEFAULT_BASE_URL
    return template.replace("{shop}", domain).rstrip("/")


# ---------------------------------------------------------------------------------------
# Global ids
# ---------------------------------------------------------------------------------------


def gid(kind: str, numeric: str | int) -> str:
    """``gid://shopify/<kind>/<numeric>`` for a REST/webhook numeric id."""
    return f"gid://shopify/{kind}/{numeric}"


def numeric_id(global_id: object) -> str | None:
    """The trailing numeric part of a ``gid://shopify/<Kind>/<n>`` (query string dropped)."""
    if not isinstance(global_id, str) or not global_id.startswith("gid://shopify/"):
        return None
    tail = global_id.rsplit("/", 1)[-1].split("?", 1)[0]
    return tail if tail.isdigit() else None


# ---------------------------------------------------------------------------------------
# Token grants
# https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/offline-access-tokens
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenSet:
    """An access token and, for expiring offline tokens, its refresh token and expiries.

    Expiring offline tokens live 60 minutes, their refresh tokens 90 days, and the refresh
    token rotates on every use: store the whole set again after each refresh.
    """

    access_token: str
    scope: str  # comma-separated, as granted
    expires_at: datetime | None = None
    refresh_token: str | None = None
    refresh_token_expires_at: datetime | None = None

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.scope.split(",") if part.strip())

    @property
    def is_expiring(self) -> bool:
        return self.expires_at is not None

    def needs_refresh(self, now: datetime, margin: timedelta = timedelta(minutes=5)) -> bool:
        """True when the access token expires within ``margin`` of ``now`` (never, if non-expiring)."""
        return self.expires_at is not None and _aware(now) + margin >= self.expires_at

    def can_refresh(self, now: datetime) -> bool:
        """True when there is a refresh token that has not expired yet."""
        if not self.refresh_token:
            return False
        return self.refresh_token_expires_at is None or _aware(now) < self.refresh_token_expires_at

    @classmethod
    def from_response(cls, body: Mapping[str, Any], now: datetime) -> TokenSet:
        """Build from an ``/admin/oauth/access_token`` JSON answer received at ``now``."""
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ShopifyApiError("token response has no access_token")
        moment = _aware(now)
        scope = body.get("scope")
        return cls(
            access_token=token,
            scope=scope if isinstance(scope, str) else "",
            expires_at=_after(moment, body.get("expires_in")),
            refresh_token=body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None,
            refresh_token_expires_at=_after(moment, body.get("refresh_token_expires_in")),
        )


def exchange_code(
    shop: str,
    code: str,
    api_key: str,
    secret: str,
    expiring: bool = True,
    *,
    base_url: str | None = None,
    http: httpx.Client | None = None,
    now: datetime | None = None,
) -> TokenSet:
    """Trade the callback's ``code`` for an offline token (expiring by default).

    Authorization-code grant, step 5:
    https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant
    """
    body = {"client_id": api_key, "client_secret": secret, "code": code, "expiring": "1" if expiring else "0"}
    return _token_request(shop, body, base_url=base_url, http=http, now=now)


def refresh(
    shop: str,
    refresh_token: str,
    api_key: str,
    secret: str,
    *,
    base_url: str | None = None,
    http: httpx.Client | None = None,
    now: datetime | None = None,
) -> TokenSet:
    """Use a refresh token; the answer carries a new access token *and* a new refresh token.

    Not retried here: the refresh token rotates, so a retry after an answer was lost would
    present a spent token. Callers retry the whole refresh on ``ShopifyTransportError``.
    """
    body = {
        "client_id": api_key,
        "client_secret": secret,
        "grant_type": GRANT_TYPE_REFRESH_TOKEN,
        "refresh_token": refresh_token,
    }
    return _token_request(shop, body, base_url=base_url, http=http, now=now)


def token_exchange(
    shop: str,
    session_token: str,
    api_key: str,
    secret: str,
    *,
    expiring: bool = True,
    base_url: str | None = None,
    http: httpx.Client | None = None,
    now: datetime | None = None,
) -> TokenSet:
    """Trade an App Bridge session token for an offline access token (embedded apps).

    An expired or invalid session token gets a 400, raised as ``ShopifyAuthError``: ask
    App Bridge for a new one.
    https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/token-exchange
    """
    body = {
        "client_id": api_key,
        "client_secret": secret,
        "grant_type": GRANT_TYPE_TOKEN_EXCHANGE,
        "subject_token": session_token,
        "subject_token_type": TOKEN_TYPE_ID_TOKEN,
        "requested_token_type": TOKEN_TYPE_OFFLINE,
        "expiring": "1" if expiring else "0",
    }
    return _token_request(shop, body, base_url=base_url, http=http, now=now)


def migrate_to_expiring(
    shop: str,
    non_expiring_token: str,
    api_key: str,
    secret: str,
    *,
    base_url: str | None = None,
    http: httpx.Client | None = None,
    now: datetime | None = None,
) -> TokenSet:
    """Swap a legacy non-expiring offline token for an expiring one (mandatory by 2027-01-01).

    https://shopify.dev/docs/apps/build/authentication-authorization/migrate-to-expiring-offline-access-tokens
    The old token stops working once the new one is issued: store the answer first thing.
    """
    body = {
        "client_id": api_key,
        "client_secret": secret,
        "grant_type": GRANT_TYPE_TOKEN_EXCHANGE,
        "subject_token": non_expiring_token,
        "subject_token_type": TOKEN_TYPE_OFFLINE,
        "requested_token_type": TOKEN_TYPE_OFFLINE,
        "expiring": "1",
    }
    return _token_request(shop, body, base_url=base_url, http=http, now=now)


def _token_request(
    shop: str,
    body: dict[str, str],
    *,
    base_url: str | None,
    http: httpx.Client | None,
    now: datetime | None,
) -> TokenSet:
    url = f"{admin_base_url(shop, base_url)}/admin/oauth/access_token"
    response = _post(http, url, json=body, headers={"Accept": "application/json"})
    answer = _json_body(response)
    if response.status_code in (400, 401, 403):
        # invalid_grant, invalid_subject_token, invalid_client...: the grant is dead
        error = answer.get("error") if isinstance(answer.get("error"), str) else None
        raise ShopifyAuthError(f"token grant refused ({response.status_code} {error or ''})".strip(),
                               status=response.status_code, error=error)
    _raise_for_status(response, answer)
    return TokenSet.from_response(answer, now or datetime.now(UTC))


# ---------------------------------------------------------------------------------------
# GraphQL Admin API
# https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits
# ---------------------------------------------------------------------------------------


class GraphQLClient:
    """One shop's GraphQL Admin API, authenticated with an access token.

    - ``THROTTLED`` answers: waits for the bucket to refill enough for the query
      (``(requestedQueryCost - currentlyAvailable) / restoreRate`` seconds), then retries.
    - 429 and 5xx, and network failures: bounded retries with backoff (``Retry-After`` honoured).
    - 401: calls ``on_unauthorized()`` once, if given; a new token it returns is used to retry
      once; otherwise (or on a second 401) raises ``ShopifyAuthError``.
    - Other ``errors`` and a mutation's ``userErrors``: ``ShopifyApiError`` / ``ShopifyUserError``.

    ``sleep`` is injectable so that tests do not wait.
    """

    def __init__(
        self,
        shop: str,
        access_token: str,
        *,
        api_version: str = API_VERSION,
        base_url: str | None = None,
        http: httpx.Client | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        max_throttle_retries: int = 5,
        max_wait_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        on_unauthorized: Callable[[], str | None] | None = None,
    ) -> None:
        self.shop = normalise_shop_domain(shop)
        self.access_token = access_token
        self.url = f"{admin_base_url(self.shop, base_url)}/admin/api/{api_version}/graphql.json"
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self.max_retries = max_retries
        self.max_throttle_retries = max_throttle_retries
        self.max_wait_seconds = max_wait_seconds
        self._sleep = sleep
        self._on_unauthorized = on_unauthorized
        #: ``extensions.cost`` of the last answer, for logs and pacing
        self.last_cost: dict[str, Any] | None = None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GraphQLClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one query or mutation and return its ``data``."""
        payload = {"query": query, "variables": dict(variables or {})}
        failures = throttles = 0
        refreshed = False
        while True:
            try:
                response = self._http.post(
                    self.url,
                    json=payload,
                    headers={ACCESS_TOKEN_HEADER: self.access_token, "Accept": "application/json"},
                )
            except httpx.TransportError as error:
                failures += 1
                if failures > self.max_retries:
                    raise ShopifyTransportError(f"Shopify GraphQL unreachable: {type(error).__name__}") from error
                self._sleep(_backoff(failures))
                continue
            if response.status_code == 401:
                new_token = None if refreshed or self._on_unauthorized is None else self._on_unauthorized()
                if not new_token:
                    raise ShopifyAuthError("access token rejected (401)", status=401)
                self.access_token, refreshed = new_token, True
                continue
            if response.status_code == 429 or response.status_code >= 500:
                failures += 1
                if failures > self.max_retries:
                    _raise_for_status(response, _json_body(response))
                self._sleep(min(_retry_after(response) or _backoff(failures), self.max_wait_seconds))
                continue
            answer = _json_body(response)
            _raise_for_status(response, answer)
            self.last_cost = _dict(_dict(answer.get("extensions")).get("cost")) or None
            errors = answer.get("errors")
            if errors:
                if _is_throttled(errors) and throttles < self.max_throttle_retries:
                    throttles += 1
                    self._sleep(self._throttle_wait())
                    continue
                raise ShopifyApiError(
                    f"GraphQL errors: {_error_codes(errors)}",
                    status=response.status_code,
                    errors=errors if isinstance(errors, list) else [errors],
                    is_retryable=_is_throttled(errors),
                )
            data = _dict(answer.get("data"))
            _raise_for_user_errors(data)
            return data

    def _throttle_wait(self) -> float:
        cost = self.last_cost or {}
        status = _dict(cost.get("throttleStatus"))
        requested = _float(cost.get("requestedQueryCost")) or 0.0
        available = _float(status.get("currentlyAvailable")) or 0.0
        rate = _float(status.get("restoreRate")) or 0.0
        if rate <= 0:
            return 1.0
        return min(max((requested - available) / rate, 0.0) + 0.05, self.max_wait_seconds)


def _raise_for_user_errors(data: Mapping[str, Any]) -> None:
    """Mutations answer 200 with their user errors; treat a non-empty list as failure.

    Most call the field ``userErrors``; some name it after themselves (``orderCancel`` →
    ``orderCancelUserErrors``, ``customerCreate`` → ``customerUserErrors``), so every key
    ending in ``UserErrors`` counts.
    https://shopify.dev/docs/api/admin-graphql/latest/mutations/orderCancel
    """
    for name, result in data.items():
        for key, user_errors in _dict(result).items():
            if key.lower().endswith("usererrors") and isinstance(user_errors, list) and user_errors:
                messages = "; ".join(str(_dict(error).get("message", "")) for error in user_errors)
                raise ShopifyUserError(f"{name}: {messages}", errors=user_errors)


def _is_throttled(errors: object) -> bool:
    return any(_dict(_dict(error).get("extensions")).get("code") == "THROTTLED" for error in _list(errors))


def _error_codes(errors: object) -> str:
    codes = [str(_dict(_dict(error).get("extensions")).get("code") or "?") for error in _list(errors)]
    return ",".join(codes) or "?"


# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------


def _post(http: httpx.Client | None, url: str, **kwargs: Any) -> httpx.Response:
    try:
        if http is not None:
            return http.post(url, **kwargs)
        with httpx.Client(timeout=DEFAULT_TIMEOUT) as client:
            return client.post(url, **kwargs)
    except httpx.TransportError as error:
        raise ShopifyTransportError(f"Shopify unreachable: {type(error).__name__}") from error


def _raise_for_status(response: httpx.Response, answer: Mapping[str, Any]) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 401:
        raise ShopifyAuthError("access token rejected (401)", status=401)
    errors = answer.get("errors")
    raise ShopifyApiError(
        f"Shopify answered {status}",
        status=status,
        errors=errors if isinstance(errors, list) else ([errors] if errors else []),
        is_retryable=status == 429 or status >= 500,
    )


def _json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def _backoff(attempt: int) -> float:
    return min(0.5 * 2 ** (attempt - 1), 8.0)


def _after(moment: datetime, seconds: object) -> datetime | None:
    if isinstance(seconds, str) and seconds.isdigit():
        seconds = int(seconds)
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0:
        return moment + timedelta(seconds=seconds)
    return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _float(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


