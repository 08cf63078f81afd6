"""Click-to-chat entry points: the admin makes named wa.me links with a reference in the
prefilled text and downloads their QR codes; a shopper who sends that message is subscribed
from that entry point (the text they sent kept as proof) and confirmed once."""

from __future__ import annotations

import io
import time
from urllib.parse import parse_qs, urlsplit

import segno
from sqlalchemy import func, select

from connector.extensions import db
from connector.models import ConsentEvent, Contact, DailyRollup, InboundRecord, Message
from connector.models.contacts import CONSENT_GRANTED, CONSENT_REVOKED
from tests.factories import make_shop

PHONE = "+4915112345678"
WA_ID = PHONE.lstrip("+")


def admin_shop(fake_shopify, domain: str | None = None, phone_number_id: str = "1000001"):
    shop = make_shop(domain or fake_shopify.shop_domain, phone_number_id=phone_number_id)
    shop.whatsapp.display_phone_number = "+49 30 1234567"
    db.session.commit()
    return shop


def auth(fake_shopify, domain: str | None = None) -> dict:
    if domain is None:
        return {"Authorization": f"Bearer {fake_shopify.session_token()}"}
    token = fake_shopify.session_token(iss=f"https://{domain}/admin", dest=f"https://{domain}")
    return {"Authorization": f"Bearer {token}"}


def say(sandbox, text: str, wamid: str, phone_number_id: str = "1000001") -> None:
    assert sandbox.post_inbound(phone_number_id, {
        "contacts": [{"wa_id": WA_ID, "profile": {"name": "Maria"}}],
        "messages": [{"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                      "text": {"body": text}}]}) == 200


def create(client, headers, **body):
    return client.post("/admin/api/entry-points", json=body, headers=headers)


def test_an_entry_point_is_a_wa_me_link_whose_message_carries_its_reference(client, fake_shopify):
    admin_shop(fake_shopify)
    headers = auth(fake_shopify)
    made = create(client, headers, name="Parcel insert")
    assert made.status_code == 201, made.get_json()
    entry = made.get_json()["entry_point"]
    assert entry["name"] == "Parcel insert" and len(entry["ref"]) == 6
    link = urlsplit(entry["link"])
    assert (link.scheme, link.netloc, link.path) == ("https", "wa.me", "/49301234567")
    text = parse_qs(link.query)["text"][0]
    assert text == entry["message"] == f"Hi! Please send me news and offers on WhatsApp. #{entry['ref']}"
    listed = client.get("/admin/api/entry-points", headers=headers).get_json()["entry_points"]
    assert [row["id"] for row in listed] == [entry["id"]] and listed[0]["optins"] == 0
    own = create(client, headers, name="Shop window", text="Yes, tell me about new arrivals on WhatsApp!")
    assert own.get_json()["entry_point"]["message"].startswith("Yes, tell me about new arrivals on WhatsApp! #")
    assert own.get_json()["entry_point"]["ref"] != entry["ref"]
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_the_qr_codes_download_as_svg_and_png_of_the_link(client, fake_shopify):
    admin_shop(fake_shopify)
    headers = auth(fake_shopify)
    entry = create(client, headers, name="Shop window").get_json()["entry_point"]
    svg = client.get(entry["qr_svg"], headers=headers)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert svg.headers["Content-Disposition"] == f'attachment; filename="whatsapp-{entry["ref"].lower()}.svg"'
    assert b"<svg" in svg.data and b"Shop window" in svg.data
    png = client.get(entry["qr_png"], headers=headers)
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data.startswith(b"\x89PNG\r\n\x1a\n")
    # the code is segno's of exactly the link, drawn the same way
    expected = segno.make(entry["link"], error="m", micro=False)
    buffer = io.BytesIO()
    expected.save(buffer, kind="png", scale=10, border=4)
    assert png.data == buffer.getvalue()


def test_bad_input_and_another_shops_ids(client, fake_shopify):
    admin_shop(fake_shopify)
    other_domain = "other-shop.myshopify.com"
    admin_shop(fake_shopify, domain=other_domain, phone_number_id="1000002")
    mine, theirs = auth(fake_shopify), auth(fake_shopify, other_domain)
    for body in ({}, {"name": ""}, {"name": "x" * 81}, {"name": "A\nB"}, {"name": "ok", "text": "short"},
                 {"name": "ok", "colour": "red"}, {"name": "ok\u0000"}):
        answer = create(client, mine, **body)
        assert answer.status_code in (400, 422), body
    assert client.get("/admin/api/entry-points", headers=mine).get_json()["entry_points"] == []
    entry = create(client, theirs, name="Their window").get_json()["entry_point"]
    for path in (f"/admin/api/entry-points/{entry['id']}/qr.svg", f"/admin/api/entry-points/{entry['id']}/qr.png"):
        assert client.get(path, headers=mine).status_code == 404
    assert client.delete(f"/admin/api/entry-points/{entry['id']}", headers=mine).status_code == 404
    assert client.get("/admin/api/entry-points", headers=mine).get_json()["entry_points"] == []
    assert client.delete(f"/admin/api/entry-points/{entry['id']}", headers=theirs).status_code == 204
    assert client.get("/admin/api/entry-points", headers=theirs).get_json()["entry_points"] == []


def test_without_a_known_number_there_is_no_link_yet(client, fake_shopify):
    shop = admin_shop(fake_shopify)
    shop.whatsapp.display_phone_number = None
    db.session.commit()
    entry = create(client, auth(fake_shopify), name="Instagram bio").get_json()["entry_point"]
    assert entry["link"] is None and entry["qr_svg"] is None
    answer = client.get(f"/admin/api/entry-points/{entry['id']}/qr.svg", headers=auth(fake_shopify))
    assert answer.status_code == 409 and answer.get_json()["error"] == "no_whatsapp_number"


def test_the_shoppers_message_subscribes_them_from_that_entry_point_and_is_confirmed_once(
        client, fake_shopify, sandbox, drain):
    admin_shop(fake_shopify)
    headers = auth(fake_shopify)
    entry = create(client, headers, name="Parcel insert").get_json()["entry_point"]
    say(sandbox, entry["message"], "wamid.entry-1")
    assert drain(lambda: db.session.scalar(select(func.count()).select_from(InboundRecord)) == 1)
    contact = db.session.scalars(select(Contact).where(Contact.phone_e164 == PHONE)).one()
    assert contact.marketing_consent == CONSENT_GRANTED
    (grant,) = db.session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id,
                                                             ConsentEvent.purpose == "marketing")).all()
    assert grant.source == f"entry_point:{entry['ref']}" and grant.text_shown == entry["message"]
    assert grant.evidence["wamid"] == "wamid.entry-1" and grant.evidence["entry_point_id"] == entry["id"]
    record = db.session.scalars(select(InboundRecord)).one()
    assert record.handled_as == "entry_point_opt_in"
    confirmations = lambda: db.session.scalar(  # noqa: E731
        select(func.count()).select_from(Message).where(Message.contact_id == contact.id))
    assert confirmations() == 1
    # the shopper sends it again (scanned twice): nothing more is recorded or sent
    say(sandbox, "hi again " + entry["message"].lower(), "wamid.entry-2")
    assert drain(lambda: db.session.scalar(select(func.count()).select_from(InboundRecord)) == 2)
    assert confirmations() == 1
    assert db.session.scalar(select(func.count()).select_from(ConsentEvent)) == 1
    listed = client.get("/admin/api/entry-points", headers=headers).get_json()["entry_points"]
    assert listed[0]["optins"] == 1
    # the dashboard's opt-ins by source count it under the entry point
    rollup = db.session.scalars(select(DailyRollup).where(DailyRollup.metric == "optins")).one()
    assert rollup.dimension == f"entry_point:{entry['ref']}" and rollup.count == 1


def test_stop_wins_over_a_reference_and_an_unknown_reference_is_a_conversation(client, fake_shopify, sandbox, drain):
    admin_shop(fake_shopify)
    entry = create(client, auth(fake_shopify), name="Shop window").get_json()["entry_point"]
    say(sandbox, "#ZZZZZZ hello, do you ship to Austria?", "wamid.q-1")
    assert drain(lambda: db.session.scalar(select(func.count()).select_from(InboundRecord)) == 1)
    contact = db.session.scalars(select(Contact).where(Contact.phone_e164 == PHONE)).one()
    assert contact.marketing_consent != CONSENT_GRANTED
    say(sandbox, f"STOP #{entry['ref']}", "wamid.q-2")
    assert drain(lambda: db.session.scalar(select(func.count()).select_from(InboundRecord)) == 2)
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).marketing_consent == CONSENT_REVOKED
