"""The periodic WooCommerce catch-up: WooCommerce never retries a delivery and disables a
webhook after repeated failures, so a job repairs our webhooks and feeds what changed
while they were down through the same pipeline, without producing anything twice."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.events import FulfillmentUpdated, OrderPaid, OrderPlaced, StockChanged
from connector.extensions import db
from connector.jobs.catchup import catch_up_woocommerce_store
from connector.models import Shop, WebhookReceipt
from connector.queues import MAINTENANCE, enqueue, get_queue
from connector.shops import add_woocommerce
from connector.stores import woocommerce as wc_store
from connector.stores import woocommerce_catchup as wc_catchup
from tests.fakes.woocommerce import MAX_DELIVERY_FAILURES
from tests.woocommerce_support import (  # noqa: F401 (fixtures)
    app_url,
    connected_shop,
    fixture,
    fresh_order,
    hook_for,
    receipts,
    recorder,
    store,
)


@pytest.fixture
def shop(app_url, store, recorder):
    # the recorder stands in for the automations: these tests are about what reaches them
    return connected_shop(store)


def run_catch_up(shop_id: int, run_worker) -> None:
    """Queue one catch-up as the sweep would, and let a real worker run it (and the ingest)."""
    enqueue(catch_up_woocommerce_store, shop_id, queue=MAINTENANCE, timeout=600)
    run_worker()


def all_processed() -> bool:
    db.session.expire_all()
    return all(row.processed_at is not None for row in db.session.query(WebhookReceipt))


def test_disabled_webhook_is_restored_and_missed_orders_arrive_exactly_once(shop, store, recorder, run_worker, drain):
    hook = hook_for(store, "order.updated")
    store.disable_webhook(hook["id"])  # WooCommerce gave up on it
    order = fresh_order(store, status="pending", date_paid=None, date_paid_gmt=None)
    order = store.update_order(order["id"], status="processing", date_paid_gmt=order["date_created_gmt"])
    assert store.deliver("order.updated", order) == []  # nothing is delivered while it is disabled

    run_catch_up(shop.id, run_worker)
    assert drain(all_processed)
    assert hook_for(store, "order.updated")["status"] == "active"
    assert hook_for(store, "order.updated")["id"] == hook["id"]  # reactivated, not duplicated
    assert len([h for h in store.webhooks() if h["topic"] == "order.updated"]) == 1
    paid = recorder.of(OrderPaid)
    assert [event.order.order_id for event in paid] == [str(order["id"])]
    receipt = db.session.query(WebhookReceipt).one()
    assert receipt.dedupe_key == f"{shop.shop_key}:poll:order:{order['id']}:{order['date_modified_gmt']}"
    assert receipt.topic == "order.updated" and receipt.outcome == "processed"
    db.session.refresh(shop)
    assert shop.sync_state["cursors"]["orders"]["modified_at"].startswith(order["date_modified_gmt"])

    # the next run: nothing new to feed
    run_catch_up(shop.id, run_worker)
    assert receipts() == 1

    # the webhook now works again; WooCommerce delivers the same order version: stale, no new events
    (delivery,) = store.deliver("order.updated", order)
    assert delivery.status_code == 200
    assert drain(all_processed)
    assert receipts() == 2
    assert ([row.outcome for row in db.session.query(WebhookReceipt).order_by(WebhookReceipt.id)]
            == ["processed", "stale"])
    assert len(recorder.of(OrderPaid)) == 1 and len(recorder.of(OrderPlaced)) == 1

    # and a genuinely new change still comes through
    (delivery,) = store.deliver("order.updated", store.update_order(order["id"], status="completed"))
    assert drain(all_processed)
    assert len(recorder.of(FulfillmentUpdated)) == 1


def test_webhook_disabled_after_failed_deliveries_is_reactivated_with_our_secret(shop, store, run_worker, drain):
    hook = hook_for(store, "order.created")
    store.state.webhooks[hook["id"]]["_secret"] = "a-secret-we-no-longer-have"
    order = fresh_order(store)
    for _ in range(MAX_DELIVERY_FAILURES + 2):  # our endpoint refuses each one (403)
        (delivery,) = store.deliver("order.created", order)
        assert delivery.status_code == 403
    assert hook_for(store, "order.created")["status"] == "disabled"
    assert receipts() == 0

    run_catch_up(shop.id, run_worker)
    assert hook_for(store, "order.created")["status"] == "active"
    (delivery,) = store.deliver("order.created", order)
    assert delivery.status_code == 200


def test_deleted_webhook_is_recreated_and_other_apps_hooks_are_left_alone(shop, store, run_worker):
    hook = hook_for(store, "product.updated")
    del store.state.webhooks[hook["id"]]
    foreign = store.add_webhook(topic="order.updated", delivery_url="https://other-app.example/hook", status="disabled")

    run_catch_up(shop.id, run_worker)
    recreated = hook_for(store, "product.updated")
    assert recreated["id"] != hook["id"] and recreated["status"] == "active"
    assert recreated["delivery_url"] == wc_store.delivery_url(shop)
    assert store.state.webhooks[recreated["id"]]["_secret"] == shop.credentials["webhook_secret"]
    assert store.state.webhooks[foreign["id"]]["status"] == "disabled"
    db.session.refresh(shop)
    assert shop.sync_state["webhooks"]["product.updated"] == recreated["id"]


def test_products_changed_while_down_give_stock_per_variation(shop, store, recorder, run_worker, drain):
    product = fixture("product.updated__variable")
    for date in ("date_created", "date_created_gmt", "date_modified", "date_modified_gmt"):
        product.pop(date)
    store.add_product(product)
    variation = fixture("variation__sample")
    variation.pop("date_modified_gmt")
    store.add_variation(799, variation)
    store.add_variation(799, {**variation, "id": 733, "stock_status": "outofstock", "manage_stock": True,
                              "stock_quantity": 0})

    run_catch_up(shop.id, run_worker)
    assert drain(all_processed)
    events = sorted(recorder.of(StockChanged), key=lambda event: event.variant_id)
    assert [(event.variant_id, event.available) for event in events] == [("732", True), ("733", False)]
    assert db.session.query(WebhookReceipt).one().topic == "product.updated"


def test_orders_older_than_the_cursor_are_not_fed(shop, store, recorder, run_worker):
    store.add_order({**fixture("order.updated__processing"), "id": 42})  # dated 2017: before the connection
    run_catch_up(shop.id, run_worker)
    assert receipts() == 0 and recorder.count() == 0


def test_schedule_catchups_queues_each_active_store_once_per_slot(shop, store, ctx):
    other = connected_shop(store, catch_up=False, domain="https://other.example")
    gone = connected_shop(store, catch_up=False, domain="https://gone.example")
    gone.is_active = False
    db.session.add(Shop(platform="shopify", domain="x.myshopify.com", settings={}))
    db.session.commit()

    assert wc_catchup.schedule_catchups() == 2
    assert wc_catchup.schedule_catchups() == 0  # same slot: already queued
    job_ids = get_queue(MAINTENANCE).job_ids
    assert sorted(job_id.rsplit("-", 1)[0] for job_id in job_ids) == sorted(
        f"woocommerce-catchup-{shop_id}" for shop_id in (shop.id, other.id))


def test_the_sweep_runs_the_catch_up(shop, store, run_worker):
    from connector.jobs.sweep import sweep

    store.disable_webhook(hook_for(store, "order.updated")["id"])
    assert sweep()["catchups"] == 1
    run_worker()
    assert hook_for(store, "order.updated")["status"] == "active"


def test_a_store_added_by_hand_is_set_up_by_the_catch_up(app_url, store, recorder, run_worker):
    key, secret = store.issue_keys()
    shop = add_woocommerce(store.base_url, key, secret, verify=False)  # `connector shops add woocommerce --no-verify`
    assert "webhook_secret" not in shop.credentials

    assert wc_catchup.schedule_catchups() == 1
    run_worker()
    db.session.expire_all()
    shop = db.session.get(Shop, shop.id)
    assert shop.credentials["webhook_secret"]
    assert shop.sync_state["verified_at"] and set(shop.sync_state["cursors"]) == {"orders", "products"}
    assert {hook["topic"] for hook in store.webhooks() if hook["status"] == "active"} == {
        "order.created", "order.updated", "product.updated"}


def test_one_catch_up_per_store_at_a_time(shop, store):
    from connector.extensions import get_redis

    with get_redis().lock(f"connector:woocommerce:catchup:lock:{shop.id}", timeout=30):
        assert wc_catchup.catch_up(shop.id) == {"outcome": "busy"}


def test_revoked_keys_end_the_run_and_are_recorded(shop, store):
    store.revoke_keys(shop.credentials["consumer_key"])
    assert wc_catchup.catch_up(shop.id) == {"outcome": "auth_failed"}
    db.session.expire_all()
    assert db.session.scalar(select(Shop.sync_state).where(Shop.id == shop.id))["last_error"].startswith("auth:")
