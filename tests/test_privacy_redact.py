"""Erasure (``customers/redact`` through the real Shopify endpoint, ``connector contacts forget``):
a shopper seeded across every table through the real paths (signed Shopify webhooks, the
sandbox's WhatsApp webhooks, the automations, a link click, a consent ledger entry, an
export), then erased; then every column of every table and every Redis key and value is
scanned for their phone (three formats), name and message text."""

from __future__ import annotations

import json
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.extensions import db, get_redis
from connector.models import (
    Cart,
    ConsentEvent,
    Contact,
    DataExport,
    InboundRecord,
    Invoice,
    LinkClick,
    Message,
    OrderRecord,
    ReviewAnswer,
    Shipment,
    Shop,
    ShortLink,
    StockSubscription,
    WebhookReceipt,
    WhatsAppAccount,
    utcnow,
)
from tests.test_invoices import pdf_strings
from tests.test_shopify_endpoint import deliver

FIXTURES = Path(__file__).parent / "fixtures" / "payloads" / "shopify"
PHONE_NUMBER_ID = "1000001"


@dataclass(frozen=True)
class Person:
    e164: str
    national: str  # as a shopper types it in the shop's country
    first: str
    last: str
    email: str
    customer_id: str
    order_id: str
    text: str  # what they write to the shop on WhatsApp
    tag: str  # keeps tokens and delivery ids apart

    @property
    def digits(self) -> str:
        return self.e164.lstrip("+")

    @property
    def needles(self) -> list[str]:
        """What must not be found after erasure: phone in three formats, name, email, text."""
        national_digits = "".join(ch for ch in self.national if ch.isdigit())
        return [self.e164, self.digits, national_digits, self.national, self.first, self.last, self.email, self.text]


ZELINDA = Person("+4915112345678", "0151 12345678", "Zelinda", "Quarkwood", "zelinda.q@example.org", "7700112233",
                 "8800112233", "Ist meine Lieferung Kiwanoschale schon unterwegs?", "z")
BERTRAND = Person("+4917612398765", "0176 12398765", "Bertrand", "Oxleyhurst", "b.oxleyhurst@example.net",
                  "7700445566", "8800445566", "Koennt ihr Marzipanhagel nachliefern?", "b")


# -- the shop and the seed --------------------------------------------------------------------------

@pytest.fixture
def redact_handlers(monkeypatch):
    """The compliance handlers in the event table (until connector/automations registers them)."""
    from connector import routing as automations
    from connector.events import CustomerDataRequest, CustomerRedact
    from connector.privacy import handle_customer_redact, handle_data_request

    monkeypatch.setitem(automations.EVENT_HANDLERS, CustomerRedact, (handle_customer_redact,))
    monkeypatch.setitem(automations.EVENT_HANDLERS, CustomerDataRequest, (handle_data_request,))


@pytest.fixture
def shop(ctx, fake_shopify, redact_handlers):
    return make_shopify_shop(fake_shopify)


def make_shopify_shop(fake_shopify) -> Shop:
    token = fake_shopify.issue_token()
    row = Shop(platform="shopify", domain=fake_shopify.shop_domain, name="Kaffee Demo", time_zone="Europe/Berlin",
               locale="de", country="DE", settings={"governor": {"quiet_hours": {"enabled": False}}})
    row.credentials = {"kind": "oauth", "access_token": token.access_token, "refresh_token": token.refresh_token}
    db.session.add(row)
    db.session.flush()
    db.session.add(WhatsAppAccount(shop_id=row.id, phone_number_id=PHONE_NUMBER_ID, waba_id="WABA1",
                                   access_token="EAAG-test-token", messaging_limit=None))
    db.session.commit()
    return row


def _now_iso(offset_seconds: int = 0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_seconds)).isoformat()


def _address(person: Person) -> dict:
    return {"first_name": person.first, "last_name": person.last, "name": f"{person.first} {person.last}",
            "address1": "Kastanienallee 12", "city": "Berlin", "zip": "10435", "country": "Germany",
            "country_code": "DE", "phone": person.national, "company": None, "address2": None}


def _customer(person: Person) -> dict:
    return {"id": int(person.customer_id), "email": person.email, "phone": person.e164, "first_name": person.first,
            "last_name": person.last, "default_address": _address(person)}


def _checkout(person: Person, domain: str) -> bytes:
    payload = json.loads((FIXTURES / "checkouts_create__sample.json").read_text())
    payload.update(token=f"ck-{person.tag}", cart_token=f"cart-{person.tag}", email=person.email, phone=person.e164,
                   customer=_customer(person), billing_address=_address(person), shipping_address=_address(person),
                   created_at=_now_iso(-60), updated_at=_now_iso(-60), completed_at=None, customer_locale="de",
                   abandoned_checkout_url=f"https://{domain}/checkouts/ck-{person.tag}/recover")
    return json.dumps(payload).encode()


def _order(person: Person, domain: str) -> bytes:
    payload = json.loads((FIXTURES / "orders_paid__sample.json").read_text())
    payload.update(id=int(person.order_id), name=f"#{person.order_id[-4:]}", email=person.email,
                   contact_email=person.email, phone=person.e164, customer=_customer(person),
                   billing_address=_address(person), shipping_address=_address(person),
                   checkout_token=f"ck-{person.tag}",
                   cart_token=f"cart-{person.tag}", created_at=_now_iso(-30), updated_at=_now_iso(-30),
                   processed_at=_now_iso(-30), customer_locale="de", currency="EUR", financial_status="paid",
                   order_status_url=f"https://{domain}/orders/{person.order_id}/authenticate?key=secret{person.tag}")
    return json.dumps(payload).encode()


def _fulfillment(person: Person) -> bytes:
    payload = json.loads((FIXTURES / "fulfillments_create__sample.json").read_text())
    payload.update(id=int(person.order_id) + 1, order_id=int(person.order_id), status="success",
                   shipment_status="in_transit", email=person.email,
                   destination={**_address(person), "phone": person.national.replace(" ", "")},
                   created_at=_now_iso(-10), updated_at=_now_iso(-10), name=f"#{person.order_id[-4:]}.1",
                   tracking_urls=["https://www.ups.com/track?n=1Z999"], tracking_numbers=["1Z999"])
    return json.dumps(payload).encode()


def _inbound(person: Person) -> dict:
    return {"contacts": [{"profile": {"name": f"{person.first} {person.last}"}, "wa_id": person.digits}],
            "messages": [{"from": person.digits, "id": f"wamid.in-{person.tag}", "type": "text",
                          "timestamp": str(int(datetime.now(timezone.utc).timestamp())),
                          "text": {"body": person.text}}]}


def seed(person: Person, *, shop: Shop, client, fake_shopify, sandbox, drain) -> Contact:
    """The person in every table, through the paths production uses."""
    from connector import optin
    from connector.automations import back_in_stock
    from connector.conversations import reviews
    from connector.privacy import export_customer
    from connector.ratelimit import Limit, hit

    secret = fake_shopify.api_secret
    for topic, body in (("checkouts/create", _checkout(person, shop.domain)),
                        ("orders/paid", _order(person, shop.domain)),
                        ("fulfillments/create", _fulfillment(person))):
        response = deliver(client, body, topic=topic, shop_domain=shop.domain, secret=secret,
                           event_id=f"{person.tag}-{topic}")
        assert response.status_code == 200 and response.get_json() == {"status": "accepted"}, response.get_json()
        assert drain(lambda: db.session.scalar(select(func.count(WebhookReceipt.id)).where(
            WebhookReceipt.processed_at.is_(None))) == 0)
    contact = db.session.scalars(select(Contact).where(Contact.shop_id == shop.id,
                                                       Contact.phone_e164 == person.e164)).one()
    assert sandbox.post_inbound(PHONE_NUMBER_ID, _inbound(person)) == 200
    assert drain(lambda: db.session.scalar(select(func.count(InboundRecord.id)).where(
        InboundRecord.contact_id == contact.id)) == 1)
    contact = db.session.get(Contact, contact.id)
    # a rating of the order and a comment in the shopper's own words (connector/conversations/reviews.py)
    assert reviews.record_rating(shop, contact, "review_2", order_id=person.order_id, at=utcnow()) == "review_rating"
    assert reviews.take_comment(shop, contact, f"{person.first} {person.last} hier, ruf mich an: {person.national}",
                                utcnow()) == "review_comment"
    db.session.commit()
    # what the storefront would record: the ledger entry with the text shown, a subscription,
    # the opt-in limit's counter
    optin.request_opt_in(shop, contact, source="widget_popup",
                         text_shown=f"Ja, {person.first}, schick mir Angebote per WhatsApp an {person.national}.",
                         evidence={"phone_entered": person.national, "name_entered": f"{person.first} {person.last}"})
    back_in_stock.subscribe(shop, contact, "111", "11")
    db.session.commit()
    hit(get_redis(), [(Limit("optin_phone", 5, 3600), person.e164)])
    # a click on one of the person's tracked links
    link = db.session.scalars(
        select(ShortLink).where(ShortLink.contact_id == contact.id).order_by(ShortLink.id)).first()
    assert link is not None
    assert client.get(f"/l/{link.code}").status_code in (302, 303)
    # every message out and its statuses back (the sandbox posts them to the real endpoint)
    assert drain(lambda: all(status in ("read", "cancelled", "suppressed") for status in db.session.scalars(
        select(Message.status).where(Message.contact_id == contact.id))) and db.session.scalar(
        select(func.count(WebhookReceipt.id)).where(WebhookReceipt.processed_at.is_(None))) == 0, timeout=30)
    export_customer(shop, [contact], request_ref="before-erasure")
    db.session.commit()
    return db.session.get(Contact, contact.id)


def seeded_everywhere(contact: Contact) -> dict[str, int]:
    """Rows of the contact per table, to prove the seed reached each one."""
    counts = {model.__tablename__: db.session.scalar(select(func.count(model.id)).where(model.contact_id == contact.id))
              for model in (ConsentEvent, Message, InboundRecord, ShortLink, LinkClick, StockSubscription, OrderRecord,
                            ReviewAnswer)}
    counts["carts"] = db.session.scalar(select(func.count(Cart.id)).where(Cart.contact_id == contact.id))
    counts["shipments"] = db.session.scalar(select(func.count(Shipment.id)).where(Shipment.shop_id == contact.shop_id))
    counts["invoices"] = db.session.scalar(select(func.count(Invoice.id)).where(Invoice.shop_id == contact.shop_id))
    counts["data_exports"] = db.session.scalar(select(func.count(DataExport.id)).where(
        DataExport.shop_id == contact.shop_id))
    return counts


# -- the scan ---------------------------------------------------------------------------------------

def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        if value.startswith(b"%PDF"):
            return " ".join(pdf_strings(value))
        try:
            return zlib.decompress(value).decode("utf-8", errors="replace")
        except zlib.error:
            return value.decode("utf-8", errors="replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def database_hits(needles: list[str]) -> list[str]:
    """``table.column#id: needle`` for every needle found in any column of any row.

    Encrypted columns (``EncryptedText``: exports, credentials, tokens) are read through
    their column type, so the scan sees the plaintext."""
    hits = []
    db.session.expire_all()
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)).mappings():
            for column, value in row.items():
                text = _text(value).lower()
                hits += [f"{table.name}.{column}#{row.get('id')}: {needle}" for needle in needles
                         if needle.lower() in text]
    return hits


def redis_hits(needles: list[str]) -> list[str]:
    redis = get_redis()
    hits = []
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key).decode()
        if kind == "string":
            values = [redis.get(key)]
        elif kind == "hash":
            values = [item for pair in redis.hgetall(key).items() for item in pair]
        elif kind == "list":
            values = redis.lrange(key, 0, -1)
        elif kind == "set":
            values = list(redis.smembers(key))
        elif kind == "zset":
            values = redis.zrange(key, 0, -1)
        elif kind == "stream":
            values = [item for _, fields in redis.xrange(key) for pair in fields.items() for item in pair]
        else:
            values = []
        text = " ".join(_text(value) for value in [key, *values]).lower()
        hits += [f"redis {key!r}: {needle}" for needle in needles if needle.lower() in text]
    return hits


def anonymous_counts(shop_id: int) -> dict:
    rows = db.session.execute(select(Message.automation, Message.status, func.count(Message.id))
                              .where(Message.shop_id == shop_id).group_by(Message.automation, Message.status)).all()
    return {
        "messages": Counter({(automation, status): count for automation, status, count in rows}),
        "contacts": db.session.scalar(select(func.count(Contact.id)).where(Contact.shop_id == shop_id)),
        "orders": db.session.scalar(select(func.count(OrderRecord.id)).where(OrderRecord.shop_id == shop_id)),
        "clicks": db.session.scalar(select(func.count(LinkClick.id)).where(LinkClick.shop_id == shop_id)),
        "inbound": db.session.scalar(select(func.count(InboundRecord.id)).where(InboundRecord.shop_id == shop_id)),
    }


def _settled_counts(shop_id: int) -> dict:
    counts = anonymous_counts(shop_id)
    assert all(status not in ("queued", "sending") for _, status in counts["messages"]), counts
    return counts


def _assert_seeded(contact: Contact) -> None:
    seeded = seeded_everywhere(contact)
    assert all(count >= 1 for count in seeded.values()), seeded


def _assert_forgotten(person: Person, other: Person, shop_id: int, before: dict, contact_id: int) -> None:
    assert database_hits(person.needles) == []
    assert redis_hits(person.needles) == []
    # the scanner does find a person who is still there: the other shopper, untouched
    assert {needle for needle in other.needles if any(hit.endswith(f": {needle}") for hit in database_hits([needle]))} \
        == set(other.needles)
    assert _rate_limit_keys() == 1  # the other shopper's counter stays
    after = anonymous_counts(shop_id)
    assert after == before
    contact = db.session.get(Contact, contact_id)
    assert contact.redacted_at is not None and contact.phone_e164 is None and contact.name is None
    assert contact.marketing_consent == "revoked" and contact.transactional_consent == "revoked"
    assert all(message.content == {} for message in
               db.session.scalars(select(Message).where(Message.contact_id == contact_id)))
    ledger = db.session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)
                                .order_by(ConsentEvent.id)).all()
    assert ledger and all(entry.text_shown is None and entry.evidence is None for entry in ledger)
    assert ledger[-1].source == "redaction" and ledger[-1].state == "revoked"


def _rate_limit_keys() -> int:
    return len(list(get_redis().scan_iter(match="connector:rate:*")))


# -- the tests --------------------------------------------------------------------------------------

def test_customers_redact_through_the_endpoint_leaves_nothing_of_the_person(client, shop, fake_shopify, sandbox,
                                                                            drain):
    zelinda = seed(ZELINDA, shop=shop, client=client, fake_shopify=fake_shopify, sandbox=sandbox, drain=drain)
    seed(BERTRAND, shop=shop, client=client, fake_shopify=fake_shopify, sandbox=sandbox, drain=drain)
    _assert_seeded(zelinda)
    assert set(database_hits(ZELINDA.needles)) and _rate_limit_keys() == 2  # the scan sees the person before
    before = _settled_counts(shop.id)

    body = json.dumps({"shop_id": 954889, "shop_domain": shop.domain,
                       "customer": {"id": int(ZELINDA.customer_id), "email": ZELINDA.email, "phone": ZELINDA.e164},
                       "orders_to_redact": [int(ZELINDA.order_id)]}).encode()
    response = deliver(client, body, topic="customers/redact", shop_domain=shop.domain,
                       secret=fake_shopify.api_secret, event_id="redact-z")
    assert response.status_code == 200 and response.get_json() == {"status": "accepted"}
    assert drain(lambda: db.session.scalar(select(func.count(WebhookReceipt.id)).where(
        WebhookReceipt.processed_at.is_(None))) == 0)

    redact_receipt = db.session.scalars(select(WebhookReceipt).where(WebhookReceipt.topic == "customers/redact")).one()
    assert redact_receipt.outcome == "processed" and redact_receipt.body == b"{}"
    _assert_forgotten(ZELINDA, BERTRAND, shop.id, before, zelinda.id)
    assert db.session.scalar(select(func.count(DataExport.id))) == 1  # Bertrand's export stays


def test_redact_found_by_orders_only_when_the_payload_has_no_phone(client, shop, fake_shopify, sandbox, drain):
    zelinda = seed(ZELINDA, shop=shop, client=client, fake_shopify=fake_shopify, sandbox=sandbox, drain=drain)
    body = json.dumps({"shop_id": 1, "shop_domain": shop.domain, "customer": {"id": 1, "email": None, "phone": None},
                       "orders_to_redact": [int(ZELINDA.order_id)]}).encode()
    deliver(client, body, topic="customers/redact", shop_domain=shop.domain, secret=fake_shopify.api_secret,
            event_id="redact-orders")
    assert drain(lambda: db.session.get(Contact, zelinda.id).redacted_at is not None)
    assert database_hits(ZELINDA.needles) == []


def test_contacts_forget_cli_leaves_nothing_and_needs_yes(ctx, client, shop, fake_shopify, sandbox, drain):
    from connector.cli_contacts import contacts_group

    zelinda = seed(ZELINDA, shop=shop, client=client, fake_shopify=fake_shopify, sandbox=sandbox, drain=drain)
    seed(BERTRAND, shop=shop, client=client, fake_shopify=fake_shopify, sandbox=sandbox, drain=drain)
    before = _settled_counts(shop.id)
    runner = ctx.test_cli_runner()

    refused = runner.invoke(contacts_group, ["forget", "--shop", str(shop.id), "--phone", ZELINDA.national])
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert db.session.get(Contact, zelinda.id).redacted_at is None
    ambiguous = runner.invoke(contacts_group, ["forget", "--shop", str(shop.id), "--phone", ZELINDA.national,
                                               "--email", ZELINDA.email, "--yes"])
    assert ambiguous.exit_code == 2

    result = runner.invoke(contacts_group, ["forget", "--shop", str(shop.id), "--phone", ZELINDA.national, "--yes"])
    assert result.exit_code == 0, result.output
    assert "forgot 1 contact(s)" in result.output
    _assert_forgotten(ZELINDA, BERTRAND, shop.id, before, zelinda.id)


def test_the_same_phone_in_another_shop_and_other_contacts_are_untouched(ctx, client, shop, fake_shopify):
    from connector.privacy import find_contacts, forget_contacts
    from tests.factories import make_contact, make_shop, order_confirmation

    other_shop = make_shop("other-shop.myshopify.com", phone_number_id="1000002")
    twin = make_contact(other_shop, ZELINDA.e164, name=f"{ZELINDA.first} {ZELINDA.last}")
    twin_message = order_confirmation(other_shop, twin, content={"body": [ZELINDA.first]}).message
    db.session.add(InboundRecord(shop_id=other_shop.id, contact_id=twin.id, wamid="wamid.twin", kind="text",
                                 text=ZELINDA.text, received_at=datetime.now(timezone.utc)))
    mine = make_contact(shop, ZELINDA.e164, name=f"{ZELINDA.first} {ZELINDA.last}")
    neighbour = make_contact(shop, BERTRAND.e164, name=f"{BERTRAND.first} {BERTRAND.last}")
    order_confirmation(shop, mine, content={"body": [ZELINDA.first]})
    neighbour_message = order_confirmation(shop, neighbour, key="order:2:confirmation",
                                           content={"body": [BERTRAND.first]}).message
    db.session.commit()

    found = find_contacts(shop.id, phone=ZELINDA.national)
    assert [contact.id for contact in found] == [mine.id]
    forget_contacts(shop, found)
    db.session.commit()
    db.session.expire_all()

    assert db.session.get(Contact, mine.id).phone_e164 is None
    twin = db.session.get(Contact, twin.id)
    assert (twin.phone_e164, twin.name, twin.redacted_at) == (ZELINDA.e164, f"{ZELINDA.first} {ZELINDA.last}", None)
    assert db.session.get(Message, twin_message.id).content == {"body": [ZELINDA.first]}
    assert (db.session.scalars(select(InboundRecord.text).where(InboundRecord.contact_id == twin.id)).one()
            == ZELINDA.text)
    neighbour = db.session.get(Contact, neighbour.id)
    assert neighbour.phone_e164 == BERTRAND.e164 and neighbour.redacted_at is None
    assert db.session.get(Message, neighbour_message.id).content == {"body": [BERTRAND.first]}
    assert db.session.get(Message, neighbour_message.id).status == "queued"


def test_forget_cancels_what_was_still_waiting(ctx, shop):
    from connector.privacy import forget_contacts
    from tests.factories import make_contact, order_confirmation

    contact = make_contact(shop, ZELINDA.e164)
    waiting = order_confirmation(shop, contact, due_at=datetime.now(timezone.utc) + timedelta(hours=2)).message
    forget_contacts(shop, [contact])
    db.session.commit()
    row = db.session.get(Message, waiting.id)
    assert (row.status, row.status_reason, row.content) == ("cancelled", "contact_forgotten", {})
