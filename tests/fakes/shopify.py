"""A fake Shopify at the HTTP edge, for tests: OAuth token grants and a little GraphQL.

It serves one shop (``shop_domain``) on ``127.0.0.1:<free port>``; point the adapter at it
with ``base_url=fake.base_url`` and call with ``shop="demo.myshopify.com"``. Everything it
receives is recorded in ``calls``. Knobs for failure paths:

- ``expire_access_token(token)``: the next GraphQL call with it gets a 401;
- ``throttle_next(n, ...)``: the next ``n`` GraphQL calls answer ``THROTTLED`` with cost extensions;
- ``fail_next(status, n)``: the next ``n`` GraphQL calls answer ``status`` (429, 500, ...);
- ``hang()`` / ``answer()``: GraphQL calls get no answer (held open, up to ``hang_limit``
  seconds, then dropped) until ``answer()``; ``hanging_calls`` counts the calls held;
- ``session_token(...)``: an App Bridge session token signed with the app secret.

GraphQL queries are recognised by the root field they use (``webhookSubscriptions``,
``webhookSubscriptionCreate``, ``inventoryItem``), not parsed; ``graphql_handlers`` can add more.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from integrations.shopify.consts import (
    ACCESS_TOKEN_HEADER,
    API_VERSION,
    GRANT_TYPE_REFRESH_TOKEN,
    GRANT_TYPE_TOKEN_EXCHANGE,
    TOKEN_TYPE_ID_TOKEN,
    TOKEN_TYPE_OFFLINE,
)

#: a handler gets (query, variables) and returns the ``data`` object, or None to pass
GraphQLHandler = Callable[[str, dict], dict | None]

#: WebhookSubscriptionTopic values the fake accepts (compliance topics are not among them)
WEBHOOK_TOPICS = frozenset(
    {
        "APP_UNINSTALLED",
        "CHECKOUTS_CREATE",
        "CHECKOUTS_UPDATE",
        "FULFILLMENTS_CREATE",
        "FULFILLMENTS_UPDATE",
        "FULFILLMENT_EVENTS_CREATE",
        "INVENTORY_LEVELS_UPDATE",
        "ORDERS_CANCELLED",
        "ORDERS_CREATE",
        "ORDERS_PAID",
        "PRODUCTS_UPDATE",
    }
)


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class IssuedToken:
    access_token: str
    expires_at: float | None
    refresh_token: str | None
    refresh_expires_at: float | None
    revoked: bool = False


@dataclass
class FakeShopify:
    """The fake; ``start()`` it (or use it as a context manager) before use."""

    api_key: str = "test-api-key"
    api_secret: str = "test-api-secret-0123456789abcdef"
    shop_domain: str = "demo.myshopify.com"
    api_version: str = API_VERSION
    scope: str = "read_orders,read_products,read_inventory,read_customers"
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 90 * 24 * 3600
    calls: list[Call] = field(default_factory=list)
    webhook_subscriptions: list[dict[str, str]] = field(default_factory=list)
    #: inventory item id → (product id, variant id), numeric strings
    inventory_items: dict[str, tuple[str, str]] = field(default_factory=dict)
    graphql_handlers: list[GraphQLHandler] = field(default_factory=list)
    #: longest a hung call is held before the connection is dropped (the client gave up long before)
    hang_limit: float = 60.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._answering = threading.Event()
        self._answering.set()
        self.hanging_calls = 0
        self._server = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.reset()

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeShopify:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._answering.set()  # let held calls go, so the server's threads can end
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> FakeShopify:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def reset(self) -> None:
        """Forget calls, tokens, subscriptions, items and injected failures."""
        with getattr(self, "_lock", threading.Lock()):
            self.calls.clear()
            self.webhook_subscriptions.clear()
            self.inventory_items.clear()
            self.graphql_handlers.clear()
            self.tokens: dict[str, IssuedToken] = {}
            self.codes: set[str] = set()
            self._throttles: list[dict[str, float]] = []
            self._failures: list[int] = []
            self.hanging_calls = 0
        self._answering.set()

    # --- knobs -------------------------------------------------------------------------

    def issue_code(self) -> str:
        """An authorization code the token endpoint will accept once."""
        code = secrets.token_hex(8)
        self.codes.add(code)
        return code

    def issue_token(self, *, expiring: bool = True) -> IssuedToken:
        """Create an access token directly (as if an install had happened)."""
        now = time.time()
        token = IssuedToken(
            access_token=f"shpat_{secrets.token_hex(8)}",
            expires_at=now + self.access_token_ttl if expiring else None,
            refresh_token=f"shprt_{secrets.token_hex(8)}" if expiring else None,
            refresh_expires_at=now + self.refresh_token_ttl if expiring else None,
        )
        self.tokens[token.access_token] = token
        return token

    def expire_access_token(self, access_token: str) -> None:
        self.tokens[access_token].expires_at = time.time() - 1

    def throttle_next(
        self, count: int = 1, *, requested: float = 50, available: float = 10, restore_rate: float = 100
    ) -> None:
        self._throttles += [{"requested": requested, "available": available, "restore_rate": restore_rate}] * count

    def fail_next(self, status: int, count: int = 1) -> None:
        self._failures += [status] * count

    def hang(self) -> None:
        """From now on GraphQL calls get no answer (as a Shopify that is down but accepts connections)."""
        self._answering.clear()

    def answer(self) -> None:
        """Answer GraphQL calls again (calls still held are dropped: their clients have given up)."""
        self._answering.set()

    def session_token(self, *, user_id: str = "42", lifetime: int = 60, now: float | None = None, **claims: Any) -> str:
        """An App Bridge session token for this shop, signed HS256 with the app secret."""
        issued = int(now if now is not None else time.time())
        body = {
            "iss": f"https://{self.shop_domain}/admin",
            "dest": f"https://{self.shop_domain}",
            "aud": self.api_key,
            "sub": user_id,
            "exp": issued + lifetime,
            "nbf": issued,
            "iat": issued,
            "jti": secrets.token_hex(8),
            "sid": secrets.token_hex(8),
        } | claims
        return jwt.encode(body, self.api_secret, algorithm="HS256")

    def calls_to(self, path_part: str) -> list[Call]:
        return [call for call in self.calls if path_part in call.path]

    # --- HTTP --------------------------------------------------------------------------

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        with self._lock:
            self.calls.append(Call(request.method, request.path, dict(request.headers), body))
        if request.method == "POST" and request.path == "/admin/oauth/access_token":
            return self._token_endpoint(body if isinstance(body, dict) else {})
        if request.method == "POST" and request.path == f"/admin/api/{self.api_version}/graphql.json":
            return self._graphql(request, body if isinstance(body, dict) else {})
        return _json({"errors": "Not Found"}, 404)

    def _token_endpoint(self, body: dict) -> Response:
        if body.get("client_id") != self.api_key or body.get("client_secret") != self.api_secret:
            return _json({"error": "invalid_client"}, 401)
        grant = body.get("grant_type")
        expiring = body.get("expiring") == "1"
        with self._lock:
            if grant is None:
                if body.get("code") not in self.codes:
                    return _json({"error": "invalid_request", "error_description": "code is invalid"}, 400)
                self.codes.discard(body["code"])
                return self._grant(self.issue_token(expiring=expiring))
            if grant == GRANT_TYPE_REFRESH_TOKEN:
                old = next((t for t in self.tokens.values() if t.refresh_token == body.get("refresh_token")), None)
                if old is None or old.revoked or (old.refresh_expires_at or 0) < time.time():
                    return _json({"error": "invalid_grant"}, 400)
                old.revoked = True  # refresh tokens rotate; the old pair is dead
                return self._grant(self.issue_token(expiring=True))
            if grant == GRANT_TYPE_TOKEN_EXCHANGE:
                return self._token_exchange(body, expiring)
        return _json({"error": "unsupported_grant_type"}, 400)

    def _token_exchange(self, body: dict, expiring: bool) -> Response:
        if body.get("requested_token_type") != TOKEN_TYPE_OFFLINE:
            return _json({"error": "invalid_request"}, 400)
        subject, kind = body.get("subject_token"), body.get("subject_token_type")
        if kind == TOKEN_TYPE_ID_TOKEN:
            try:
                jwt.decode(subject, self.api_secret, algorithms=["HS256"], audience=self.api_key, leeway=10)
            except jwt.PyJWTError:
                return _json({"error": "invalid_subject_token"}, 400)
            return self._grant(self.issue_token(expiring=expiring))
        if kind == TOKEN_TYPE_OFFLINE:  # migration of a non-expiring token
            old = self.tokens.get(subject)
            if old is None or old.revoked or old.expires_at is not None:
                return _json({"error": "invalid_subject_token"}, 400)
            old.revoked = True
            return self._grant(self.issue_token(expiring=True))
        return _json({"error": "invalid_request"}, 400)

    def _grant(self, token: IssuedToken) -> Response:
        answer: dict[str, Any] = {"access_token": token.access_token, "scope": self.scope}
        if token.expires_at is not None:
            answer |= {
                "expires_in": self.access_token_ttl,
                "refresh_token": token.refresh_token,
                "refresh_token_expires_in": self.refresh_token_ttl,
            }
        return _json(answer)

    def _graphql(self, request: Request, body: dict) -> Response:
        if not self._answering.is_set():
            with self._lock:
                self.hanging_calls += 1
            self._answering.wait(self.hang_limit)
            # the caller timed out long ago: drop the connection rather than answer late
            return Response(status=504)
        token = self.tokens.get(request.headers.get(ACCESS_TOKEN_HEADER, ""))
        if token is None or token.revoked or (token.expires_at is not None and token.expires_at < time.time()):
            return _json({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
                         401)
        with self._lock:
            if self._failures:
                return _json({"errors": "Internal error"}, self._failures.pop(0))
            throttle = self._throttles.pop(0) if self._throttles else None
        if throttle is not None:
            return _json(
                {
                    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                    "extensions": _cost(throttle["requested"], 0, throttle["available"], throttle["restore_rate"]),
                }
            )
        query, variables = str(body.get("query", "")), body.get("variables") or {}
        for handler in [*self.graphql_handlers, self._subscription_create, self._subscriptions, self._inventory_item,
                        self._shop_name]:
            answer = handler(query, variables)
            if answer is not None:
                return _json(answer if "errors" in answer else {"data": answer, "extensions": _cost(10, 10, 1990, 100)})
        return _json({"errors": [{"message": "fake Shopify does not know this query"}]})

    def _subscription_create(self, query: str, variables: dict) -> dict | None:
        if "webhookSubscriptionCreate" not in query:
            return None
        topic = variables.get("topic")
        if topic not in WEBHOOK_TOPICS:
            message = f"Variable $topic of type WebhookSubscriptionTopic! was provided invalid value: {topic}"
            return {"errors": [{"message": message}]}
        uri = (variables.get("webhookSubscription") or {}).get("uri")
        if not isinstance(uri, str) or not uri.startswith("https://"):
            errors = [{"field": ["webhookSubscription", "uri"], "message": "Address is invalid"}]
            return {"webhookSubscriptionCreate": {"webhookSubscription": None, "userErrors": errors}}
        node = {"id": f"gid://shopify/WebhookSubscription/{next(self._ids)}", "topic": topic, "uri": uri}
        with self._lock:
            self.webhook_subscriptions.append(node)
        return {"webhookSubscriptionCreate": {"webhookSubscription": node, "userErrors": []}}

    def _subscriptions(self, query: str, variables: dict) -> dict | None:
        if not re.search(r"\bwebhookSubscriptions\b", query):
            return None
        # one page of two, so that the adapter's pagination is exercised
        start = int(variables.get("after") or 0)
        page = self.webhook_subscriptions[start : start + 2]
        more = start + 2 < len(self.webhook_subscriptions)
        return {"webhookSubscriptions": {"nodes": page, "pageInfo": {"hasNextPage": more,
                                                                     "endCursor": str(start + 2) if more else None}}}

    def _shop_name(self, query: str, variables: dict) -> dict | None:
        # the token check of `connector shops add shopify` (query ShopName { shop { name } })
        if not re.fullmatch(r"\s*query ShopName \{ shop \{ name \} \}\s*", query):
            return None
        return {"shop": {"name": self.shop_domain.split(".")[0].title()}}

    def _inventory_item(self, query: str, variables: dict) -> dict | None:
        if "inventoryItem(" not in query:
            return None
        item_id = str(variables.get("id", "")).rsplit("/", 1)[-1]
        ids = self.inventory_items.get(item_id)
        if ids is None:
            return {"inventoryItem": None}
        product_id, variant_id = ids
        return {
            "inventoryItem": {
                "id": f"gid://shopify/InventoryItem/{item_id}",
                "variant": {"id": f"gid://shopify/ProductVariant/{variant_id}", "product": {"id": f"gid://shopify/Product/{product_id}"}},
            }
        }


def _cost(requested: float, actual: float, available: float, restore_rate: float) -> dict:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available,
                               "restoreRate": restore_rate},
        }
    }


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
