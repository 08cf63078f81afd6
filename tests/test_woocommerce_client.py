"""The REST client and the connect flow, against the fake store over real HTTP."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from integrations.egress import EgressPolicy
from integrations.woocommerce import webhooks
from integrations.woocommerce.auth import authorize_url, parse_callback
from integrations.woocommerce.client import WooCommerceApiError, WooCommerceAuthError, WooCommerceClient
from tests.fakes.woocommerce import FakeWooCommerce

#: the fake store listens on 127.0.0.1: the explicit allowance development and tests have
LOOPBACK = EgressPolicy(allow_loopback=True)

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


class Receiver:
    """Our side: takes the key callback, the pings and the deliveries."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes, dict[str, str]]] = []
        self.status = 200
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @Request.application
    def _app(self, request: Request) -> Response:
        self.received.append((request.path, request.get_data(), dict(request.headers)))
        return Response("ok", status=self.status)

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def receiver():
    box = Receiver()
    yield box
    box.stop()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(clock):
    with FakeWooCommerce(clock=clock) as fake:
        yield fake


@pytest.fixture
def client(store):
    key, secret = store.issue_keys()
    with WooCommerceClient(store.base_url, key, secret, timeout=5.0, egress=LOOPBACK) as api:
        yield api


# --- connect --------------------------------------------------------------------------------


def test_connect_flow_delivers_working_keys(store, receiver):
    url = authorize_url(
        store.base_url, app_name="WA", user_id="u_1", return_url="https://c.example/done",
        callback_url=receiver.url + "/cb"
    )
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://c.example/done?success=1&user_id=u_1"
    assert store.authorize_requests[0]["scope"] == "read_write"
    path, body, _ = receiver.received[0]
    keys = parse_callback(body, expected_user_id="u_1")
    with WooCommerceClient(store.base_url, keys.consumer_key, keys.consumer_secret, egress=LOOPBACK) as api:
        assert api.system_status()["environment"]["version"] == "10.1.0"
        assert api.index()["namespace"] == "wc/v3"


def test_callback_that_fails_gets_the_keys_revoked(store, receiver):
    receiver.status = 500
    url = authorize_url(store.base_url, app_name="WA", user_id="u_2", return_url="https://c.example/done",
                        callback_url=receiver.url + "/cb")
    assert httpx.get(url).headers["Location"].endswith("success=0&user_id=u_2")
    keys = parse_callback(receiver.received[0][1])
    with (WooCommerceClient(store.base_url, keys.consumer_key, keys.consumer_secret, egress=LOOPBACK) as api,
          pytest.raises(WooCommerceAuthError)):
        api.system_status()


# --- auth and errors --------------------------------------------------------------------------


def test_keys_travel_in_the_authorization_header_only(store, client):
    client.system_status()
    request = store.requests[-1]
    assert request.authorization and request.authorization.startswith("Basic ")
    assert not any(name.startswith(("consumer_", "oauth_")) for name in request.query)


def test_wrong_keys_raise_auth_error(store):
    with WooCommerceClient(store.base_url, "ck_" + "0" * 40, "cs_" + "0" * 40, egress=LOOPBACK) as api:
        with pytest.raises(WooCommerceAuthError) as caught:
            api.list_webhooks()
    assert caught.value.status == 401 and caught.value.code == "woocommerce_rest_cannot_view"
    assert not caught.value.is_retryable


def test_plain_http_is_refused_for_real_stores():
    with pytest.raises(ValueError, match="https"):
        WooCommerceClient("http://store.example.com", "ck_x", "cs_x")


def test_no_answer_is_a_retryable_api_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with WooCommerceClient(f"http://127.0.0.1:{port}", "ck_x", "cs_x", timeout=2.0, egress=LOOPBACK) as api:
        with pytest.raises(WooCommerceApiError) as caught:
            api.index()
    assert caught.value.status is None and caught.value.is_retryable


def test_not_found_is_an_api_error(client):
    with pytest.raises(WooCommerceApiError) as caught:
        client.order(424242)
    assert caught.value.status == 404 and not caught.value.is_retryable


# --- webhooks ---------------------------------------------------------------------------------


def test_webhook_lifecycle_ping_and_signed_delivery(store, client, receiver):
    delivery_url = receiver.url + "/webhooks/woocommerce"
    created = client.create_webhook("order.updated", delivery_url, "s3cret", "WA order updated")
    assert created["status"] == "active" and created["topic"] == "order.updated"
    # WooCommerce pings a new active webhook with an unsigned form body
    _, ping_body, ping_headers = receiver.received[-1]
    assert webhooks.is_ping(ping_body, ping_headers)

    store.disable_webhook(created["id"])
    assert [h["status"] for h in client.list_webhooks()] == ["disabled"]
    assert client.update_webhook(created["id"])["status"] == "active"

    order = store.add_order(status="processing", total="10.00")
    [delivery] = store.deliver("order.updated", order)
    assert delivery.status_code == 200
    _, body, headers = receiver.received[-1]
    webhooks.verify(body, headers, "s3cret")
    info = webhooks.delivery_headers(headers)
    assert ((info.topic, info.webhook_id, info.delivery_id)
            == ("order.updated", str(created["id"]), delivery.delivery_id))

    client.delete_webhook(created["id"])
    assert client.list_webhooks() == []


def test_failing_deliveries_disable_the_webhook(store, client, receiver):
    hook = client.create_webhook("order.created", receiver.url + "/hook", "s3cret", "WA")
    receiver.status = 500
    for _ in range(7):
        store.deliver("order.created", {"id": 1})
    assert store.webhooks()[0]["status"] == "disabled"
    assert store.deliver("order.created", {"id": 1}) == []
    assert hook["id"] == store.webhooks()[0]["id"]


def test_list_webhooks_pages_through_everything(store, client):
    for index in range(105):
        store.add_webhook(topic="order.updated", delivery_url=f"https://other.example/{index}")
    assert len(client.list_webhooks()) == 105


# --- catch-up ---------------------------------------------------------------------------------


def add_orders(store, clock, offsets):
    ids = []
    for seconds in offsets:
        clock.now = T0 + timedelta(seconds=seconds)
        ids.append(store.add_order(status="processing")["id"])
    return ids


def test_orders_modified_since_pages_through_everything_once(store, client, clock):
    add_orders(store, clock, [-5])  # before the cursor: excluded
    ids = add_orders(store, clock, [1, 2, 2, 2, 3, 3, 4, 9])
    listed = list(client.orders_modified_since(T0, page_size=2))
    assert [order["id"] for order in listed] == ids
    request = store.requests[-1]
    assert request.query["orderby"] == "modified" and request.query["order"] == "asc"
    assert request.query["dates_are_gmt"] == "true"


def test_a_full_page_in_one_second_falls_back_to_page_numbers(store, client, clock):
    ids = add_orders(store, clock, [1, 1, 1, 1, 1, 2])
    assert [order["id"] for order in client.orders_modified_since(T0, page_size=2)] == ids


def test_an_order_changed_while_paging_does_not_hide_another(store, client, clock):
    ids = add_orders(store, clock, [1, 2, 3, 4, 5])
    listing = client.orders_modified_since(T0, page_size=2)
    seen = [next(listing)["id"], next(listing)["id"]]
    clock.now = T0 + timedelta(seconds=30)
    store.update_order(ids[0], status="completed")  # moves to the end of the list
    seen += [order["id"] for order in listing]
    assert seen == ids + [ids[0]]


def test_products_and_variations(store, client, clock):
    clock.now = T0 + timedelta(seconds=1)
    simple = store.add_product(type="simple", stock_status="instock", price="21.99")
    variable = store.add_product(type="variable", variations=[])
    variation = store.add_variation(variable["id"], stock_status="outofstock", price="9.00")
    assert [p["id"] for p in client.products_modified_since(T0)] == [simple["id"], variable["id"]]
    assert [v["id"] for v in client.product_variations(variable["id"])] == [variation["id"]]
    assert client.product_variation(variable["id"], variation["id"])["price"] == "9.00"
    assert webhooks.variation_ids(client.product(variable["id"])) == [str(variation["id"])]


def test_create_coupon_and_duplicate_code(store, client):
    coupon = client.create_coupon("WA-AB12CD", amount=Decimal("10"), expires_at=T0 + timedelta(days=7),
                                  email_restrictions=["kim@example.com"])
    assert coupon["code"] == "wa-ab12cd" and coupon["amount"] == "10" and coupon["usage_limit"] == 1
    assert coupon["date_expires_gmt"] == "2026-05-08T10:00:00"
    with pytest.raises(WooCommerceApiError) as caught:
        client.create_coupon("wa-ab12cd", amount="5")
    assert caught.value.code == "woocommerce_rest_coupon_code_already_exists"
    with pytest.raises(ValueError):
        client.create_coupon("X", amount="5", discount_type="free")


def test_authorize_query_recorded(store, receiver):
    url = authorize_url(store.base_url, app_name="WA", user_id="u_3", return_url="https://c.example/done",
                        callback_url=receiver.url + "/cb", scope="read")
    httpx.get(url)
    assert store.authorize_requests[-1] == {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    assert store.authorize_requests[-1]["scope"] == "read"
