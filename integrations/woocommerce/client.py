"""WooCommerce REST API v3 client (httpx, HTTP Basic auth over HTTPS).

Why httpx rather than the ``woocommerce`` package: docs/adr/0005-woocommerce-rest-client.md.

Authentication: "over HTTPS ... HTTP Basic Auth" with the consumer key and secret
(https://woocommerce.github.io/woocommerce-rest-api-docs/#authentication-over-https).
Keys always travel in the ``Authorization`` header, never in the query string. Plain
http is refused except for loopback hosts (the fake store in tests): WooCommerce only
accepts Basic auth over TLS, and would expect OAuth 1.0a otherwise.

Every connection goes through the SSRF guard (``integrations.egress``): the store's host is
resolved when the socket is opened and an internal address is refused
(:class:`WooCommerceAddressRefusedError`) before anything is sent. The default policy admits
public addresses only; the connector passes its own (``ALLOW_LOOPBACK_STORES``).

Collections are paged (``per_page`` at most 100; ``X-WP-TotalPages``), from
``WC_REST_CRUD_Controller::get_collection_params`` in
plugins/woocommerce/includes/rest-api/Controllers/Version3/class-wc-rest-crud-controller.php,
which also lists ``modified`` among the ``orderby`` values and ``modified_after`` /
``dates_are_gmt`` among the filters.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx

from integrations.base import AdapterError, PayloadError
from integrations.egress import EgressPolicy, EgressRefusedError, GuardedTransport
from integrations.kit import load_json
from integrations.woocommerce.auth import is_loopback_host, normalise_store_url

__all__ = ["API_PATH", "WooCommerceAddressRefusedError", "WooCommerceApiError", "WooCommerceAuthError",
           "WooCommerceClient", "WooCommerceError"]

#: the pinned REST namespace
API_PATH = "/wp-json/wc/v3"
MAX_PAGE_SIZE = 100
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
DEFAULT_EGRESS = EgressPolicy()  # public addresses only
USER_AGENT = "whatsapp-commerce-connector (+https://github.com/)"


class WooCommerceError(AdapterError):
    """Base class of the WooCommerce client's errors."""


class WooCommerceApiError(WooCommerceError):
    """The store answered with an error, an unusable body, or not at all.

    ``status`` is ``None`` when no answer came (network error, timeout). ``code`` is
    WordPress' error code (``{"code": ..., "message": ..., "data": {"status": ...}}``).
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def is_retryable(self) -> bool:
        """Whether trying again later can help: no answer, 429, or a 5xx."""
        return self.status is None or self.status == 429 or self.status >= 500


class WooCommerceAuthError(WooCommerceApiError):
    """401/403: the keys are wrong, revoked, or lack the permission (reconnect the store)."""

    @property
    def is_retryable(self) -> bool:
        return False


class WooCommerceAddressRefusedError(WooCommerceApiError):
    """The store's host is, or resolves to, an internal address: nothing was sent.

    Not retryable as a request, but a state of the store rather than a bug: its DNS may be
    fixed later, so the catch-up records it and tries again with back-off.
    """

    @property
    def is_retryable(self) -> bool:
        return False


class WooCommerceClient:
    """One store's REST API. Create one per store and job; close it (or use ``with``)."""

    def __init__(
        self,
        store_url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        egress: EgressPolicy = DEFAULT_EGRESS,
    ) -> None:
        base = normalise_store_url(store_url)
        parts = urlsplit(base)
        if parts.scheme != "https" and not is_loopback_host(parts.hostname or ""):
            raise ValueError("WooCommerce REST calls need https (keys go in a Basic auth header)")
        if not consumer_key or not consumer_secret:
            raise ValueError("consumer_key and consumer_secret are required")
        self.store_url = base
        self._http = httpx.Client(
            base_url=base + API_PATH,
            auth=httpx.BasicAuth(consumer_key, consumer_secret),
            timeout=timeout,
            transport=GuardedTransport(egress),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WooCommerceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- requests ------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                anonymous: bool = False) -> httpx.Response:
        """Send one request under ``/wp-json/wc/v3``; raise the typed errors on failure.
        ``anonymous``: without the keys (a public WordPress route, see :meth:`site_index`)."""
        extra: dict[str, Any] = {"auth": None} if anonymous else {}
        try:
            response = self._http.request(method, path, params=params, json=_jsonable(json), **extra)
        except EgressRefusedError as error:
            raise WooCommerceAddressRefusedError(f"refused {method} {path}: {error}") from error
        except httpx.TimeoutException as error:
            raise WooCommerceApiError(f"timeout on {method} {path}") from error
        except httpx.TransportError as error:
            raise WooCommerceApiError(f"no answer on {method} {path}: {type(error).__name__}") from error
        if response.status_code >= 400 or response.status_code in (301, 302, 303, 307, 308):
            raise _error_from(response, method, path)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return load_json(response.content)
        except PayloadError as error:
            raise WooCommerceApiError(f"{method} {path} answered non-JSON", status=response.status_code) from error

    def get(self, path: str, **params: Any) -> Any:
        """GET a resource and decode it (fractions as ``Decimal``)."""
        return self._json("GET", path, params=params or None)

    def _paged(self, path: str, params: Mapping[str, Any], page_size: int = MAX_PAGE_SIZE) -> Iterator[dict]:
        page = 1
        while True:
            response = self.request("GET", path, params={**params, "per_page": page_size, "page": page})
            batch = _list_body(response, path)
            yield from batch
            total_pages = _int_header(response, "X-WP-TotalPages")
            if len(batch) < page_size or (total_pages is not None and page >= total_pages):
                return
            page += 1

    # --- store ---------------------------------------------------------------------------

    def index(self) -> dict:
        """``GET /wp-json/wc/v3``: the namespace index; works with any valid key."""
        body = self.get("")
        return body if isinstance(body, dict) else {}

    def system_status(self) -> dict:
        """``GET /system_status``: environment (WooCommerce version, home URL, ...).

        Verifies the keys; needs a key of a user who can manage WooCommerce.
        """
        body = self.get("/system_status")
        return body if isinstance(body, dict) else {}

    def general_settings(self) -> list[dict]:
        """``GET /settings/general``: the store's general options (country, currency, ...)."""
        body = self.get("/settings/general")
        return [entry for entry in body if isinstance(entry, dict)] if isinstance(body, list) else []

    def site_index(self) -> dict:
        """``GET /wp-json/?_fields=name,timezone_string,gmt_offset``: WordPress's public REST
        index (site title and time zone; WooCommerce's keys cannot read ``/wp/v2/settings``).

        Sent without the keys: outside WooCommerce's routes WordPress would read a Basic
        header as an application password, fail it, and answer 401."""
        body = self._json("GET", f"{self.store_url}/wp-json/", params={"_fields": "name,timezone_string,gmt_offset"},
                          anonymous=True)
        return body if isinstance(body, dict) else {}

    # --- webhooks ------------------------------------------------------------------------

    def list_webhooks(self) -> list[dict]:
        """Every webhook of the store (all apps'), any status."""
        return list(self._paged("/webhooks", {"status": "all"}))

    def create_webhook(self, topic: str, delivery_url: str, secret: str, name: str) -> dict:
        """Create an active webhook. WooCommerce pings ``delivery_url`` when it activates
        one, and the ping must get exactly 200 (``WC_Webhook::deliver_ping``)."""
        body = {"name": name, "topic": topic, "delivery_url": delivery_url, "secret": secret, "status": "active"}
        return self._json("POST", "/webhooks", json=body)

    def update_webhook(self, webhook_id: int | str, status: str = "active", **fields: Any) -> dict:
        """Set a webhook's status (``active`` re-enables one WooCommerce disabled)."""
        return self._json("PUT", f"/webhooks/{_path_id(webhook_id)}", json={"status": status, **fields})

    def delete_webhook(self, webhook_id: int | str) -> None:
        """Delete a webhook for good (``force=true``; webhooks have no trash)."""
        self.request("DELETE", f"/webhooks/{_path_id(webhook_id)}", params={"force": "true"})

    # --- catch-up ------------------------------------------------------------------------

    def orders_modified_since(self, after: datetime, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict]:
        """Every order modified after ``after`` (UTC), oldest change first, each snapshot once.

        Pages by moving ``modified_after`` forward instead of by page number: an order
        changed while we page moves to the end of the list, which with page numbers
        would shift an unseen order onto a page already read. Re-asking from one second
        before the last timestamp (``modified_after`` is exclusive, timestamps have
        whole seconds) and dropping (id, date_modified) pairs already yielded loses
        nothing; page numbers are used only while a whole page shares one second.
        """
        return self._modified_since("/orders", after, page_size, {"status": "any"})

    def products_modified_since(self, after: datetime, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict]:
        """Every product modified after ``after`` (UTC), like :meth:`orders_modified_since`."""
        return self._modified_since("/products", after, page_size, {})

    def _modified_since(self, path: str, after: datetime, page_size: int, extra: Mapping[str, Any]) -> Iterator[dict]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        cursor = _utc(after).replace(microsecond=0)
        page = 1
        yielded: set[tuple[str, str]] = set()
        while True:
            params = {
                **extra,
                "modified_after": cursor.strftime("%Y-%m-%dT%H:%M:%S"),
                "dates_are_gmt": "true",
                "orderby": "modified",
                "order": "asc",
                "per_page": page_size,
                "page": page,
            }
            batch = _list_body(self.request("GET", path, params=params), path)
            for item in batch:
                key = (str(item.get("id")), str(item.get("date_modified_gmt")))
                if key not in yielded:
                    yielded.add(key)
                    yield item
            if len(batch) < page_size:
                return
            last = _gmt(batch[-1].get("date_modified_gmt"))
            next_cursor = last - timedelta(seconds=1) if last else None
            if next_cursor is not None and next_cursor > cursor:
                cursor, page = next_cursor, 1
            else:
                page += 1

    def product(self, product_id: int | str) -> dict:
        """``GET /products/<id>``."""
        return self.get(f"/products/{_path_id(product_id)}")

    def product_variations(self, product_id: int | str, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict]:
        """Every variation of a variable product (``GET /products/<id>/variations``)."""
        return self._paged(f"/products/{_path_id(product_id)}/variations", {}, page_size)

    def product_variation(self, product_id: int | str, variation_id: int | str) -> dict:
        """``GET /products/<id>/variations/<variation id>``."""
        return self.get(f"/products/{_path_id(product_id)}/variations/{_path_id(variation_id)}")

    def order(self, order_id: int | str) -> dict:
        """``GET /orders/<id>``."""
        return self.get(f"/orders/{_path_id(order_id)}")

    def mark_order(self, order_id: int | str, meta_key: str, value: str = "yes") -> None:
        """Set one meta field on an order (``PUT /orders/<id>``); a 4xx or 5xx raises, the body is not read."""
        self.request("PUT", f"/orders/{_path_id(order_id)}", json={"meta_data": [{"key": meta_key, "value": value}]})

    def cancel_order(self, order_id: int | str) -> None:
        """Move an order to ``cancelled`` (``PUT /orders/<id>``); a 4xx or 5xx raises, the body is not read."""
        self.request("PUT", f"/orders/{_path_id(order_id)}", json={"status": "cancelled"})

    # --- coupons -------------------------------------------------------------------------

    def create_coupon(
        self,
        code: str,
        *,
        amount: Decimal | str,
        discount_type: str = "percent",
        usage_limit: int | None = 1,
        usage_limit_per_user: int | None = 1,
        individual_use: bool = True,
        expires_at: datetime | None = None,
        email_restrictions: list[str] | None = None,
        description: str = "",
    ) -> dict:
        """Create a single-use discount code (``POST /coupons``).

        ``discount_type`` is ``percent``, ``fixed_cart`` or ``fixed_product``; ``amount``
        a decimal string. A taken code raises :class:`WooCommerceApiError` with code
        ``woocommerce_rest_coupon_code_already_exists``: make codes unique.
        """
        if discount_type not in ("percent", "fixed_cart", "fixed_product"):
            raise ValueError("discount_type must be percent, fixed_cart or fixed_product")
        body: dict[str, Any] = {
            "code": code,
            "amount": str(amount),
            "discount_type": discount_type,
            "individual_use": individual_use,
            "usage_limit": usage_limit,
            "usage_limit_per_user": usage_limit_per_user,
            "description": description,
        }
        if expires_at is not None:
            body["date_expires_gmt"] = _utc(expires_at).strftime("%Y-%m-%dT%H:%M:%S")
        if email_restrictions:
            body["email_restrictions"] = email_restrictions
        return self._json("POST", "/coupons", json=body)


def _error_from(response: httpx.Response, method: str, path: str) -> WooCommerceApiError:
    code = message = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        message = body.get("message") if isinstance(body.get("message"), str) else None
    text = f"{method} {path} → {response.status_code}" + (f" {code}" if code else "")
    if message:
        text += f": {message[:200]}"
    error_class = WooCommerceAuthError if response.status_code in (401, 403) else WooCommerceApiError
    return error_class(text, status=response.status_code, code=code)


def _list_body(response: httpx.Response, path: str) -> list[dict]:
    try:
        body = load_json(response.content)
    except PayloadError as error:
        raise WooCommerceApiError(f"GET {path} answered non-JSON", status=response.status_code) from error
    if not isinstance(body, list):
        raise WooCommerceApiError(f"GET {path} did not answer a list", status=response.status_code)
    return [item for item in body if isinstance(item, dict)]


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name, "")
    return int(value) if value.isdigit() else None


def _path_id(value: int | str) -> str:
    text = str(value)
    if not text.isascii() or not text.isdigit():
        raise ValueError("ids must be numeric")
    return text


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _gmt(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value
