"""The send governor: every outbound message passes the same gates in the same order.

1. consent for its purpose (marketing vs transactional; service replies need an open window). A
   transactional template Meta has re-categorised as MARKETING (``template_category_update``)
   is judged as marketing from then on: a contact without marketing consent gets nothing
   (``recategorised_marketing``)
2. the 24-hour customer-service window: free-form text/documents only inside it
3. quiet hours in the *recipient's* time zone
4. per-contact frequency cap
5. tier: unique business-initiated recipients per rolling 24 h
6. throughput per phone number (``pacing.Pacer``, applied by the dispatcher at send time)
7. pair rate: one message per recipient every ~6 s

Before the gates, the dispatcher cancels sequence steps that became moot while they waited
(``connector.messaging.sequences``: reason ``superseded``); the governor never sees them.

A gate that says "not now" defers the message to the moment it would pass, with the reason;
a gate that says "never" suppresses it with the reason. Nothing is dropped silently.

The governor is pure: the dispatcher loads what it needs for a batch in a few queries
(contacts, recent sends, the tier's recipients) and the governor decides in memory.
Meta's rules: https://developers.facebook.com/documentation/business-messaging/whatsapp/messaging-limits
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector import shop_settings
from connector.models.contacts import CONSENT_GRANTED, CONSENT_PENDING
from connector.models.messages import MessageKind, Purpose

SERVICE_WINDOW = timedelta(hours=24)
TIER_WINDOW = timedelta(hours=24)
#: a marketing message to a contact whose double opt-in is unanswered waits with this reason,
#: looked at again this often (a YES releases it at once)
AWAITING_CONSENT = "awaiting_consent"
AWAITING_CONSENT_RECHECK = timedelta(minutes=30)
#: Meta's template category that needs marketing consent, whatever the automation meant
MARKETING_CATEGORY = "MARKETING"
RECATEGORISED_MARKETING = "recategorised_marketing"

#: the defaults are the settings schema's (``governor.*`` in connector/shop_settings.py)
DEFAULT_POLICY_SETTINGS = shop_settings.defaults()["governor"]


class PolicyError(ValueError):
    """A shop setting the governor cannot use; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str  # "send" | "defer" | "suppress"
    reason: str | None = None
    until: datetime | None = None
    counts_toward_tier: bool = False


SEND = "send"
DEFER = "defer"
SUPPRESS = "suppress"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A claimed message with what the gates need to know about its recipient."""

    message_id: int
    contact_id: int
    purpose: str
    kind: str
    time_zone: str | None
    marketing_consent: str
    transactional_consent: str
    marketing_paused_until: datetime | None
    last_inbound_at: datetime | None
    #: the template's category as last recorded from Meta (MARKETING, UTILITY, ...); None if unknown
    template_category: str | None = None

    @property
    def recategorised(self) -> bool:
        """A transactional message whose template Meta bills (and judges) as marketing."""
        return (self.purpose == Purpose.TRANSACTIONAL and self.kind == MessageKind.TEMPLATE
                and (self.template_category or "").upper() == MARKETING_CATEGORY)

    @property
    def effective_purpose(self) -> str:
        """The purpose every gate judges: marketing for a re-categorised template."""
        return Purpose.MARKETING if self.recategorised else self.purpose


@dataclass(frozen=True, slots=True)
class Policy:
    shop_time_zone: str
    quiet_start: time | None
    quiet_end: time | None
    quiet_purposes: frozenset[str]
    #: purpose -> (max messages, window)
    frequency_caps: dict[str, tuple[int, timedelta]]
    messaging_limit: int | None
    pair_interval: timedelta

    @classmethod
    def from_settings(cls, settings: dict | None, *, shop_time_zone: str, messaging_limit: int | None) -> "Policy":
        merged = _merge(DEFAULT_POLICY_SETTINGS, settings or {})
        quiet = merged.get("quiet_hours") or {}
        quiet_start = quiet_end = None
        if quiet.get("enabled", True) and quiet.get("start") and quiet.get("end"):
            quiet_start = _clock(quiet["start"], "quiet_hours.start")
            quiet_end = _clock(quiet["end"], "quiet_hours.end")
        caps: dict[str, tuple[int, timedelta]] = {}
        for purpose, cap in (merged.get("frequency_caps") or {}).items():
            if cap is None:  # no cap for this purpose
                continue
            try:
                caps[Purpose(purpose)] = (int(cap["max_messages"]), timedelta(hours=float(cap["per_hours"])))
            except (KeyError, ValueError, TypeError):
                raise PolicyError(f"frequency_caps.{purpose} needs max_messages and per_hours") from None
        _zone(shop_time_zone)  # fail early on a bad shop zone
        return cls(
            shop_time_zone=shop_time_zone,
            quiet_start=quiet_start,
            quiet_end=quiet_end,
            quiet_purposes=frozenset(quiet.get("purposes") or ()),
            frequency_caps=caps,
            messaging_limit=messaging_limit,
            pair_interval=timedelta(
                seconds=_seconds(merged.get("pair_interval_seconds", 6.0), "pair_interval_seconds")),
        )


@dataclass
class Governor:
    """Decides, message by message, and remembers what it let through in this run."""

    policy: Policy
    #: contact id -> times of recent sends per purpose (from the database, then this run)
    recent_sends: dict[int, dict[str, deque[datetime]]] = field(default_factory=dict)
    #: contact id -> first business-initiated send in the last 24 h (the tier's recipients)
    tier_recipients: dict[int, datetime] = field(default_factory=dict)
    #: contact id -> last send of any purpose (pair rate)
    last_send: dict[int, datetime] = field(default_factory=dict)
    #: after a pass found the tier full: (recipients then, when the earliest of them leaves)
    _tier_checked: tuple[int, datetime] | None = field(default=None, repr=False)

    def judge(self, candidate: Candidate, now: datetime) -> Verdict:
        window_open = candidate.last_inbound_at is not None and now - candidate.last_inbound_at < SERVICE_WINDOW
        for gate in (self._consent, self._window, self._quiet_hours, self._frequency_cap):
            verdict = gate(candidate, now, window_open)
            if verdict is not None:
                return verdict
        counts = not window_open
        verdict = self._tier(candidate, now, counts) or self._pair_rate(candidate, now)
        return verdict or Verdict(SEND, counts_toward_tier=counts)

    def record_send(self, candidate: Candidate, now: datetime, counts_toward_tier: bool) -> None:
        """Remember a message handed to the sender, so later gates in this run see it."""
        self.recent_sends.setdefault(candidate.contact_id, {}).setdefault(
            candidate.effective_purpose, deque()).append(now)
        self.last_send[candidate.contact_id] = now
        if counts_toward_tier:
            first = self.tier_recipients.get(candidate.contact_id)
            if first is None or first <= now - TIER_WINDOW:
                # a recipient counts from their first send within the rolling 24 h, not before
                self.tier_recipients[candidate.contact_id] = now

    def recheck_consent(self, candidate: Candidate, now: datetime) -> Verdict | None:
        """Only the consent gate, for a row already judged whose contact's consent changed
        while it waited for its turn in the batch (a STOP mid-batch). None = still fine."""
        window_open = candidate.last_inbound_at is not None and now - candidate.last_inbound_at < SERVICE_WINDOW
        verdict = self._consent(candidate, now, window_open)
        return verdict if verdict is not None and verdict.action == SUPPRESS else None

    # -- the gates, in order ---------------------------------------------------------------

    def _consent(self, c: Candidate, now: datetime, window_open: bool) -> Verdict | None:
        if c.effective_purpose == Purpose.MARKETING:
            if c.marketing_consent == CONSENT_PENDING:
                # the double opt-in question is out: wait for the answer (a YES releases the row at
                # once, optin.py); a NO or the question's expiry suppresses it at the next look
                return Verdict(DEFER, AWAITING_CONSENT, now + AWAITING_CONSENT_RECHECK)
            if c.marketing_consent != CONSENT_GRANTED:
                return Verdict(SUPPRESS, RECATEGORISED_MARKETING if c.recategorised else "no_marketing_consent")
            if c.marketing_paused_until and c.marketing_paused_until > now:
                # Meta's per-user marketing limit (131049): try again when it has passed
                return Verdict(DEFER, "per_user_marketing_limit", c.marketing_paused_until)
        elif c.purpose == Purpose.TRANSACTIONAL:
            if c.transactional_consent != CONSENT_GRANTED:
                return Verdict(SUPPRESS, "no_transactional_consent")
        elif c.purpose == Purpose.CONFIRMATION:
            # asked for by the shopper a moment ago; pointless (and unwanted) once answered or expired
            if c.marketing_consent != CONSENT_PENDING:
                return Verdict(SUPPRESS, "no_pending_opt_in")
        elif not window_open:  # a service reply is only ever an answer to the shopper
            return Verdict(SUPPRESS, "outside_service_window")
        return None

    def _window(self, c: Candidate, now: datetime, window_open: bool) -> Verdict | None:
        if c.kind != MessageKind.TEMPLATE and not window_open:
            # free-form outside the window fails with 131047; only templates may open a conversation
            return Verdict(SUPPRESS, "outside_service_window")
        return None

    def _quiet_hours(self, c: Candidate, now: datetime, window_open: bool) -> Verdict | None:
        p = self.policy
        if p.quiet_start is None or c.effective_purpose not in p.quiet_purposes or window_open:
            return None
        assert p.quiet_end is not None  # from_settings sets both ends or neither
        zone = _zone(c.time_zone or p.shop_time_zone, fallback=p.shop_time_zone)
        local = now.astimezone(zone)
        end = quiet_end_after(local, p.quiet_start, p.quiet_end)
        return Verdict(DEFER, "quiet_hours", end.astimezone(now.tzinfo)) if end else None

    def _frequency_cap(self, c: Candidate, now: datetime, window_open: bool) -> Verdict | None:
        cap = self.policy.frequency_caps.get(c.effective_purpose)
        if cap is None:
            return None
        limit, span = cap
        sends = self.recent_sends.get(c.contact_id, {}).get(c.effective_purpose)
        if not sends:
            return None
        while sends and sends[0] <= now - span:
            sends.popleft()
        if len(sends) < limit:
            return None
        return Verdict(DEFER, "frequency_cap", sends[-limit] + span)

    def _tier(self, c: Candidate, now: datetime, counts: bool) -> Verdict | None:
        limit = self.policy.messaging_limit
        if not counts or limit is None:
            return None
        recipients = self.tier_recipients
        if c.contact_id in recipients or len(recipients) < limit:
            return None  # (a recipient whose first send left the window is re-anchored by record_send)
        # the tier looks full: drop who left the window, then ask again. One pass over the
        # recipients, then none until the earliest of them leaves (a campaign defers thousands
        # of messages against a full tier in one run: a pass for each would be quadratic)
        if self._tier_checked is None or self._tier_checked[0] != len(recipients) or now >= self._tier_checked[1]:
            cutoff = now - TIER_WINDOW
            for contact in [contact for contact, first in recipients.items() if first <= cutoff]:
                del recipients[contact]
            if len(recipients) < limit:
                self._tier_checked = None
                return None
            self._tier_checked = (len(recipients), min(recipients.values()) + TIER_WINDOW)
        return Verdict(DEFER, "messaging_limit", self._tier_checked[1])

    def _pair_rate(self, c: Candidate, now: datetime) -> Verdict | None:
        last = self.last_send.get(c.contact_id)
        if last is not None and now - last < self.policy.pair_interval:
            return Verdict(DEFER, "pair_rate", last + self.policy.pair_interval)
        return None


def quiet_end_after(local: datetime, start: time, end: time) -> datetime | None:
    """If ``local`` falls in quiet hours [start, end) (which may span midnight), when they end."""
    clock = local.timetz().replace(tzinfo=None)
    if start == end:
        return None
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    naive = datetime.combine(end_day, end)
    return naive.replace(tzinfo=local.tzinfo)


def _merge(defaults: dict, given: dict) -> dict:
    """Shop settings over the defaults, one level into nested sections (quiet_hours, caps)."""
    merged = dict(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            merged[key] = {**defaults[key], **value}
        else:
            merged[key] = value
    return merged


def _seconds(value: object, name: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PolicyError(f"{name} must be a number of seconds, not {value!r}") from None
    if not seconds >= 0:  # also refuses nan
        raise PolicyError(f"{name} must not be negative")
    return seconds


def _clock(value: str, name: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise PolicyError(f"{name} must be HH:MM, not {value!r}") from None


def _zone(name: str, fallback: str | None = None) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if fallback and fallback != name:
            return _zone(fallback)
        raise PolicyError(f"unknown time zone {name!r}") from None
