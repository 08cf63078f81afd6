"""The admin API's segments and campaigns, with App Bridge session tokens, through a real worker."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from connector.extensions import db
from connector.messaging.costs import MARKETING, load_rate_card
from connector.models import Campaign, Segment
from tests.factories import make_contact
from tests.test_admin_settings import auth, connected_shop

BODY = {"name": "Autumn", "template": "campaign_announcement", "segment": {"country": ["DE"]},
        "variables": {"offer": "the autumn blend is back"}}


def test_segments_preview_save_list_delete(client, fake_shopify):
    shop = connected_shop(fake_shopify)
    make_contact(shop, "+4915100000001")
    make_contact(shop, "+4915100000002", marketing=False)
    headers = auth(fake_shopify)
    answer = client.post("/admin/api/segments/preview", json={"segment": {"country": ["DE"]}}, headers=headers)
    assert answer.status_code == 200 and answer.json["count"] == 1
    bad = client.post("/admin/api/segments/preview", json={"segment": {"orders_min": "many"}}, headers=headers)
    assert bad.status_code == 422 and "orders_min" in bad.json["errors"]["segment"]
    created = client.post("/admin/api/segments", json={"name": "Germany", "segment": {"country": ["DE"]}},
                          headers=headers)
    assert created.status_code == 201 and created.json["segment"]["count"] == 1
    again = client.post("/admin/api/segments", json={"name": "Germany", "segment": {}}, headers=headers)
    assert again.status_code == 409
    listed = client.get("/admin/api/segments", headers=headers).json["segments"]
    assert [row["name"] for row in listed] == ["Germany"]
    assert client.delete(f"/admin/api/segments/{listed[0]['id']}", headers=headers).status_code == 204
    assert db.session.scalar(select(func.count()).select_from(Segment)) == 0
    assert client.post("/admin/api/segments/preview", json={"segment": {}}).status_code == 401


def test_campaign_create_preview_start_pause_resume_report(client, fake_shopify, drain, sandbox):
    shop = connected_shop(fake_shopify, messaging_limit=250)
    make_contact(shop, "+4915100000001")
    headers = auth(fake_shopify)
    invalid = client.post("/admin/api/campaigns", json={**BODY, "variables": {}}, headers=headers)
    assert invalid.status_code == 422 and "variables" in invalid.json["errors"]
    unknown = client.post("/admin/api/campaigns", json={**BODY, "colour": "red"}, headers=headers)
    assert unknown.status_code == 422 and "colour" in unknown.json["errors"]
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0

    created = client.post("/admin/api/campaigns", json=BODY, headers=headers)
    assert created.status_code == 201, created.json
    campaign = created.json["campaign"]
    assert campaign["status"] == "draft" and campaign["progress"]["messages"] == 0
    base = f"/admin/api/campaigns/{campaign['id']}"
    preview = client.get(f"{base}/preview", headers=headers).json
    assert preview["recipients"] == 1 and preview["messaging_limit"] == 250 and preview["days_needed"] == 1
    card = load_rate_card()  # one contact in Germany: the card's German marketing price
    assert preview["estimated_cost"] == str(card.rate(MARKETING, "DE").quantize(Decimal("0.01")))
    assert preview["cost_currency"] == card.currency and preview["rate_card"]["version"] == card.version
    assert client.post(f"{base}/pause", headers=headers).status_code == 409  # a draft is not running
    started = client.post(f"{base}/start", headers=headers)
    assert started.status_code == 200 and started.json["campaign"]["status"] == "planning"
    assert drain(lambda: len(sandbox.messages()) == 1)
    assert drain(lambda: client.get(base, headers=headers).json["campaign"]["status"] == "completed")
    shown = client.get(base, headers=headers).json["campaign"]
    assert shown["progress"]["sent"] == 1 and shown["progress"]["done_ratio"] == 1.0
    report = client.get(f"{base}/report", headers=headers).json
    assert report["sent"] == 1 and report["groups"][0]["variant"] == "A" and report["winner"] is None
    assert client.post(f"{base}/cancel", headers=headers).status_code == 409  # completed already
    listed = client.get("/admin/api/campaigns", headers=headers).json["campaigns"]
    assert [row["id"] for row in listed] == [campaign["id"]]
