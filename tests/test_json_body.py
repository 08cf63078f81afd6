"""The JSON-object check every webhook body passes before it is stored (connector/web/errors.py)."""

from __future__ import annotations

import json

import pytest

from connector.web.errors import (
    BadRequestBody,
    is_storable_text,
    json_object,
    require_json_object,
    storable_json_object,
)


def test_an_object_is_returned_as_parsed():
    body = json.dumps({"id": 820982911946154508, "total_price": "199.65", "note": "ok ✓"}).encode()
    assert json_object(body) == {"id": 820982911946154508, "total_price": "199.65", "note": "ok ✓"}


def test_integers_stay_exact():
    assert json_object(b'{"id": 123456789012345678901234567890}') == {"id": 123456789012345678901234567890}


def test_the_fast_check_accepts_what_the_standard_library_accepts():
    # simdjson refuses these; the receipts are parsed later by the standard library, which reads them
    require_json_object(b'{"name": "\\ud83d"}')
    require_json_object(b'{"id": 123456789012345678901234567890}')
    require_json_object(b'{"a": {"b": [1, 2.5, null, true]}}')
    require_json_object(b'{"a": NaN, "b": 1e400}')
    require_json_object('{"utf-16": true}'.encode("utf-16"))


#: edge cases of the grammar and of UTF-8; the fast check must reach the standard library's verdict on each
EDGE_CASES = [
    b'{"a":1}', b' \n{"a":1}\t ', b'{"a":1}\x00', b'{"a":1}\x0c', b'{"a":"\\u12"}', b'{"a":"\\/"}', b'{"a":"\\x41"}',
    b'{"a":-0}', b'{"a":01}', b'{"a":1.}', b'{"a":.5}', b'{"a":+1}',
    b'{"a":"\xed\xa0\x80"}', b'{"a":"\xf4\x90\x80\x80"}',
    b'{"a":"\xc0\xaf"}', b'{"a":"\x01"}', b'{"a":"\x7f"}', b'{"a":tru}', b'{"a":[1,]}', b'{,}', b'{"a":1,}',
    b'{"a":1,"a":2}', b"{'a':1}", b'\xef\xbb\xbf{"a":1}', b'{"a":Infinity}', b'{"a":"\\ud83d\\ude00"}', b'{}', b'[]',
    b'{"a":' * 3000 + b'1' + b'}' * 3000, b'[' * 3000 + b']' * 3000,
]


@pytest.mark.parametrize("body", EDGE_CASES)
def test_the_fast_check_and_the_standard_library_agree(body):
    def verdict(check):
        try:
            check(body)
        except BadRequestBody as error:
            return str(error)
        return "accepted"

    assert verdict(require_json_object) == verdict(json_object)


def test_a_body_nested_beyond_the_parsers_depth_is_a_bad_request():
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000  # valid JSON, deeper than any parser here goes
    for check in (json_object, require_json_object):
        with pytest.raises(BadRequestBody, match="nested too deeply"):
            check(deep)


@pytest.mark.parametrize("body, reason", [
    (b"", "not valid JSON"), (b"{", "not valid JSON"), (b'{"a": 1} trailing', "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"), (b"[1, 2]", "must be a JSON object"), (b'"text"', "must be a JSON object"),
    (b"null", "must be a JSON object"),
])
@pytest.mark.parametrize("check", [json_object, require_json_object])
def test_anything_else_is_a_bad_request(body, reason, check):
    with pytest.raises(BadRequestBody, match=reason):
        check(body)


@pytest.mark.parametrize("check", [json_object, require_json_object])
def test_13_3_integers_past_the_digit_limit_are_a_bad_request(check):
    # json.loads raises a plain ValueError (not JSONDecodeError) beyond 4,300 digits
    with pytest.raises(BadRequestBody, match="not valid JSON"):
        check(b'{"id": 1' + b"0" * 5000 + b"}")


@pytest.mark.parametrize("body", [b'{"a": "\\u0000"}', b'{"a": ["x\\udfff"]}', b'{"\\ud800": 1}',
                                  b'{"a": {"b": "\\u0000"}}'])
def test_13_3_our_api_refuses_text_no_column_stores(body):
    json_object(body)  # a webhook body is taken as it is; its adapter cleans the text
    with pytest.raises(BadRequestBody, match="NUL character or an unpaired surrogate"):
        storable_json_object(body)


def test_a_surrogate_pair_is_ordinary_text():
    assert storable_json_object(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001F600"}
    assert is_storable_text("\U0001F600") and not is_storable_text("a\x00") and not is_storable_text("\udfff")
