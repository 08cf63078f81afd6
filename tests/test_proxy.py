"""Issue 13 point 6: behind a proxy, the client address is the client's.

``TRUSTED_PROXY_COUNT`` hops of ``X-Forwarded-For`` are believed (werkzeug's ProxyFix), and no
more: what a client writes into the header itself, left of what the trusted proxy appended,
changes nothing. The opt-in limits and the consent evidence use that address. The
back-in-stock form checks its limits before it writes a contact.
"""

from __future__ import annotations

import hashlib
import runpy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.extensions import db
from connector.models import ConsentEvent, Contact, Message
from tests.factories import make_shop

ROUTER = "10.20.30.40"  # the address every request arrives from behind a Heroku-style router
CONSENT_TEXT = "Yes, send me offers on WhatsApp."


@pytest.fixture(scope="module")
def proxied_app(app, app_env):
    """The app as configured behind one trusted proxy (same database and Redis as ``app``)."""
    from connector.app import create_app

    return create_app({**app_env, "TRUSTED_PROXY_COUNT": "1"})


@pytest.fixture
def proxied(ctx, proxied_app):
    return proxied_app.test_client()


def _opt_in(client, shop, phone: str, forwarded_for: str | None, remote: str = ROUTER):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/storefront/api/opt-in", json={"shop_key": shop.shop_key, "phone": phone,
                                                        "consent_text": CONSENT_TEXT},
                       headers=headers, environ_base={"REMOTE_ADDR": remote})


def test_13_6_visitors_behind_one_router_each_have_their_own_limit_and_evidence(proxied):
    shop = make_shop()
    first = [_opt_in(proxied, shop, f"+4915111{i:06d}", "198.51.100.1").status_code for i in range(5)]
    second = [_opt_in(proxied, shop, f"+4915122{i:06d}", "198.51.100.2").status_code for i in range(5)]
    assert first + second == [202] * 10  # not 5 for the whole shop
    assert _opt_in(proxied, shop, "+4915133000000", "198.51.100.1").status_code == 429  # the first visitor's 6th
    # the consent evidence records the client, not the router
    hashes = {event.evidence["ip_hash"] for event in db.session.scalars(select(ConsentEvent))}
    assert hashes == {hashlib.sha256(ip.encode()).hexdigest()[:32] for ip in ("198.51.100.1", "198.51.100.2")}


def test_13_6_a_client_cannot_forge_its_way_past_the_trusted_hop(proxied):
    shop = make_shop()
    # the router appends the address it saw; whatever the client put before it is not believed
    answers = [_opt_in(proxied, shop, f"+4915144{i:06d}", f"203.0.113.{i}, 198.51.100.9").status_code
               for i in range(6)]
    assert answers == [202] * 5 + [429]


def test_13_6_without_trusted_proxies_forwarded_headers_are_ignored(client):
    shop = make_shop()  # the default app: TRUSTED_PROXY_COUNT is 0
    answers = [_opt_in(client, shop, f"+4915155{i:06d}", f"198.51.100.{i}").status_code for i in range(6)]
    assert answers == [202] * 5 + [429]
    hashes = {event.evidence["ip_hash"] for event in db.session.scalars(select(ConsentEvent))}
    assert hashes == {hashlib.sha256(ROUTER.encode()).hexdigest()[:32]}


def test_13_6_back_in_stock_checks_its_limits_before_creating_a_contact(client):
    shop = make_shop()
    for i in range(5):
        answer = client.post("/storefront/api/back-in-stock", json={
            "shop_key": shop.shop_key, "phone": f"+4915166{i:06d}", "variant_id": "111"},
            environ_base={"REMOTE_ADDR": "198.51.100.77"})
        assert answer.status_code == 201
    refused = client.post("/storefront/api/back-in-stock", json={
        "shop_key": shop.shop_key, "phone": "+4915177000000", "variant_id": "111"},
        environ_base={"REMOTE_ADDR": "198.51.100.77"})
    assert refused.status_code == 429
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 5  # none for the refused phone
    assert db.session.scalar(select(func.count()).select_from(Message)) == 5


def test_13_6_trusted_proxy_count_is_validated():
    from connector.config import ConfigError, load_settings

    assert load_settings({}, instance_path="/tmp/connector-h2-proxy").trusted_proxy_count == 0
    assert load_settings({"TRUSTED_PROXY_COUNT": "2"}, instance_path="/tmp/connector-h2-proxy").trusted_proxy_count == 2
    for bad in ("-1", "one", "1.5"):
        with pytest.raises(ConfigError, match="TRUSTED_PROXY_COUNT"):
            load_settings({"TRUSTED_PROXY_COUNT": bad}, instance_path="/tmp/connector-h2-proxy")


@pytest.mark.parametrize(("count", "allowed"), [(None, ""), ("0", ""), ("1", "*")])
def test_13_6_gunicorn_trusts_forwarded_scheme_headers_only_behind_proxies(monkeypatch, count, allowed):
    if count is None:
        monkeypatch.delenv("TRUSTED_PROXY_COUNT", raising=False)
    else:
        monkeypatch.setenv("TRUSTED_PROXY_COUNT", count)
    settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    assert settings["forwarded_allow_ips"] == allowed
