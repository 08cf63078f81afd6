"""Opt-out/opt-in words, and the Redis rate limits of public endpoints."""

from __future__ import annotations

import pytest

from connector.messaging.keywords import OPT_IN, OPT_OUT, intent_of
from connector.ratelimit import Limit, hit


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop! ", "STOPP", "Arrêt", "ARRET", "arrête", "BAJA", "Parar",
                                  "ANNULLA", "Uitschrijven", "abmelden.", "Stop promotions", "unsubscribe"])
def test_opt_out_words(text):
    assert intent_of(text) == OPT_OUT


@pytest.mark.parametrize("text", ["START", "start", "Start.", "Unstop", "Reanudar", "aanmelden"])
def test_opt_in_words(text):
    assert intent_of(text) == OPT_IN


@pytest.mark.parametrize("text", [None, "", "stop sending me the wrong size", "Where is my order?", "stops",
                                  "yes", "x" * 200, "nonstop"])
def test_everything_else_is_a_conversation(text):
    assert intent_of(text) is None


def test_rate_limit_refuses_beyond_the_count_and_names_the_wait(ctx):
    from connector.extensions import get_redis

    redis = get_redis()
    per_phone = Limit("phone", 2, 3600)
    per_ip = Limit("ip", 5, 60)
    now = 1_000_000.0
    decisions = [hit(redis, [(per_ip, "203.0.113.9"), (per_phone, "+4915112345678")], now=now) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[2].limit == per_phone and 0 < decisions[2].retry_after <= 3600
    # another phone from the same address: allowed until the address's own limit
    others = [hit(redis, [(per_ip, "203.0.113.9"), (per_phone, f"+49151000000{i}")], now=now) for i in range(3)]
    assert [d.allowed for d in others] == [True, True, False]  # 6th request from the IP
    assert others[2].limit == per_ip
    # the next window starts afresh
    assert hit(redis, [(per_ip, "203.0.113.9")], now=now + 60).allowed
    # no phone number or address in Redis keys
    assert not any(b"4915112345678" in key or b"203.0.113.9" in key for key in redis.keys("connector:rate:*"))
