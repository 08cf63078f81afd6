"""The send governor, gate by gate and in order (pure: no database, no Redis).

Gates: consent → 24-hour window → quiet hours (recipient's zone) → frequency cap → tier →
pair rate. Each test states the verdict (action, reason, until) it expects.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connector.messaging.governor import (
    DEFER,
    SEND,
    SUPPRESS,
    Candidate,
    Governor,
    Policy,
    PolicyError,
    quiet_end_after,
)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")

#: 2024-06-12 13:00 UTC: 15:00 in Berlin, 09:00 in New York, 22:00 in Tokyo
NOON = datetime(2024, 6, 12, 13, 0, tzinfo=UTC)


def candidate(**overrides) -> Candidate:
    """A marketing template to a consenting contact in Berlin, outside any service window."""
    values = dict(
        message_id=1, contact_id=1, purpose="marketing", kind="template", time_zone="Europe/Berlin",
        marketing_consent="granted", transactional_consent="granted", marketing_paused_until=None,
        last_inbound_at=None,
    )
    values.update(overrides)
    return Candidate(**values)


def policy(settings: dict | None = None, *, shop_time_zone: str = "UTC", messaging_limit: int | None = None) -> Policy:
    return Policy.from_settings(settings, shop_time_zone=shop_time_zone, messaging_limit=messaging_limit)


def governor(settings: dict | None = None, **kwargs) -> Governor:
    return Governor(policy(settings, **kwargs))


NO_QUIET = {"quiet_hours": {"enabled": False}}


# -- Policy.from_settings --------------------------------------------------------------------


def test_default_policy_is_quiet_21_to_8_for_marketing_two_per_day_six_seconds_apart():
    p = policy()
    assert (p.quiet_start, p.quiet_end) == (time(21, 0), time(8, 0))
    assert p.quiet_purposes == frozenset({"marketing"})
    assert p.frequency_caps == {"marketing": (2, timedelta(hours=24))}
    assert p.pair_interval == timedelta(seconds=6)
    assert p.messaging_limit is None


def test_quiet_hours_disabled_leaves_no_quiet_window():
    p = policy(NO_QUIET)
    assert p.quiet_start is None and p.quiet_end is None


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"quiet_hours": {"start": "25:99", "end": "08:00"}}, "quiet_hours.start"),
        ({"quiet_hours": {"start": "21:00", "end": "8"}}, "quiet_hours.end"),
        ({"quiet_hours": {"start": "21:00", "end": "eight"}}, "quiet_hours.end"),
        ({"frequency_caps": {"marketing": {"max_messages": 2}}}, "frequency_caps.marketing"),
        ({"frequency_caps": {"marketing": {"per_hours": 24}}}, "frequency_caps.marketing"),
        ({"frequency_caps": {"marketing": {"max_messages": "two", "per_hours": 24}}}, "frequency_caps.marketing"),
        ({"frequency_caps": {"weekly": {"max_messages": 1, "per_hours": 24}}}, "frequency_caps.weekly"),
    ],
)
def test_bad_settings_raise_policy_error_naming_the_setting(settings, named):
    with pytest.raises(PolicyError) as raised:
        policy(settings)
    assert named in str(raised.value)


def test_bad_clock_error_shows_the_value_given():
    with pytest.raises(PolicyError, match="25:99"):
        policy({"quiet_hours": {"start": "25:99", "end": "08:00"}})


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_unknown_shop_time_zone_raises_policy_error(zone):
    with pytest.raises(PolicyError, match="unknown time zone"):
        policy(shop_time_zone=zone)


def test_bad_pair_interval_raises_policy_error_naming_it():
    with pytest.raises(PolicyError, match="pair_interval_seconds"):
        policy({"pair_interval_seconds": "abc"})


def test_partial_quiet_hours_setting_keeps_default_purposes():
    g = governor({"quiet_hours": {"start": "22:00", "end": "07:00"}})
    late = datetime(2024, 6, 12, 21, 0, tzinfo=UTC)  # 23:00 in Berlin
    verdict = g.judge(candidate(), late)
    assert (verdict.action, verdict.reason) == (DEFER, "quiet_hours")


# -- gate 1: consent ---------------------------------------------------------------------------


def test_14_15_marketing_to_a_pending_opt_in_waits_for_the_answer():
    verdict = governor(NO_QUIET).judge(candidate(marketing_consent="pending"), NOON)
    assert (verdict.action, verdict.reason) == (DEFER, "awaiting_consent")
    assert verdict.until == NOON + timedelta(minutes=30)


@pytest.mark.parametrize("state", ["none", "revoked"])
def test_marketing_without_consent_is_suppressed(state):
    verdict = governor(NO_QUIET).judge(candidate(marketing_consent=state), NOON)
    assert verdict.action == SUPPRESS
    assert verdict.reason == "no_marketing_consent"
    assert verdict.until is None


@pytest.mark.parametrize("state", ["none", "pending", "revoked"])
def test_transactional_without_transactional_consent_is_suppressed(state):
    c = candidate(purpose="transactional", transactional_consent=state, marketing_consent="granted")
    verdict = governor(NO_QUIET).judge(c, NOON)
    assert (verdict.action, verdict.reason) == (SUPPRESS, "no_transactional_consent")


def test_transactional_needs_no_marketing_consent():
    c = candidate(purpose="transactional", marketing_consent="none")
    assert governor(NO_QUIET).judge(c, NOON).action == SEND


def test_marketing_paused_until_future_defers_until_then():
    paused = NOON + timedelta(hours=5, minutes=7)
    verdict = governor(NO_QUIET).judge(candidate(marketing_paused_until=paused), NOON)
    assert (verdict.action, verdict.reason, verdict.until) == (DEFER, "per_user_marketing_limit", paused)


def test_marketing_pause_in_the_past_no_longer_holds():
    verdict = governor(NO_QUIET).judge(candidate(marketing_paused_until=NOON - timedelta(seconds=1)), NOON)
    assert verdict.action == SEND


def test_marketing_pause_does_not_hold_transactional():
    c = candidate(purpose="transactional", marketing_paused_until=NOON + timedelta(days=1))
    assert governor(NO_QUIET).judge(c, NOON).action == SEND


def test_service_reply_outside_window_is_suppressed_inside_is_sent():
    g = governor(NO_QUIET)
    outside = g.judge(candidate(purpose="service", kind="text"), NOON)
    assert (outside.action, outside.reason) == (SUPPRESS, "outside_service_window")
    inside = g.judge(candidate(purpose="service", kind="text", last_inbound_at=NOON - timedelta(hours=1)), NOON)
    assert inside.action == SEND and inside.counts_toward_tier is False


# -- gate 2: the 24-hour window ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["text", "document"])
def test_free_form_outside_the_window_is_suppressed(kind):
    c = candidate(purpose="transactional", kind=kind, last_inbound_at=NOON - timedelta(hours=24))
    verdict = governor(NO_QUIET).judge(c, NOON)
    assert (verdict.action, verdict.reason, verdict.until) == (SUPPRESS, "outside_service_window", None)


def test_free_form_never_messaged_contact_is_suppressed():
    verdict = governor(NO_QUIET).judge(candidate(purpose="transactional", kind="text"), NOON)
    assert (verdict.action, verdict.reason) == (SUPPRESS, "outside_service_window")


@pytest.mark.parametrize("kind", ["text", "document"])
def test_free_form_inside_the_window_is_sent_and_does_not_count_toward_tier(kind):
    c = candidate(purpose="transactional", kind=kind, last_inbound_at=NOON - timedelta(hours=23, minutes=59))
    verdict = governor(NO_QUIET, messaging_limit=10).judge(c, NOON)
    assert verdict.action == SEND
    assert verdict.counts_toward_tier is False


def test_template_outside_the_window_is_sent_and_counts_toward_tier():
    verdict = governor(NO_QUIET, messaging_limit=10).judge(candidate(purpose="transactional"), NOON)
    assert verdict.action == SEND
    assert verdict.counts_toward_tier is True


def test_template_inside_the_window_does_not_count_toward_tier():
    c = candidate(last_inbound_at=NOON - timedelta(minutes=5))
    verdict = governor(NO_QUIET, messaging_limit=10).judge(c, NOON)
    assert verdict.action == SEND and verdict.counts_toward_tier is False


# -- gate 3: quiet hours, in the recipient's zone ---------------------------------------------


def test_same_instant_different_zones_different_verdicts():
    g = governor()
    new_york = g.judge(candidate(time_zone="America/New_York"), NOON)  # 09:00 local
    tokyo = g.judge(candidate(contact_id=2, time_zone="Asia/Tokyo"), NOON)  # 22:00 local
    assert new_york.action == SEND
    assert (tokyo.action, tokyo.reason) == (DEFER, "quiet_hours")
    # 08:00 next morning in Tokyo (UTC+9) is 23:00 UTC today
    assert tokyo.until == datetime(2024, 6, 12, 23, 0, tzinfo=UTC)
    assert tokyo.until.utcoffset() == timedelta(0)
    assert tokyo.until.astimezone(TOKYO).replace(tzinfo=None) == datetime(2024, 6, 13, 8, 0)


def test_new_york_night_is_quiet_while_tokyo_day_is_not():
    at = datetime(2024, 6, 12, 3, 0, tzinfo=UTC)  # 23:00 in New York, 12:00 in Tokyo
    g = governor()
    new_york = g.judge(candidate(time_zone="America/New_York"), at)
    tokyo = g.judge(candidate(contact_id=2, time_zone="Asia/Tokyo"), at)
    assert tokyo.action == SEND
    assert (new_york.action, new_york.reason) == (DEFER, "quiet_hours")
    # 08:00 EDT (UTC-4) on the 12th
    assert new_york.until == datetime(2024, 6, 12, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        # 23:30 Berlin (CEST) on the 12th → 08:00 on the 13th = 06:00 UTC: across midnight
        (datetime(2024, 6, 12, 21, 30, tzinfo=UTC), datetime(2024, 6, 13, 6, 0, tzinfo=UTC)),
        # 02:00 Berlin on the 13th → 08:00 the same day
        (datetime(2024, 6, 13, 0, 0, tzinfo=UTC), datetime(2024, 6, 13, 6, 0, tzinfo=UTC)),
        # exactly 21:00 local is quiet
        (datetime(2024, 6, 12, 19, 0, tzinfo=UTC), datetime(2024, 6, 13, 6, 0, tzinfo=UTC)),
        # a minute before 08:00 local
        (datetime(2024, 6, 13, 5, 59, tzinfo=UTC), datetime(2024, 6, 13, 6, 0, tzinfo=UTC)),
        # spring forward: 22:00 CET (UTC+1) on 30 March → 08:00 CEST (UTC+2) on 31 March = 06:00 UTC
        (datetime(2024, 3, 30, 21, 0, tzinfo=UTC), datetime(2024, 3, 31, 6, 0, tzinfo=UTC)),
        # spring forward, in the small hours of the change day: 01:30 CET → 08:00 CEST
        (datetime(2024, 3, 31, 0, 30, tzinfo=UTC), datetime(2024, 3, 31, 6, 0, tzinfo=UTC)),
        # fall back: 22:00 CEST (UTC+2) on 26 October → 08:00 CET (UTC+1) on 27 October = 07:00 UTC
        (datetime(2024, 10, 26, 20, 0, tzinfo=UTC), datetime(2024, 10, 27, 7, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_defer_until_eight_local_converted_to_utc(now, until):
    verdict = governor().judge(candidate(time_zone="Europe/Berlin"), now)
    assert (verdict.action, verdict.reason) == (DEFER, "quiet_hours")
    assert verdict.until == until
    assert verdict.until.utcoffset() == timedelta(0)
    assert verdict.until.astimezone(BERLIN).time() == time(8, 0)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2024, 6, 13, 6, 0, tzinfo=UTC),  # 08:00 Berlin: quiet hours have ended
        datetime(2024, 6, 12, 18, 59, tzinfo=UTC),  # 20:59 Berlin
        datetime(2024, 3, 31, 6, 0, tzinfo=UTC),  # 08:00 CEST on the change day
    ],
)
def test_outside_quiet_hours_marketing_is_sent(now):
    assert governor().judge(candidate(time_zone="Europe/Berlin"), now).action == SEND


def test_recipient_without_time_zone_falls_back_to_shop_zone():
    c = candidate(time_zone=None)
    tokyo_shop = governor(shop_time_zone="Asia/Tokyo").judge(c, NOON)  # 22:00 in Tokyo
    utc_shop = governor(shop_time_zone="UTC").judge(c, NOON)  # 13:00 UTC
    assert (tokyo_shop.action, tokyo_shop.reason) == (DEFER, "quiet_hours")
    assert tokyo_shop.until == datetime(2024, 6, 12, 23, 0, tzinfo=UTC)
    assert utc_shop.action == SEND


def test_recipient_with_unknown_time_zone_falls_back_to_shop_zone():
    verdict = governor(shop_time_zone="Asia/Tokyo").judge(candidate(time_zone="Mars/Olympus_Mons"), NOON)
    assert (verdict.action, verdict.reason) == (DEFER, "quiet_hours")
    assert verdict.until == datetime(2024, 6, 12, 23, 0, tzinfo=UTC)


def test_quiet_hours_do_not_apply_to_transactional_by_default():
    c = candidate(purpose="transactional", time_zone="Asia/Tokyo")
    assert governor().judge(c, NOON).action == SEND


def test_quiet_hours_apply_to_transactional_when_configured():
    settings = {"quiet_hours": {"start": "21:00", "end": "08:00", "purposes": ["marketing", "transactional"]}}
    verdict = governor(settings).judge(candidate(purpose="transactional", time_zone="Asia/Tokyo"), NOON)
    assert (verdict.action, verdict.reason) == (DEFER, "quiet_hours")


def test_quiet_hours_do_not_apply_inside_an_open_service_window():
    c = candidate(time_zone="Asia/Tokyo", last_inbound_at=NOON - timedelta(minutes=10))
    verdict = governor().judge(c, NOON)
    assert verdict.action == SEND and verdict.counts_toward_tier is False


def test_quiet_hours_apply_once_the_service_window_has_closed():
    c = candidate(time_zone="Asia/Tokyo", last_inbound_at=NOON - timedelta(hours=24))
    assert governor().judge(c, NOON).reason == "quiet_hours"


def test_custom_daytime_quiet_hours():
    settings = {"quiet_hours": {"start": "12:00", "end": "14:00", "purposes": ["marketing"]}}
    verdict = governor(settings).judge(candidate(time_zone="UTC"), NOON)  # 13:00 UTC
    assert (verdict.action, verdict.until) == (DEFER, datetime(2024, 6, 12, 14, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        ((20, 59), None),
        ((21, 0), datetime(2024, 6, 13, 8, 0)),
        ((23, 59), datetime(2024, 6, 13, 8, 0)),
        ((0, 0), datetime(2024, 6, 12, 8, 0)),
        ((7, 59), datetime(2024, 6, 12, 8, 0)),
        ((8, 0), None),
        ((12, 0), None),
    ],
)
def test_quiet_end_after_spanning_midnight(clock, expected):
    local = datetime(2024, 6, 12, *clock, tzinfo=BERLIN)
    end = quiet_end_after(local, time(21, 0), time(8, 0))
    if expected is None:
        assert end is None
    else:
        assert end.replace(tzinfo=None) == expected
        assert end.tzinfo is BERLIN


def test_quiet_end_after_same_day_window_and_empty_window():
    local = datetime(2024, 6, 12, 13, 0, tzinfo=NEW_YORK)
    assert quiet_end_after(local, time(12, 0), time(14, 0)) == datetime(2024, 6, 12, 14, 0, tzinfo=NEW_YORK)
    assert quiet_end_after(local, time(14, 0), time(16, 0)) is None
    assert quiet_end_after(local, time(13, 0), time(13, 0)) is None  # start == end: no quiet hours


# -- gate 4: frequency cap ---------------------------------------------------------------------


def test_frequency_cap_two_per_day_defers_third_until_first_plus_24h():
    g = governor(NO_QUIET)
    first, second = NOON, NOON + timedelta(hours=1)
    for at in (first, second):
        c = candidate()
        verdict = g.judge(c, at)
        assert verdict.action == SEND
        g.record_send(c, at, verdict.counts_toward_tier)

    third = g.judge(candidate(message_id=3), NOON + timedelta(hours=2))
    assert (third.action, third.reason, third.until) == (DEFER, "frequency_cap", first + timedelta(hours=24))
    # a second before that it still waits; at that moment it passes
    assert (g.judge(candidate(message_id=3), first + timedelta(hours=24) - timedelta(seconds=1)).reason
            == "frequency_cap")
    assert g.judge(candidate(message_id=3), first + timedelta(hours=24)).action == SEND


def test_frequency_cap_is_per_contact_and_per_purpose():
    g = governor(NO_QUIET)
    for minutes in (0, 1):
        g.record_send(candidate(), NOON + timedelta(minutes=minutes), True)
    later = NOON + timedelta(minutes=5)
    assert g.judge(candidate(), later).reason == "frequency_cap"
    assert g.judge(candidate(contact_id=2), later).action == SEND  # another contact
    assert g.judge(candidate(purpose="transactional"), later).action == SEND  # no transactional cap by default


def test_custom_frequency_cap():
    g = governor({**NO_QUIET, "frequency_caps": {"transactional": {"max_messages": 1, "per_hours": 1}}})
    g.record_send(candidate(purpose="transactional"), NOON, True)
    verdict = g.judge(candidate(purpose="transactional"), NOON + timedelta(minutes=10))
    assert (verdict.action, verdict.reason, verdict.until) == (DEFER, "frequency_cap", NOON + timedelta(hours=1))


def test_frequency_cap_uses_sends_loaded_from_the_database():
    g = governor(NO_QUIET)
    g.recent_sends[1] = {"marketing": deque([NOON - timedelta(hours=30), NOON - timedelta(hours=3),
                                             NOON - timedelta(hours=2)])}
    verdict = g.judge(candidate(), NOON)
    # the send 30 h ago has left the window; of the two left, the older one frees the slot
    assert verdict.until == NOON - timedelta(hours=3) + timedelta(hours=24)


# -- gate 5: tier (unique business-initiated recipients per rolling 24 h) ----------------------


def _send(g: Governor, c: Candidate, at: datetime):
    verdict = g.judge(c, at)
    assert verdict.action == SEND, verdict
    g.record_send(c, at, verdict.counts_toward_tier)
    return verdict


def test_tier_limit_defers_new_recipient_until_oldest_first_send_plus_24h():
    g = governor(NO_QUIET, messaging_limit=3)
    starts = [NOON + timedelta(minutes=m) for m in (0, 1, 2)]
    for contact_id, at in zip((1, 2, 3), starts, strict=True):
        assert _send(g, candidate(contact_id=contact_id, purpose="transactional"), at).counts_toward_tier

    at = NOON + timedelta(minutes=3)
    fourth = g.judge(candidate(contact_id=4, purpose="transactional"), at)
    assert (fourth.action, fourth.reason, fourth.until) == (DEFER, "messaging_limit", starts[0] + timedelta(hours=24))

    # an existing recipient still passes (a second message to them adds no new recipient)
    assert g.judge(candidate(contact_id=2, purpose="transactional"), at).action == SEND

    # once the oldest recipient's 24 h have passed, there is room again
    assert g.judge(candidate(contact_id=4, purpose="transactional"), starts[0] + timedelta(hours=24)).action == SEND


def test_recipients_inside_their_service_window_do_not_count_toward_tier():
    g = governor(NO_QUIET, messaging_limit=3)
    in_window = candidate(contact_id=10, purpose="transactional", kind="text",
                          last_inbound_at=NOON - timedelta(hours=1))
    assert _send(g, in_window, NOON).counts_toward_tier is False
    assert 10 not in g.tier_recipients

    for contact_id in (1, 2, 3):
        _send(g, candidate(contact_id=contact_id, purpose="transactional"), NOON + timedelta(minutes=contact_id))
    assert (g.judge(candidate(contact_id=4, purpose="transactional"), NOON + timedelta(minutes=5)).reason
            == "messaging_limit")

    # with the tier full, a recipient inside their window still gets a reply
    other = candidate(contact_id=11, purpose="service", kind="text", last_inbound_at=NOON)
    assert g.judge(other, NOON + timedelta(minutes=5)).action == SEND


def test_tier_counts_recipients_loaded_from_the_database():
    g = Governor(policy(NO_QUIET, messaging_limit=2),
                 tier_recipients={7: NOON - timedelta(hours=23), 8: NOON - timedelta(hours=25)})
    # 8 is older than 24 h and leaves the tier: one place is free
    assert g.judge(candidate(contact_id=1, purpose="transactional"), NOON).action == SEND
    g.record_send(candidate(contact_id=1, purpose="transactional"), NOON, True)
    verdict = g.judge(candidate(contact_id=2, purpose="transactional"), NOON + timedelta(seconds=1))
    assert (verdict.reason, verdict.until) == ("messaging_limit", NOON + timedelta(hours=1))


def test_no_messaging_limit_means_no_tier_gate():
    g = governor(NO_QUIET, messaging_limit=None)
    for contact_id in range(1, 50):
        _send(g, candidate(contact_id=contact_id, purpose="transactional"), NOON)


def test_tier_recipient_re_sent_after_24h_counts_from_the_new_send():
    g = governor(NO_QUIET, messaging_limit=1)
    _send(g, candidate(contact_id=1, purpose="transactional"), NOON)
    again = NOON + timedelta(hours=25)
    _send(g, candidate(contact_id=1, purpose="transactional"), again)  # contact 1 is the one recipient of this 24 h
    verdict = g.judge(candidate(contact_id=2, purpose="transactional"), again + timedelta(seconds=10))
    assert (verdict.action, verdict.reason) == (DEFER, "messaging_limit")
    assert verdict.until == again + timedelta(hours=24)


# -- gate 7: pair rate -------------------------------------------------------------------------


def test_pair_rate_defers_second_message_within_six_seconds():
    g = governor(NO_QUIET)
    c = candidate(purpose="transactional")
    _send(g, c, NOON)
    verdict = g.judge(candidate(message_id=2, purpose="transactional"), NOON + timedelta(seconds=2.5))
    assert (verdict.action, verdict.reason, verdict.until) == (DEFER, "pair_rate", NOON + timedelta(seconds=6))
    assert g.judge(candidate(message_id=2, purpose="transactional"), NOON + timedelta(seconds=6)).action == SEND
    # another recipient is not held back
    assert g.judge(candidate(contact_id=2, purpose="transactional"), NOON + timedelta(seconds=1)).action == SEND


def test_pair_rate_counts_sends_of_any_purpose():
    g = governor(NO_QUIET)
    _send(g, candidate(purpose="marketing"), NOON)
    verdict = g.judge(candidate(purpose="transactional"), NOON + timedelta(seconds=1))
    assert (verdict.reason, verdict.until) == ("pair_rate", NOON + timedelta(seconds=6))


def test_custom_pair_interval():
    g = governor({**NO_QUIET, "pair_interval_seconds": 10})
    _send(g, candidate(purpose="transactional"), NOON)
    assert (g.judge(candidate(purpose="transactional"), NOON + timedelta(seconds=7)).until
            == NOON + timedelta(seconds=10))


def test_record_send_feeds_the_later_gates():
    g = governor(NO_QUIET, messaging_limit=5)
    c = candidate()
    g.record_send(c, NOON, counts_toward_tier=True)
    assert g.last_send[1] == NOON
    assert list(g.recent_sends[1]["marketing"]) == [NOON]
    assert g.tier_recipients == {1: NOON}
    g.record_send(c, NOON + timedelta(minutes=1), counts_toward_tier=True)
    assert g.tier_recipients == {1: NOON}  # the first send stays the tier's anchor
    assert g.last_send[1] == NOON + timedelta(minutes=1)
    g.record_send(candidate(contact_id=2), NOON, counts_toward_tier=False)
    assert 2 not in g.tier_recipients and g.last_send[2] == NOON


# -- the order of the gates --------------------------------------------------------------------


def test_consent_is_checked_before_quiet_hours():
    c = candidate(marketing_consent="none", time_zone="Asia/Tokyo")  # quiet too
    verdict = governor().judge(c, NOON)
    assert (verdict.action, verdict.reason) == (SUPPRESS, "no_marketing_consent")


def test_consent_is_checked_before_the_window():
    c = candidate(purpose="transactional", kind="text", transactional_consent="none")  # outside window too
    assert governor(NO_QUIET).judge(c, NOON).reason == "no_transactional_consent"


def test_marketing_pause_is_checked_before_quiet_hours():
    paused = NOON + timedelta(hours=1)
    verdict = governor().judge(candidate(time_zone="Asia/Tokyo", marketing_paused_until=paused), NOON)
    assert (verdict.reason, verdict.until) == ("per_user_marketing_limit", paused)


def test_window_is_checked_before_quiet_hours():
    settings = {"quiet_hours": {"start": "21:00", "end": "08:00", "purposes": ["marketing", "transactional"]}}
    c = candidate(purpose="transactional", kind="text", time_zone="Asia/Tokyo")
    verdict = governor(settings).judge(c, NOON)
    assert (verdict.action, verdict.reason) == (SUPPRESS, "outside_service_window")


def test_quiet_hours_are_checked_before_the_frequency_cap():
    g = governor()
    tokyo = candidate(time_zone="Asia/Tokyo")
    morning = datetime(2024, 6, 12, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
    _send(g, tokyo, morning)
    _send(g, tokyo, morning + timedelta(minutes=1))
    assert g.judge(tokyo, morning + timedelta(hours=1)).reason == "frequency_cap"
    verdict = g.judge(tokyo, NOON)  # 22:00 in Tokyo: quiet, and capped as well
    assert (verdict.reason, verdict.until) == ("quiet_hours", datetime(2024, 6, 12, 23, 0, tzinfo=UTC))


def test_frequency_cap_is_checked_before_the_tier():
    g = governor(NO_QUIET, messaging_limit=1)
    capped = candidate(contact_id=1)
    g.recent_sends[1] = {"marketing": deque([NOON - timedelta(hours=2), NOON - timedelta(hours=1)])}
    g.tier_recipients[2] = NOON - timedelta(hours=1)  # the tier is full and contact 1 is not in it
    verdict = g.judge(capped, NOON)
    assert verdict.reason == "frequency_cap"
    assert g.judge(replace(capped, contact_id=3), NOON).reason == "messaging_limit"


def test_tier_is_checked_before_pair_rate():
    g = governor(NO_QUIET, messaging_limit=1)
    _send(g, candidate(contact_id=1, purpose="transactional"), NOON)
    # contact 2 was just messaged inside their window (not a tier recipient); now their window has closed
    g.record_send(candidate(contact_id=2), NOON, counts_toward_tier=False)
    verdict = g.judge(candidate(contact_id=2, purpose="transactional"), NOON + timedelta(seconds=1))
    assert verdict.reason == "messaging_limit"


def test_a_message_passing_every_gate_is_sent():
    verdict = governor(messaging_limit=1000).judge(candidate(time_zone="America/New_York"), NOON)
    assert verdict == type(verdict)(SEND, counts_toward_tier=True)
