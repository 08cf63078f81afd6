"""A fake WooCommerce store at the HTTP edge, for tests.

Serves, on ``http://127.0.0.1:<port>`` in a thread:

- ``GET /wc-auth/v1/authorize``: records the query and, like the real store once the
  merchant approves, POSTs fresh keys to ``callback_url`` (needs exactly 200, else the
  keys are revoked) and redirects to ``return_url?success=1|0&user_id=...``;
- ``/wp-json/wc/v3``: index, ``system_status``, webhooks CRUD, orders and products with
  ``modified_after`` / ``orderby=modified`` / paging, order updates (``PUT /orders/<id>``,
  refused on demand with ``refuse_order_updates``), variations, coupons; every REST
  call needs HTTP Basic auth with a key the store issued.

Helpers drive the store from a test: :meth:`FakeWooCommerce.add_order`,
:meth:`~FakeWooCommerce.update_order`, :meth:`~FakeWooCommerce.disable_webhook`,
:meth:`~FakeWooCommerce.deliver` (signed deliveries with the ``X-WC-Webhook-*`` headers,
and WooCommerce's auto-disable after repeated failures).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

API = "/wp-json/wc/v3"
#: WooCommerce disables a webhook when a delivery fails while failure_count is already
#: above this (``woocommerce_max_webhook_delivery_failures``)
MAX_DELIVERY_FAILURES = 5


@dataclass
class Delivery:
    """One webhook delivery the fake made."""

    webhook_id: int
    topic: str
    delivery_id: str
    body: bytes
    headers: dict[str, str]
    status_code: int | None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None


@dataclass
class _State:
    keys: dict[str, str] = field(default_factory=dict)  # consumer_key -> consumer_secret
    webhooks: dict[int, dict] = field(default_factory=dict)
    orders: dict[int, dict] = field(default_factory=dict)
    products: dict[int, dict] = field(default_factory=dict)
    variations: dict[int, dict[int, dict]] = field(default_factory=dict)
    coupons: dict[int, dict] = field(default_factory=dict)
    next_id: int = 1000


class FakeWooCommerce:
    """A fake store. ``with FakeWooCommerce() as store: ...`` or ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        auto_approve: bool = True,
        clock: Callable[[], datetime] | None = None,
        version: str = "10.1.0",
        profile: dict[str, Any] | None = None,
    ) -> None:
        self.state = _State()
        self.auto_approve = auto_approve
        self.clock = clock or (lambda: datetime.now(UTC).replace(microsecond=0))
        self.version = version
        #: what the store says about itself (system_status, settings/general, the WordPress index)
        self.profile = {"name": "Kaffeerösterei M&amp;M", "timezone_string": "Europe/Berlin", "gmt_offset": 1,
                        "language": "de_DE", "default_country": "DE:BE", "currency": "EUR", **(profile or {})}
        self.authorize_requests: list[dict[str, str]] = []
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[Delivery] = []
        self.pings: list[tuple[str, int | None]] = []
        #: ``(status, code, message)``: every REST update of an order answers this error instead
        self.refuse_order_updates: tuple[int, str, str] | None = None
        self._lock = threading.RLock()
        self._server = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        if consumer_key and consumer_secret:
            self.state.keys[consumer_key] = consumer_secret

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeWooCommerce:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> FakeWooCommerce:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- test helpers ---------------------------------------------------------------------

    def issue_keys(self) -> tuple[str, str]:
        """New valid REST keys, as the store makes them (``ck_``/``cs_`` + 40 hex)."""
        key, secret = "ck_" + secrets.token_hex(20), "cs_" + secrets.token_hex(20)
        with self._lock:
            self.state.keys[key] = secret
        return key, secret

    def revoke_keys(self, consumer_key: str) -> None:
        with self._lock:
            self.state.keys.pop(consumer_key, None)

    def add_order(self, order: dict | None = None, **fields: Any) -> dict:
        """Store an order (a REST order body); id and dates are filled in when missing."""
        return self._add(self.state.orders, order, fields)

    def update_order(self, order_id: int, **fields: Any) -> dict:
        """Change fields of an order and bump its ``date_modified_gmt`` to the clock."""
        return self._update(self.state.orders, order_id, fields)

    def add_product(self, product: dict | None = None, **fields: Any) -> dict:
        return self._add(self.state.products, product, fields)

    def update_product(self, product_id: int, **fields: Any) -> dict:
        return self._update(self.state.products, product_id, fields)

    def add_variation(self, parent_id: int, variation: dict | None = None, **fields: Any) -> dict:
        with self._lock:
            stored = self._add(self.state.variations.setdefault(parent_id, {}), variation, fields)
            parent = self.state.products.get(parent_id)
            if parent is not None and stored["id"] not in parent.setdefault("variations", []):
                parent["variations"].append(stored["id"])
            return stored

    def disable_webhook(self, webhook_id: int, status: str = "disabled") -> None:
        """What WooCommerce does after repeated failures (``disabled``) or an admin (``paused``)."""
        with self._lock:
            self.state.webhooks[webhook_id]["status"] = status

    def add_webhook(self, **fields: Any) -> dict:
        """A webhook created by someone else (another app, the merchant)."""
        with self._lock:
            return self._new_webhook(fields)

    def webhooks(self) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(hook) for hook in self.state.webhooks.values()]

    def deliver(self, topic: str, resource: dict, *, timeout: float = 10.0) -> list[Delivery]:
        """Deliver ``resource`` to every active webhook on ``topic``, signed, like WC_Webhook."""
        with self._lock:
            hooks = [hook for hook in self.state.webhooks.values()
                     if hook["topic"] == topic and hook["status"] == "active"]
        made = []
        body = json.dumps(resource, default=_json_default).encode("utf-8")
        for hook in hooks:
            delivery_id = hashlib.md5(f"{hook['id']}{secrets.token_hex(8)}".encode()).hexdigest()
            resource_name, _, event = topic.partition(".")
            headers = {
                "Content-Type": "application/json",
                "User-Agent": f"WooCommerce/{self.version} Hookshot (WordPress/6.8)",
                "X-WC-Webhook-Source": self.base_url + "/",
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": resource_name,
                "X-WC-Webhook-Event": event,
                "X-WC-Webhook-Signature": _signature(body, hook["_secret"]),
                "X-WC-Webhook-ID": str(hook["id"]),
                "X-WC-Webhook-Delivery-ID": delivery_id,
            }
            try:
                status: int | None = httpx.post(hook["delivery_url"], content=body, headers=headers,
                                                timeout=timeout).status_code
            except httpx.HTTPError:
                status = None
            self._record_delivery_result(hook["id"], status)
            delivery = Delivery(hook["id"], topic, delivery_id, body, headers, status)
            self.deliveries.append(delivery)
            made.append(delivery)
        return made

    # --- storage ---------------------------------------------------------------------------

    def _add(self, table: dict[int, dict], item: dict | None, fields: dict) -> dict:
        with self._lock:
            stored = copy.deepcopy(item) if item else {}
            stored.update(fields)
            if "id" not in stored:
                stored["id"] = self._next_id()
            now = _fmt(self.clock())
            stored.setdefault("date_created_gmt", now)
            stored.setdefault("date_modified_gmt", now)
            table[int(stored["id"])] = stored
            return copy.deepcopy(stored)

    def _update(self, table: dict[int, dict], item_id: int, fields: dict) -> dict:
        with self._lock:
            stored = table[item_id]
            stored.update(fields)
            if "date_modified_gmt" not in fields:
                stored["date_modified_gmt"] = _fmt(self.clock())
            return copy.deepcopy(stored)

    def _next_id(self) -> int:
        self.state.next_id += 1
        return self.state.next_id

    def _new_webhook(self, fields: dict) -> dict:
        hook_id = self._next_id()
        now = _fmt(self.clock())
        topic = str(fields.get("topic", ""))
        hook = {
            "id": hook_id,
            "name": fields.get("name") or topic,
            "status": fields.get("status", "active"),
            "topic": topic,
            "resource": topic.partition(".")[0],
            "event": topic.partition(".")[2],
            "hooks": [],
            "delivery_url": fields.get("delivery_url", ""),
            "date_created_gmt": now,
            "date_modified_gmt": now,
            "_secret": fields.get("secret") or "",
            "_failures": 0,
        }
        self.state.webhooks[hook_id] = hook
        return hook

    def _record_delivery_result(self, webhook_id: int, status: int | None) -> None:
        # WC_Webhook: success is 200..302; a failure while failure_count is already above
        # the maximum disables the webhook; a success resets the count.
        with self._lock:
            hook = self.state.webhooks.get(webhook_id)
            if hook is None:
                return
            if status is not None and 200 <= status <= 302:
                hook["_failures"] = 0
            elif hook["_failures"] > MAX_DELIVERY_FAILURES:
                hook["status"] = "disabled"
            else:
                hook["_failures"] += 1

    def _ping(self, hook: dict) -> None:
        try:
            status: int | None = httpx.post(
                hook["delivery_url"],
                content=f"webhook_id={hook['id']}".encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=10.0,
            ).status_code
        except httpx.HTTPError:
            status = None
        self.pings.append((hook["delivery_url"], status))

    # --- HTTP ------------------------------------------------------------------------------

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.args), request.headers.get("Authorization"))
        )
        if request.path == "/wc-auth/v1/authorize":
            return self._authorize(request)
        if request.path == "/wp-json/" and request.method == "GET":  # WordPress's public index
            if request.headers.get("Authorization"):  # WordPress reads Basic as an application password
                return _error(401, "incorrect_password", "The provided password is an invalid application password.")
            index = {"name": self.profile["name"], "description": "", "url": self.base_url, "home": self.base_url,
                     "gmt_offset": self.profile["gmt_offset"], "timezone_string": self.profile["timezone_string"],
                     "namespaces": ["wp/v2", "wc/v3"], "routes": {}}
            fields = request.args.get("_fields")
            return _json({k: v for k, v in index.items() if not fields or k in fields.split(",")})
        if request.path == API or request.path.startswith(API + "/"):
            if not self._authenticated(request):
                return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
            return self._rest(request, request.path[len(API):].strip("/"))
        return _error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _authenticated(self, request: Request) -> bool:
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return False
        with self._lock:
            expected = self.state.keys.get(auth.username or "")
        return expected is not None and hmac.compare_digest(expected, auth.password or "")

    def _authorize(self, request: Request) -> Response:
        query = dict(request.args)
        self.authorize_requests.append(query)
        required = ("app_name", "scope", "user_id", "return_url", "callback_url")
        if any(not query.get(name) for name in required):
            return Response("Missing parameter", status=400)
        if query["scope"] not in ("read", "write", "read_write"):
            return Response("Invalid scope", status=400)
        callback = urlsplit(query["callback_url"])
        if callback.scheme != "https" and callback.hostname not in ("127.0.0.1", "localhost"):
            return Response("The callback_url needs to be over SSL", status=400)
        if not self.auto_approve:
            return Response("Approve?", status=200)
        return self.approve(query)

    def approve(self, query: dict[str, str]) -> Response:
        """What happens when the merchant clicks Approve: keys POSTed, then a redirect."""
        key, secret = self.issue_keys()
        body = {
            "key_id": self._next_id(),
            "user_id": query["user_id"],
            "consumer_key": key,
            "consumer_secret": secret,
            "key_permissions": query["scope"],
        }
        try:
            status = httpx.post(query["callback_url"], json=body, timeout=60.0).status_code
        except httpx.HTTPError:
            status = None
        success = status == 200  # class-wc-auth.php: anything but 200 deletes the key
        if not success:
            self.revoke_keys(key)
        target = query["return_url"] + ("&" if "?" in query["return_url"] else "?")
        target += urlencode({"success": int(success), "user_id": query["user_id"]})
        return Response(status=302, headers={"Location": target})

    def _rest(self, request: Request, route: str) -> Response:
        parts = route.split("/") if route else []
        method = request.method
        with self._lock:
            if not parts:
                return _json({"namespace": "wc/v3", "routes": {}})
            if parts == ["system_status"] and method == "GET":
                return _json({"environment": {"home_url": self.base_url, "site_url": self.base_url,
                                              "version": self.version,
                                              "language": self.profile["language"], "default_timezone": "UTC"},
                              "settings": {"currency": self.profile["currency"], "currency_symbol": "&euro;"}})
            if parts == ["settings", "general"] and method == "GET":
                return _json([
                    {"id": "woocommerce_default_country", "label": "Country and State", "type": "select",
                     "default": "US:CA", "value": self.profile["default_country"]},
                    {"id": "woocommerce_currency", "label": "Currency", "type": "select", "default": "USD",
                     "value": self.profile["currency"]},
                ])
            if parts[0] == "webhooks":
                return self._webhooks(request, parts[1:])
            if parts[0] == "orders" and len(parts) == 2 and method in ("PUT", "POST", "PATCH"):
                return self._update_order(request, _int(parts[1]))
            if parts[0] == "orders":
                return self._collection(request, self.state.orders, parts[1:])
            if parts[0] == "products" and len(parts) >= 3 and parts[2] == "variations":
                parent = _int(parts[1])
                if parent not in self.state.products:
                    return _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
                return self._collection(request, self.state.variations.setdefault(parent, {}), parts[3:])
            if parts[0] == "products":
                return self._collection(request, self.state.products, parts[1:])
            if parts[0] == "coupons":
                return self._coupons(request, parts[1:])
        return _error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _webhooks(self, request: Request, rest: list[str]) -> Response:
        if not rest:
            if request.method == "GET":
                status = request.args.get("status", "all")
                hooks = [h for h in self.state.webhooks.values() if status == "all" or h["status"] == status]
                return _page(request, [_public(h) for h in sorted(hooks, key=lambda h: h["id"])])
            if request.method == "POST":
                body = request.get_json(silent=True) or {}
                if not body.get("topic") or not body.get("delivery_url"):
                    return _error(400, "rest_missing_callback_param", "Missing parameter(s): topic, delivery_url")
                hook = self._new_webhook(body)
                if hook["status"] == "active":
                    self._ping(hook)
                return _json(_public(hook), status=201)
        hook = self.state.webhooks.get(_int(rest[0]))
        if hook is None:
            return _error(404, "woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")
        if request.method == "GET":
            return _json(_public(hook))
        if request.method in ("PUT", "POST", "PATCH"):
            body = request.get_json(silent=True) or {}
            for name in ("name", "status", "topic", "delivery_url"):
                if name in body:
                    hook[name] = body[name]
            if "secret" in body:
                hook["_secret"] = body["secret"]
            if body.get("status") == "active":
                hook["_failures"] = 0
            hook["date_modified_gmt"] = _fmt(self.clock())
            return _json(_public(hook))
        if request.method == "DELETE":
            if request.args.get("force") not in ("true", "1"):
                return _error(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
            del self.state.webhooks[hook["id"]]
            return _json(_public(hook))
        return _error(405, "rest_no_route", "Method not allowed.")

    def _update_order(self, request: Request, order_id: int) -> Response:
        """``PUT /orders/<id>``: fields replaced, ``meta_data`` entries set by key (as
        ``WC_Data::update_meta_data`` does); or the refusal set in ``refuse_order_updates``."""
        order = self.state.orders.get(order_id)
        if order is None:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        if self.refuse_order_updates is not None:
            return _error(*self.refuse_order_updates)
        body = request.get_json(silent=True) or {}
        fields = {key: value for key, value in body.items() if key != "meta_data"}
        meta = [dict(item) for item in order.get("meta_data") or []]
        for item in body.get("meta_data") or []:
            existing = next((m for m in meta if m.get("key") == item.get("key")), None)
            if existing is not None:
                existing["value"] = item.get("value")
            else:
                meta.append({"id": self._next_id(), "key": item.get("key"), "value": item.get("value")})
        return _json(self._update(self.state.orders, order_id, {**fields, "meta_data": meta}))

    def _collection(self, request: Request, table: dict[int, dict], rest: list[str]) -> Response:
        if rest:
            item = table.get(_int(rest[0]))
            if item is None or request.method != "GET":
                return _error(404, "woocommerce_rest_invalid_id", "Invalid ID.")
            return _json(item)
        if request.method != "GET":
            return _error(405, "rest_no_route", "Method not allowed.")
        items = list(table.values())
        after = request.args.get("modified_after")
        if after:
            if request.args.get("dates_are_gmt") != "true":
                return _error(400, "fake_needs_gmt", "This fake only filters with dates_are_gmt=true.")
            threshold = _parse(after)
            # WordPress' date query "after" is exclusive
            items = [item for item in items if _parse(item["date_modified_gmt"]) > threshold]
        key = {"modified": "date_modified_gmt", "date": "date_created_gmt", "id": "id"}.get(
            request.args.get("orderby", "date"))
        if key is None:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        items.sort(key=lambda item: (item[key], item["id"]), reverse=request.args.get("order", "desc") == "desc")
        return _page(request, items)

    def _coupons(self, request: Request, rest: list[str]) -> Response:
        if rest:
            coupon = self.state.coupons.get(_int(rest[0]))
            return _json(coupon) if coupon else _error(404, "woocommerce_rest_shop_coupon_invalid_id", "Invalid ID.")
        if request.method == "GET":
            return _page(request, sorted(self.state.coupons.values(), key=lambda c: c["id"]))
        body = request.get_json(silent=True) or {}
        code = str(body.get("code", "")).strip().lower()  # wc_format_coupon_code lowercases
        if not code:
            return _error(400, "woocommerce_rest_empty_coupon_code", "The coupon code cannot be empty.")
        if any(coupon["code"] == code for coupon in self.state.coupons.values()):
            return _error(400, "woocommerce_rest_coupon_code_already_exists", "The coupon code already exists")
        now = _fmt(self.clock())
        coupon = {**body, "id": self._next_id(), "code": code, "usage_count": 0, "date_created_gmt": now,
                  "date_modified_gmt": now}
        self.state.coupons[coupon["id"]] = coupon
        return _json(coupon, status=201)


def _page(request: Request, items: list[dict]) -> Response:
    per_page = _int(request.args.get("per_page", "10"))
    page = _int(request.args.get("page", "1"))
    if not 1 <= per_page <= 100 or page < 1:
        return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
    total_pages = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    response = _json(chunk)
    response.headers["X-WP-Total"] = str(len(items))
    response.headers["X-WP-TotalPages"] = str(total_pages)
    return response


def _public(hook: dict) -> dict:
    return {key: value for key, value in hook.items() if not key.startswith("_")}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, default=_json_default), status=status, mimetype="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json({"code": code, "message": message, "data": {"status": status}}, status=status)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _fmt(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else -1


__all__ = ["Delivery", "FakeWooCommerce", "RecordedRequest"]
