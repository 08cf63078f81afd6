"""``connector demo``: the whole story end to end on embedded defaults, printed as it happens.

Everything is private to the run: a SQLite file and a redis-server in a temporary folder,
the sandbox Cloud API on a free port, the web app on another (so the sandbox's signed status
webhooks, the shopper's taps on short links, the invoice download and the back-in-stock
sign-up all go through the real endpoints), and a real RQ worker with its scheduler.
Nothing is left behind.

The story: a demo shop connects its number; Maria opts in, abandons a cart and gets the
reminders; she taps the link and buys (the sequence stops, the order confirmation carries
the invoice PDF); she is shipped (shipping updates); a coffee she asked about comes back in
stock (back-in-stock alert). Then the funnel.

Store events are the neutral events a Shopify or WooCommerce webhook becomes; they go
through ``connector.routing.EVENT_HANDLERS`` after the stale-state check, exactly as
``connector.routing.process_store_receipt`` applies them. Messages go through the outbox,
the governor, the paced sender and the sandbox.

A compressed clock: the demo shop's cart reminders are due after seconds, not hours
(``delays_seconds``), the pair interval is one second, and quiet hours are off so that
the demo gives the same story at any time of day (``tests/test_automation_quiet_hours.py``
shows them at work). Marketing consent goes through the real double opt-in: the sign-up
queues the confirmation template, and Maria's "Yes, subscribe" tap arrives as a signed
inbound webhook from the sandbox.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from werkzeug.serving import make_server

from connector import embedded_redis
from connector.app import create_app
from connector.automations.attribution import funnel
from connector.cli_funnel import format_funnel
from connector.consent import history
from connector.events import (
    CheckoutUpdated,
    Customer,
    FulfillmentUpdated,
    LineItem,
    Order,
    OrderPaid,
    OrderPlaced,
    StockChanged,
)
from connector.events import FulfillmentStatus as S
from connector.extensions import db
from connector.jobs.worker import make_worker
from connector.messaging import catalogue
from connector.models import Cart, Contact, Message, OrderRecord, Shop, ShortLink, WhatsAppAccount
from connector.models.contacts import CONSENT_GRANTED
from connector.ordering import is_stale
from connector.routing import EVENT_HANDLERS
from integrations.whatsapp.sandbox import Sandbox

DEMO_PHONE = "+4915123456789"
SHOP_DOMAIN = "demo-coffee.example"
CARRIER_HOST = "www.dhl.de"
WAIT_SECONDS = 15.0
#: the demo shop's settings: a compressed clock and a governor that does not hold the story up
DEMO_SETTINGS = {
    "link_domains": [CARRIER_HOST],
    "governor": {
        "quiet_hours": {"enabled": False},
        "pair_interval_seconds": 1.0,
        "frequency_caps": {"marketing": {"max_messages": 4, "per_hours": 24}},
    },
    "automations": {
        "abandoned_cart": {"delays_seconds": [2, 4, 40], "discount_code": "COMEBACK10", "discount_value": "10 %"},
        "back_in_stock": {"batch_interval_seconds": 3600},
    },
}


class DemoError(RuntimeError):
    """A step of the story did not happen in time."""


#: the opt-in question and its "subscribed" answer, two cart reminders, the order confirmation,
#: three shipping updates and the back-in-stock alert: each exactly once
EXPECTED_MESSAGES = 9


def run_demo(timeout: float = 50.0) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the story, not the request log
    workdir = tempfile.mkdtemp(prefix="connector-demo-")
    redis = embedded_redis.start()
    sandbox = Sandbox(app_secret="demo-app-secret", status_delays=(0.1, 0.3, 0.6), pair_interval_seconds=1.0)
    server = None
    try:
        sandbox.start()
        app = _demo_app(workdir, redis.url, sandbox.base_url)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        # links in the messages point at this very server, so the demo can follow them
        app.config["CONNECTOR"] = dataclasses.replace(app.config["CONNECTOR"], app_url=base)
        sandbox.webhook_url = f"{base}/webhooks/whatsapp"
        with app.app_context():
            try:
                return Story(app, sandbox, base, timeout).run()
            except DemoError as error:
                print(f"[!] {error}", flush=True)
                return 1
    finally:
        if server is not None:
            server.shutdown()
        sandbox.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _demo_app(workdir: str, redis_url: str, sandbox_url: str):
    from cryptography.fernet import Fernet


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


class Story:
    def __init__(self, app, sandbox, base_url: str, timeout: float):
        self.app, self.sandbox, self.base_url = app, sandbox, base_url
        self.deadline = time.monotonic() + timeout
        self.started = time.monotonic()
        self.shown = 0
        self.clock = datetime.now(timezone.utc)

    # -- the story ---------------------------------------------------------------------------

    def run(self) -> int:
        import httpx
        from flask_migrate import upgrade


        self.app.config["MIGRATIONS_QUIET"] = True
        upgrade()
        self.worker = make_worker(self.app)
        self.http = httpx.Client(base_url=self.base_url, timeout=10)
        shop = self._shop()
        _say("1", f"A demo shop ({shop.name}, {SHOP_DOMAIN}) connects its WhatsApp number (the sandbox Cloud API).")
        _say(" ", "Compressed clock: cart reminders after 2 s, 4 s and 40 s (default 1 h, 24 h, 72 h); "
                  "quiet hours off.")

        _say("2", "Maria subscribes to a sold-out coffee and ticks 'offers on WhatsApp' (the storefront form):")
        self._apply(StockChanged(platform="demo", product_id="21", variant_id="221", available=False, quantity=0,
                                 occurred_at=self._tick(), title="Ethiopia Guji 250 g"))
        answer = self.http.post("/storefront/api/back-in-stock", json={
            "shop_key": shop.shop_key, "phone": DEMO_PHONE, "variant_id": "221", "product_id": "21", "locale": "de"})
        _say(" ", f"POST /storefront/api/back-in-stock → {answer.status_code}, "
                  f"marketing consent {answer.json()['consent']}")
        _say(" ", "The alert is marketing, so WhatsApp asks her to confirm first (double opt-in):")
        contact = self._confirm_opt_in(shop)
        _say(" ", f"She taps 'Yes, subscribe': marketing consent {contact.marketing_consent} "
                  f"(ledger: {', '.join(self._ledger(contact.id))}).")

        _say("3", "She fills a cart (2 × Espresso beans, 1 × milk jug) and leaves at the checkout:")
        self._apply(self._checkout())
        cart = db.session.scalars(select_cart(shop.id)).one()
        for message in self._cart_steps(shop.id, cart.id):
            _say(" ", f"queued {message.idempotency_key} {message.template_name} due in "
                      f"{max(0.0, (message.due_at - datetime.now(timezone.utc)).total_seconds()):.0f} s")
        self._until(lambda: self._sent_templates(shop.id) >= {"cart_reminder_1", "cart_reminder_2"},
                    "the first two cart reminders")

        _say("4", "Maria taps 'Complete my order' in the second reminder:")
        step2 = next(m for m in self._cart_steps(shop.id, cart.id) if m.template_name == "cart_reminder_2")
        code = step2.content["buttons"][0]["url_suffix"]
        tap = self.http.get(f"/l/{code}", follow_redirects=False)
        _say(" ", f"GET /l/{code} → {tap.status_code} {tap.headers.get('location')}")

        _say("5", "She buys: order #1001 is placed and paid "
                  "(the sequence stops, the confirmation carries the invoice).")
        order = self._order()
        self._apply(OrderPlaced(order))
        self._apply(OrderPaid(dataclasses.replace(order, updated_at=self._tick(), financial_status="paid")))
        self._apply(OrderPaid(dataclasses.replace(order, updated_at=self._tick(), financial_status="paid")))
        db.session.expire_all()
        for message in self._cart_steps(shop.id, cart.id):
            _say(" ", f"{message.idempotency_key} {message.template_name}: {message.status}"
                      f"{' (' + message.status_reason + ')' if message.status_reason else ''}")
        record = db.session.scalars(select_order(shop.id)).one()
        _say(" ", f"cart {db.session.get_one(Cart, cart.id).status}; "
                  f"order attributed to {record.attributed_automation} "
                  f"({record.attribution}); the paid webhook came twice, one confirmation is queued")
        self._until(lambda: "order_confirmation" in self._sent_templates(shop.id), "the order confirmation")
        confirmation = db.session.scalars(select_key(shop.id, "order:1001:confirmation")).one()
        invoice = self.http.get(confirmation.content["header"]["link"].replace(self.base_url, ""))
        _say(" ", f"the invoice link answers {invoice.status_code} {invoice.headers.get('content-type')}, "
                  f"{len(invoice.content):,} bytes ({invoice.content[:8].decode(errors='replace')}…)")

        _say("6", "The parcel travels (shipped, out for delivery, delivered; 'shipped' arrives twice):")
        for status in (S.SHIPPED, S.SHIPPED, S.OUT_FOR_DELIVERY, S.DELIVERED):
            self._apply(self._fulfillment(status))
            template = {S.SHIPPED: "shipping_shipped", S.OUT_FOR_DELIVERY: "shipping_out_for_delivery",
                        S.DELIVERED: "shipping_delivered"}[status]
            self._until(lambda t=template: t in self._sent_templates(shop.id), template)

        _say("7", "The Ethiopia Guji is back: 5 units (Maria is first in line).")
        self._apply(StockChanged(platform="demo", product_id="21", variant_id="221", available=True, quantity=5,
                                 occurred_at=self._tick(), title="Ethiopia Guji 250 g"))
        self._until(lambda: "back_in_stock" in self._sent_templates(shop.id), "the back-in-stock alert")

        _say("8", "Waiting for the last read receipts, then the funnel (`connector report --shop 1`):")
        self._until(lambda: self._all_read(shop.id), "read receipts for every message sent")
        print(format_funnel(funnel(shop.id)), flush=True)
        sent = db.session.scalars(select_sent(shop.id)).all()
        total = len(self.sandbox.messages())
        print(f"\nDone in {time.monotonic() - self.started:.1f} s: {total} WhatsApp messages, each sent once "
              f"({len(sent)} outbox rows sent).", flush=True)
        self.http.close()
        return 0 if total == len(sent) == EXPECTED_MESSAGES else 1

    # -- building blocks ---------------------------------------------------------------------

    def _shop(self):
        shop = Shop(platform="demo", domain=SHOP_DOMAIN, name="Demo Coffee Roasters", time_zone="Europe/Berlin",
                    locale="de", currency="EUR", country="DE", settings=DEMO_SETTINGS)
        db.session.add(shop)
        db.session.flush()
        db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id="100000000000001", waba_id="SANDBOX_WABA",
                                       display_phone_number="+1 555 000 0000", access_token="sandbox-token",
                                       throughput_per_second=80))
        db.session.commit()
        return shop

    def _confirm_opt_in(self, shop):
        """Wait for the confirmation question, then tap YES the way WhatsApp would send it."""
        from sqlalchemy import select


        self._until(lambda: "optin_confirmation" in self._sent_templates(shop.id), "the opt-in question")
        question = next(m for m in self.sandbox.messages() if m["type"] == "template"
                        and m["payload"]["template"]["name"] == "optin_confirmation")
        yes = next(c["parameters"][0]["payload"] for c in question["payload"]["template"]["components"]
                   if c["type"] == "button" and c["parameters"][0]["payload"].startswith("optin_yes"))
        self.sandbox.post_inbound(question["phone_number_id"], {
            "contacts": [{"wa_id": DEMO_PHONE.lstrip("+"), "profile": {"name": "Maria"}}],
            "messages": [{"from": DEMO_PHONE.lstrip("+"), "id": "wamid.demo-yes", "timestamp": str(int(time.time())),
                          "type": "button", "button": {"payload": yes, "text": "Yes, subscribe"},
                          "context": {"from": "15550000000", "id": question["wamid"]}}]})

        def granted() -> bool:
            db.session.expire_all()
            contact = db.session.scalars(select(Contact).where(Contact.shop_id == shop.id)).one()
            return contact.marketing_consent == CONSENT_GRANTED

        self._until(granted, "her YES")
        contact = db.session.scalars(select(Contact).where(Contact.shop_id == shop.id)).one()
        contact.name = contact.name or "Maria Muster"
        db.session.commit()
        return contact

    def _ledger(self, contact_id: int) -> list[str]:
        return [f"{entry.state} ({entry.source})" for entry in history(contact_id)]

    def _tick(self) -> datetime:
        """Event times that only move forward (the stale-state check compares them)."""
        self.clock = max(self.clock + timedelta(milliseconds=1), datetime.now(timezone.utc))
        return self.clock

    def _customer(self):
        return Customer(phone=DEMO_PHONE, first_name="Maria", last_name="Muster", locale="de", country="DE",
                        email="maria@example.com", whatsapp_opt_in=True)

    def _lines(self):
        return (LineItem(product_id="11", variant_id="111", title="Espresso beans 1 kg", quantity=2,
                         unit_price=Decimal("19.90"), tax=Decimal("6.36")),
                LineItem(product_id="12", variant_id="121", title="Milk jug", quantity=1, unit_price=Decimal("12.50"),
                         tax=Decimal("2.00")))

    def _checkout(self):
        at = self._tick()
        return CheckoutUpdated(platform="demo", cart_token="demo-cart-1", updated_at=at, created_at=at,
                               customer=self._customer(), lines=self._lines(), currency="EUR",
                               subtotal=Decimal("52.30"), total=Decimal("52.30"),
                               recovery_url=f"https://{SHOP_DOMAIN}/checkouts/demo-cart-1/recover")

    def _order(self):
        at = self._tick()
        return Order(platform="demo", order_id="1001", name="#1001", created_at=at, updated_at=at,
                     customer=self._customer(), lines=self._lines(), currency="EUR", subtotal=Decimal("52.30"),
                     shipping=Decimal("4.90"), tax=Decimal("8.36"), discount=Decimal("0"), total=Decimal("57.20"),
                     cart_tokens=("demo-cart-1",), status_url=f"https://{SHOP_DOMAIN}/orders/1001",
                     taxes_included=True, payment_method="card")

    def _fulfillment(self, status: str):
        return FulfillmentUpdated(platform="demo", order_id="1001", fulfillment_id="demo-fulfillment-1", status=status,
                                  occurred_at=self._tick(), tracking_company="DHL",
                                  tracking_numbers=("00340434161234567890",),
                                  tracking_urls=(f"https://{CARRIER_HOST}/de/privatkunden/pakete-empfangen/verfolgen.html"
                                                 "?piececode=00340434161234567890",),
                                  customer=self._customer(), order_name="#1001")

    def _apply(self, event) -> None:
        """What ``process_store_receipt`` does with each parsed event: stale check, then the handlers."""
        shop_id = self._shop_id()
        if not is_stale(shop_id, event):
            for handler in EVENT_HANDLERS.get(type(event), ()):
                handler(shop_id, event)
        db.session.commit()

    def _shop_id(self) -> int:
        from sqlalchemy import select


        return db.session.scalars(select(Shop.id).where(Shop.domain == SHOP_DOMAIN)).one()

    def _cart_steps(self, shop_id: int, cart_id: int):
        from sqlalchemy import select


        return db.session.scalars(select(Message).where(Message.shop_id == shop_id,
                                                        Message.idempotency_key.like(f"cart:{cart_id}:step:%"))
                                  .order_by(Message.id)).all()

    def _sent_templates(self, shop_id: int) -> set[str]:
        return {m.template_name for m in db.session.scalars(select_sent(shop_id))}

    def _all_read(self, shop_id: int) -> bool:
        sent = db.session.scalars(select_sent(shop_id)).all()
        return bool(sent) and all(m.read_at is not None for m in sent)

    def _until(self, condition, what: str) -> None:
        """Run the worker (burst, with its scheduler) and print arrivals until ``condition()``."""
        limit = min(self.deadline, time.monotonic() + WAIT_SECONDS)
        while True:
            self.worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
            self._print_arrivals()
            db.session.expire_all()
            if condition():
                return
            if time.monotonic() > limit:
                raise DemoError(f"the demo ran out of time waiting for {what}")
            time.sleep(0.1)

    def _print_arrivals(self) -> None:
        records = self.sandbox.messages()
        for record in records[self.shown:]:
            self._print_message(record)
        self.shown = len(records)

    def _print_message(self, record: dict) -> None:
        from sqlalchemy import select


        payload = record["payload"]
        if record["type"] == "text":
            at = time.monotonic() - self.started
            print(f"     ┌ {at:5.1f} s  WhatsApp to {payload['to']}: text", flush=True)
            for line in payload["text"]["body"].splitlines():
                print(f"     │ {line}")
            print("     └", flush=True)
            return
        template: Any = payload.get("template") or {}  # the JSON the sandbox accepted
        language: Any
        name, language = template.get("name"), (template.get("language") or {}).get("code")
        params, header, links = {}, None, []
        for component in template.get("components", []):
            if component["type"] == "body":
                params = {p["parameter_name"]: p.get("text") for p in component.get("parameters", [])}
            elif component["type"] == "header":
                for parameter in component.get("parameters", []):
                    header = parameter.get(parameter.get("type"), {})
            elif component["type"] == "button" and component.get("sub_type") == "url":
                links.append(component["parameters"][0]["text"])
        at = time.monotonic() - self.started
        print(f"     ┌ {at:5.1f} s  WhatsApp to {payload['to']}: template {name} ({language})", flush=True)
        try:
            text = catalogue.preview_text(catalogue.load_catalogue().get(name), language, params)
        except Exception as error:  # the demo prints what it can; the sandbox already validated the payload
            text = f"(no preview: {error})"
        for line in text.splitlines():
            print(f"     │ {line}")
        if header:
            print(f"     │ document {header.get('filename')}: {header.get('link')}")
        for code in links:
            target = db.session.scalars(select(ShortLink.target_url).where(ShortLink.code == code)).first()
            print(f"     │ link {self.base_url}/l/{code} → {target}")
        print("     └", flush=True)


def select_cart(shop_id: int):
    from sqlalchemy import select


    return select(Cart).where(Cart.shop_id == shop_id)


def select_order(shop_id: int):
    from sqlalchemy import select


    return select(OrderRecord).where(OrderRecord.shop_id == shop_id)


def select_key(shop_id: int, key: str):
    from sqlalchemy import select


    return select(Message).where(Message.shop_id == shop_id, Message.idempotency_key == key)


def select_sent(shop_id: int):
    from sqlalchemy import select


    return select(Message).where(Message.shop_id == shop_id, Message.sent_at.is_not(None)).order_by(Message.id)


def _say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)
