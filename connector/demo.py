"""``connector demo``: the story end to end on embedded defaults, printed as it happens.

Everything is private to the run: a SQLite file and a redis-server in a temporary folder,
the sandbox Cloud API on a free port, the web app on another (so the sandbox's signed status
webhooks come back through the real endpoint), and a real RQ worker. Nothing is left behind.

Until the automations exist (issue 5), the story is one order confirmation through the whole
pipeline: outbox → governor → paced sender → sandbox → status webhooks → outbox statuses.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time

from werkzeug.serving import make_server

DEMO_PHONE = "+4915123456789"
STATUS_MARK = {"queued": "…", "sending": "→", "sent": "✓", "delivered": "✓✓", "read": "✓✓ (read)"}


def run_demo(timeout: float = 45.0) -> int:
    from connector import embedded_redis
    from integrations.whatsapp.sandbox import Sandbox

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the story, not the request log
    workdir = tempfile.mkdtemp(prefix="connector-demo-")
    redis = embedded_redis.start()
    sandbox = Sandbox(app_secret="demo-app-secret", status_delays=(0.3, 0.9, 1.6))
    server = None
    try:
        sandbox.start()
        app = _demo_app(workdir, redis.url, sandbox.base_url)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sandbox.webhook_url = f"http://127.0.0.1:{server.server_port}/webhooks/whatsapp"
        with app.app_context():
            return _story(app, sandbox, timeout)
    finally:
        if server is not None:
            server.shutdown()
        sandbox.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _demo_app(workdir: str, redis_url: str, sandbox_url: str):
    from cryptography.fernet import Fernet

    from connector import create_app

    os.environ["CONNECTOR_INSTANCE_PATH"] = workdir
    return create_app({
        "CONNECTOR_ENV": "development",
        "DATABASE_URL": f"sqlite:///{workdir}/demo.db",
        "REDIS_URL": redis_url,
        "WHATSAPP_API_BASE_URL": sandbox_url,
        "WHATSAPP_APP_SECRET": "demo-app-secret",
        "WHATSAPP_VERIFY_TOKEN": "demo-verify-token",
        "SECRET_KEY": "demo-secret-key",
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "LOG_LEVEL": "WARNING",
    })


def _story(app, sandbox, timeout: float) -> int:
    from flask_migrate import upgrade

    from connector.extensions import db
    from connector.jobs.worker import make_worker
    from connector.messaging.outbox import queue_message
    from connector.messaging.reports import outbox_rows
    from connector.models import Contact, Message, Shop, WhatsAppAccount, utcnow
    from connector.models.contacts import CONSENT_GRANTED
    from connector.phones import normalise

    started = time.monotonic()
    upgrade()
    _say("1", "A demo shop connects its WhatsApp number (the sandbox Cloud API).")
    shop = Shop(platform="demo", domain="demo-coffee.example", name="Demo Coffee Roasters", time_zone="Europe/Berlin",
                locale="de", currency="EUR", settings={})
    db.session.add(shop)
    db.session.flush()
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id="100000000000001", waba_id="SANDBOX_WABA",
                                   display_phone_number="+1 555 000 0000", access_token="sandbox-token"))
    phone = normalise(DEMO_PHONE)
    _say("2", f"Maria ({phone.e164}, {phone.country}, {phone.time_zone}) ticks 'order updates on WhatsApp' at checkout.")
    contact = Contact(shop_id=shop.id, phone_e164=phone.e164, country=phone.country, time_zone=phone.time_zone,
                      name="Maria", locale="de", transactional_consent=CONSENT_GRANTED,
                      transactional_consent_at=utcnow(), transactional_consent_source="checkout_checkbox")
    db.session.add(contact)
    db.session.commit()

    _say("3", "Order #1001 is paid: the order confirmation goes into the outbox (idempotency key order:1001:confirmation).")
    content = {"body": ["Maria", "#1001", "49,90 €"], "buttons": [{"index": 0, "url_suffix": "orders/1001"}]}
    queued = queue_message(shop=shop, contact=contact, idempotency_key="order:1001:confirmation",
                           automation="order_confirmation", purpose="transactional", kind="template",
                           template_name="order_confirmation", language="de", content=content)
    duplicate = queue_message(shop=shop, contact=contact, idempotency_key="order:1001:confirmation",
                              automation="order_confirmation", purpose="transactional", kind="template",
                              template_name="order_confirmation", language="de", content=content)
    _say(" ", f"The same webhook again finds message {duplicate.message.id} already there: nothing new is queued.")

    _say("4", "A worker runs the governor and the paced sender; the sandbox receives:")
    worker = make_worker(app)
    shown, last_status = 0, None
    while time.monotonic() - started < timeout:
        worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
        for record in sandbox.messages()[shown:]:
            _print_message(record)
        shown = len(sandbox.messages())
        db.session.expire_all()
        status = db.session.get(Message, queued.message.id).status
        if status != last_status:
            _say(" ", f"outbox status: {status} {STATUS_MARK.get(status, '')}")
            last_status = status
        if status in ("read", "failed", "suppressed"):
            break
        time.sleep(0.1)
    else:
        _say("!", "the demo ran out of time")
        return 1

    _say("5", "The shop's outbox (`connector outbox --shop 1`):")
    for row in outbox_rows(shop.id):
        print(f"     #{row['id']} {row['automation']} {row['template']}/{row['language']} {row['status']}"
              f" sent {row['sent_at'][11:19]} delivered {row['delivered_at'][11:19]} read {row['read_at'][11:19]}")
    total = len(sandbox.messages())
    print(f"\nDone in {time.monotonic() - started:.1f} s: {total} WhatsApp message sent, once.")
    return 0 if last_status == "read" and total == 1 else 1


def _print_message(record: dict) -> None:
    payload = record["payload"]
    template = payload.get("template", {})
    print(f"     ┌ WhatsApp to {payload['to']}  wamid {record['wamid'][:24]}…")
    print(f"     │ template {template.get('name')} ({template.get('language', {}).get('code')})")
    for component in template.get("components", []):
        values = [p.get("text") or p.get("type") for p in component.get("parameters", [])]
        label = component["type"] if component["type"] != "button" else f"button {component.get('index')} url suffix"
        print(f"     │ {label}: {', '.join(map(str, values))}")
    print("     └")


def _say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)
