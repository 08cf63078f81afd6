"""Building blocks of the sandbox Cloud API: Graph errors, limiters, faults, payload checks and builders.

Kept apart from :mod:`integrations.whatsapp.sandbox` so the server module stays about
HTTP and webhooks. Nothing here locks, sleeps or does I/O: the server calls these under
its own lock and decides every request at arrival, the way Meta does.
"""

from __future__ import annotations

import base64
import bisect
import collections
import itertools
import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from integrations.whatsapp.consts import STATUS_FAILED, STATUS_SENT

# Titles and default ``details`` of the codes the sandbox produces or is asked to inject.
# Titles follow Meta's error-codes page as mirrored by pywa's errors.py
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes,
# david-lev/pywa pywa/errors.py). Meta advises keying on ``code`` and ``details``, never titles.
ERRORS: dict[int, tuple[str, str]] = {
    1: ("API Unknown", "Invalid request or possible server error."),
    2: ("API Service", "Temporary due to downtime or due to being overloaded."),
    100: ("Invalid parameter", "The request included one or more unsupported or misspelled parameters."),
    190: ("Access token has expired", "Invalid OAuth access token - Cannot parse access token"),
    130429: ("Rate limit hit", "Message failed to send because there were too many messages sent from this "
             "phone number in a short period of time"),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
    131008: ("Required parameter is missing", "You must provide a value for the required parameter."),
    131009: ("Parameter value is not valid", "The parameter you passed is invalid."),
    131016: ("Service unavailable", "A service is temporarily unavailable."),
    131026: ("Message undeliverable", "Unable to deliver message."),
    131042: ("Business eligibility payment issue", "Message failed to send because there were one or more "
             "errors related to your payment method."),
    131047: ("Re-engagement message", "Message failed to send because more than 24 hours have passed since "
             "the customer last replied to this number."),
    131048: ("Spam rate limit hit", "Message failed to send because there are restrictions on how many "
             "messages can be sent from this phone number."),
    131049: ("This message was not delivered to maintain healthy ecosystem engagement.",
             "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."),
    131050: ("Unable to deliver the message. This recipient has chosen to stop receiving marketing messages "
             "on WhatsApp from your business.", "User has stopped marketing messages from the business."),
    131056: ("(Business Account, Consumer Account) pair rate limit hit", "Message failed to send because "
             "there were too many messages sent from this phone number to the same phone number in a short "
             "period of time."),
    131057: ("Account in maintenance mode", "Business Account is in maintenance mode."),
    132000: ("Number of parameters does not match the expected number of params",
             "The number of variable parameter values did not match the template."),
    132001: ("Template name does not exist in the translation",
             "The template does not exist in the specified language or has not been approved."),
    132015: ("Template is Paused", "Template is paused due to low quality."),
    132016: ("Template is Disabled", "Template has been paused too many times and is now disabled."),
}

# HTTP status Meta answers with, per code. Graph answers OAuthException errors with 400, and
# Meta's error-codes table lists "400 Bad Request" for the throttling codes 130429 and 131056
# (mirrored verbatim e.g. at https://heltar.com/blogs/resolving-whatsapp-business-api-error-code-
# 130429-throughput-reached-cm3knupgu0011vnqrmrppg6uc), "500 Internal Server Error" for 131000
# (https://help.gohighlevel.com/support/solutions/articles/155000007939), "503" for 2/131016,
# "401 Unauthorized" for 190. 429 is reserved for the ``http`` fault, which simulates an edge
# throttle in front of Graph. Clients must key on ``error.code``, not on the HTTP status.
HTTP_STATUS: dict[int, int] = {190: 401, 131000: 500, 1: 400, 2: 503, 131016: 503}

MESSAGE_TYPES = frozenset({"text", "template", "document", "image", "interactive", "reaction"})
# Component types of a template *send* (footer text is fixed at template creation).
TEMPLATE_COMPONENTS = frozenset({"header", "body", "button", "carousel", "limited_time_offer"})
BUTTON_SUB_TYPES = frozenset({"quick_reply", "url", "copy_code", "flow", "catalog", "mpm",
                              "voice_call", "order_details"})
MEDIA_PARAMS = frozenset({"image", "document", "video"})
PARAM_TYPES = MEDIA_PARAMS | {"text", "currency", "date_time", "location", "payload", "coupon_code",
                              "action", "product", "limited_time_offer", "order_status"}
TEXT_BODY_MAX = 4096  # https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#text-object
CALLBACK_DATA_MAX = 512  # biz_opaque_callback_data limit, same reference page


class GraphError(Exception):
    """A Graph API error answer: ``code``, optional ``details`` and the HTTP status to use."""

    def __init__(self, code: int, details: str | None = None, http_status: int | None = None,
                 message: str | None = None, *, subcode: int | None = None, user_title: str | None = None,
                 user_message: str | None = None) -> None:
        super().__init__(code, details)
        self.subcode, self.user_title, self.user_message = subcode, user_title, user_message
        title, default_details = ERRORS.get(code, ("Unknown error", "Unknown error."))
        self.code = code
        self.details = details or default_details
        self.message = message or f"(#{code}) {title}"
        self.http_status = http_status or HTTP_STATUS.get(code, 400)

    def body(self) -> dict[str, Any]:
        """The Graph error envelope, fbtrace_id fresh each time as Meta's is."""
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException", "code": self.code,
                                 "error_data": {"messaging_product": "whatsapp", "details": self.details},
                                 "fbtrace_id": secrets.token_urlsafe(16)[:22]}
        if self.subcode is not None:  # Graph's business-management errors carry a subcode and user texts
            error.update(error_subcode=self.subcode, is_transient=False)
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_message:
            error["error_user_msg"] = self.user_message
        return {"error": error}

    def status_error(self) -> dict[str, Any]:
        """The same error as an item of ``statuses[].errors`` in a failed status webhook."""
        title = ERRORS.get(self.code, ("Unknown error", ""))[0]
        return {"code": self.code, "title": title, "message": title,
                "error_data": {"details": self.details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}


class ThroughputLimiter:
    """At most N accepted messages per phone number in any sliding one-second window.

    Meta: 80 msg/s by default, up to 1,000 after the automatic upgrade; beyond it 130429
    (https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput).
    One deque of acceptance times per number; each time is appended and popped once, so
    checks are O(1) amortised.
    """

    def __init__(self, default_per_second: int) -> None:
        self.default = default_per_second
        self.overrides: dict[str, int] = {}
        self._windows: dict[str, collections.deque[float]] = {}

    def allows(self, phone_number_id: str, now: float) -> bool:
        """True when one more message may be accepted at ``now`` (monotonic seconds of its arrival).

        Counted: accepted messages that arrived within one second before ``now`` or after it
        (one that arrived later may have been decided first)."""
        window = self._windows.get(phone_number_id)
        if window is None:
            return self.overrides.get(phone_number_id, self.default) > 0
        edge = now - 1.0
        while window and window[0] <= edge:
            window.popleft()
        return len(window) < self.overrides.get(phone_number_id, self.default)

    def record(self, phone_number_id: str, now: float) -> None:
        """Count one accepted message."""
        window = self._windows.get(phone_number_id)
        if window is None:
            window = self._windows[phone_number_id] = collections.deque()
        if window and now < window[-1]:
            # stamped at arrival, decided after the body was read: a request can overtake
            # another, so keep the window ordered by arrival
            bisect.insort(window, now)
        else:
            window.append(now)

    def reset(self) -> None:
        """Forget the windows (per-number overrides are configuration and stay)."""
        self._windows.clear()


class PairLimiter:
    """Token bucket per (business number, consumer): burst ``capacity``, one token per ``interval`` s.

    Meta allows about one message every 6 s to the same user with bursts of up to 45, then
    answers 131056 until the borrowed time is repaid
    (https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput).
    """

    def __init__(self, capacity: int, interval: float) -> None:
        self.capacity = capacity
        self.interval = interval
        self._buckets: dict[tuple[str, str], list[float]] = {}  # key -> [tokens, last refill]

    def take(self, phone_number_id: str, wa_id: str, now: float) -> bool:
        """Take a token if one is there; False means 131056."""
        key = (phone_number_id, wa_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            if self.capacity < 1:
                return False
            self._buckets[key] = [self.capacity - 1.0, now]
            return True
        tokens = min(float(self.capacity), bucket[0] + (now - bucket[1]) / self.interval)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True
        bucket[0] = tokens
        return False

    def reset(self) -> None:
        """Refill every bucket."""
        self._buckets.clear()


@dataclass
class Fault:
    """One queued fault; ``count`` is how many more requests it will hit."""

    kind: str  # "error" | "http" | "status_failure" | "lost_reply"
    count: int = 1
    code: int = 0
    status: int = 0
    to: str | None = None  # wa_id form (no "+"); None matches every recipient
    http_status: int | None = None
    details: str | None = None

    def matches(self, wa_id: str) -> bool:
        """Whether this fault applies to a send to ``wa_id``."""
        return self.to is None or self.to == wa_id


def parse_fault(spec: dict[str, Any]) -> Fault | float:
    """Turn a fault request into a :class:`Fault`, or the new latency in seconds for ``latency``.

    Raises ValueError on an unknown kind or a bad field.
    """
    kind = spec.get("kind")
    count = int(spec.get("count", 1))
    if count < 1:
        raise ValueError("count must be >= 1")
    to = spec.get("to")
    to = str(to).lstrip("+") if to else None
    if kind == "latency":
        ms = float(spec["ms"])
        if ms < 0:
            raise ValueError("ms must be >= 0")
        return ms / 1000.0
    if kind == "error":
        return Fault("error", count, code=int(spec["code"]), to=to, details=spec.get("details"),
                     http_status=int(spec["http_status"]) if spec.get("http_status") else None)
    if kind == "http":
        status = int(spec["status"])
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx")
        return Fault("http", count, status=status)
    if kind == "lost_reply":
        # the message is accepted (and its status webhooks follow) but the answer is lost:
        # the client sees a bare 5xx, as when a proxy times out after Graph took the request
        status = int(spec.get("status", 504))
        if not 500 <= status <= 599:
            raise ValueError("status must be a 5xx")
        return Fault("lost_reply", count, status=status, to=to)
    if kind == "status_failure":
        return Fault("status_failure", count, code=int(spec.get("code", 131000)), to=to,
                     details=spec.get("details"))
    raise ValueError(f"unknown fault kind {kind!r}; expected error, http, lost_reply, status_failure or latency")


def take_fault(faults: list[Fault], kind: str, wa_id: str | None = None) -> Fault | None:
    """Apply the oldest matching fault of ``kind``: decrement it, drop it at zero, return it."""
    for i, fault in enumerate(faults):
        if fault.kind == kind and (wa_id is None or fault.matches(wa_id)):
            fault.count -= 1
            if fault.count <= 0:
                del faults[i]
            return fault
    return None


def _media_ref(obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        raise GraphError(131008, f"Parameter {where} is required.")
    if not obj.get("link") and not obj.get("id"):
        raise GraphError(131008, f"{where} requires either 'link' or 'id'.")
    link = obj.get("link")
    if link and not (isinstance(link, str) and link.startswith(("http://", "https://"))):
        raise GraphError(131009, f"{where}['link'] must be an http(s) URL.")


def _check_template(template: Any) -> None:
    if not isinstance(template, dict) or not template.get("name"):
        raise GraphError(131008, "Parameter template['name'] is required.")
    language = template.get("language")
    if not isinstance(language, dict) or not language.get("code"):
        raise GraphError(131008, "Parameter template['language']['code'] is required.")
    components = template.get("components")
    if components is None:
        return
    if not isinstance(components, list):
        raise GraphError(131009, "template['components'] must be a list.")
    for i, comp in enumerate(components):
        where = f"template['components'][{i}]"
        if not isinstance(comp, dict) or comp.get("type") not in TEMPLATE_COMPONENTS:
            raise GraphError(131009, f"{where}['type'] must be one of {sorted(TEMPLATE_COMPONENTS)}.")
        if comp["type"] == "button":
            if comp.get("sub_type") not in BUTTON_SUB_TYPES:
                raise GraphError(131009, f"{where}['sub_type'] must be one of {sorted(BUTTON_SUB_TYPES)}.")
            if comp.get("index") is None:
                raise GraphError(131008, f"Parameter {where}['index'] is required.")
        params = comp.get("parameters", [])
        if not isinstance(params, list):
            raise GraphError(131009, f"{where}['parameters'] must be a list.")
        for j, param in enumerate(params):
            pwhere = f"{where}['parameters'][{j}]"
            ptype = param.get("type") if isinstance(param, dict) else None
            if ptype not in PARAM_TYPES:
                raise GraphError(131009, f"{pwhere}['type'] is not a valid parameter type.")
            if ptype in MEDIA_PARAMS:
                _media_ref(param.get(ptype), f"{pwhere}['{ptype}']")
            elif ptype == "text" and not isinstance(param.get("text"), str):
                raise GraphError(131008, f"Parameter {pwhere}['text'] is required.")


def validate_send(body: Any) -> tuple[str, str]:
    """Check a ``/messages`` body the way Graph does; return ``(to, type)`` or raise GraphError.

    Top-level shape errors answer 100 (Invalid parameter), a missing field of the message
    object 131008, a present but wrong value 131009 (codes as in pywa's errors.py).
    """
    if not isinstance(body, dict):
        raise GraphError(100, "The request body must be a JSON object.")
    if body.get("messaging_product") != "whatsapp":
        raise GraphError(100, "The parameter messaging_product is required and must be 'whatsapp'.")
    to = body.get("to")
    if not isinstance(to, str) or not to.strip():
        raise GraphError(100, "The parameter to is required.")
    mtype = body.get("type", "text")
    if mtype not in MESSAGE_TYPES:
        raise GraphError(100, f"Param type must be one of {sorted(MESSAGE_TYPES)}.")
    obj = body.get(mtype)
    if mtype == "text":
        text = obj.get("body") if isinstance(obj, dict) else None
        if not isinstance(text, str) or not text:
            raise GraphError(131008, "Parameter text['body'] is required.")
        if len(text) > TEXT_BODY_MAX:
            raise GraphError(131009, f"Param text['body'] must be at most {TEXT_BODY_MAX} characters long.")
    elif mtype == "template":
        _check_template(obj)
    elif mtype in ("document", "image"):
        _media_ref(obj, mtype)
    elif mtype == "interactive":
        if not isinstance(obj, dict) or not obj.get("type") or not isinstance(obj.get("action"), dict):
            raise GraphError(131008, "Parameters interactive['type'] and interactive['action'] are required.")
    elif mtype == "reaction":
        if not isinstance(obj, dict) or not obj.get("message_id") or "emoji" not in obj:
            raise GraphError(131008, "Parameters reaction['message_id'] and reaction['emoji'] are required.")
    callback = body.get("biz_opaque_callback_data")
    if callback is not None and (not isinstance(callback, str) or len(callback) > CALLBACK_DATA_MAX):
        raise GraphError(131009, f"biz_opaque_callback_data must be a string of at most {CALLBACK_DATA_MAX}.")
    return to, mtype


_wamid_seq = itertools.count(1)
_WAMID_PREFIX = os.urandom(5).hex().upper()  # per process, so wamids never repeat across restarts
# Names of transactional templates; any other template is priced as marketing (kept simple).
_UTILITY_HINTS = ("order", "invoice", "receipt", "shipping", "shipment", "delivery", "confirm",
                  "payment", "refund", "tracking")


def new_wamid(wa_id: str) -> str:
    """A process-unique id shaped like Meta's: base64 of a small record holding the recipient."""
    ident = f"{_WAMID_PREFIX}{next(_wamid_seq):X}".encode()
    wa = wa_id.encode()[:200]
    raw = b"\x1c\x18" + bytes([len(wa)]) + wa + b"\x15\x02\x00\x11\x18" + bytes([len(ident)]) + ident + b"\x00"
    return "wamid." + base64.b64encode(raw).decode()


def pricing_category(payload: dict[str, Any]) -> str:
    """``utility`` for free-form sends and transactional-looking templates, else ``marketing``."""
    if payload.get("type") != "template":
        return "utility"
    name = str(payload.get("template", {}).get("name", "")).lower()
    return "utility" if any(hint in name for hint in _UTILITY_HINTS) else "marketing"


def status_item(record: dict[str, Any], status: str, wa_id: str, failure: Fault | None) -> dict[str, Any]:
    """One ``statuses[]`` item of a status webhook for an accepted message record.

    Pricing rides on one of sent/delivered (here: sent), and since v24.0 there is no
    ``conversation`` object outside free entry-point windows
    (https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status).
    """
    item: dict[str, Any] = {"id": record["wamid"], "status": status, "timestamp": str(int(time.time())),
                            "recipient_id": wa_id}
    if record["callback_data"] is not None:
        item["biz_opaque_callback_data"] = record["callback_data"]
    if status == STATUS_SENT:
        known = record.get("category")  # the template's category where the sandbox created it
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular",
                           "category": known.lower() if known else pricing_category(record["payload"])}
    if status == STATUS_FAILED and failure is not None:
        item["errors"] = [GraphError(failure.code, failure.details).status_error()]
    return item


TEMPLATE_CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})


def validate_template(body: Any) -> tuple[str, str]:
    """Check a ``POST /{waba_id}/message_templates`` body as far as Meta would at once.

    https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates
    Returns (name, category).
    """
    if not isinstance(body, dict):
        raise GraphError(100, "The request body must be a JSON object.")
    name, language, category = body.get("name"), body.get("language"), body.get("category")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,512}", name):
        raise GraphError(100, "Invalid parameter: name must be lowercase letters, digits and underscores.")
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?", language):
        raise GraphError(100, "Invalid parameter: language.")
    if category not in TEMPLATE_CATEGORIES:
        raise GraphError(100, "Invalid parameter: category.")
    components = body.get("components")
    if not isinstance(components, list) or not any(isinstance(c, dict) and c.get("type") == "BODY" for c in components):
        raise GraphError(100, "Invalid parameter: components need a BODY.")
    for component in components:
        if component.get("type") == "HEADER" and component.get("format") in ("DOCUMENT", "IMAGE", "VIDEO") \
                and not (component.get("example") or {}).get("header_handle"):
            raise GraphError(100, "Invalid parameter: a media header needs example.header_handle.")
    return name, category
