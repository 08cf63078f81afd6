"""The synchronous Cloud API client against the sandbox: each message shape, media upload,
and Graph errors turned into typed exceptions that say whether a retry can help."""

from __future__ import annotations

import pytest

from integrations.whatsapp.client import WhatsAppClient
from integrations.whatsapp.consts import GRAPH_API_VERSION
from integrations.whatsapp.errors import Disposition, WhatsAppApiError, WhatsAppTransportError


@pytest.fixture
def whatsapp(sandbox):
    sandbox.reset()
    with WhatsAppClient(access_token="EAAG-client-test", phone_number_id="3000003",
                        base_url=sandbox.base_url) as client:
        yield client


def test_text_template_and_document_reach_the_api(whatsapp, sandbox):
    text = whatsapp.send_text("+4915112345678", "Ihre Bestellung ist unterwegs", callback_data="41")
    media_id = whatsapp.upload_media(b"%PDF-1.7 invoice", mime_type="application/pdf", filename="INV-1001.pdf")
    template = whatsapp.send_template(
        "+4915112345678", "order_confirmation", "de",
        header={"type": "document", "media_id": media_id, "filename": "INV-1001.pdf"},
        body=["Maria", "#1001"], buttons=[{"index": 0, "url_suffix": "orders/1001"}])
    document = whatsapp.send_document("+4915112345678", media_id=media_id, filename="INV-1001.pdf")

    assert len({text.wamid, template.wamid, document.wamid}) == 3
    assert template.message_status == "accepted"
    received = {record["wamid"]: record for record in sandbox.messages("3000003")}
    assert received[text.wamid]["payload"]["text"]["body"] == "Ihre Bestellung ist unterwegs"
    assert received[text.wamid]["callback_data"] == "41"
    assert received[text.wamid]["api_version"] == GRAPH_API_VERSION
    header = received[template.wamid]["payload"]["template"]["components"][0]
    assert header == {"type": "header", "parameters": [
        {"type": "document", "document": {"id": media_id, "filename": "INV-1001.pdf"}}]}
    assert received[document.wamid]["payload"]["document"]["id"] == media_id
    assert received[document.wamid]["access_token"] == "EAAG-client-test"


def test_graph_errors_become_typed_exceptions(whatsapp, sandbox):
    sandbox.inject(kind="error", code=131050, count=1)
    with pytest.raises(WhatsAppApiError) as opted_out:
        whatsapp.send_text("+4915112345678", "hello")
    assert (opted_out.value.code, opted_out.value.rule.disposition) == (131050, Disposition.OPTED_OUT)

    sandbox.inject(kind="http", status=503, count=1)
    with pytest.raises(WhatsAppApiError) as unavailable:
        whatsapp.send_text("+4915112345678", "hello")
    assert unavailable.value.http_status == 503 and unavailable.value.rule.disposition == Disposition.RETRYABLE


def test_unreachable_api_is_a_retryable_transport_error():
    with WhatsAppClient(access_token="t", phone_number_id="1", base_url="http://127.0.0.1:9") as client:
        with pytest.raises(WhatsAppTransportError) as error:
            client.send_text("+4915112345678", "hello")
    assert error.value.rule.disposition == Disposition.RETRYABLE
