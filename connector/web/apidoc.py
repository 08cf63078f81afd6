"""The admin API describes itself: each route declares its schemas, and the OpenAPI 3 document
of the whole API is built from those declarations and the app's URL map.

``documented`` only records what a view takes and answers (marshmallow schemas) on the view
function; it changes nothing at run time. ``openapi_document`` walks every ``/admin/api`` rule,
so a route that forgets its declaration is visible (tests/test_admin_openapi.py fails on it).
apispec's marshmallow plugin turns the schemas into JSON Schema.
https://spec.openapis.org/oas/v3.1.0
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app
from marshmallow import Schema, fields

API_PREFIX = "/admin/api"
TITLE = "WhatsApp commerce connector: admin API"
VERSION = "1"

bp = Blueprint("apidoc", __name__, url_prefix=API_PREFIX)


class ErrorSchema(Schema):
    """What every refusal answers: a stable code and a sentence for people."""

    error = fields.String(required=True, metadata={"description": "a stable machine-readable code"})
    message = fields.String(metadata={"description": "what went wrong, for people"})


class ValidationErrorSchema(Schema):
    """A 422: marshmallow's nested errors, field path → messages."""

    errors = fields.Dict(required=True, metadata={"description": "field path → list of messages (nested)"})


def documented(*, summary: str, response: Schema | type[Schema] | None = None, query: type[Schema] | None = None,
               body: type[Schema] | None = None, status: int = 200, content_type: str = "application/json",
               errors: tuple[int, ...] = (), tag: str | None = None) -> Callable:
    """Record a route's contract on its view function (put it right under ``@bp.get``/``@bp.post``).

    ``response`` is the success body's schema (None with a non-JSON ``content_type`` such as
    ``text/csv``); ``query`` the query string's, ``body`` the request body's; ``errors`` the
    error statuses the route itself answers besides 401."""

    def record(view: Callable) -> Callable:
        view.__apidoc__ = {"summary": summary, "response": response, "query": query, "body": body,  # type: ignore[attr-defined]
                           "status": status, "content_type": content_type, "errors": errors, "tag": tag,
                           "description": (view.__doc__ or "").strip()}
        return view

    return record


def openapi_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every ``/admin/api`` route the app serves."""
    spec = APISpec(TITLE, VERSION, "3.1.0", plugins=[MarshmallowPlugin()],
                   info={"description": "The embedded admin's API. Every request carries a bearer token: a Shopify "
                                        "App Bridge session token or the WordPress plugin's token (HS256)."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("ValidationError", schema=ValidationErrorSchema)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(API_PREFIX):
            continue
        meta = getattr(app.view_functions[rule.endpoint], "__apidoc__", None)
        if meta is None:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, meta, public=path.endswith("openapi.json"))
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def undocumented_routes(app: Flask) -> list[str]:
    """The ``/admin/api`` rules without a ``documented`` declaration."""
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if rule.rule.startswith(API_PREFIX)
                  and getattr(app.view_functions[rule.endpoint], "__apidoc__", None) is None)


def _operation(rule, meta: dict[str, Any], *, public: bool) -> dict[str, Any]:
    success: dict[str, Any] = {"description": meta["summary"]}
    if meta["response"] is not None:
        success["content"] = {meta["content_type"]: {"schema": meta["response"]}}
    elif meta["content_type"] != "application/json":
        success["content"] = {meta["content_type"]: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(meta["status"]): success}
    for status in ((401,) if not public else ()) + tuple(meta["errors"]):
        schema = "ValidationError" if status == 422 else "Error"
        responses[str(status)] = {"description": _REASONS.get(status, "refused"),
                                  "content": {"application/json": {"schema": schema}}}
    operation: dict[str, Any] = {"summary": meta["summary"], "operationId": rule.endpoint.replace(".", "_"),
                                 "responses": responses}
    if meta["description"]:
        operation["description"] = meta["description"]
    if meta["tag"]:
        operation["tags"] = [meta["tag"]]
    if not public:
        operation["security"] = [{"bearer": []}]
    parameters: list[dict[str, Any]] = [
        {"in": "path", "name": name, "required": True,
         "schema": {"type": "integer" if type(converter).__name__ == "IntegerConverter" else "string"}}
        for name, converter in rule._converters.items()]
    if meta["query"] is not None:
        parameters.append({"in": "query", "schema": meta["query"]})
    if parameters:
        operation["parameters"] = parameters
    if meta["body"] is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": meta["body"]}}}
    return operation


_REASONS = {400: "malformed request", 401: "no valid session token", 404: "no such record in this shop",
            409: "conflicts with the current state", 412: "If-Match is stale", 415: "unsupported body type",
            422: "invalid values; nothing changed", 502: "the store did not answer", 503: "not configured"}


@bp.get("/openapi.json")
@documented(summary="This document: the OpenAPI 3 description of the admin API", tag="meta")
def openapi_json():
    """Public, like any API reference: it names routes and schemas, never a shop's data."""
    return openapi_document(current_app)
