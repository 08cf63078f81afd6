"""Issue 13, point 9: a database outage answers 503, and the work catches up promptly after it.

On PostgreSQL the outage is real: the app under test reaches the database through a TCP
proxy (tests/fakes/tcp_proxy.py) that the test cuts and restores; the machine's server keeps
running. On SQLite the web app gets a database file it cannot open, and the worker's
connection error is raised by the first attempt's handler.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from connector import events as ev
from connector.extensions import db
from connector.models import Message, MessageStatus, Shop, WebhookReceipt
from integrations.shopify import webhooks as shopify_webhooks
from integrations.whatsapp import webhooks as whatsapp_webhooks
from integrations.woocommerce.webhooks import sign_cart_report
from integrations.woocommerce.webhooks import signature as woocommerce_signature
from tests.factories import make_shopify_and_woocommerce
from tests.fakes.tcp_proxy import TcpProxy

FIXTURES = "tests/fixtures/payloads"
NUMBER = "106540352242922"
#: issue 13.9: every paid order confirmed within this long after the database returns
CATCH_UP_SECONDS = 60.0


def _is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


@pytest.fixture
def proxy(database_url):
    if not _is_postgres(database_url):
        yield None
        return
    url = make_url(database_url)
    tcp = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    yield tcp
    tcp.cut()


def _app_through(app_env, database_url, proxy, *, broken_sqlite: bool = False):
    from connector.app import create_app

    if proxy is not None:
        url = make_url(database_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    elif broken_sqlite:
        url = "sqlite:////nonexistent-directory-13-9/connector.db"
    else:
        url = database_url
    return create_app({**app_env, "DATABASE_URL": url})


@pytest.fixture
def shops(ctx, fake_shopify):
    return make_shopify_and_woocommerce(fake_shopify.shop_domain, "https://outage-store.example",
                                        phone_number_id=NUMBER, shopify_time_zone="UTC", shopify_locale="en")


def _requests(shopify: Shop, woo: Shop, secret: str) -> dict[str, tuple[str, bytes, dict]]:
    order = Path(f"{FIXTURES}/shopify/orders_paid__sample.json").read_bytes()
    wc_order = Path(f"{FIXTURES}/woocommerce/order.created__sample.json").read_bytes()
    status = Path(f"{FIXTURES}/whatsapp/statuses__sent.json").read_bytes()
    cart = json.dumps({"store": woo.shop_key, "cart_token": "c-1", "updated_at": "2026-11-24T10:00:00Z"}).encode()
    return {
        "shopify": ("/webhooks/shopify", order, {
            "X-Shopify-Topic": "orders/paid", "X-Shopify-Shop-Domain": shopify.domain, "X-Shopify-Event-Id": "e-1",
            "X-Shopify-Hmac-Sha256": shopify_webhooks.sign(order, secret)}),
        "woocommerce": (f"/webhooks/woocommerce/{woo.shop_key}", wc_order, {
            "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Delivery-ID": "d-1",
            "X-WC-Webhook-Signature": woocommerce_signature(wc_order, "wc-secret")}),
        "whatsapp": ("/webhooks/whatsapp", status, {
            "X-Hub-Signature-256": whatsapp_webhooks.sign(status, "test-app-secret")}),
        "cart report": ("/storefront/api/cart", cart, {"X-WCC-Signature": sign_cart_report(cart, "wc-secret")}),
    }


def test_13_9_ingest_views_answer_503_receipt_not_written_while_the_database_is_down(
        ctx, shops, app_env, database_url, proxy, fake_shopify):
    from connector.stores.shop_cache import forget_cached_shops

    shopify, woo = shops
    outage_app = _app_through(app_env, database_url, proxy, broken_sqlite=proxy is None)
    client = outage_app.test_client()
    requests = _requests(shopify, woo, fake_shopify.api_secret)
    if proxy is not None:  # first a working connection in the pool, which the outage then drops
        path, body, headers = requests["shopify"]
        assert client.post(path, data=body, headers={**headers, "Content-Type": "application/json"}).status_code == 200
        proxy.cut()
    forget_cached_shops()  # the Shopify view must look the shop up again
    try:
        for name, (path, body, headers) in requests.items():
            response = client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})
            assert response.status_code == 503, (name, response.status_code, response.get_data(as_text=True)[:300])
            assert response.get_json()["error"] == "receipt_not_written", name
    finally:
        with outage_app.app_context():
            db.engine.dispose()


def test_13_9_a_paid_order_whose_processing_lost_the_database_is_confirmed_promptly_after_it_returns(
        ctx, shops, app_env, database_url, proxy, fake_shopify, sandbox, monkeypatch):
    from connector import routing as automations
    from connector.jobs.worker import make_worker

    shopify, _ = shops
    path, body, headers = _requests(*shops, fake_shopify.api_secret)["shopify"]
    response = ctx.test_client().post(path, data=body, headers={**headers, "Content-Type": "application/json"})
    assert response.get_json() == {"status": "accepted"}
    (receipt_id,) = db.session.scalars(select(WebhookReceipt.id)).all()

    handlers = automations.EVENT_HANDLERS[ev.OrderPaid]
    cut = []

    def outage_midway(shop_id, event):
        if not cut:  # the first attempt loses the database half-way through its transaction
            cut.append(True)
            if proxy is not None:
                proxy.cut()
            else:
                raise OperationalError("UPDATE orders ...", {}, sqlite3.OperationalError("disk I/O error"))
        return handlers[0](shop_id, event)

    monkeypatch.setitem(automations.EVENT_HANDLERS, ev.OrderPaid, (outage_midway, *handlers[1:]))
    worker_app = _app_through(app_env, database_url, proxy)
    try:
        make_worker(worker_app).work(burst=True, with_scheduler=True, logging_level="CRITICAL")
        assert cut
        if proxy is not None:
            time.sleep(1.0)  # the outage lasts a moment
            proxy.restore()
        returned = time.monotonic()

        def confirmed() -> bool:
            db.session.expire_all()
            return db.session.scalars(select(Message.status).where(
                Message.shop_id == shopify.id, Message.automation == "order_confirmation")).first() in (
                MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)

        while not confirmed() and time.monotonic() - returned < CATCH_UP_SECONDS:
            make_worker(worker_app).work(burst=True, with_scheduler=True, logging_level="CRITICAL")
            time.sleep(0.3)
        waited = time.monotonic() - returned
        assert confirmed(), f"no confirmation {waited:.0f} s after the database returned"
        receipt = db.session.get(WebhookReceipt, receipt_id)
        assert receipt.outcome == "processed" and receipt.attempts == 1  # the outage was not counted as an attempt
        assert len(sandbox.messages()) == 1
    finally:
        with worker_app.app_context():
            db.engine.dispose()


def test_13_9_a_dispatcher_that_loses_the_database_comes_back_without_waiting_for_the_sweep(
        ctx, shops, app_env, database_url, proxy, sandbox):
    """The dispatcher job is the shop's wake-up: if the database fails under it, another one is scheduled."""
    from connector.jobs.worker import make_worker
    from tests.factories import make_contact, order_confirmation

    shopify, _ = shops
    message = order_confirmation(shopify, make_contact(shopify)).message  # kicks the shop's dispatcher
    outage_app = _app_through(app_env, database_url, proxy, broken_sqlite=proxy is None)
    if proxy is not None:
        proxy.cut()
    try:
        make_worker(outage_app).work(burst=True, with_scheduler=True, logging_level="CRITICAL")
    finally:
        with outage_app.app_context():
            db.engine.dispose()
    assert sandbox.messages() == []
    if proxy is not None:
        proxy.restore()
    # the database is back; nothing else happens (no new message, no sweep): the wake-up must have been kept
    worker_app = _app_through(app_env, database_url, proxy)
    returned = time.monotonic()
    try:
        while not sandbox.messages() and time.monotonic() - returned < CATCH_UP_SECONDS:
            make_worker(worker_app).work(burst=True, with_scheduler=True, logging_level="CRITICAL")
            time.sleep(0.3)
    finally:
        with worker_app.app_context():
            db.engine.dispose()
    assert [record["callback_data"] for record in sandbox.messages()] == [str(message.id)], \
        f"not sent {time.monotonic() - returned:.0f} s after the database returned"


def test_13_9_rows_claimed_but_not_sent_when_the_database_failed_are_sent_after_it_returns(
        ctx, shops, sandbox, run_worker, monkeypatch):
    """The claim committed, then the database went away before any request left: those rows
    go out with the next dispatcher, not after their lease and a sweep."""
    from connector.messaging import dispatcher
    from tests.factories import make_contact, order_confirmation

    shopify, _ = shops
    message = order_confirmation(shopify, make_contact(shopify)).message
    judge = dispatcher.Dispatcher._judge
    failed = []

    def lose_the_database(self, claimed):
        if not failed:
            failed.append(True)
            raise OperationalError("UPDATE messages ...", {}, sqlite3.OperationalError("server closed the connection"))
        return judge(self, claimed)

    monkeypatch.setattr(dispatcher.Dispatcher, "_judge", lose_the_database)
    monkeypatch.setattr(dispatcher, "LINGER_SECONDS", 0.0)
    run_worker()
    assert failed
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == MessageStatus.SENDING  # claimed, never sent
    returned = time.monotonic()
    while not sandbox.messages() and time.monotonic() - returned < CATCH_UP_SECONDS:
        run_worker()
        time.sleep(0.3)
    assert [record["callback_data"] for record in sandbox.messages()] == [str(message.id)]
