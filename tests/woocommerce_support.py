"""Shared pieces of the WooCommerce wiring tests: the fake store, a connected shop, an
event recorder plugged into ``EVENT_HANDLERS``, and "nothing happened" probes."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.events import (
    CheckoutUpdated,
    FulfillmentUpdated,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    StockChanged,
)
from connector.extensions import db, get_redis
from connector.models import Shop, WebhookReceipt, utcnow
from connector.queues import QUEUE_NAMES, get_queue
from connector.stores import woocommerce as wc_store
from connector.stores import woocommerce_catchup as wc_catchup
from tests.fakes.woocommerce import FakeWooCommerce

FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "woocommerce"
STORE_EVENT_TYPES = (OrderPlaced, OrderPaid, OrderCancelled, FulfillmentUpdated, StockChanged, CheckoutUpdated)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def app_url(ctx, monkeypatch) -> str:
    """APP_URL pointed at the app's real HTTP server, so the fake store can reach it."""
    base = ctx.config["TEST_BASE_URL"]
    monkeypatch.setitem(ctx.config, "CONNECTOR", dataclasses.replace(ctx.config["CONNECTOR"], app_url=base))
    return base


@pytest.fixture
def store():
    with FakeWooCommerce() as fake:
        yield fake


class Recorder:
    """Records every store event the pipeline applies, by type."""

    def __init__(self) -> None:
        self.events: dict[type, list] = defaultdict(list)

    def __call__(self, shop_id: int, event: object) -> None:
        self.events[type(event)].append((shop_id, event))

    def of(self, event_type: type) -> list:
        return [event for _, event in self.events[event_type]]

    def count(self) -> int:
        return sum(len(items) for items in self.events.values())


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    from connector.routing import EVENT_HANDLERS

    record = Recorder()
    for event_type in STORE_EVENT_TYPES:
        monkeypatch.setitem(EVENT_HANDLERS, event_type, (record,))
    return record


def connected_shop(store: FakeWooCommerce, *, catch_up: bool = True, domain: str | None = None) -> Shop:
    """A shop connected to the fake store (keys the store issued, our secret, cursors at
    now), with its webhooks made by the real set-up path when ``catch_up``."""
    key, secret = store.issue_keys()
    shop = Shop(platform="woocommerce", domain=domain or store.base_url, settings={}, time_zone="UTC", locale="en",
                country="DE")
    shop.credentials = {"consumer_key": key, "consumer_secret": secret, "webhook_secret": wc_store.new_webhook_secret()}
    start = wc_catchup.catchup.Cursor.start(utcnow().replace(microsecond=0)).to_json()
    shop.sync_state = {"cursors": {"orders": dict(start), "products": dict(start)}}
    db.session.add(shop)
    db.session.commit()
    if catch_up:
        assert wc_catchup.catch_up(shop.id)["outcome"] == "done"
        assert {hook["topic"] for hook in store.webhooks() if hook["status"] == "active"} == {
            "order.created", "order.updated", "product.updated"}
    return shop


def hook_for(store: FakeWooCommerce, topic: str) -> dict:
    return next(hook for hook in store.webhooks() if hook["topic"] == topic)


def fresh_order(store: FakeWooCommerce, name: str = "order.updated__processing", **fields) -> dict:
    """A fixture order stored in the fake with fresh dates (so catch-up lists it)."""
    order = copy.deepcopy(fixture(name))
    for date in ("date_created", "date_created_gmt", "date_modified", "date_modified_gmt"):
        order.pop(date, None)
    order.pop("id", None)
    order.update(fields)
    return store.add_order(order)


def receipts() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WebhookReceipt))


def queued_jobs() -> int:
    return sum(get_queue(name).count for name in QUEUE_NAMES)


def pending_connections() -> list:
    return get_redis().keys("connector:woocommerce:pending:*")
