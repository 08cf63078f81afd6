"""Exceptions of the WhatsApp Cloud API adapter, and what each Cloud API error code means for us.

Exception tree::

    WhatsAppError
    ├── SignatureMissingError      webhook POST without a usable X-Hub-Signature-256
    ├── SignatureInvalidError      signature present but not ours
    ├── WhatsAppPayloadError       body is not a WhatsApp Business Account envelope
    ├── WhatsAppApiError           Graph answered with an error (code, HTTP status, rule)
    └── WhatsAppTransportError     no answer at all: network failure or timeout

Callers decide what to do from ``error.rule.disposition``, never from titles or messages:
Meta asks integrators to key on ``code`` and ``error_data.details`` because titles will
be deprecated.
https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from integrations import base


class Disposition(enum.StrEnum):
    """What a failed send means for the message, the contact and the account."""

    #: temporary: try the same request again after ``retry_after_seconds`` (or a backoff)
    RETRYABLE = "retryable"
    #: this message will never go through as it is; do not retry it
    PERMANENT = "permanent"
    #: the recipient stopped marketing messages from this business; record the opt-out
    OPTED_OUT = "opted_out"
    #: nothing will go through from this account until a human fixes it; stop all sends
    PAUSE_ACCOUNT = "pause_account"


@dataclass(frozen=True)
class ErrorRule:
    """How the connector reacts to one Cloud API error code.

    ``retry_after_seconds`` is the minimum wait before trying again (retryable rules
    only); ``None`` leaves the delay to the caller's backoff. ``contact_cooldown_seconds``
    is how long to keep marketing away from the contact, independently of whether this
    message is retried.
    """

    code: int | None
    name: str
    disposition: Disposition
    retry_after_seconds: float | None = None
    contact_cooldown_seconds: float | None = None
    description: str = ""

    @property
    def is_retryable(self) -> bool:
        """Whether sending the same request again can succeed."""
        return self.disposition is Disposition.RETRYABLE


_RETRY = Disposition.RETRYABLE
_PERMANENT = Disposition.PERMANENT
_OPTED_OUT = Disposition.OPTED_OUT
_PAUSE = Disposition.PAUSE_ACCOUNT

#: One rule per code. Codes and meanings: Meta's error-codes page (link above), the Graph
#: API error handling guide for 1/2/3/4/10/100/190/200-299
#: (https://developers.facebook.com/docs/graph-api/guides/error-handling), and pywa's
#: ``pywa/errors.py`` (david-lev/pywa@0bcf2f192ff3cf8ae24a425d85f4295e3cca7a62).
ERROR_RULES: dict[int, ErrorRule] = {
    # --- temporary: throughput, pair rate, outages -------------------------------
    # 80 msg/s per number by default; Meta says retry later or send slower.
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput
    130429: ErrorRule(130429, "rate_limit_hit", _RETRY, retry_after_seconds=1,
        description="Cloud API message throughput reached."),
    # About one message per 6 s to the same user; Meta suggests a 4^X s backoff.
    131056: ErrorRule(131056, "pair_rate_limit_hit", _RETRY, retry_after_seconds=6,
        description="Too many messages to the same recipient in a short time."),
    # Typically a throughput upgrade, which takes a few minutes.
    131057: ErrorRule(131057, "account_in_maintenance", _RETRY, retry_after_seconds=60,
        description="Business account is in maintenance mode."),
    131000: ErrorRule(131000, "something_went_wrong", _RETRY,
        description="Message failed to send because of an unknown error."),
    131016: ErrorRule(131016, "service_unavailable", _RETRY,
        description="A service is temporarily unavailable."),
    # Graph: "possibly a temporary issue due to downtime"; retry, bounded by the caller.
    1: ErrorRule(1, "api_unknown", _RETRY, description="Invalid request or possible server error."),
    2: ErrorRule(2, "api_service", _RETRY, description="Temporary issue due to downtime or overload."),
    4: ErrorRule(4, "api_too_many_calls", _RETRY, retry_after_seconds=60,
        description="The app reached its API call rate limit."),
    80007: ErrorRule(80007, "waba_rate_limit", _RETRY, retry_after_seconds=60,
        description="The WhatsApp Business Account reached its rate limit."),
    # Spam restrictions on the number: only a long pause can help; alert as well.
    131048: ErrorRule(131048, "spam_rate_limit_hit", _RETRY, retry_after_seconds=3600,
        description="Sending restricted because previous messages were blocked or flagged as spam."),
    # --- the recipient --------------------------------------------------------------
    # Meta: wait at least 24 h before sending this contact marketing again; retrying
    # sooner only produces the same error.
    131049: ErrorRule(131049, "per_user_marketing_limit", _PERMANENT, contact_cooldown_seconds=86400,
        description="Not delivered to maintain healthy ecosystem engagement."),
    131050: ErrorRule(131050, "user_stopped_marketing", _OPTED_OUT,
        description="The recipient stopped marketing messages from this business."),
    131026: ErrorRule(131026, "message_undeliverable", _PERMANENT,
        description="Recipient not on WhatsApp, on an old client, or has not accepted the terms."),
    131047: ErrorRule(131047, "re_engagement_required", _PERMANENT,
        description="More than 24 hours since the recipient last replied; send a template."),
    131021: ErrorRule(131021, "recipient_is_sender", _PERMANENT,
        description="Sender and recipient phone number are the same."),
    131030: ErrorRule(131030, "recipient_not_in_allowed_list", _PERMANENT,
        description="Test number: recipient is not in the allowed list."),
    130472: ErrorRule(130472, "user_in_experiment", _PERMANENT,
        description="Recipient is part of a marketing message experiment."),
    130497: ErrorRule(130497, "country_restricted", _PERMANENT,
        description="The business may not message users in the recipient's country."),
    # --- the request: media, parameters, templates ----------------------------------
    131051: ErrorRule(131051, "unsupported_message_type", _PERMANENT,
        description="Message type is not supported."),
    131052: ErrorRule(131052, "media_download_error", _PERMANENT,
        description="Unable to download the media sent by the user."),
    131053: ErrorRule(131053, "media_upload_error", _PERMANENT,
        description="Unable to upload the media used in the message."),
    131008: ErrorRule(131008, "missing_required_parameter", _PERMANENT,
        description="A required parameter is missing."),
    131009: ErrorRule(131009, "invalid_parameter_value", _PERMANENT,
        description="A parameter value is not valid."),
    100: ErrorRule(100, "invalid_parameter", _PERMANENT,
        description="Unsupported or misspelled parameter."),
    135000: ErrorRule(135000, "generic_user_error", _PERMANENT,
        description="Unknown error with the request parameters."),
    132000: ErrorRule(132000, "template_param_count_mismatch", _PERMANENT,
        description="Parameter count does not match the template."),
    132001: ErrorRule(132001, "template_not_found", _PERMANENT,
        description="Template does not exist in that language or is not approved."),
    132005: ErrorRule(132005, "template_text_too_long", _PERMANENT,
        description="Translated text is too long."),
    132007: ErrorRule(132007, "template_policy_violation", _PERMANENT,
        description="Template content violates a WhatsApp policy."),
    132008: ErrorRule(132008, "template_param_invalid", _PERMANENT,
        description="Template parameter value is not valid."),
    132012: ErrorRule(132012, "template_param_format_mismatch", _PERMANENT,
        description="Template parameter format does not match."),
    # Paused for low quality (or dropped after pacing); sends fail until reinstated.
    132015: ErrorRule(132015, "template_paused", _PERMANENT,
        description="Template is paused because of low quality."),
    132016: ErrorRule(132016, "template_disabled", _PERMANENT,
        description="Template paused too often and permanently disabled."),
    # --- the account: nothing will go through until a human acts ---------------------
    131042: ErrorRule(131042, "business_payment_issue", _PAUSE,
        description="Problem with the business account's payment method."),
    131044: ErrorRule(131044, "business_payment_issue_calling", _PAUSE,
        description="Payment method problem (reported for calling)."),
    131031: ErrorRule(131031, "account_locked", _PAUSE,
        description="Business account restricted, disabled or failed verification."),
    368: ErrorRule(368, "temporarily_blocked", _PAUSE,
        description="Account temporarily blocked for policy violations."),
    131064: ErrorRule(131064, "account_messaging_limit", _PAUSE,
        description="Account reached its messaging limit after template classification violations."),
    190: ErrorRule(190, "access_token_expired", _PAUSE,
        description="The access token has expired; re-authenticate."),
    0: ErrorRule(0, "auth_exception", _PAUSE, description="Unable to authenticate the app user."),
    3: ErrorRule(3, "api_method", _PAUSE, description="Capability or permission issue."),
    10: ErrorRule(10, "permission_denied", _PAUSE, description="Permission not granted or removed."),
    # Graph reserves the whole 200-299 range for this; classify() maps the range here.
    200: ErrorRule(200, "api_permission", _PAUSE,
        description="Permission not granted or removed (codes 200-299)."),
    131005: ErrorRule(131005, "access_denied", _PAUSE,
        description="Permission not granted or removed."),
    131045: ErrorRule(131045, "incorrect_certificate", _PAUSE,
        description="Phone number registration error."),
    133010: ErrorRule(133010, "account_not_registered", _PAUSE,
        description="Business phone number is not registered with the Cloud API."),
}

#: Graph API codes 200-299 all mean "API Permission".
_PERMISSION_CODES = range(200, 300)

# Rules for failures without a known code. Their ``code`` is None: the exception keeps
# whatever code Graph sent.
#: no response at all (connection refused, timeout): the request may never have reached Meta
TRANSPORT_RULE = ErrorRule(None, "transport", _RETRY, description="No response: network failure or timeout.")
#: throttled by the HTTP layer
HTTP_429_RULE = ErrorRule(None, "http_429", _RETRY, description="HTTP 429 with an unknown error code.")
#: server-side failure, including HTML pages from Meta's edge
HTTP_5XX_RULE = ErrorRule(None, "http_5xx", _RETRY, description="HTTP 5xx with an unknown error code.")
#: credentials rejected: retrying with the same token cannot help
HTTP_401_RULE = ErrorRule(None, "http_401", _PAUSE, description="HTTP 401 with an unknown error code.")
#: anything else: assume the request itself is wrong
UNKNOWN_RULE = ErrorRule(None, "unknown_error", _PERMANENT, description="Unknown error code; not retried.")
#: a success status with a body we cannot use: the message may have gone out, so a retry
#: could send it twice
UNEXPECTED_RULE = ErrorRule(
    None, "unexpected_response", _PERMANENT, description="Success status but an unusable response body."
)


def classify(code: int | None, http_status: int | None = None) -> ErrorRule:
    """Return the rule for a Cloud API error code, falling back on the HTTP status.

    A known code always wins over the HTTP status. Without a known code, 429 and 5xx
    are retryable, 401 pauses the account and anything else is permanent.
    ``classify(None, None)`` describes a transport failure (no response at all).
    """
    if code is not None:
        rule = ERROR_RULES.get(code)
        if rule is None and code in _PERMISSION_CODES:
            rule = ERROR_RULES[200]
        if rule is not None:
            return rule
    if code is None and http_status is None:
        return TRANSPORT_RULE
    return _classify_http(http_status)


def _classify_http(http_status: int | None) -> ErrorRule:
    if http_status == 429:
        return HTTP_429_RULE
    if http_status is not None and 500 <= http_status <= 599:
        return HTTP_5XX_RULE
    if http_status == 401:
        return HTTP_401_RULE
    return UNKNOWN_RULE


class WhatsAppError(Exception):
    """Base class of every error raised by the WhatsApp adapter."""


class SignatureMissingError(WhatsAppError, base.SignatureMissingError):
    """The webhook POST has no ``X-Hub-Signature-256`` header of the form ``sha256=<64 hex>``."""


class SignatureInvalidError(WhatsAppError, base.SignatureInvalidError):
    """The webhook signature does not match the body signed with our app secret."""


class WhatsAppPayloadError(WhatsAppError, base.PayloadError):
    """The webhook body is not a ``whatsapp_business_account`` envelope with an ``entry`` list."""


class WhatsAppApiError(WhatsAppError):
    """Graph answered a request with an error; ``rule`` says whether retrying can help."""

    def __init__(
        self,
        *,
        code: int | None,
        http_status: int | None,
        title: str = "",
        details: str = "",
        fbtrace_id: str | None = None,
        error_type: str | None = None,
        rule: ErrorRule | None = None,
        subcode: int | None = None,
        user_message: str = "",
    ) -> None:
        self.code = code
        #: Graph's ``error_subcode``: with code 100 it tells e.g. a duplicate template (2388024)
        self.subcode = subcode
        #: Graph's ``error_user_msg`` (or ``error_user_title``): what Meta tells a person to fix
        self.user_message = user_message
        self.http_status = http_status
        self.title = title
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.error_type = error_type
        self.rule = rule if rule is not None else classify(code, http_status)
        super().__init__(self._summary())

    @property
    def in_doubt(self) -> bool:
        """A 5xx without a Graph error body: an edge in front of Graph answered, not Graph.

        Graph may have accepted the message behind it, so a retry could send it twice. Not so
        for 503: "the server is currently unable to handle the request"
        (https://www.rfc-editor.org/rfc/rfc9110#name-503-service-unavailable), a refusal
        before any work, where 502 and 504 report an upstream that may have done it.
        """
        return (self.code is None and self.http_status is not None and self.http_status >= 500
                and self.http_status != 503)

    @classmethod
    def unexpected(cls, details: str, *, http_status: int | None = None) -> WhatsAppApiError:
        """A response that claims success but cannot be used (no JSON, no message id).

        Not retried: Meta may have accepted the message, and a second send would duplicate it.
        """
        return cls(
            code=None, http_status=http_status, title="unexpected response", details=details, rule=UNEXPECTED_RULE
        )

    @property
    def disposition(self) -> Disposition:
        """Shortcut for ``self.rule.disposition``."""
        return self.rule.disposition

    @property
    def is_retryable(self) -> bool:
        """Whether sending the same request again can succeed."""
        return self.rule.is_retryable

    def _summary(self) -> str:
        parts = [f"code={self.code}", f"http_status={self.http_status}", f"rule={self.rule.name}"]
        if self.title:
            parts.append(f"title={self.title!r}")
        if self.fbtrace_id:
            parts.append(f"fbtrace_id={self.fbtrace_id}")
        return "WhatsApp API error: " + ", ".join(parts)


class WhatsAppTransportError(WhatsAppError):
    """No response from Graph (connection failure, timeout); always retryable.

    ``in_doubt`` is False only when the connection itself failed, so the request never left;
    a timeout or a dropped connection after the request was written may hide an accepted send.
    """

    rule: ErrorRule = TRANSPORT_RULE

    def __init__(self, message: str = "", *, in_doubt: bool = True) -> None:
        super().__init__(message)
        self.in_doubt = in_doubt

    @property
    def is_retryable(self) -> bool:
        """Always ``True``: the request may not even have reached Meta."""
        return True


#: longest piece of a non-JSON body kept on the exception (enough to recognise a proxy page)
_SNIPPET_LENGTH = 200


def error_from_response(http_status: int, body: bytes | str | Mapping[str, Any] | None) -> WhatsAppApiError:
    """Build the exception for a failed Graph response.

    Graph errors look like ``{"error": {"message", "type", "code", "error_data":
    {"details"}, "fbtrace_id"}}``. Anything else (an HTML 502 from a proxy, an empty body)
    still gives an exception, classified from the HTTP status alone.
    """
    document = _as_mapping(body)
    error = document.get("error") if document is not None else None
    if not isinstance(error, Mapping):
        title = f"HTTP {http_status}"
        return WhatsAppApiError(code=None, http_status=http_status, title=title, details=_snippet(body))
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, Mapping) else error_data
    return WhatsAppApiError(
        code=_as_int(error.get("code")),
        http_status=http_status,
        title=_as_text(error.get("message")),
        details=_as_text(details),
        fbtrace_id=_as_text(error.get("fbtrace_id")) or None,
        error_type=_as_text(error.get("type")) or None,
        subcode=_as_int(error.get("error_subcode")),
        user_message=_as_text(error.get("error_user_msg")) or _as_text(error.get("error_user_title")),
    )


def _as_mapping(body: bytes | str | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if isinstance(body, Mapping):
        return body
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body.strip():
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, Mapping) else None


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _snippet(body: bytes | str | Mapping[str, Any] | None) -> str:
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", errors="replace")
    if not isinstance(body, str):
        return ""
    text = re.sub(r"<[^>]+>", " ", body)
    return " ".join(text.split())[:_SNIPPET_LENGTH]
