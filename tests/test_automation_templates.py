"""`connector templates sync`: catalogue → the sandbox's template endpoint → approval status."""

from __future__ import annotations

import json
import time

from sqlalchemy import select

from connector.automations import templates
from connector.extensions import db
from connector.models import TemplateApproval
from connector.receipts import record_receipt
from tests.factories import make_shop


def test_sync_submits_every_language_and_the_webhook_approves(ctx, sandbox, drain):
    shop = make_shop()
    results = templates.sync_templates(shop, only=["shipping_shipped", "order_confirmation"])
    shipped = [r for r in results if r.name == "shipping_shipped"]
    assert len(shipped) == 7 and {r.status for r in shipped} == {"PENDING"}
    # the document header's sample is uploaded by sync itself (issue 14.12)
    assert {r.status for r in results if r.name == "order_confirmation"} == {"PENDING"}
    created = [t for t in sandbox.templates() if t["name"] == "shipping_shipped"]
    assert {(t["waba_id"], t["name"]) for t in sandbox.templates()} == {("WABA1", "shipping_shipped"),
                                                                        ("WABA1", "order_confirmation")}
    assert all("/l/{{1}}" in json.dumps(t["body"]) and "{app_url}" not in json.dumps(t["body"]) for t in created)
    # the sandbox approves; its webhook carries no phone number, so it is stored here as the endpoint would
    deadline = time.monotonic() + 5
    while any(t["status"] != "APPROVED" for t in sandbox.templates()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for template in sandbox.templates():
        body = {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{
            "field": "message_template_status_update", "value": {
                "event": "APPROVED", "message_template_id": int(template["id"]),
                "message_template_name": template["name"], "message_template_language": template["language"],
                "reason": "NONE"}}]}]}
        record_receipt(platform="whatsapp", dedupe_key=f"t-{template['id']}", topic="message_template_status_update",
                           body=json.dumps(body).encode(), shop_id=shop.id)
    assert drain(lambda: {r.status for r in db.session.scalars(select(TemplateApproval).where(
        TemplateApproval.name == "shipping_shipped"))} == {"APPROVED"})
    # a second sync leaves approved templates alone
    again = templates.sync_templates(shop, only=["shipping_shipped"])
    assert {r.detail for r in again} == {"unchanged"} and len(sandbox.templates()) == 14


def test_media_header_templates_are_submitted_with_a_sample_handle(ctx, sandbox):
    shop = make_shop()
    results = templates.sync_templates(shop, header_handle="4::sample", only=["order_confirmation"])
    assert {r.status for r in results} == {"PENDING"} and len(sandbox.templates()) == 7
