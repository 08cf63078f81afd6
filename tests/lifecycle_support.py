"""Real Shopify order webhooks for the lifecycle tests: the published ``orders/paid`` sample with
the few fields a test needs changed, signed and posted to the real endpoint, applied by a real worker."""

from __future__ import annotations

import json
from datetime import datetime

from connector.extensions import db
from connector.models import Shop
from integrations.shopify import webhooks as shopify_webhooks
from tests.test_slow_vendor_backlog import FIXTURES, shop  # noqa: F401  (fixture)

PHONE = "+4915123456789"
ADDRESS = {"first_name": "Maria", "last_name": "Muster", "address1": "Hauptstraße 5", "city": "Berlin",
           "zip": "10115", "country": "Germany", "country_code": "DE", "phone": None}


def sample_order(order_id: str, *, at: datetime, phone: str | None = PHONE, email: str = "maria@example.com",
                 customer_id: int = 115310627314723954, address: dict | None = None, codes: tuple[str, ...] = (),
                 lines: tuple[tuple[int, int | None, int, str], ...] = ((632910392, 808950810, 2, "Coffee beans"),)
                 ) -> dict:
    """The ``orders/paid`` sample as order ``order_id`` placed ``at`` by the given buyer."""
    body = json.loads((FIXTURES / "orders_paid__sample.json").read_text())
    stamp = at.isoformat()
    body.update(id=int(order_id), name=f"#{order_id}", order_number=int(order_id), created_at=stamp, updated_at=stamp,
                processed_at=stamp, phone=phone, email=email, contact_email=email, customer_locale="de",
                cart_token=None, checkout_token=None,
                discount_codes=[{"code": code, "amount": "5.00", "type": "percentage"} for code in codes])
    body["customer"] = {**body["customer"], "id": customer_id, "email": email, "phone": phone,
                        "first_name": "Maria", "last_name": "Muster"}
    body["shipping_address"] = {**(address or ADDRESS)}
    body["billing_address"] = {**(address or ADDRESS)}
    template = body["line_items"][0]
    body["line_items"] = [{**template, "id": 1000 + index, "product_id": product, "variant_id": variant,
                           "quantity": quantity, "title": title, "name": title}
                          for index, (product, variant, quantity, title) in enumerate(lines)]
    return body


def post_order(client, fake_shopify, body: dict, topic: str = "orders/paid") -> None:
    raw = json.dumps(body).encode()
    event_id = f"evt-{body['id']}-{topic}-{body['updated_at']}"
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic,
               "X-Shopify-Shop-Domain": fake_shopify.shop_domain, "X-Shopify-API-Version": "2026-07",
               "X-Shopify-Webhook-Id": f"wh-{event_id}", "X-Shopify-Event-Id": event_id,
               "X-Shopify-Triggered-At": "2026-11-24T10:00:00.000Z",
               "X-Shopify-Hmac-Sha256": shopify_webhooks.sign(raw, fake_shopify.api_secret)}
    response = client.post("/webhooks/shopify", data=raw, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def switch_on(shop_row: Shop, **automations: dict) -> Shop:
    row = db.session.get(Shop, shop_row.id)
    settings = json.loads(json.dumps(row.settings or {}))
    for name, options in automations.items():
        settings.setdefault("automations", {})[name] = {"enabled": True, **options}
    row.settings = settings
    db.session.commit()
    return row


def record_discounts(fake_shopify) -> list[dict]:
    """Every ``discountCodeBasicCreate`` the store is asked for (each answered as made)."""
    created: list[dict] = []

    def discount_create(query, variables):
        if "discountCodeBasicCreate" not in query:
            return None
        created.append(variables["basicCodeDiscount"])
        return {"discountCodeBasicCreate": {"codeDiscountNode": {"id": f"gid://shopify/DiscountCodeNode/{len(created)}"},
                                            "userErrors": []}}

    fake_shopify.graphql_handlers.append(discount_create)
    return created


__all__ = ["ADDRESS", "PHONE", "post_order", "record_discounts", "sample_order", "shop", "switch_on"]
