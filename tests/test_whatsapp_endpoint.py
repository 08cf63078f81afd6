"""``GET, POST /webhooks/whatsapp``: the handshake, the signature on the raw body, and bad
input that gets a precise 4xx and leaves no row and no job behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.extensions import db, get_redis
from connector.models import Contact, Message, MessageStatus, WebhookReceipt, utcnow
from connector.queues import INGEST, get_queue
from integrations.whatsapp.webhooks import sign
from tests.factories import make_contact, make_shop

FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "whatsapp"
SECRET = "test-app-secret"


def fixture_for(name: str, phone_number_id: str) -> bytes:
    """A real Meta sample, re-addressed to our test shop's number."""
    payload = json.loads((FIXTURES / f"{name}.json").read_text())
    for entry in payload["entry"]:
        for change in entry["changes"]:
            change["value"].setdefault("metadata", {})["phone_number_id"] = phone_number_id
    return json.dumps(payload).encode()


def post(client, body: bytes, signature: str | None = "auto", **headers):
    if signature == "auto":
        signature = sign(body, SECRET)
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post("/webhooks/whatsapp", data=body, headers=headers, content_type="application/json")


def receipts() -> int:
    return db.session.scalar(select(func.count()).select_from(WebhookReceipt))


def jobs() -> int:
    return get_queue(INGEST).count


def test_verification_handshake(client):
    ok = client.get("/webhooks/whatsapp", query_string={"hub.mode": "subscribe",
                                                        "hub.verify_token": "test-verify-token",
                                                       "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.get_data(as_text=True)) == (200, "1158201444")
    wrong = client.get("/webhooks/whatsapp", query_string={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                          "hub.challenge": "1158201444"})
    assert wrong.status_code == 403 and "1158201444" not in wrong.get_data(as_text=True)


def test_signed_status_is_stored_once_and_queued_once(client):
    make_shop()
    body = fixture_for("statuses__delivered", "1000001")
    first = post(client, body)
    again = post(client, body)
    assert (first.status_code, first.json["status"]) == (200, "accepted")
    assert (again.status_code, again.json["status"]) == (200, "duplicate")
    assert receipts() == 1 and jobs() == 1


@pytest.mark.parametrize(
    ("signature", "status"),
    [
        (None, 401),
        ("", 401),
        ("sha256=not-hex", 401),
        ("sha1=" + "0" * 40, 401),
        ("sha256=" + "0" * 64, 403),
        (sign(b"another body", SECRET), 403),
        (sign(b"{}", "someone-elses-secret"), 403),
    ],
)
def test_bad_signatures_are_refused_and_leave_nothing(client, signature, status):
    make_shop()
    body = fixture_for("statuses__delivered", "1000001")
    response = post(client, body, signature=signature)
    assert response.status_code == status
    assert response.json["error"] in ("signature_missing", "signature_invalid")
    assert receipts() == 0 and jobs() == 0


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2, 3]", b'"just a string"', "\udcff".encode("utf-8", "surrogatepass"),
     json.dumps({"object": "page", "entry": []}).encode()],
    ids=["malformed", "array", "string", "not-utf8", "not-whatsapp"],
)
def test_malformed_bodies_get_400_and_leave_nothing(client, body):
    make_shop()
    response = post(client, body)
    assert response.status_code == 400
    assert response.json["error"] == "bad_request_body"
    assert receipts() == 0 and jobs() == 0


def test_oversized_body_gets_413_and_leaves_nothing(client, ctx):
    make_shop()
    limit = ctx.config["CONNECTOR"].max_webhook_bytes
    body = b'{"object":"whatsapp_business_account","entry":[],"pad":"' + b"x" * limit + b'"}'
    response = post(client, body)
    assert response.status_code == 413
    assert receipts() == 0 and jobs() == 0


def test_unknown_number_is_acknowledged_and_not_stored(client):
    make_shop()
    response = post(client, fixture_for("statuses__delivered", "999999999"))
    assert (response.status_code, response.json["status"]) == (200, "ignored")
    assert receipts() == 0 and jobs() == 0


def test_inbound_text_opens_the_service_window_of_a_new_contact(client, drain):
    shop = make_shop()
    body = fixture_for("messages__text", "1000001")
    assert post(client, body).status_code == 200
    assert drain(lambda: db.session.scalar(select(func.count()).select_from(Contact)) == 1)
    contact = db.session.scalars(select(Contact)).one()
    assert contact.shop_id == shop.id and contact.phone_e164.startswith("+")
    assert contact.last_inbound_at is not None
    assert contact.marketing_consent == "none"  # writing to a shop is not consent to marketing
    assert db.session.scalars(select(WebhookReceipt)).one().processed_at is not None


def test_user_preferences_stop_revokes_marketing_and_holds_queued_marketing(client, drain):
    from connector.messaging.outbox import queue_message

    shop = make_shop()
    payload = json.loads(fixture_for("user_preferences__stop", "1000001"))
    wa_id = payload["entry"][0]["changes"][0]["value"]["user_preferences"][0]["wa_id"]
    contact = make_contact(shop, "+" + wa_id)
    waiting = queue_message(shop=shop, contact=contact, idempotency_key="cart:9:step:2", automation="abandoned_cart",
                            purpose="marketing", kind="template", template_name="cart_reminder", language="en",
                            content={"body": ["x"]}, due_at=utcnow().replace(year=utcnow().year + 1)).message

    assert post(client, json.dumps(payload).encode()).status_code == 200
    assert drain(lambda: db.session.get(Contact, contact.id).marketing_consent == "revoked")
    assert db.session.get(Contact, contact.id).marketing_consent_source == "whatsapp_user_preferences"
    held = db.session.get(Message, waiting.id)
    assert (held.status, held.status_reason) == (MessageStatus.SUPPRESSED, "no_marketing_consent")


def test_health_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}
    assert get_redis().ping()
