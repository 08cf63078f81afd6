"""Tests of the sandbox Cloud API (integrations/whatsapp/sandbox.py) against the real server."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from integrations.whatsapp.consts import SIGNATURE_HEADER, SIGNATURE_PREFIX
from integrations.whatsapp.sandbox import Sandbox
from integrations.whatsapp.sandbox_limits import PairLimiter, ThroughputLimiter

SECRET = "test-app-secret"
AUTH = {"Authorization": "Bearer test-token"}
PN = "1234567890"
ROOT = Path(__file__).resolve().parents[1]


class Receiver:
    """A tiny webhook receiver: records every POST; answers 500 to the first ``fail_next``."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._cond:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                    if not failing:
                        receiver.posts.append((dict(self.headers), body))
                        receiver._cond.notify_all()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhook"
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 2.0) -> list[dict[str, Any]]:
        """Wait until ``predicate(statuses)`` holds; return the status items received so far."""
        with self._cond:
            self._cond.wait_for(lambda: predicate(self.statuses()), timeout)
            return self.statuses()

    def statuses(self) -> list[dict[str, Any]]:
        return [s for _, body in self.posts
                for s in json.loads(body)["entry"][0]["changes"][0]["value"].get("statuses", [])]


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(app_secret=SECRET, **kwargs)
    url = sandbox.start()
    try:
        yield sandbox, url
    finally:
        sandbox.stop()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def sandbox(receiver: Receiver) -> Iterator[tuple[Sandbox, str]]:
    with running(webhook_url=receiver.url, status_delays=(0.01, 0.03, 0.05)) as pair:
        yield pair


def send(url: str, body: Any, pn: str = PN, headers: dict[str, str] | None = AUTH,
         version: str = "v25.0") -> httpx.Response:
    if isinstance(body, (dict, list)):
        return httpx.post(f"{url}/{version}/{pn}/messages", json=body, headers=headers)
    return httpx.post(f"{url}/{version}/{pn}/messages", content=body, headers=headers)


def text(to: str = "+4915112345678", body: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
            "text": {"body": body}, **extra}


def graph_code(response: httpx.Response) -> int:
    error = response.json()["error"]
    assert error["type"] == "OAuthException" and error["fbtrace_id"]
    assert error["error_data"]["messaging_product"] == "whatsapp"
    return error["code"]


TEMPLATE = {
    "messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234", "type": "template",
    "template": {"name": "order_confirmation", "language": {"policy": "deterministic", "code": "en_US"},
                 "components": [
                     {"type": "header", "parameters": [{"type": "document", "document": {
                         "link": "https://shop.example/inv.pdf", "filename": "INV-1001.pdf"}}]},
                     {"type": "body", "parameters": [{"type": "text", "text": "Maria"},
                                                     {"type": "text", "text": "#1001"}]},
                     {"type": "button", "sub_type": "url", "index": "0",
                      "parameters": [{"type": "text", "text": "c/abc123"}]}]},
    "biz_opaque_callback_data": "order:1001",
}
DOCUMENT = {"messaging_product": "whatsapp", "to": "16505551234", "type": "document",
            "document": {"link": "https://shop.example/invoice.pdf", "filename": "invoice.pdf", "caption": "Invoice"}}


def test_text_template_and_document_sends_return_wamids(sandbox: tuple[Sandbox, str]) -> None:
    sb, url = sandbox
    replies = [send(url, text()), send(url, TEMPLATE), send(url, DOCUMENT)]
    assert [r.status_code for r in replies] == [200, 200, 200]
    first = replies[0].json()
    assert first["messaging_product"] == "whatsapp"
    assert first["contacts"] == [{"input": "+4915112345678", "wa_id": "4915112345678"}]
    assert "message_status" not in first["messages"][0]
    assert replies[1].json()["messages"][0]["message_status"] == "accepted"
    wamids = [r.json()["messages"][0]["id"] for r in replies]
    assert len(set(wamids)) == 3 and all(w.startswith("wamid.") for w in wamids)

    records = sb.messages()
    assert [m["wamid"] for m in records] == wamids
    assert [m["type"] for m in records] == ["text", "template", "document"]
    assert records[1]["payload"] == TEMPLATE and records[1]["callback_data"] == "order:1001"
    assert records[0]["callback_data"] is None
    assert records[0]["access_token"] == "test-token" and records[0]["phone_number_id"] == PN
    assert sb.messages("other") == [] and len(sb.received_at()) == 3
    assert sb.wait_for_messages(3, timeout=0.1) and not sb.wait_for_messages(4, timeout=0.05)


def test_other_graph_version_accepted_and_type_defaults_to_text(sandbox: tuple[Sandbox, str]) -> None:
    sb, url = sandbox
    body = text()
    del body["type"]
    assert send(url, body, version="v24.0").status_code == 200
    assert sb.messages()[0]["type"] == "text"
    assert sb.stats()["api_versions"] == ["v24.0"]


def test_media_upload_get_download_and_delete(sandbox: tuple[Sandbox, str]) -> None:
    _, url = sandbox
    pdf = b"%PDF-1.4 invoice"
    r = httpx.post(f"{url}/v25.0/{PN}/media", headers=AUTH, files={"file": ("inv.pdf", pdf, "application/pdf")},
                   data={"type": "application/pdf", "messaging_product": "whatsapp"})
    assert r.status_code == 200
    media_id = r.json()["id"]
    assert media_id.isdigit()

    info = httpx.get(f"{url}/v25.0/{media_id}", headers=AUTH).json()
    assert info == {"messaging_product": "whatsapp", "url": f"{url}/_sandbox/media/{media_id}",
                    "mime_type": "application/pdf", "sha256": hashlib.sha256(pdf).hexdigest(),
                    "file_size": len(pdf), "id": media_id}
    download = httpx.get(info["url"], headers=AUTH)
    assert download.content == pdf and download.headers["Content-Type"] == "application/pdf"
    assert httpx.get(info["url"]).status_code == 401  # like Meta's media URL, it needs the token

    by_id = {"messaging_product": "whatsapp", "to": "+4915112345678", "type": "document",
             "document": {"id": media_id, "filename": "inv.pdf"}}
    assert send(url, by_id).status_code == 200

    assert httpx.delete(f"{url}/v25.0/{media_id}", headers=AUTH).json() == {"success": True}
    missing = httpx.get(f"{url}/v25.0/{media_id}", headers=AUTH)
    assert missing.status_code == 400 and graph_code(missing) == 100

    no_file = httpx.post(f"{url}/v25.0/{PN}/media", headers=AUTH,
                         files={"type": (None, "application/pdf"), "messaging_product": (None, "whatsapp")})
    assert no_file.status_code == 400 and graph_code(no_file) == 131008


@pytest.mark.parametrize("headers", [None, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}])
def test_missing_token_is_401_code_190(sandbox: tuple[Sandbox, str], headers: dict[str, str] | None) -> None:
    sb, url = sandbox
    r = send(url, text(), headers=headers)
    assert r.status_code == 401 and graph_code(r) == 190
    assert sb.messages() == []


@pytest.mark.parametrize(("body", "code"), [
    (b"not json", 100),
    ([1, 2], 100),
    ({**text(), "messaging_product": "sms"}, 100),
    ({k: v for k, v in text().items() if k != "to"}, 100),
    ({**text(), "type": "sticker"}, 100),
    ({**text(), "text": {}}, 131008),
    (text(body="x" * 4097), 131009),
    ({**TEMPLATE, "template": {"name": "order_confirmation"}}, 131008),
    ({**TEMPLATE, "template": {**TEMPLATE["template"], "components": [{"type": "footer"}]}}, 131009),
    ({**TEMPLATE, "template": {**TEMPLATE["template"], "components": [
        {"type": "header", "parameters": [{"type": "document", "document": {"filename": "x.pdf"}}]}]}}, 131008),
    ({**DOCUMENT, "document": {"filename": "invoice.pdf"}}, 131008),
    ({**DOCUMENT, "document": {"link": "ftp://x/y.pdf"}}, 131009),
    (text(biz_opaque_callback_data="x" * 513), 131009),
])
def test_invalid_payload_is_400(sandbox: tuple[Sandbox, str], body: Any, code: int) -> None:
    sb, url = sandbox
    r = send(url, body)
    assert r.status_code == 400 and graph_code(r) == code
    assert sb.messages() == [] and sb.stats()["rejected"] == {str(code): 1}


def test_text_body_of_4096_chars_is_fine(sandbox: tuple[Sandbox, str]) -> None:
    assert send(sandbox[1], text(body="x" * 4096)).status_code == 200


async def _fire(url: str, bodies: list[dict[str, Any]], pn: str = PN) -> list[httpx.Response]:
    async with httpx.AsyncClient(headers=AUTH) as client:
        return list(await asyncio.gather(*(client.post(f"{url}/v25.0/{pn}/messages", json=b) for b in bodies)))


def test_throughput_limit_per_number(sandbox: tuple[Sandbox, str]) -> None:
    sb, url = sandbox
    sb.set_limits(PN, throughput_per_second=5)
    replies = asyncio.run(_fire(url, [text(to=f"+49151000000{i}") for i in range(8)]))
    assert sorted(r.status_code for r in replies) == [200] * 5 + [400] * 3
    assert sorted(graph_code(r) for r in replies if r.status_code != 200) == [130429] * 3
    assert len(sb.messages()) == 5
    # another number has its own window; removing the override restores the default (80/s)
    assert send(url, text(), pn="other").status_code == 200
    sb.set_limits(PN, throughput_per_second=None)
    assert send(url, text(to="+4915100000099")).status_code == 200


def test_throughput_window_slides_and_counts_accepted_only() -> None:
    limiter = ThroughputLimiter(2)
    assert limiter.allows("pn", 10.0)
    limiter.record("pn", 10.0)
    limiter.record("pn", 10.4)
    assert not limiter.allows("pn", 10.9)  # refused sends are not recorded
    assert limiter.allows("pn", 11.0)  # the 10.0 send has left the 1-second window
    limiter.record("pn", 11.0)
    assert not limiter.allows("pn", 11.3)


def test_pair_bucket_refills_one_token_per_interval() -> None:
    bucket = PairLimiter(capacity=2, interval=6.0)
    assert bucket.take("pn", "49", 0.0) and bucket.take("pn", "49", 0.1)
    assert not bucket.take("pn", "49", 3.0)
    assert bucket.take("pn", "49", 6.2) and not bucket.take("pn", "49", 6.3)
    assert bucket.take("pn", "50", 6.3)


def test_pair_rate_limit_per_recipient() -> None:
    with running(pair_burst=2, pair_interval_seconds=6) as (sb, url):
        assert [send(url, text(to="+4915111111111")).status_code for _ in range(2)] == [200, 200]
        third = send(url, text(to="4915111111111"))  # same consumer with or without "+"
        assert third.status_code == 400 and graph_code(third) == 131056
        assert "pair rate limit" in third.json()["error"]["message"]
        assert send(url, text(to="+4915122222222")).status_code == 200
        assert send(url, text(to="+4915111111111"), pn="other-number").status_code == 200
        assert sb.stats()["rejected"] == {"131056": 1}


def test_error_fault_matches_recipient_and_is_consumed_fifo(sandbox: tuple[Sandbox, str]) -> None:
    sb, url = sandbox
    sb.inject(kind="error", code=131049, count=2, to="+4915100000001")
    sb.inject(kind="error", code=131000)  # any recipient; Meta answers 500 for it
    sb.inject(kind="error", code=131047, count=1, http_status=403)

    other = send(url, text(to="+4915100000002"))
    assert other.status_code == 500 and graph_code(other) == 131000
    for _ in range(2):
        r = send(url, text(to="+4915100000001"))
        assert r.status_code == 400 and graph_code(r) == 131049
        assert "healthy ecosystem" in r.json()["error"]["message"]
    r = send(url, text(to="+4915100000001"))
    assert r.status_code == 403 and graph_code(r) == 131047
    assert send(url, text(to="+4915100000001")).status_code == 200
    assert sb.stats()["pending_faults"] == 0


def test_error_fault_not_consumed_by_invalid_send(sandbox: tuple[Sandbox, str]) -> None:
    sb, url = sandbox
    sb.inject(kind="error", code=131026)
    assert graph_code(send(url, {**text(), "text": {}})) == 131008
    assert graph_code(send(url, text())) == 131026


def test_http_faults_via_endpoint(sandbox: tuple[Sandbox, str]) -> None:
    sb, url = sandbox
    assert httpx.post(f"{url}/_sandbox/faults", json={"kind": "http", "status": 429, "count": 1}).status_code == 200
    assert httpx.post(f"{url}/_sandbox/faults", json={"kind": "http", "status": 503, "count": 2}).status_code == 200
    throttled = send(url, text())
    assert throttled.status_code == 429 and graph_code(throttled) == 130429
    assert [send(url, text()).status_code for _ in range(2)] == [503, 503]
    assert "error" not in send(url, text(to="+4915100000003")).json()
    bad = httpx.post(f"{url}/_sandbox/faults", json={"kind": "meteor"})
    assert bad.status_code == 400 and not bad.json()["ok"]
    with pytest.raises(ValueError):
        sb.inject(kind="error")  # no code
    assert sb.stats()["rejected"] == {"130429": 1, "http_503": 2}


def test_latency_fault_and_reset_restores_it(sandbox: tuple[Sandbox, str]) -> None:
    sb, url = sandbox
    sb.inject(kind="latency", ms=150)
    started = time.perf_counter()
    assert send(url, text()).status_code == 200
    assert time.perf_counter() - started >= 0.14
    sb.reset()
    started = time.perf_counter()
    send(url, text())
    assert time.perf_counter() - started < 0.14


def _check_signed(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    expected = SIGNATURE_PREFIX + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def test_status_webhooks_sent_delivered_read(sandbox: tuple[Sandbox, str], receiver: Receiver) -> None:
    _, url = sandbox
    wamid = send(url, TEMPLATE).json()["messages"][0]["id"]
    statuses = receiver.wait_for(lambda s: len(s) >= 3)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    for (headers, body), status in zip(receiver.posts, statuses, strict=False):
        envelope = _check_signed(headers, body)
        assert envelope["object"] == "whatsapp_business_account"
        assert envelope["entry"][0]["id"] == "SANDBOX_WABA"
        change = envelope["entry"][0]["changes"][0]
        assert change["field"] == "messages"
        assert change["value"]["metadata"] == {"display_phone_number": "15550000000", "phone_number_id": PN}
        assert status["id"] == wamid and status["recipient_id"] == "16505551234"
        assert status["biz_opaque_callback_data"] == "order:1001"
        assert status["timestamp"].isdigit() and "conversation" not in status
    assert statuses[0]["pricing"] == {"billable": True, "pricing_model": "PMP", "type": "regular",
                                      "category": "utility"}
    assert "pricing" not in statuses[1] and "pricing" not in statuses[2]


def test_status_failure_fault_posts_failed(sandbox: tuple[Sandbox, str], receiver: Receiver) -> None:
    sb, url = sandbox
    sb.inject(kind="status_failure", code=131050, to="+4915100000007")
    assert send(url, text(to="+4915100000008")).status_code == 200  # not the matching recipient
    reply = send(url, {**TEMPLATE, "to": "+4915100000007",
                       "template": {"name": "back_in_stock", "language": {"code": "de"}}})
    assert reply.status_code == 200
    wamid = reply.json()["messages"][0]["id"]
    statuses = receiver.wait_for(lambda s: sum(x["id"] == wamid for x in s) >= 2 and len(s) >= 5)
    mine = [s for s in statuses if s["id"] == wamid]
    assert [s["status"] for s in mine] == ["sent", "failed"]
    assert mine[0]["pricing"]["category"] == "marketing"
    error = mine[1]["errors"][0]
    assert error["code"] == 131050 and error["title"] and error["error_data"]["details"]
    assert sorted(s["status"] for s in statuses if s["id"] != wamid) == ["delivered", "read", "sent"]


def test_webhook_retried_when_app_fails(receiver: Receiver) -> None:
    receiver.fail_next = 1
    with running(webhook_url=receiver.url, status_delays=(0.0, 0.3, 0.3)) as (sb, url):
        sb.webhook_retry_delays = (0.02, 0.05)
        send(url, text())
        assert [s["status"] for s in receiver.wait_for(lambda s: len(s) >= 1)][:1] == ["sent"]
        assert sb.stats()["webhooks"]["retried"] == 1


def test_unreachable_webhook_never_breaks_sends() -> None:
    with running(webhook_url="http://127.0.0.1:9/nowhere", status_delays=(0, 0, 0)) as (sb, url):
        sb.webhook_retry_delays = (0.01,)
        assert [send(url, text(to=f"+4915100000{i}")).status_code for i in range(3)] == [200] * 3
        deadline = time.monotonic() + 2
        while sb.stats()["webhooks"].get("gave_up", 0) < 9 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sb.stats()["webhooks"]["gave_up"] == 9
        with pytest.raises(ConnectionError):
            sb.post_inbound(PN, {"messages": []})


def test_no_statuses_when_disabled(receiver: Receiver) -> None:
    with running(webhook_url=receiver.url, send_statuses=False, status_delays=(0, 0, 0)) as (_, url):
        send(url, text())
        assert receiver.wait_for(lambda s: bool(s), timeout=0.1) == []


def test_post_inbound_signed_with_field(sandbox: tuple[Sandbox, str], receiver: Receiver) -> None:
    sb, url = sandbox
    prefs = {"user_preferences": [{"wa_id": "4915112345678", "detail": "User requested to stop marketing",
                                   "category": "marketing_messages", "value": "stop", "timestamp": 1731000000}]}
    assert sb.post_inbound(PN, prefs) == 200
    shopper = {"contacts": [{"profile": {"name": "Maria"}, "wa_id": "4915112345678"}],
               "messages": [{"from": "4915112345678", "id": "wamid.IN1", "timestamp": "1731000000",
                             "type": "text", "text": {"body": "Where is my order?"}}]}
    r = httpx.post(f"{url}/_sandbox/inbound", json={"phone_number_id": PN, "value": shopper})
    assert r.json() == {"status": 200}
    changes = [_check_signed(h, b)["entry"][0]["changes"][0] for h, b in receiver.posts]
    assert [c["field"] for c in changes] == ["user_preferences", "messages"]
    assert changes[0]["value"]["metadata"]["phone_number_id"] == PN
    assert changes[0]["value"]["user_preferences"] == prefs["user_preferences"]
    assert changes[1]["value"]["messages"][0]["text"]["body"] == "Where is my order?"


def test_reset_and_control_endpoints(sandbox: tuple[Sandbox, str]) -> None:
    sb, url = sandbox
    sb.set_limits(PN, throughput_per_second=1)
    assert send(url, text()).status_code == 200
    assert graph_code(send(url, text(to="+4915100000009"))) == 130429
    sb.inject(kind="error", code=131000, count=5)
    assert httpx.get(f"{url}/_sandbox/health").json() == {"ok": True}
    listed = httpx.get(f"{url}/_sandbox/messages", params={"phone_number_id": PN}).json()
    assert len(listed) == 1 and listed[0]["to"] == "+4915112345678"
    assert httpx.get(f"{url}/_sandbox/messages", params={"phone_number_id": "x"}).json() == []
    stats = httpx.get(f"{url}/_sandbox/stats").json()
    assert stats["accepted"] == 1 and stats["rejected"] == {"130429": 1} and stats["pending_faults"] == 5

    assert httpx.post(f"{url}/_sandbox/reset").json() == {"ok": True}
    assert sb.messages() == [] and sb.stats()["pending_faults"] == 0 and sb.stats()["rejected"] == {}
    assert send(url, text()).status_code == 200  # window cleared, override (1/s) kept
    assert graph_code(send(url, text(to="+4915100000009"))) == 130429
    sb.reset()
    assert httpx.post(f"{url}/_sandbox/limits", json={"phone_number_id": PN, "throughput_per_second": 3}).json()["ok"]
    assert [send(url, text(to=f"+49151000001{i}")).status_code for i in range(4)] == [200, 200, 200, 400]


def test_cli_runs_in_foreground_and_stops_on_sigterm() -> None:
    command = [sys.executable, "-m", "integrations.whatsapp.sandbox", "--port", "0", "--latency-ms", "1",
               "--no-statuses", "--app-secret", "S"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}) as proc:
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line.startswith("sandbox listening on http://127.0.0.1:"), line
            url = line.split(" on ", 1)[1].strip()
            assert httpx.get(f"{url}/_sandbox/health").json() == {"ok": True}
            assert send(url, text()).status_code == 200
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=10)
            assert proc.returncode == 0, stderr
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
