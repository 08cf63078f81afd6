"""The admin's records: automations with previews, templates and their sync, contacts (search,
detail with the consent ledger, export, forget), the outbox and its CSV exports, the WhatsApp
number with its token masked, and the settings' description for the form."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from connector import consent
from connector.contacts import email_hash
from connector.extensions import db
from connector.messaging.catalogue import load_catalogue
from connector.models import (
    ConsentEvent,
    Contact,
    DataExport,
    InboundRecord,
    LinkClick,
    Message,
    OrderRecord,
    ShortLink,
    TemplateApproval,
    utcnow,
)
from connector.models.contacts import CONSENT_GRANTED, CONSENT_PENDING
from tests.factories import make_contact, order_confirmation
from tests.test_admin_settings import auth, connected_shop

OPT_IN_TEXT = "Yes, send me offers from Demo Coffee on WhatsApp. Reply STOP to end."


@pytest.fixture
def shop(ctx, fake_shopify):
    return connected_shop(fake_shopify)


@pytest.fixture
def headers(fake_shopify, shop):
    return auth(fake_shopify)


def get(client, headers, path: str, **query):
    return client.get(path, headers=headers, query_string=query)


def sent_message(shop, contact, key: str, *, automation: str = "order_confirmation", status: str = "read",
                 created=None, **columns) -> Message:
    """An outbox row as the dispatcher leaves it."""
    queued = order_confirmation(shop, contact, key=key, automation=automation,
                                content={"body": {"customer_name": "Maria", "order_number": "#1001",
                                                  "order_total": "49,90 €"},
                                         "buttons": [{"index": 0, "url_suffix": "Ab3dE9"}]})
    message = queued.message
    now = utcnow()
    message.status = status
    if status in ("sent", "delivered", "read"):
        message.sent_at = now - timedelta(minutes=10)
    if status in ("delivered", "read"):
        message.delivered_at = now - timedelta(minutes=9)
    if status == "read":
        message.read_at = now - timedelta(minutes=8)
    if created is not None:
        message.created_at = created
    for name, value in columns.items():
        setattr(message, name, value)
    db.session.commit()
    return message


# -- automations -----------------------------------------------------------------------------------

def test_automations_show_settings_steps_with_previews_per_language_and_the_funnel(client, shop, headers):
    shop.name = "Kaffee Klatsch"
    shop.settings = {"automations": {"abandoned_cart": {"delays_seconds": [1800, 86400],
                                                        "discount_code": "SPRING", "discount_value": "10%"},
                                     "review_request": {"enabled": True}}}
    db.session.commit()
    contact = make_contact(shop)
    sent_message(shop, contact, "cart:1:step:1", automation="abandoned_cart")
    response = get(client, headers, "/admin/api/automations")
    assert response.status_code == 200
    by_name = {row["name"]: row for row in response.get_json()["automations"]}
    assert set(by_name) == {"order_confirmation", "cod_confirmation", "shipping_updates", "abandoned_cart",
                            "back_in_stock", "review_request", "repurchase_reminder", "coupon_reminder", "referral",
                            "post_purchase", "winback"}
    # the lifecycle automations: off until switched on, each with its steps and previews
    assert [by_name[name]["enabled"] for name in ("repurchase_reminder", "coupon_reminder", "referral")] == [False] * 3
    assert [(step["template"], step["delay_seconds"]) for step in by_name["referral"]["steps"]] == [
        ("referral_invite", 2 * 86400), ("referral_reward", 0)]
    assert by_name["coupon_reminder"]["steps"][0]["delay_seconds"] == 3 * 86400
    repurchase = by_name["repurchase_reminder"]["steps"][0]["previews"]["en"]["body"]
    assert repurchase.startswith("Hi Maria, your Espresso beans 1 kg from Kaffee Klatsch")
    cart = by_name["abandoned_cart"]
    assert cart["enabled"] is True and cart["settings"]["delays_seconds"] == [1800, 86400]
    assert [(step["template"], step["delay_seconds"]) for step in cart["steps"]] == [
        ("cart_reminder_1", 1800), ("cart_reminder_discount", 86400)]
    first = cart["steps"][0]["previews"]
    assert set(first) == {"en", "de", "es", "fr", "it", "nl", "pt_BR"}
    assert first["en"]["body"].startswith("Hi Maria, you left a few things in your cart at Kaffee Klatsch.")
    assert "{{" not in first["de"]["body"] and "Kaffee Klatsch" in first["de"]["body"]
    assert first["en"]["buttons"] == [{"type": "URL", "text": "Complete my order"},
                                      {"type": "QUICK_REPLY", "text": "Stop promotions"}]
    assert cart["funnel"]["triggered"] == 1 and cart["funnel"]["read"] == 1
    assert by_name["review_request"]["enabled"] is True
    assert by_name["review_request"]["steps"][0]["delay_seconds"] == 5 * 86400
    assert by_name["post_purchase"]["enabled"] is False
    assert [(step["template"], step["delay_seconds"]) for step in by_name["post_purchase"]["steps"]] == [
        ("post_purchase_content", 86400)]
    assert [(step["template"], step["delay_seconds"]) for step in by_name["winback"]["steps"]] == [
        ("winback", 90 * 86400)]
    review = by_name["review_request"]["steps"][0]["previews"]["en"]["buttons"]
    assert [button["text"] for button in review][1:6] == ["5 - Excellent", "4 - Good", "3 - Okay", "2 - Poor",
                                                          "1 - Very poor"]
    cod = by_name["cod_confirmation"]["steps"]
    assert [step["delay_seconds"] for step in cod] == [0, 4 * 3600]
    assert cod[0]["previews"]["en"]["header"]  # a text header
    confirmation = by_name["order_confirmation"]["steps"][0]["previews"]["en"]
    assert confirmation["header_format"] == "DOCUMENT" and confirmation["header"] is None
    assert by_name["order_confirmation"]["funnel"]["triggered"] == 0


# -- templates -------------------------------------------------------------------------------------

def test_templates_answer_the_status_per_language_with_meta_s_reason(client, shop, headers):
    assert get(client, headers, "/admin/api/templates").get_json()["last_sync_at"] is None
    db.session.add_all([
        TemplateApproval(shop_id=shop.id, name="cart_reminder_1", language="en", version=1, category="MARKETING",
                         status="APPROVED"),
        TemplateApproval(shop_id=shop.id, name="cart_reminder_1", language="de", version=1, category="MARKETING",
                         status="REJECTED", reason="INVALID_FORMAT"),
        TemplateApproval(shop_id=shop.id, name="cart_reminder_1", language="es", version=1, category="MARKETING",
                         status="PENDING", reason="left from an earlier rejection")])
    db.session.commit()
    body = get(client, headers, "/admin/api/templates").get_json()
    assert body["last_sync_at"] is not None
    reminder = next(t for t in body["templates"] if t["name"] == "cart_reminder_1")
    assert reminder["category"] == "MARKETING"
    languages = {row["language"]: row for row in reminder["languages"]}
    assert languages["en"] == {"language": "en", "status": "APPROVED", "rejected_reason": None}
    assert languages["de"] == {"language": "de", "status": "REJECTED", "rejected_reason": "INVALID_FORMAT"}
    assert languages["es"] == {"language": "es", "status": "PENDING", "rejected_reason": None}
    assert languages["fr"]["status"] == "NOT_SUBMITTED"
    assert len(body["templates"]) == len(load_catalogue().names)  # every template of the catalogue


def test_sync_is_queued_once_and_the_worker_submits_the_catalogue(client, shop, headers, run_worker, sandbox):
    first = client.post("/admin/api/templates/sync", headers=headers)
    assert first.status_code == 202 and first.get_json() == {"queued": True}
    assert client.post("/admin/api/templates/sync", headers=headers).status_code == 202  # already queued: no second
    run_worker()
    db.session.expire_all()
    rows = db.session.scalar(select(func.count()).select_from(TemplateApproval)
                             .where(TemplateApproval.shop_id == shop.id))
    assert rows == len(load_catalogue().names) * 7  # one run: every template in every language, once
    assert sum(1 for t in sandbox.templates() if t["name"] == "cart_reminder_1") == 7
    # the flag is gone with the job: the button works again
    assert client.post("/admin/api/templates/sync", headers=headers).status_code == 202
    shop.whatsapp.waba_id = None
    db.session.commit()
    assert client.post("/admin/api/templates/sync", headers=headers).status_code == 409


# -- contacts --------------------------------------------------------------------------------------

def test_contacts_search_by_phone_digits_name_and_whole_email(client, shop, headers):
    maria = make_contact(shop, "+4915112345678", name="Maria Muster")
    jon = make_contact(shop, "+4917099887766", name="Jon O'Brien")
    jon.email_hash = email_hash("Jon@Example.com")
    forgotten = make_contact(shop, "+4915100000001", name=None)
    forgotten.phone_e164, forgotten.redacted_at = None, utcnow()
    db.session.commit()

    def ids(q: str) -> list[int]:
        response = get(client, headers, "/admin/api/contacts", q=q)
        assert response.status_code == 200, response.get_json()
        return [row["id"] for row in response.get_json()["contacts"]]

    assert ids("") == [jon.id, maria.id]  # newest first; the forgotten one is not listed
    assert ids("0151 1234 5678") == [maria.id]  # national form, spaces
    assert ids("+49 151 123") == [maria.id]  # any run of digits
    assert ids("998877") == [jon.id]
    assert ids("muster") == [maria.id] and ids("o'b") == [jon.id]
    assert ids("  jon@EXAMPLE.com ") == [jon.id]  # the whole address, any case
    assert ids("example.com") == []  # only a hash is kept: no partial e-mail match
    assert ids("%") == [] and ids("_") == []  # LIKE wildcards are literal
    row = get(client, headers, "/admin/api/contacts", q="maria").get_json()["contacts"][0]
    assert row == {"id": maria.id, "phone": "+4915112345678", "name": "Maria Muster", "email": None,
                   "locale": "de", "marketing_consent": "granted"}


def test_contacts_page_with_limit_and_before(client, shop, headers):
    made = [make_contact(shop, f"+49151000000{i:02d}", name=f"Person {i}").id for i in range(5)]
    page = get(client, headers, "/admin/api/contacts", limit=2).get_json()
    assert [row["id"] for row in page["contacts"]] == [made[4], made[3]] and page["next_before"] == made[3]
    page = get(client, headers, "/admin/api/contacts", limit=2, before=page["next_before"]).get_json()
    assert [row["id"] for row in page["contacts"]] == [made[2], made[1]]
    page = get(client, headers, "/admin/api/contacts", limit=2, before=page["next_before"]).get_json()
    assert [row["id"] for row in page["contacts"]] == [made[0]] and page["next_before"] is None
    assert len(get(client, headers, "/admin/api/contacts").get_json()["contacts"]) == 5


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"before": "-1"},
                                   {"q": "a" * 101}, {"limit": ""}])
def test_bad_contact_queries_answer_422(client, shop, headers, query):
    response = get(client, headers, "/admin/api/contacts", **query)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == set(query)


def test_a_nul_in_the_query_is_refused_before_any_query(client, shop, headers):
    response = get(client, headers, "/admin/api/contacts", q="nul\x00")
    assert response.status_code in (400, 422)


def test_a_contact_shows_its_consent_proof_conversation_and_messages(client, shop, headers):
    contact = make_contact(shop, marketing=False)
    earlier = utcnow() - timedelta(hours=2)
    consent.record(contact, consent.MARKETING, CONSENT_PENDING, "widget_popup", at=earlier, text_shown=OPT_IN_TEXT,
                   evidence={"page": "https://demo.example/products/beans", "locale": "de"})
    consent.record(contact, consent.MARKETING, CONSENT_GRANTED, "double_opt_in", at=earlier + timedelta(minutes=1),
                   evidence={"reply_wamid": "wamid.YES"})
    db.session.add(InboundRecord(shop_id=shop.id, contact_id=contact.id, wamid="wamid.YES", kind="button",
                                 reply_title="Yes, subscribe", received_at=earlier + timedelta(minutes=1)))
    db.session.add(InboundRecord(shop_id=shop.id, contact_id=contact.id, wamid="wamid.Q", kind="text",
                                 text="Wann kommt mein Paket?", received_at=utcnow()))
    db.session.commit()
    sent = sent_message(shop, contact, "order:1:confirmation")
    held = sent_message(shop, contact, "cart:9:step:1", automation="abandoned_cart", status="queued",
                        status_reason="quiet_hours")
    response = get(client, headers, f"/admin/api/contacts/{contact.id}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["contact"]["phone"] == "+4915112345678" and body["contact"]["marketing_consent"] == "granted"
    assert [(e["action"], e["source"]) for e in body["consent"]] == [("pending", "widget_popup"),
                                                                     ("granted", "double_opt_in")]
    assert body["consent"][0]["text"] == OPT_IN_TEXT
    assert body["consent"][0]["evidence"] == {"page": "https://demo.example/products/beans", "locale": "de"}
    assert body["consent"][1]["evidence"] == {"reply_wamid": "wamid.YES"}
    assert [(e["direction"], e["text"]) for e in body["conversation"]][0] == ("in", "Yes, subscribe")
    out = [e for e in body["conversation"] if e["direction"] == "out"]
    assert len(out) == 1 and "Maria" in out[0]["text"] and "#1001" in out[0]["text"]
    assert body["conversation"][-1]["text"] == "Wann kommt mein Paket?"
    assert [(m["id"], m["status"], m["reason"]) for m in body["messages"]] == [
        (held.id, "queued", "quiet_hours"), (sent.id, "read", None)]
    assert get(client, headers, "/admin/api/contacts/999999").status_code == 404


def test_export_makes_a_downloadable_export_of_the_contact(client, shop, headers):
    contact = make_contact(shop)
    sent_message(shop, contact, "order:1:confirmation")
    response = client.post(f"/admin/api/contacts/{contact.id}/export", headers=headers)
    assert response.status_code == 201
    export = response.get_json()["export"]
    assert export["download"] == f"/admin/api/data-exports/{export['id']}"
    download = client.get(export["download"], headers=headers)
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    document = json.loads(download.data)
    (person,) = document["contacts"]
    assert person["contact"]["phone_e164"] == "+4915112345678" and len(person["messages"]) == 1
    assert client.post("/admin/api/contacts/999999/export", headers=headers).status_code == 404


def test_forget_needs_the_phone_typed_again_and_then_erases(client, shop, headers):
    contact = make_contact(shop)
    consent.record(contact, consent.MARKETING, CONSENT_PENDING, "widget_popup", text_shown=OPT_IN_TEXT)
    db.session.commit()
    sent_message(shop, contact, "order:1:confirmation")
    url = f"/admin/api/contacts/{contact.id}/forget"
    for wrong in ({"confirm": "+4915112345679"}, {"confirm": "not a phone"}, {}, {"confirm": 4915112345678},
                  {"confirm": "+4915112345678", "extra": 1}):
        response = client.post(url, headers=headers, json=wrong)
        assert response.status_code == 422, wrong
        assert "errors" in response.get_json()
    assert client.post(url, headers=headers, data="{", content_type="application/json").status_code == 400
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).phone_e164 == "+4915112345678"  # nothing erased yet
    response = client.post(url, headers=headers, json={"confirm": "4915112345678"})  # any common format
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).redacted_at is not None
    other = make_contact(shop, "+4915199990000", name="Otto Zweit")
    response = client.post(f"/admin/api/contacts/{other.id}/forget", headers=headers,
                           json={"confirm": "0151 9999 0000"})
    assert response.status_code == 200 and response.get_json() == {"forgotten": True}
    db.session.expire_all()
    assert db.session.get(Contact, other.id).redacted_at is not None
    forgotten = db.session.get(Contact, contact.id)
    assert forgotten.phone_e164 is None and forgotten.name is None and forgotten.redacted_at is not None
    assert db.session.scalar(select(Message.content).where(Message.contact_id == contact.id)) == {}
    assert all(entry.text_shown is None for entry in db.session.scalars(select(ConsentEvent)))
    assert client.post(url, headers=headers, json={"confirm": "+4915112345678"}).status_code == 409
    assert client.post("/admin/api/contacts/999999/forget", headers=headers,
                       json={"confirm": "+4915112345678"}).status_code == 404


# -- messages --------------------------------------------------------------------------------------

def test_messages_filter_by_automation_status_and_time_and_page(client, shop, headers):
    contact = make_contact(shop)
    old = sent_message(shop, contact, "order:1:confirmation", created=utcnow() - timedelta(days=10))
    failed = sent_message(shop, contact, "order:2:confirmation", status="failed", error_code=131026,
                          error_title="Message undeliverable")
    held = sent_message(shop, contact, "cart:1:step:1", automation="abandoned_cart", status="queued",
                        status_reason="frequency_cap")

    def ids(**query) -> list[int]:
        response = get(client, headers, "/admin/api/messages", **query)
        assert response.status_code == 200, response.get_json()
        return [row["id"] for row in response.get_json()["messages"]]

    assert ids() == [held.id, failed.id, old.id]
    assert ids(automation="abandoned_cart") == [held.id]
    assert ids(status="failed") == [failed.id]
    since = (utcnow() - timedelta(days=1)).date().isoformat()
    assert ids(since=since) == [held.id, failed.id]
    assert ids(until=(utcnow() - timedelta(days=5)).isoformat()) == [old.id]
    assert ids(until=(utcnow() - timedelta(days=10)).date().isoformat()) == [old.id]  # a date: that whole day
    page = get(client, headers, "/admin/api/messages", limit=2).get_json()
    assert page["next_before"] == failed.id
    rows = {row["id"]: row for row in get(client, headers, "/admin/api/messages").get_json()["messages"]}
    assert rows[failed.id]["error"] == "131026: Message undeliverable"
    assert rows[held.id]["reason"] == "frequency_cap" and rows[held.id]["phone"] == "+4915112345678"
    assert rows[old.id]["read_at"] is not None


@pytest.mark.parametrize("query", [{"status": "lost"}, {"since": "yesterday"}, {"until": "2026-13-01"},
                                   {"since": "2026-12-02", "until": "2026-12-01"}, {"automation": "x" * 51},
                                   {"limit": "1000"}])
def test_bad_message_filters_answer_422(client, shop, headers, query):
    response = get(client, headers, "/admin/api/messages", **query)
    assert response.status_code == 422, response.data
    assert response.get_json()["errors"]
    if "limit" not in query:
        assert get(client, headers, "/admin/api/messages.csv", **query).status_code == 422


def test_messages_csv_has_one_row_per_message_with_the_same_filters(client, shop, headers, monkeypatch):
    monkeypatch.setattr("connector.web.admin_records.CSV_CHUNK", 2)  # several chunks, several queries
    contact = make_contact(shop)
    made = [sent_message(shop, contact, f"order:{i}:confirmation") for i in range(5)]
    held = sent_message(shop, contact, "cart:1:step:1", automation="abandoned_cart", status="suppressed",
                        status_reason="no_marketing_consent")
    response = get(client, headers, "/admin/api/messages.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="messages.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(row["id"]) for row in rows] == [held.id] + [m.id for m in reversed(made)]
    assert rows[0]["status"] == "suppressed" and rows[0]["reason"] == "no_marketing_consent"
    assert rows[1]["phone"] == "+4915112345678" and rows[1]["read_at"] and rows[1]["automation"] == "order_confirmation"
    only = get(client, headers, "/admin/api/messages.csv", automation="abandoned_cart").get_data(as_text=True)
    assert [row["id"] for row in csv.DictReader(io.StringIO(only))] == [str(held.id)]
    someone = make_contact(shop, "+4915199990000", name="Otto Zweit")
    theirs = sent_message(shop, someone, "order:77:confirmation")
    mine = get(client, headers, "/admin/api/messages.csv", contact_id=someone.id).get_data(as_text=True)
    assert [row["id"] for row in csv.DictReader(io.StringIO(mine))] == [str(theirs.id)]
    assert get(client, headers, "/admin/api/messages", contact_id=contact.id).get_json()["messages"][0]["id"] == held.id


def test_csv_cells_never_start_a_formula(client, shop, headers):
    contact = make_contact(shop)
    sent_message(shop, contact, "order:1:confirmation", status="failed", error_code=None,
                 error_title="=HYPERLINK(\"http://evil\")")
    text = get(client, headers, "/admin/api/messages.csv").get_data(as_text=True)
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["error"] == "'=HYPERLINK(\"http://evil\")" and row["phone"] == "+4915112345678"


def test_attribution_csv_lists_orders_with_their_message_click_and_revenue(client, shop, headers):
    contact = make_contact(shop)
    message = sent_message(shop, contact, "cart:1:step:1", automation="abandoned_cart")
    link = ShortLink(shop_id=shop.id, code="Ab3dE9", link_key="cart:1:step:1:button:0", target_url="https://x.example",
                     automation="abandoned_cart", template_name="order_confirmation", contact_id=contact.id,
                     message_id=message.id, clicks=1)
    db.session.add(link)
    db.session.flush()
    placed = utcnow() - timedelta(hours=1)
    clicked = placed - timedelta(minutes=20)
    db.session.add(LinkClick(shop_id=shop.id, link_id=link.id, contact_id=contact.id, message_id=message.id,
                             clicked_at=clicked))
    db.session.add(LinkClick(shop_id=shop.id, link_id=link.id, contact_id=contact.id, message_id=message.id,
                             clicked_at=placed + timedelta(minutes=5)))  # after the order: not its click
    db.session.add_all([
        OrderRecord(shop_id=shop.id, order_id="1001", name="#1001", contact_id=contact.id, currency="EUR",
                    total=Decimal("49.90"), placed_at=placed, attributed_message_id=message.id,
                    attributed_automation="abandoned_cart", attribution="click"),
        OrderRecord(shop_id=shop.id, order_id="1002", name="#1002", contact_id=contact.id, currency="EUR",
                    total=Decimal("20.00"), placed_at=placed, cancelled_at=utcnow(),
                    attributed_message_id=message.id, attributed_automation="abandoned_cart", attribution="read"),
        OrderRecord(shop_id=shop.id, order_id="1003", name="#1003", contact_id=contact.id, currency="EUR",
                    total=Decimal("5.00"), placed_at=placed),  # not attributed
        OrderRecord(shop_id=shop.id, order_id="900", name="#900", contact_id=contact.id, currency="EUR",
                    total=Decimal("9.00"), placed_at=placed - timedelta(days=40), attributed_message_id=message.id,
                    attributed_automation="abandoned_cart", attribution="read")])
    db.session.commit()
    since = (utcnow() - timedelta(days=7)).date().isoformat()
    response = get(client, headers, "/admin/api/attribution.csv", since=since)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="attribution.csv"'
    rows = {row["order_id"]: row for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
    assert set(rows) == {"1001", "1002"}
    assert rows["1001"]["revenue"] == "49.90" and rows["1001"]["message_id"] == str(message.id)
    assert rows["1001"]["click_time"] == clicked.isoformat() and rows["1001"]["attribution"] == "click"
    assert rows["1001"]["template"] == "order_confirmation" and rows["1001"]["automation"] == "abandoned_cart"
    assert rows["1002"]["revenue"] == "0.00" and rows["1002"]["total"] == "20.00"
    everything = get(client, headers, "/admin/api/attribution.csv").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(everything)))) == 3
    assert get(client, headers, "/admin/api/attribution.csv", since="soon").status_code == 422


# -- WhatsApp and the settings' description --------------------------------------------------------

def test_whatsapp_answers_the_number_with_the_token_masked(client, shop, headers):
    shop.whatsapp.access_token = "EAAGzZ0123456789abcdefghijklmnop1234"
    shop.whatsapp.display_phone_number = "+49 30 1234567"
    db.session.commit()
    response = get(client, headers, "/admin/api/whatsapp")
    assert response.status_code == 200
    assert response.get_json() == {"connected": True, "phone_number_id": "1000001",
                                   "display_phone_number": "+49 30 1234567", "token": "EAAG…••••1234",
                                   "messaging_limit": 1000, "marketing_messages_onboarded": False}
    assert "0123456789" not in response.get_data(as_text=True)
    shop.whatsapp.access_token = "EAAG-short"
    db.session.commit()
    assert get(client, headers, "/admin/api/whatsapp").get_json()["token"] == "••••"


def test_settings_schema_describes_every_setting_by_dotted_path(client, shop, headers):
    response = get(client, headers, "/admin/api/settings/schema")
    assert response.status_code == 200
    described = response.get_json()["fields"]
    delays = described["automations.abandoned_cart.delays_seconds"]
    assert delays["type"] == "array" and delays["default"] == [3600, 86400, 259200]
    assert delays["first_minimum"] == 900 and delays["maximum"] == 30 * 86400 and delays["max_items"] == 5
    percent = described["automations.abandoned_cart.discount_percent"]
    assert (percent["type"], percent["minimum"], percent["maximum"], percent["default"]) == ("number", 1, 90, 10)
    assert described["governor.quiet_hours.start"]["pattern"] and described["governor.quiet_hours.start"]["default"] \
        == "21:00"
    assert described["governor.quiet_hours.purposes"]["items"]["choices"] == ["marketing", "transactional"]
    assert described["automations.order_confirmation.trigger"]["choices"] == ["paid", "placed"]
    assert described["governor.frequency_caps.transactional"]["nullable"] is True
    assert described["retention_days"]["minimum"] == 7 and described["retention_days"]["description"]
    assert described["auto_reply.hours"]["keys"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert described["invoice.email"]["format"] == "email"
    assert all(entry["description"] for entry in described.values())


def test_every_records_route_needs_a_session(client, shop):
    for path in ("/admin/api/automations", "/admin/api/templates", "/admin/api/contacts", "/admin/api/contacts/1",
                 "/admin/api/messages", "/admin/api/messages.csv", "/admin/api/attribution.csv",
                 "/admin/api/whatsapp", "/admin/api/settings/schema"):
        assert client.get(path).status_code == 401, path
    for path in ("/admin/api/templates/sync", "/admin/api/contacts/1/export", "/admin/api/contacts/1/forget"):
        assert client.post(path).status_code == 401, path
    assert db.session.scalar(select(func.count()).select_from(DataExport)) == 0
