"""Opt-out/opt-in words, and the Redis rate limits of public endpoints."""

from __future__ import annotations

import time

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


def test_13_5_shop_limit_counts_only_admitted_requests(client):
    """520 opt-ins from one address: the address is refused after 5, and the shop's hourly limit
    (500) counts only those 5, so the next visitor is still served."""
    from sqlalchemy import func, select

    from connector.extensions import db
    from connector.models import Message
    from tests.factories import make_shop

    shop = make_shop()
    consent_text = "Yes, send me offers on WhatsApp."

    def ask(phone: str, ip: str):
        return client.post("/storefront/api/opt-in", json={"shop_key": shop.shop_key, "phone": phone,
                                                            "consent_text": consent_text},
                           environ_base={"REMOTE_ADDR": ip})

    answers = [ask(f"+4915112{i:06d}", "198.51.100.7").status_code for i in range(520)]
    assert answers == [202] * 5 + [429] * 515
    other = ask("+4915198765432", "203.0.113.50")
    assert other.status_code == 202, other.get_json()
    assert db.session.scalar(select(func.count()).select_from(Message)) == 6


def test_13_5_pooled_limit_counts_only_what_the_client_limits_admit(ctx):
    from connector.extensions import get_redis

    redis = get_redis()
    per_ip, per_phone, pool = Limit("ip", 2, 60), Limit("phone", 100, 60), Limit("pool", 3, 60, pooled=True)
    now = 2_000_000.0

    def attempt(ip: str, phone: str):
        return hit(redis, [(per_ip, ip), (per_phone, phone), (pool, "shop-1")], now=now)

    # one address: 2 admitted, then refused by its own limit however often it tries
    assert [attempt("198.51.100.1", f"+49151{i}").allowed for i in range(50)] == [True] * 2 + [False] * 48
    assert attempt("198.51.100.1", "+49151x").limit == per_ip
    # the pool holds 3: one more visitor is admitted, the next refused by the pool itself
    assert attempt("198.51.100.2", "+49152").allowed
    refused = attempt("198.51.100.3", "+49153")
    assert (refused.allowed, refused.limit) == (False, pool) and 0 < refused.retry_after <= 60
    # a pool refusal is not counted either, and the pool's own window ends on time
    assert [k for k in redis.keys("connector:rate:pool:*")] and int(redis.get(next(iter(
        redis.keys("connector:rate:pool:*"))))) == 3
    assert hit(redis, [(per_ip, "198.51.100.4"), (pool, "shop-1")], now=now + 60).allowed


def test_a_window_boundary_does_not_double_the_allowance(ctx):
    """Straddling a window boundary does not reset a client's count (the sliding estimate)."""
    from connector.extensions import get_redis
    from connector.ratelimit import Limit, hit

    per_ip = Limit("boundary_ip", 5, 600)
    boundary = (int(time.time()) // 600 + 1) * 600
    before = [hit(get_redis(), [(per_ip, "198.51.100.1")], now=boundary - 0.5).allowed for _ in range(5)]
    after = [hit(get_redis(), [(per_ip, "198.51.100.1")], now=boundary + 0.5).allowed for _ in range(2)]
    assert before == [True] * 5 and after == [False, False]
    # once the previous window has slid out, the client is admitted again
    assert hit(get_redis(), [(per_ip, "198.51.100.1")], now=boundary + 600 * 0.75).allowed  # 2 + 0.25 × 5 + 1 ≤ 5
