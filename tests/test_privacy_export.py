"""The data export (``customers/data_request`` through the real Shopify endpoint, and
``connector contacts export``) compared with everything seeded for the shopper: each seeded
row is in it, and nothing of another shopper of the shop or of the same phone in another shop."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import func, select, text

from connector.extensions import db
from connector.models import (
    Cart,
    ConsentEvent,
    Contact,
    DataExport,
    InboundRecord,
    Invoice,
    IssuedCode,
    LinkClick,
    Message,
    OrderLine,
    OrderRecord,
    Referral,
    ReferralCode,
    ReviewAnswer,
    Shipment,
    ShortLink,
    StockSubscription,
    WebhookReceipt,
)
from tests.factories import make_contact, make_shop, order_confirmation
from tests.test_privacy_redact import BERTRAND, ZELINDA, redact_handlers, seed, shop  # noqa: F401 (fixtures)
from tests.test_shopify_endpoint import deliver

TWIN_TEXT = "Nachricht des Namensvetters im anderen Laden"


def _ids(model, *conditions) -> set[int]:
    return set(db.session.scalars(select(model.id).where(*conditions)))


def _expected(shop_id: int, contact: Contact) -> dict[str, set[int]]:
    """What the export must hold, read straight from the tables."""
    of_contact = {name: _ids(model, model.contact_id == contact.id) for name, model in (
        ("consent_events", ConsentEvent), ("messages", Message), ("inbound_messages", InboundRecord),
        ("carts", Cart), ("short_links", ShortLink), ("link_clicks", LinkClick),
        ("stock_subscriptions", StockSubscription), ("order_lines", OrderLine), ("issued_codes", IssuedCode),
        ("referral_codes", ReferralCode), ("review_answers", ReviewAnswer))}
    of_contact["referrals"] = _ids(Referral, Referral.referrer_contact_id == contact.id)
    orders = _ids(OrderRecord, OrderRecord.contact_id == contact.id)
    order_ids = set(db.session.scalars(select(OrderRecord.order_id).where(OrderRecord.id.in_(orders))))
    mentions = [ZELINDA.digits, ZELINDA.email, ZELINDA.national.replace(" ", "")]
    receipts = {receipt.id for receipt in db.session.scalars(select(WebhookReceipt).where(
        WebhookReceipt.shop_id == shop_id)) if any(needle.encode() in receipt.body for needle in mentions)}
    return {**of_contact, "orders": orders,
            "shipments": _ids(Shipment, Shipment.shop_id == shop_id, Shipment.order_id.in_(order_ids)),
            "invoices": _ids(Invoice, Invoice.shop_id == shop_id, Invoice.order_id.in_(order_ids)),
            "webhook_receipts": receipts}


def _exported(document: dict) -> dict[str, set[int]]:
    (person,) = document["contacts"]
    found = {name: {row["id"] for row in rows} for name, rows in person.items() if name != "contact"}
    for name in ("orders", "shipments", "invoices", "webhook_receipts"):
        found[name] = {row["id"] for row in document[name]}
    return found


def _twin_in_another_shop() -> tuple[Contact, Message]:
    other = make_shop("other-shop.myshopify.com", phone_number_id="1000002")
    twin = make_contact(other, ZELINDA.e164, name=f"{ZELINDA.first} {ZELINDA.last}")
    message = order_confirmation(other, twin, content={"body": ["Namensvetter"]}).message
    db.session.add(InboundRecord(shop_id=other.id, contact_id=twin.id, wamid="wamid.twin", kind="text",
                                 text=TWIN_TEXT, received_at=datetime.now(timezone.utc)))
    db.session.commit()
    return twin, message


def _lifecycle_rows(shop, contact: Contact, n: int) -> None:
    """A code we issued them, their referral code, and a friend's order made with it."""
    now = datetime.now(timezone.utc)
    db.session.add_all([
        IssuedCode(shop_id=shop.id, contact_id=contact.id, code=f"WACODE{n}", source="popup", issued_at=now),
        ReferralCode(shop_id=shop.id, contact_id=contact.id, code=f"FRIEND{n}", address_hashes=["a" * 64],
                     created_at=now),
        Referral(shop_id=shop.id, referrer_contact_id=contact.id, code=f"FRIEND{n}", friend_order_id=f"friend-{n}",
                 status="attributed", created_at=now)])
    db.session.commit()


def test_data_request_export_holds_everything_seeded_and_nothing_else(client, shop, fake_shopify, sandbox, drain):
    zelinda = seed(ZELINDA, shop=shop, client=client, fake_shopify=fake_shopify, sandbox=sandbox, drain=drain)
    bertrand = seed(BERTRAND, shop=shop, client=client, fake_shopify=fake_shopify, sandbox=sandbox, drain=drain)
    _lifecycle_rows(shop, zelinda, 1)
    _lifecycle_rows(shop, bertrand, 2)
    twin, twin_message = _twin_in_another_shop()
    body = json.dumps({"shop_id": 954889, "shop_domain": shop.domain,
                       "customer": {"id": int(ZELINDA.customer_id), "email": ZELINDA.email,
                                    "phone": ZELINDA.national},
                       "orders_requested": [int(ZELINDA.order_id)], "data_request": {"id": 9999}}).encode()
    assert deliver(client, body, topic="customers/data_request", shop_domain=shop.domain,
                   secret=fake_shopify.api_secret, event_id="dr-z").status_code == 200
    assert drain(lambda: db.session.scalar(select(func.count(DataExport.id)).where(
        DataExport.request_ref == "9999")) == 1)

    export = db.session.scalars(select(DataExport).where(DataExport.request_ref == "9999")).one()
    assert export.shop_id == shop.id
    raw = db.session.execute(text("SELECT content FROM data_exports WHERE id = :id"), {"id": export.id}).scalar_one()
    document = json.loads(export.content)  # decrypted by the column type
    assert document["format"] == "connector.customer_export/1"

    expected = _expected(shop.id, zelinda)
    assert all(expected[name] for name in expected), expected  # the seed reached every table
    assert _exported(document) == expected
    person = document["contacts"][0]
    assert person["contact"]["id"] == zelinda.id and person["contact"]["phone_e164"] == ZELINDA.e164
    assert person["contact"]["name"] == f"{ZELINDA.first} {ZELINDA.last}"
    assert [row["text"] for row in person["inbound_messages"]] == [ZELINDA.text]
    assert {row["id"]: row["content"] for row in person["messages"]} == {
        message.id: message.content for message in db.session.scalars(select(Message).where(
            Message.contact_id == zelinda.id))}
    assert any(entry["text_shown"] and ZELINDA.national in entry["text_shown"] for entry in person["consent_events"])
    assert all("pdf" not in row and row["filename"].endswith(".pdf") for row in document["invoices"])
    bodies = json.dumps([row["body"] for row in document["webhook_receipts"]])
    assert ZELINDA.text in bodies and ZELINDA.email in bodies

    plaintext = export.content
    for needle in BERTRAND.needles + [TWIN_TEXT, "Namensvetter"]:
        assert needle not in plaintext, needle
    others = {bertrand.id, twin.id}
    assert all(row.get("contact_id") not in others for rows in person.values() if isinstance(rows, list)
               for row in rows)
    assert twin_message.id not in {row["id"] for row in person["messages"]}
    assert ZELINDA.digits not in raw and ZELINDA.text not in raw  # encrypted at rest


def test_cli_export_writes_the_same_document_to_a_file(ctx, client, shop, fake_shopify, sandbox, drain, tmp_path):
    from connector.cli_contacts import contacts_group

    zelinda = seed(ZELINDA, shop=shop, client=client, fake_shopify=fake_shopify, sandbox=sandbox, drain=drain)
    seed(BERTRAND, shop=shop, client=client, fake_shopify=fake_shopify, sandbox=sandbox, drain=drain)
    output = tmp_path / "export.json"
    result = ctx.test_cli_runner().invoke(contacts_group, ["export", "--shop", shop.domain, "--phone", ZELINDA.e164,
                                                           "--output", str(output)])
    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text())
    assert document["request_ref"] == "cli"
    expected = _expected(shop.id, zelinda)
    assert _exported(document) == expected
    assert all(needle not in output.read_text() for needle in BERTRAND.needles)
    stored = db.session.scalars(select(DataExport).where(DataExport.request_ref == "cli")).one()
    assert json.loads(stored.content) == document


def test_export_of_someone_unknown_is_empty_but_recorded(ctx, shop):
    from connector.privacy import export_customer, find_contacts

    make_contact(shop, BERTRAND.e164)
    contacts = find_contacts(shop.id, phone=ZELINDA.e164, email="nobody@example.org", customer_id="1")
    export = export_customer(shop, contacts, request_ref="r-1", phone=ZELINDA.e164)
    db.session.commit()
    document = json.loads(db.session.get(DataExport, export.id).content)
    assert document["contacts"] == [] and document["orders"] == [] and document["webhook_receipts"] == []


def test_find_contacts_by_customer_id_email_and_national_phone(ctx, shop):
    from connector.contacts import email_hash
    from connector.privacy import find_contacts

    by_id = make_contact(shop, ZELINDA.e164)
    by_id.platform_customer_id = ZELINDA.customer_id
    by_email = make_contact(shop, BERTRAND.e164)
    by_email.email_hash = email_hash(" B.Oxleyhurst@Example.NET ")
    db.session.commit()
    assert [c.id for c in find_contacts(shop.id, customer_id=ZELINDA.customer_id)] == [by_id.id]
    assert [c.id for c in find_contacts(shop.id, email=BERTRAND.email)] == [by_email.id]
    assert [c.id for c in find_contacts(shop.id, phone=BERTRAND.national)] == [by_email.id]
    assert find_contacts(shop.id, phone="not a phone") == []
    assert find_contacts(shop.id + 1000, phone=ZELINDA.e164) == []
