"""A processed webhook that leads to nothing records why (issue 14, point 15): through the real
Shopify endpoint and a real worker, shown by `connector receipts`."""

from __future__ import annotations

import json

from sqlalchemy import select

from connector.extensions import db
from connector.models import Shop, WebhookReceipt
from tests.test_slow_vendor_backlog import FIXTURES, deliver, shop  # noqa: F401 (fixture)


def _post(client, fake_shopify, body: dict, event_id: str) -> None:
    from integrations.shopify import webhooks as shopify_webhooks

    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid",
               "X-Shopify-Shop-Domain": fake_shopify.shop_domain, "X-Shopify-API-Version": "2026-07",
               "X-Shopify-Webhook-Id": f"wh-{event_id}", "X-Shopify-Event-Id": event_id,
               "X-Shopify-Triggered-At": "2026-11-24T10:00:00.000Z",
               "X-Shopify-Hmac-Sha256": shopify_webhooks.sign(raw, fake_shopify.api_secret)}
    assert client.post("/webhooks/shopify", data=raw, headers=headers).status_code == 200


def _outcome() -> str | None:
    db.session.expire_all()
    return db.session.scalars(select(WebhookReceipt.outcome).where(WebhookReceipt.platform == "shopify")
                              .order_by(WebhookReceipt.id.desc())).first()


def _order(**changes) -> dict:
    body = json.loads((FIXTURES / "orders_paid__sample.json").read_text())
    body.update(changes)
    return body


def _without_phones(body: dict) -> dict:
    body["phone"] = None
    for part in ("customer", "billing_address", "shipping_address"):
        if isinstance(body.get(part), dict):
            body[part]["phone"] = None
    body["customer"] = {**(body.get("customer") or {}), "phone": None}
    return body


def test_14_15_an_order_without_a_phone_says_so(client, fake_shopify, shop, run_worker, run):
    _post(client, fake_shopify, _without_phones(_order()), "evt-no-phone")
    run_worker()
    assert _outcome() == "nothing:no_phone"
    listing = run("receipts", "--shop", str(shop.id)).output
    assert "nothing:no_phone" in listing


def test_14_15_an_automation_switched_off_says_so(client, fake_shopify, shop, run_worker):
    row = db.session.get(Shop, shop.id)
    row.settings = {**row.settings, "automations": {"order_confirmation": {"enabled": False}}}
    db.session.commit()
    _post(client, fake_shopify, _order(), "evt-off")
    run_worker()
    assert _outcome() == "nothing:automation_off"


def test_14_15_a_second_delivery_of_the_same_order_says_it_was_already_queued(client, fake_shopify, shop,
                                                                             run_worker):
    _post(client, fake_shopify, _order(), "evt-first")
    run_worker()
    assert _outcome() == "processed"  # the confirmation was queued
    _post(client, fake_shopify, _order(updated_at="2026-11-24T10:05:00+01:00"), "evt-again")
    run_worker()
    assert _outcome() == "nothing:already_queued"

