"""No phone number, name or message text in the logs at INFO, over a whole cycle: a send,
its status webhooks, an inbound reply, a stop, a failed send and a suppressed one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from connector.extensions import db
from connector.logs import KeyValueFormatter
from connector.models import Message, MessageStatus
from integrations.whatsapp.webhooks import sign
from tests.factories import make_contact, make_shop, order_confirmation

FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "whatsapp"
PHONE = "+4915199988877"
NAME = "Zerlina Quast"
SECRET_TEXT = "Bitte schicken Sie mir die Rechnung an Hauptstrasse 5"


def _inbound(phone_number_id: str) -> bytes:
    payload = json.loads((FIXTURES / "messages__text.json").read_text())
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    value["contacts"][0]["profile"]["name"] = NAME
    value["contacts"][0]["wa_id"] = PHONE.lstrip("+")
    value["messages"][0]["from"] = PHONE.lstrip("+")
    value["messages"][0]["text"]["body"] = SECRET_TEXT
    return json.dumps(payload).encode()


def test_no_personal_data_in_info_logs(ctx, client, drain, sandbox, caplog):
    caplog.set_level(logging.INFO)
    shop = make_shop()
    contact = make_contact(shop, PHONE, name=NAME)
    sent = order_confirmation(shop, contact, content={"body": [NAME, "#1001", SECRET_TEXT]}).message
    assert drain(lambda: db.session.get(Message, sent.id).status == MessageStatus.READ)

    body = _inbound("1000001")
    assert client.post("/webhooks/whatsapp", data=body, content_type="application/json",
                       headers={"X-Hub-Signature-256": sign(body, "test-app-secret")}).status_code == 200
    sandbox.inject(kind="error", code=131026, count=1)
    failed = order_confirmation(shop, contact, key="order:2:confirmation",
                                content={"body": [NAME, "#1002", SECRET_TEXT]}).message
    other = make_contact(shop, "+4915122233344", transactional=False, name="Quirin Zettel")
    suppressed = order_confirmation(shop, other, key="order:3:confirmation").message
    assert drain(lambda: db.session.get(Message, failed.id).status == MessageStatus.FAILED
                 and db.session.get(Message, suppressed.id).status == MessageStatus.SUPPRESSED, timeout=20)

    formatter = KeyValueFormatter()
    lines = [formatter.format(record) for record in caplog.records if record.levelno >= logging.INFO]
    assert len(lines) > 10, "the cycle should have logged its steps"
    text = "\n".join(lines)
    digits = PHONE.lstrip("+")
    for secret in (PHONE, digits, digits[-9:], NAME, "Zerlina", "Quast", SECRET_TEXT, "Hauptstrasse",
                   "+4915122233344", "Quirin"):
        assert secret not in text, f"{secret!r} leaked into the logs"
    # and the steps are there, by key and id
    for key in ("outbox.queued", "dispatch.finished", "status.applied", "inbound.recorded", "dispatch.failed",
                "dispatch.suppressed"):
        assert key in text
