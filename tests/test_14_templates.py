"""Issue 14, points 3 and 12: templates that change or are rejected are edited at Meta, a
template not approved in a message's language holds the message back until it is, and
`templates sync` uploads the document header's sample itself and fails loudly.

Everything goes through the real pieces: the `connector` command, the sandbox's Graph
endpoints over HTTP, its signed status webhooks into `/webhooks/whatsapp`, and real RQ workers.
"""

from __future__ import annotations

import json
import shutil
import time

import httpx
import pytest
from sqlalchemy import select

from connector.extensions import db
from connector.messaging import catalogue
from connector.models import Message, TemplateApproval
from integrations.whatsapp.consts import GRAPH_API_VERSION
from tests.factories import make_contact, make_shop

LANGUAGES = 7  # every catalogue template exists in seven languages



@pytest.fixture
def own_catalogue(tmp_path, monkeypatch):
    """A copy of the catalogue that a test may change (a version bump), used instead of the real one."""
    directory = tmp_path / "whatsapp"
    shutil.copytree(catalogue.CATALOGUE_DIR, directory)
    monkeypatch.setattr(catalogue, "CATALOGUE_DIR", directory)

    def bump(name: str, text_suffix: str) -> None:
        path = directory / f"{name}.json"
        data = json.loads(path.read_text())
        data["version"] += 1
        for variant in data["languages"].values():
            for component in variant["components"]:
                if component["type"] == "BODY":
                    component["text"] += text_suffix
        path.write_text(json.dumps(data, ensure_ascii=False))
        catalogue._load.cache_clear()  # the catalogue is read once per directory and process

    yield bump
    catalogue._load.cache_clear()



def statuses(name: str) -> set[str]:
    db.session.expire_all()
    return {row.status for row in db.session.scalars(select(TemplateApproval).where(TemplateApproval.name == name))}


def sandbox_records(sandbox, name: str) -> list[dict]:
    return [t for t in sandbox.templates() if t["name"] == name]


def test_14_3_sandbox_answers_a_duplicate_template_with_graph_error_2388024(ctx, sandbox):
    body = {"name": "dup_check", "language": "en", "category": "UTILITY", "parameter_format": "NAMED",
            "components": [{"type": "BODY", "text": "Your order is on its way."}]}
    url = f"{sandbox.base_url}/{GRAPH_API_VERSION}/WABA1/message_templates"
    headers = {"Authorization": "Bearer token"}
    assert httpx.post(url, json=body, headers=headers).status_code == 200
    again = httpx.post(url, json=body, headers=headers)
    assert again.status_code == 400, again.text
    error = again.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 2388024)
    assert error["error_user_title"] == "Content in This Language Already Exists"
    assert len(sandbox_records(sandbox, "dup_check")) == 1


def test_14_3_a_version_bump_edits_the_template_instead_of_creating_it(ctx, sandbox, drain, run, own_catalogue):
    shop = make_shop()
    first = run("templates", "sync", "--shop", str(shop.id), "--only", "shipping_shipped")
    assert first.exit_code == 0, first.output
    # the sandbox approves and posts signed status webhooks to the app; a real worker records them
    assert drain(lambda: statuses("shipping_shipped") == {"APPROVED"})
    ids = {t["language"]: t["id"] for t in sandbox_records(sandbox, "shipping_shipped")}

    unchanged = run("templates", "sync", "--shop", str(shop.id), "--only", "shipping_shipped")
    assert unchanged.exit_code == 0 and unchanged.output.count("unchanged") == LANGUAGES

    own_catalogue("shipping_shipped", " Questions? Just reply.")
    edited = run("templates", "sync", "--shop", str(shop.id), "--only", "shipping_shipped", "--json")
    assert edited.exit_code == 0, edited.output
    lines = [json.loads(line) for line in edited.output.splitlines()]
    assert {(line["status"], line["detail"]) for line in lines} == {("PENDING", "edited")}
    records = sandbox_records(sandbox, "shipping_shipped")
    assert {t["language"]: t["id"] for t in records} == ids  # edited in place, nothing created
    assert all("Questions? Just reply." in json.dumps(t["body"]) for t in records)
    assert drain(lambda: statuses("shipping_shipped") == {"APPROVED"})
    assert {row.version for row in db.session.scalars(select(TemplateApproval))} == {2}

    # Meta allows an approved template one edit in 24 hours: the refusal is reported, nothing changes
    own_catalogue("shipping_shipped", " Thanks again.")
    refused = run("templates", "sync", "--shop", str(shop.id), "--only", "shipping_shipped")
    assert refused.exit_code == 1
    assert f"{LANGUAGES} of {LANGUAGES} template(s) failed" in refused.output
    assert "edited once in 24 hours" in refused.output
    rows = db.session.scalars(select(TemplateApproval)).all()
    assert {(r.status, r.version) for r in rows} == {("APPROVED", 2)}
    assert all("edit refused" in r.reason for r in rows)


def test_14_3_a_rejected_template_is_resubmitted_by_an_edit(ctx, sandbox, drain, run):
    shop = make_shop()
    sandbox.set_template_verdict("shipping_delivered", "REJECTED", "INVALID_FORMAT")
    assert run("templates", "sync", "--shop", str(shop.id), "--only", "shipping_delivered").exit_code == 0
    assert drain(lambda: statuses("shipping_delivered") == {"REJECTED"})
    assert {r.reason for r in db.session.scalars(select(TemplateApproval))} == {"INVALID_FORMAT"}

    sandbox.set_template_verdict("shipping_delivered", None)
    again = run("templates", "sync", "--shop", str(shop.id), "--only", "shipping_delivered")
    assert again.exit_code == 0, again.output
    assert again.output.count("edited") == LANGUAGES
    assert len(sandbox_records(sandbox, "shipping_delivered")) == LANGUAGES
    assert drain(lambda: statuses("shipping_delivered") == {"APPROVED"})


def test_14_3_an_existing_template_without_a_local_row_is_found_and_edited(ctx, sandbox, drain, run):
    shop = make_shop()
    assert run("templates", "sync", "--shop", str(shop.id), "--only", "shipping_delivered").exit_code == 0
    assert drain(lambda: statuses("shipping_delivered") == {"APPROVED"})
    db.session.execute(TemplateApproval.__table__.delete())  # e.g. a fresh database against the same WABA
    db.session.commit()
    again = run("templates", "sync", "--shop", str(shop.id), "--only", "shipping_delivered")
    assert again.exit_code == 0, again.output
    assert again.output.count("edited") == LANGUAGES
    assert len(sandbox_records(sandbox, "shipping_delivered")) == LANGUAGES
    assert drain(lambda: statuses("shipping_delivered") == {"APPROVED"})


def _signed_status(client, template: dict, event: str) -> None:
    from tests.test_whatsapp_endpoint import post

    body = {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "time": int(time.time()), "changes": [{
        "field": "message_template_status_update", "value": {
            "event": event, "message_template_id": int(template["id"]), "message_template_name": template["name"],
            "message_template_language": template["language"], "reason": "NONE",
            "message_template_category": template["category"]}}]}]}
    assert post(client, json.dumps(body).encode()).status_code == 200


def test_14_3_a_message_waits_until_its_template_is_approved_in_its_language(ctx, client, sandbox, drain, run,
                                                                             monkeypatch):
    monkeypatch.setattr(sandbox, "template_review_delay", 3600.0)  # Meta takes its time
    shop = make_shop()
    assert run("templates", "sync", "--shop", str(shop.id), "--only", "shipping_shipped").exit_code == 0
    assert statuses("shipping_shipped") == {"PENDING"}
    contact = make_contact(shop)
    from connector.messaging.outbox import queue_message

    queued = queue_message(shop=shop, contact=contact, idempotency_key="fulfillment:1:shipped",
                           automation="shipping_shipped", purpose="transactional", kind="template",
                           template_name="shipping_shipped", language="de",
                           content={"body": {"customer_name": "Maria", "order_number": "#1001", "carrier": "DHL"},
                                    "buttons": [{"index": 0, "url_suffix": "Ab3dE9"}]})

    def message() -> Message:
        db.session.expire_all()
        return db.session.get(Message, queued.message.id)

    assert drain(lambda: message().status_reason == "template_not_approved")
    assert message().status == "queued" and sandbox.messages() == []
    listing = run("outbox", "--shop", str(shop.id), "--json")
    assert json.loads(listing.output.splitlines()[0])["status_reason"] == "template_not_approved"
    assert "template_not_approved" in run("outbox", "--shop", str(shop.id)).output

    templates = {t["language"]: t for t in sandbox_records(sandbox, "shipping_shipped")}
    _signed_status(client, templates["en"], "APPROVED")  # another language: still waits
    drain(lambda: statuses("shipping_shipped") == {"APPROVED", "PENDING"})
    assert message().status == "queued" and sandbox.messages() == []

    _signed_status(client, templates["de"], "APPROVED")  # the status webhook wakes the dispatcher
    assert drain(lambda: message().status in ("sent", "delivered", "read"))
    sent = sandbox.messages()
    assert len(sent) == 1 and sent[0]["payload"]["template"]["name"] == "shipping_shipped"
    assert sent[0]["payload"]["template"]["language"]["code"] == "de"


def test_14_12_sync_uploads_the_sample_document_and_submits_the_invoice_template(ctx, sandbox, run):
    shop = make_shop()
    result = run("templates", "sync", "--shop", str(shop.id), "--only", "order_confirmation")
    assert result.exit_code == 0, result.output
    records = sandbox_records(sandbox, "order_confirmation")
    assert len(records) == LANGUAGES
    handles = set()
    for record in records:
        header = next(c for c in record["body"]["components"] if c["type"] == "HEADER")
        assert header["format"] == "DOCUMENT"
        handles.update(header["example"]["header_handle"])
    assert len(handles) == 1  # one upload serves every language
    uploaded = sandbox.uploaded(handles.pop())
    assert uploaded is not None
    data, mime = uploaded
    assert mime == "application/pdf" and data.startswith(b"%PDF-")
    assert statuses("order_confirmation") == {"PENDING"}


def test_14_12_sync_exits_non_zero_and_says_which_template_failed_and_why(ctx, sandbox, run):
    shop = make_shop()
    sandbox.inject(kind="http", status=500, count=1)  # the upload session request fails at Graph's edge
    result = run("templates", "sync", "--shop", str(shop.id), "--only", "order_confirmation", "--only",
                 "shipping_shipped")
    assert result.exit_code == 1
    assert f"{LANGUAGES} of {2 * LANGUAGES} template(s) failed" in result.output
    assert "order_confirmation de: sample upload failed" in result.output
    assert statuses("order_confirmation") == {"NEEDS_SAMPLE"} and statuses("shipping_shipped") == {"PENDING"}
