"""The Cloud API error table, the HTTP fallbacks and the parsing of Graph error bodies."""

from __future__ import annotations

import json
import re

import pytest

from integrations.whatsapp.errors import (
    ERROR_RULES,
    Disposition,
    ErrorRule,
    SignatureInvalidError,
    SignatureMissingError,
    WhatsAppApiError,
    WhatsAppError,
    WhatsAppPayloadError,
    WhatsAppTransportError,
    classify,
    error_from_response,
)

RETRYABLE = Disposition.RETRYABLE
PERMANENT = Disposition.PERMANENT
OPTED_OUT = Disposition.OPTED_OUT
PAUSE_ACCOUNT = Disposition.PAUSE_ACCOUNT

#: the platform reference (platforms.md §3.5, "Error codes that matter"), code → what the table says to do
PLATFORMS_TABLE = {
    130429: RETRYABLE,
    131056: RETRYABLE,
    131057: RETRYABLE,
    131000: RETRYABLE,
    1: RETRYABLE,
    2: RETRYABLE,
    131016: RETRYABLE,
    131048: RETRYABLE,  # long backoff and an alert, but the same request can go later
    131049: PERMANENT,  # soft failure: not retried now, contact cooled down
    131050: OPTED_OUT,
    131026: PERMANENT,
    131047: PERMANENT,
    131042: PAUSE_ACCOUNT,
    131051: PERMANENT,
    131052: PERMANENT,
    131053: PERMANENT,
    132000: PERMANENT,
    132001: PERMANENT,
    132005: PERMANENT,
    132007: PERMANENT,
    132008: PERMANENT,
    132012: PERMANENT,
    132015: PERMANENT,
    132016: PERMANENT,
    131031: PAUSE_ACCOUNT,
    368: PAUSE_ACCOUNT,
    190: PAUSE_ACCOUNT,
    131021: PERMANENT,
}

#: further codes, as named in pywa's errors.py (david-lev/pywa@0bcf2f1:pywa/errors.py) and
#: the Graph API error handling guide
OTHER_CODES = {
    131008: PERMANENT,  # MissingRequiredParameter
    131009: PERMANENT,  # InvalidParameter
    100: PERMANENT,  # Graph "Invalid parameter"
    4: RETRYABLE,  # ToManyAPICalls
    80007: RETRYABLE,  # RateLimitIssues
    133010: PAUSE_ACCOUNT,  # account not registered
    131044: PAUSE_ACCOUNT,  # BusinessPaymentIssue (second code)
    131045: PAUSE_ACCOUNT,  # IncorrectCertificate (registration error)
    131005: PAUSE_ACCOUNT,  # AccessDenied
    10: PAUSE_ACCOUNT,  # PermissionDenied
    200: PAUSE_ACCOUNT,  # APIPermission
    3: PAUSE_ACCOUNT,  # APIMethod
    0: PAUSE_ACCOUNT,  # AuthException
}


@pytest.mark.parametrize(("code", "disposition"), sorted(PLATFORMS_TABLE.items()))
def test_platforms_table_codes(code: int, disposition: Disposition) -> None:
    assert code in ERROR_RULES
    assert classify(code).disposition is disposition


@pytest.mark.parametrize(("code", "disposition"), sorted(OTHER_CODES.items()))
def test_other_common_codes(code: int, disposition: Disposition) -> None:
    assert code in ERROR_RULES
    assert classify(code).disposition is disposition


def test_table_is_consistent() -> None:
    names = [rule.name for rule in ERROR_RULES.values()]
    assert len(names) == len(set(names)), "rule names must be unique"
    for code, rule in ERROR_RULES.items():
        assert isinstance(rule, ErrorRule)
        assert rule.code == code
        assert re.fullmatch(r"[a-z][a-z0-9_]*", rule.name), rule.name
        assert rule.description
        if rule.retry_after_seconds is not None:
            assert rule.disposition is RETRYABLE and rule.retry_after_seconds > 0


@pytest.mark.parametrize(
    ("code", "name", "retry_after"),
    [
        (130429, "rate_limit_hit", 1),
        (131056, "pair_rate_limit_hit", 6),  # one message per ~6 s to the same user
        (131048, "spam_rate_limit_hit", 3600),
    ],
)
def test_retry_delays(code: int, name: str, retry_after: float) -> None:
    rule = classify(code)
    assert (rule.name, rule.retry_after_seconds, rule.is_retryable) == (name, retry_after, True)


def test_per_user_marketing_limit_cools_the_contact_down_without_retrying() -> None:
    rule = classify(131049)
    assert rule.disposition is PERMANENT and not rule.is_retryable
    assert rule.contact_cooldown_seconds == 86400
    assert rule.retry_after_seconds is None


def test_opt_out_rule() -> None:
    rule = classify(131050)
    assert (rule.name, rule.disposition, rule.contact_cooldown_seconds) == ("user_stopped_marketing", OPTED_OUT, None)


@pytest.mark.parametrize("code", [201, 250, 299])
def test_graph_permission_range(code: int) -> None:
    assert classify(code).name == "api_permission"


def test_rules_are_frozen() -> None:
    with pytest.raises(AttributeError):
        ERROR_RULES[130429].retry_after_seconds = 0  # type: ignore[misc]


def test_disposition_values_are_strings() -> None:
    assert {str(item) for item in Disposition} == {"retryable", "permanent", "opted_out", "pause_account"}


# ---------------------------------------------------------------------------------------
# Fallbacks on the HTTP status
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "http_status", "name", "disposition"),
    [
        (None, 429, "http_429", RETRYABLE),
        (None, 500, "http_5xx", RETRYABLE),
        (None, 502, "http_5xx", RETRYABLE),
        (None, 503, "http_5xx", RETRYABLE),
        (None, 599, "http_5xx", RETRYABLE),
        (None, 401, "http_401", PAUSE_ACCOUNT),
        (None, 400, "unknown_error", PERMANENT),
        (None, 403, "unknown_error", PERMANENT),
        (None, 404, "unknown_error", PERMANENT),
        (999999, 429, "http_429", RETRYABLE),
        (999999, 503, "http_5xx", RETRYABLE),
        (999999, 401, "http_401", PAUSE_ACCOUNT),
        (999999, 400, "unknown_error", PERMANENT),
        (999999, None, "unknown_error", PERMANENT),
        (None, None, "transport", RETRYABLE),
    ],
)
def test_http_fallbacks(code: int | None, http_status: int | None, name: str, disposition: Disposition) -> None:
    rule = classify(code, http_status)
    assert (rule.name, rule.disposition, rule.code) == (name, disposition, None)


def test_a_known_code_wins_over_the_http_status() -> None:
    assert classify(131047, 500).name == "re_engagement_required"
    assert classify(130429, 400).name == "rate_limit_hit"
    assert classify(190, 400).disposition is PAUSE_ACCOUNT


# ---------------------------------------------------------------------------------------
# error_from_response
# ---------------------------------------------------------------------------------------

# Example error response of Meta's error-codes page
# https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
GRAPH_RATE_LIMIT_BODY = {
    "error": {
        "message": "(#130429) Rate limit hit",
        "type": "OAuthException",
        "code": 130429,
        "error_data": {
            "messaging_product": "whatsapp",
            "details": "Cloud API message throughput has been reached.",
        },
        "error_subcode": 2494055,
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
    }
}


@pytest.mark.parametrize(
    "body",
    [json.dumps(GRAPH_RATE_LIMIT_BODY).encode(), json.dumps(GRAPH_RATE_LIMIT_BODY), GRAPH_RATE_LIMIT_BODY],
    ids=["bytes", "str", "dict"],
)
def test_real_graph_error_body(body: object) -> None:
    error = error_from_response(400, body)  # type: ignore[arg-type]
    assert isinstance(error, WhatsAppApiError)
    assert error.code == 130429
    assert error.http_status == 400
    assert error.title == "(#130429) Rate limit hit"
    assert error.details == "Cloud API message throughput has been reached."
    assert error.fbtrace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert error.error_type == "OAuthException"
    assert error.rule is ERROR_RULES[130429]
    assert error.is_retryable and error.disposition is RETRYABLE
    assert "130429" in str(error) and "Az8or2yhqkZfEZ-_4Qn_Bam" in str(error)


def test_graph_error_with_a_permanent_code() -> None:
    body = {
        "error": {
            "message": "(#131047) Re-engagement message",
            "type": "OAuthException",
            "code": 131047,
            "error_data": {"messaging_product": "whatsapp",
                           "details": "Message failed to send because more than 24 hours have passed since the "
                                      "customer last replied to this number."},
            "fbtrace_id": "AbCdEf",
        }
    }
    error = error_from_response(400, body)
    assert error.rule.name == "re_engagement_required" and not error.is_retryable


HTML_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
</body>
</html>
"""


def test_html_502_body() -> None:
    error = error_from_response(502, HTML_502)
    assert error.code is None
    assert error.http_status == 502
    assert error.rule.name == "http_5xx" and error.is_retryable
    assert error.title == "HTTP 502"
    assert error.details == "502 Bad Gateway 502 Bad Gateway"
    assert error.fbtrace_id is None


@pytest.mark.parametrize(
    ("http_status", "body", "name"),
    [
        (503, b"", "http_5xx"),
        (503, None, "http_5xx"),
        (429, "Too Many Requests", "http_429"),
        (401, b'{"error": "invalid token"}', "http_401"),
        (400, b"[1, 2, 3]", "unknown_error"),
        (400, b"\xff\xfe not utf-8", "unknown_error"),
        (500, b'{"error": {"message": "An unknown error occurred", "code": "not a number"}}', "http_5xx"),
    ],
)
def test_odd_bodies_fall_back_on_the_http_status(http_status: int, body: object, name: str) -> None:
    error = error_from_response(http_status, body)  # type: ignore[arg-type]
    assert error.code is None
    assert error.rule.name == name


def test_numeric_string_code_is_read() -> None:
    error = error_from_response(400, {"error": {"message": "x", "code": "131050"}})
    assert error.code == 131050 and error.disposition is OPTED_OUT


def test_error_data_as_plain_string() -> None:
    error = error_from_response(400, {"error": {"message": "x", "code": 100, "error_data": "bad param"}})
    assert error.details == "bad param" and error.rule.name == "invalid_parameter"


def test_unexpected_success_body_is_not_retried() -> None:
    error = WhatsAppApiError.unexpected("media upload response carries no id")
    assert error.disposition is PERMANENT and not error.is_retryable
    assert error.details == "media upload response carries no id"


def test_transport_error_is_always_retryable() -> None:
    error = WhatsAppTransportError("ConnectTimeout calling the Cloud API")
    assert error.is_retryable
    assert error.rule.name == "transport" and error.rule is classify(None, None)


def test_exception_tree() -> None:
    for cls in (
        SignatureMissingError,
        SignatureInvalidError,
        WhatsAppPayloadError,
        WhatsAppApiError,
        WhatsAppTransportError,
    ):
        assert issubclass(cls, WhatsAppError)
    assert issubclass(WhatsAppError, Exception)


# --- which failures leave a send in doubt (docs/adr/0003-exactly-once-sending.md) ---------

@pytest.mark.parametrize(
    ("status", "body", "in_doubt"),
    [
        (502, b"<html>Bad Gateway</html>", True),  # an edge answered; Graph may have the message
        (504, b"", True),
        (500, b'{"error": {"code": 131000, "message": "Something went wrong"}}', False),  # Graph said no
        (503, b'{"error": {"code": 2, "message": "Service temporarily unavailable"}}', False),
        (429, b"", False),
        (400, b'{"error": {"code": 131026, "message": "Message undeliverable"}}', False),
    ],
)
def test_a_bare_5xx_is_in_doubt_and_a_graph_error_is_not(status, body, in_doubt):
    assert error_from_response(status, body).in_doubt is in_doubt


def test_transport_errors_are_in_doubt_unless_the_connection_never_opened():
    import asyncio
    import socket

    from integrations.whatsapp.sender import AsyncSender

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    listener = socket.socket()  # accepts the connection, never answers
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    silent_port = listener.getsockname()[1]

    async def attempt(port: int) -> WhatsAppTransportError:
        async with AsyncSender(access_token="t", phone_number_id="1", base_url=f"http://127.0.0.1:{port}",
                               timeout_seconds=0.5, connect_timeout_seconds=0.5) as sender:
            with pytest.raises(WhatsAppTransportError) as caught:
                await sender.send(b"{}")
            return caught.value

    try:
        assert asyncio.run(attempt(closed_port)).in_doubt is False
        assert asyncio.run(attempt(silent_port)).in_doubt is True
    finally:
        listener.close()
