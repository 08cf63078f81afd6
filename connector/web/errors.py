"""Domain errors mapped to HTTP answers, once, for every blueprint."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

import simdjson
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from connector.receipts import ReceiptNotWritten
from connector.shop_settings import SettingsChangedError, SettingsInvalidError
from integrations.base import PayloadError, SignatureInvalidError, SignatureMissingError

log = logging.getLogger(__name__)


class BadRequestBody(ValueError):
    """The body is not what the endpoint accepts (malformed JSON, wrong shape)."""


class BadQuery(ValueError):
    """A query parameter is not what the endpoint accepts."""


#: the largest id a BIGINT primary key holds: a larger one in a path or query names no row (and
#: must not reach PostgreSQL, which refuses to compare it with a BIGINT column)
MAX_ID = 2**63 - 1


def json_object(raw: bytes) -> dict:
    """The body as a JSON object, or ``BadRequestBody`` (a 400). Integers stay exact.

    The one reader of request bodies: every way the standard library refuses a document is a
    400 here, including the two that are not ``JSONDecodeError``: ``RecursionError`` (it
    recurses once per level of nesting) and the plain ``ValueError`` of an integer longer
    than Python's 4,300-digit conversion limit (``sys.get_int_max_str_digits``).
    """
    try:
        payload = json.loads(raw)
    except RecursionError:  # the standard library's parser recurses once per level
        raise BadRequestBody("body is not valid JSON: nested too deeply") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, and integers beyond the digit limit
        raise BadRequestBody("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequestBody("body must be a JSON object")
    if _depth_exceeds(payload, MAX_JSON_DEPTH):
        # the same verdict whatever the interpreter's recursion limit happens to be
        raise BadRequestBody("body is not valid JSON: nested too deeply")
    return payload


#: no body our routes read nests deeper; the standard library's parser stops near 1,000 levels
#: by default, but only where nothing raised the recursion limit
MAX_JSON_DEPTH = 64


def _depth_exceeds(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values() if isinstance(child, (dict, list)))
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


#: what no text column takes: NUL (PostgreSQL refuses it in text) and lone surrogates (not
#: encodable as UTF-8, so psycopg cannot send them). JSON reaches both only through \u escapes.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable_text(value: str) -> bool:
    """False for text with a NUL or a lone surrogate: it must not reach a query."""
    return _UNSTORABLE.search(value) is None


def storable_json_object(raw: bytes) -> dict:
    """:func:`json_object` for our own API: ``BadRequestBody`` when any key or string holds
    text no column can store, so nothing of it reaches a query or a row."""
    payload = json_object(raw)
    if not _all_storable(payload):
        raise BadRequestBody("body holds a NUL character or an unpaired surrogate")
    return payload


def _all_storable(value: Any) -> bool:
    # iterative: a body nested as deep as the parser allows must not exhaust the stack here
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not is_storable_text(item):
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def require_json_object(raw: bytes) -> None:
    """``BadRequestBody`` unless the body is a JSON object; for views that store it unread.

    simdjson validates a webhook body without building its values (~4 µs for Shopify's
    11.5 KB orders/paid sample, against ~20 µs for orjson and ~65 µs for the standard
    library), on the path the vendors time. Its verdict is final only when it accepts an
    object: it refuses some documents the standard library (which parses the receipts later)
    reads, such as lone surrogate escapes, integers beyond 64 bits, ``NaN`` or UTF-16, so
    anything it refuses goes to ``json_object``. tests/test_json_body.py holds the two to the
    same verdicts. One window is left: simdjson accepts up to 1,024 levels of nesting, the
    standard library's parser recurses once per level and stops near 1,000 frames. Such a
    body (signed by the vendor, so never seen in practice) is stored, and the drainer fails to
    read it (``PayloadError``) and ends the receipt at once as ``dead`` with that reason
    (connector/receipt_failures.py); checking depth first would cost more than the parse.
    """
    with _PARSER_LOCK:  # a parser holds one document at a time
        try:
            document = _PARSER.parse(raw)
        except (ValueError, RuntimeError):  # UnicodeDecodeError is a ValueError
            is_object = None
        else:
            is_object = isinstance(document, simdjson.Object)
            del document  # before the parser is used again
    if is_object is None:
        json_object(raw)
    elif not is_object:
        raise BadRequestBody("body must be a JSON object")


_PARSER = simdjson.Parser()  # reused: its buffers grow to the largest body once
_PARSER_LOCK = threading.Lock()


_DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    SignatureMissingError: (401, "signature_missing"),
    SignatureInvalidError: (403, "signature_invalid"),
    BadRequestBody: (400, "bad_request_body"),
    PayloadError: (400, "bad_request_body"),
    BadQuery: (400, "bad_query"),
    # the database is down or stuck: nothing was acknowledged, the vendor delivers again
    ReceiptNotWritten: (503, "receipt_not_written"),
    # If-Match names settings changed since they were read
    SettingsChangedError: (412, "precondition_failed"),
}


def register_error_handlers(app: Flask) -> None:
    for error_type, (status, code) in _DOMAIN_ERRORS.items():
        app.register_error_handler(error_type, _domain_handler(status, code))
    app.register_error_handler(SettingsInvalidError, _settings_invalid)
    app.register_error_handler(HTTPException, _http_error)


def _settings_invalid(error: SettingsInvalidError):
    """422 with marshmallow's nested error dict: ``{"errors": {"automations": {...}}}``."""
    log.info("http.rejected", extra={"path": request.path, "status": 422, "reason": "settings_invalid"})
    return jsonify(errors=error.errors), 422


def _domain_handler(status: int, code: str):
    def handle(error: Exception):
        log.info("http.rejected", extra={"path": request.path, "status": status, "reason": code})
        return jsonify(error=code, message=str(error) or code), status

    return handle


def _http_error(error: HTTPException):
    if request.path.startswith(("/webhooks/", "/storefront/api/", "/healthz")):
        if error.code and error.code >= 400:
            log.info("http.rejected", extra={"path": request.path, "status": error.code, "reason": error.name})
        return jsonify(error=error.name.lower().replace(" ", "_"), message=error.description), error.code
    return error
