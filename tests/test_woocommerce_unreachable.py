"""Issue 13.10: an unreachable store is a state of the shop, not a failed job every five minutes.

The catch-up of a store that does not answer (no connection, timeout, DNS failure, 5xx, or an
address the SSRF guard refuses) records ``last_error``, since when, and the next try with
back-off up to an hour in ``Shop.sync_state``; the sweep waits for that next try; ``connector
shops list`` shows it; the next success clears it. A bug still fails the job.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from rq.registry import FailedJobRegistry

from connector.extensions import db, get_redis
from connector.jobs.catchup import catch_up_woocommerce_store
from connector.models import Shop
from connector.queues import MAINTENANCE, enqueue, get_queue
from connector.stores import woocommerce_catchup as wc_catchup
from tests.woocommerce_support import app_url, connected_shop, store  # noqa: F401 (fixtures)


@pytest.fixture
def shop(app_url, store):
    return connected_shop(store)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_catch_up(shop_id: int, run_worker) -> None:
    enqueue(catch_up_woocommerce_store, shop_id, queue=MAINTENANCE, timeout=600)
    run_worker()


def failed_jobs() -> int:
    return FailedJobRegistry(queue=get_queue(MAINTENANCE)).count


def state_of(shop_id: int) -> dict:
    db.session.expire_all()
    return dict(db.session.get(Shop, shop_id).sync_state or {})


def moment(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def forget_slots() -> None:
    for key in get_redis().keys("connector:woocommerce:catchup:slot:*"):
        get_redis().delete(key)


def set_state(shop_id: int, **changes) -> None:
    shop = db.session.get(Shop, shop_id)
    shop.sync_state = {**(shop.sync_state or {}), **changes}
    db.session.commit()


def test_13_10_an_unreachable_store_is_a_state_not_a_failed_job(shop, store, run_worker, ctx):
    from connector.cli import cli

    working_url = shop.domain
    shop.domain = f"http://127.0.0.1:{closed_port()}"  # nothing answers there
    db.session.commit()

    started = datetime.now(UTC)
    run_catch_up(shop.id, run_worker)
    assert failed_jobs() == 0
    state = state_of(shop.id)
    assert state["last_error"].startswith("unreachable:")
    since = moment(state["failing_since"])
    assert since >= started - timedelta(seconds=1)
    first_try = moment(state["next_try_at"])
    assert timedelta(seconds=290) <= first_try - since <= timedelta(seconds=310)

    # the sweep honours the next try: not queued again in a new slot before it
    forget_slots()
    assert wc_catchup.schedule_catchups() == 0
    listing = ctx.test_cli_runner().invoke(cli, ["shops", "list"])
    assert "unreachable since" in listing.output and "next try" in listing.output

    # it fails again: the same "since", a longer wait
    run_catch_up(shop.id, run_worker)
    assert failed_jobs() == 0
    state = state_of(shop.id)
    assert moment(state["failing_since"]) == since and state["failure_count"] == 2
    assert moment(state["next_try_at"]) - datetime.now(UTC) > timedelta(seconds=590)

    # many failures later the wait stops growing at an hour
    set_state(shop.id, failure_count=12)
    run_catch_up(shop.id, run_worker)
    wait = moment(state_of(shop.id)["next_try_at"]) - datetime.now(UTC)
    assert timedelta(minutes=59) < wait <= timedelta(minutes=60)

    # the store answers again; once the next try is due the sweep queues it, and success clears it
    shop = db.session.get(Shop, shop.id)
    shop.domain = working_url
    db.session.commit()
    set_state(shop.id, next_try_at=(datetime.now(UTC) - timedelta(seconds=1)).isoformat())
    forget_slots()
    assert wc_catchup.schedule_catchups() == 1
    run_worker()
    state = state_of(shop.id)
    assert failed_jobs() == 0
    assert not state.get("last_error") and "next_try_at" not in state and "failing_since" not in state
    assert state["last_catchup_at"]


def test_13_10_5xx_and_addresses_the_guard_refuses_are_states_too(shop, store, run_worker, monkeypatch):
    from integrations import egress

    real = egress.resolve_host
    monkeypatch.setattr(egress, "resolve_host",
                        lambda host, port: (["10.9.8.7"] if host.rstrip(".") == "intranet.example.com"
                                            else real(host, port)))
    shop.domain = "https://intranet.example.com"
    db.session.commit()
    run_catch_up(shop.id, run_worker)
    assert failed_jobs() == 0
    assert state_of(shop.id)["last_error"].startswith("refused:")

    shop = db.session.get(Shop, shop.id)
    shop.domain = store.base_url
    db.session.commit()
    set_state(shop.id, next_try_at=None)
    monkeypatch.setattr(type(store), "_rest", lambda self, request, route: wc_error(503))
    run_catch_up(shop.id, run_worker)
    assert failed_jobs() == 0
    assert "503" in state_of(shop.id)["last_error"]


def wc_error(status: int):
    from werkzeug.wrappers import Response

    return Response('{"code": "down", "message": "Service Unavailable"}', status=status, mimetype="application/json")


def test_13_10_a_bug_is_still_a_failed_job(shop, store, run_worker, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("a bug in our code")

    monkeypatch.setattr(wc_catchup, "repair_webhooks", broken)
    run_catch_up(shop.id, run_worker)
    assert failed_jobs() == 1
    assert "next_try_at" not in state_of(shop.id)
