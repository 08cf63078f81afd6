"""Issue 13 point 12: security headers on every answer, set by one ``after_request`` hook
(connector/web/security.py): ``nosniff`` everywhere, a referrer policy, HSTS in production
only, ``Cache-Control: no-store`` on every admin API answer, and the embedded admin page's
per-shop ``frame-ancestors`` kept."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from connector.extensions import db
from connector.models import DataExport, Shop

#: (method, path, expected status) across the blueprints, errors included
ANSWERS = [
    ("GET", "/healthz", 200), ("GET", "/l/nope", 404), ("GET", "/l/invoice/nope", 404),
    ("GET", "/webhooks/whatsapp", 403), ("POST", "/webhooks/whatsapp", 401), ("POST", "/webhooks/shopify", 401),
    ("POST", "/webhooks/woocommerce/nope", 404), ("POST", "/storefront/api/opt-in", 400),
    ("POST", "/storefront/api/back-in-stock", 400), ("POST", "/storefront/api/cart", 400),
    ("GET", "/woocommerce/return", 400), ("GET", "/shopify/install", 401), ("GET", "/admin/", 200),
    ("GET", "/admin/api/shop", 401), ("GET", "/no/such/route", 404),
]


@pytest.mark.parametrize(("method", "path", "status"), ANSWERS)
def test_13_12_every_answer_has_nosniff_and_a_referrer_policy(client, method, path, status):
    answer = client.open(path, method=method, data=b"{}")
    assert answer.status_code == status
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    page_for_people = path.startswith(("/admin/", "/woocommerce/return", "/shopify/", "/no/")) and \
        not path.startswith("/admin/api/")
    assert answer.headers["Referrer-Policy"] == ("strict-origin-when-cross-origin" if page_for_people
                                                 else "no-referrer")
    assert "Strict-Transport-Security" not in answer.headers  # not in development or tests


def test_13_12_hsts_in_production_only(client, ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "CONNECTOR", dataclasses.replace(ctx.config["CONNECTOR"], env="production"))
    for path in ("/healthz", "/admin/", "/l/nope"):
        assert client.get(path).headers["Strict-Transport-Security"] == "max-age=31536000"


def test_13_12_every_admin_api_answer_is_no_store(client, fake_shopify):
    headers = {"Authorization": f"Bearer {fake_shopify.session_token()}"}
    answers = [client.get("/admin/api/shop"), client.get("/admin/api/shop", headers={"Authorization": "Bearer x"})]
    answers += [client.get(path, headers=headers) for path in (
        "/admin/api/shop", "/admin/api/report", "/admin/api/data-exports", "/admin/api/data-exports/999999",
        "/admin/api/settings", "/admin/api/settings/history")]
    shop = db.session.scalars(select(Shop).where(Shop.domain == fake_shopify.shop_domain)).one()
    export = DataExport(shop_id=shop.id, request_ref="dr-1", content='{"contacts": []}')
    db.session.add(export)
    db.session.commit()
    answers.append(client.get(f"/admin/api/data-exports/{export.id}", headers=headers))
    answers.append(client.patch("/admin/api/settings", json={"retention_days": 5}, headers=headers))
    assert [a.status_code for a in answers] == [401, 401, 200, 200, 200, 404, 200, 200, 200, 422]
    assert [a.headers.get("Cache-Control") for a in answers] == ["no-store"] * len(answers)
    assert all(a.headers["X-Content-Type-Options"] == "nosniff" for a in answers)


def test_13_12_the_admin_page_keeps_its_per_shop_frame_ancestors(client, fake_shopify):
    own = client.get(f"/admin/?shop={fake_shopify.shop_domain}")
    assert own.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://admin.shopify.com https://{fake_shopify.shop_domain};")
    other = client.get("/admin/?shop=other-shop.myshopify.com")
    assert other.headers["Content-Security-Policy"] == (
        "frame-ancestors https://admin.shopify.com https://other-shop.myshopify.com;")
    assert client.get("/admin/?shop=evil.com").headers["Content-Security-Policy"] == (
        "frame-ancestors https://admin.shopify.com;")
    assert "X-Frame-Options" not in own.headers  # it would forbid the Shopify admin's frame

