"""The JSON-object check every webhook body passes before it is stored (connector/web/errors.py)."""

from __future__ import annotations

import json

import pytest

from connector.web.errors import BadRequestBody, json_object, require_json_object


def test_an_object_is_returned_as_parsed():
    body = json.dumps({"id": 820982911946154508, "total_price": "199.65", "note": "ok ✓"}).encode()
    assert json_object(body) == {"id": 820982911946154508, "total_price": "199.65", "note": "ok ✓"}


def test_integers_stay_exact():
    assert json_object(b'{"id": 123456789012345678901234567890}') == {"id": 123456789012345678901234567890}


def test_the_fast_check_accepts_what_the_standard_library_accepts():
    # orjson refuses a lone surrogate escape; the receipts are parsed later by the standard library, which reads it
    require_json_object(b'{"name": "\\ud83d"}')
    require_json_object(b'{"id": 123456789012345678901234567890}')
    require_json_object(b'{"a": {"b": [1, 2.5, null, true]}}')


@pytest.mark.parametrize("body, reason", [
    (b"", "not valid JSON"), (b"{", "not valid JSON"), (b'{"a": 1} trailing', "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"), (b"[1, 2]", "must be a JSON object"), (b'"text"', "must be a JSON object"),
    (b"null", "must be a JSON object"),
])
@pytest.mark.parametrize("check", [json_object, require_json_object])
def test_anything_else_is_a_bad_request(body, reason, check):
    with pytest.raises(BadRequestBody, match=reason):
        check(body)
