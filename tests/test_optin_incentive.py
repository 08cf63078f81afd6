"""The popup's incentive: after the shopper's YES on WhatsApp, a single-use code made through
the store's API (or the admin's fixed code) arrives on WhatsApp, once; other opt-in sources
and shops without an incentive get none."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from connector.extensions import db
from connector.models import Contact, IssuedCode, Message
from connector.models.contacts import CONSENT_GRANTED
from tests.factories import make_shop

PHONE = "+4915112345678"
WA_ID = PHONE.lstrip("+")
CONSENT_TEXT = "Yes, send me offers from Demo Shop on WhatsApp. I can unsubscribe at any time."


def popup_settings(**incentive) -> dict:
    return {"governor": {"quiet_hours": {"enabled": False}},
            "storefront": {"enabled": True, "popup": {"enabled": True, "incentive": incentive}}}


def ask(client, shop, source="widget_popup"):
    body = {"shop_key": shop.shop_key, "phone": PHONE, "consent_text": CONSENT_TEXT, "source": source, "locale": "de"}
    answer = client.post("/storefront/api/opt-in", json=body, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert answer.status_code == 202, answer.get_json()


def answer_yes(sandbox, drain, wamid="wamid.reply-yes"):
    assert drain(lambda: any(m["type"] == "template" for m in sandbox.messages()))
    (sent,) = [m for m in sandbox.messages() if m["type"] == "template"]
    buttons = [c for c in sent["payload"]["template"]["components"] if c["type"] == "button"]
    yes = next(b["parameters"][0]["payload"] for b in buttons if b["parameters"][0]["payload"].startswith("optin_yes"))
    message = {"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), "type": "button",
               "button": {"payload": yes, "text": "Ja"}, "context": {"from": "15550001111", "id": sent["wamid"]}}
    assert sandbox.post_inbound("1000001", {"contacts": [{"wa_id": WA_ID, "profile": {"name": "Maria"}}],
                                            "messages": [message]}) == 200
    assert drain(lambda: db.session.scalars(select(Contact)).one().marketing_consent == CONSENT_GRANTED)


def texts(sandbox) -> list[str]:
    return [m["payload"]["text"]["body"] for m in sandbox.messages() if m["type"] == "text"]


def test_a_fixed_code_arrives_after_the_yes(client, sandbox, drain):
    shop = make_shop(settings=popup_settings(kind="fixed_code", code="WILLKOMMEN10"))
    ask(client, shop)
    answer_yes(sandbox, drain)
    assert drain(lambda: len(texts(sandbox)) == 2)
    incentive = [text for text in texts(sandbox) if "WILLKOMMEN10" in text]
    assert incentive == ["Wie versprochen, hier ist Ihr Code: WILLKOMMEN10. Geben Sie ihn an der Kasse von "
                         f"{shop.name or shop.domain} ein."]


def test_a_unique_code_is_made_in_the_store_once_and_sent(client, sandbox, drain, fake_shopify):
    created = []

    def discount_create(query, variables):
        if "discountCodeBasicCreate" not in query:
            return None
        created.append(variables["basicCodeDiscount"])
        return {"discountCodeBasicCreate": {"codeDiscountNode": {"id": "gid://shopify/DiscountCodeNode/9"},
                                            "userErrors": []}}

    fake_shopify.graphql_handlers.append(discount_create)
    shop = make_shop(fake_shopify.shop_domain, settings=popup_settings(kind="unique_code", percent=15, valid_days=10))
    shop.credentials = {"kind": "custom_app", "access_token": fake_shopify.issue_token(expiring=False).access_token}
    db.session.commit()
    ask(client, shop)
    answer_yes(sandbox, drain)
    assert drain(lambda: len(texts(sandbox)) == 2)
    assert len(created) == 1
    code = created[0]["code"]
    assert code.startswith("WA") and created[0]["usageLimit"] == 1
    assert created[0]["customerGets"]["value"] == {"percentage": 0.15}
    assert any(code in text for text in texts(sandbox))
    # remembered for the unused-coupon follow-up, with the message that gave it
    (issued,) = db.session.scalars(select(IssuedCode)).all()
    incentive = db.session.scalars(select(Message).where(Message.idempotency_key.like("optin-incentive:%"))).one()
    assert (issued.code, issued.source, issued.message_id, issued.used_at) == (code, "popup", incentive.id, None)
    assert issued.contact_id == incentive.contact_id
    assert timedelta(days=9, hours=23) < issued.expires_at - issued.issued_at <= timedelta(days=10)
    # a second YES (redelivered, or tapped again) makes no second code and sends nothing more
    answer_again = {"from": WA_ID, "id": "wamid.reply-yes-2", "timestamp": str(int(time.time())), "type": "text",
                    "text": {"body": "JA"}}
    assert sandbox.post_inbound("1000001", {"contacts": [{"wa_id": WA_ID}], "messages": [answer_again]}) == 200
    assert drain(lambda: db.session.scalar(select(Message.id).where(Message.kind == "text")) is not None)
    assert len(created) == 1 and len(texts(sandbox)) == 2


def test_a_store_that_refuses_falls_back_to_the_fixed_code(client, sandbox, drain, fake_shopify, caplog):
    fake_shopify.graphql_handlers.append(
        lambda query, variables: {"discountCodeBasicCreate": {"codeDiscountNode": None, "userErrors": [
            {"field": ["basicCodeDiscount"], "message": "Access denied"}]}}
        if "discountCodeBasicCreate" in query else None)
    shop = make_shop(fake_shopify.shop_domain, settings=popup_settings(kind="unique_code", code="FALLBACK5"))
    shop.credentials = {"kind": "custom_app", "access_token": fake_shopify.issue_token(expiring=False).access_token}
    db.session.commit()
    ask(client, shop)
    answer_yes(sandbox, drain)
    assert drain(lambda: any("FALLBACK5" in text for text in texts(sandbox)))
    assert db.session.scalars(select(IssuedCode)).all() == []  # the shared fixed code is nobody's own
    assert any(record.message == "optin.incentive_fallback" for record in caplog.records)


@pytest.mark.parametrize(("incentive", "source"), [({"kind": "none"}, "widget_popup"),
                                                   ({"kind": "fixed_code", "code": "X10"}, "back_in_stock_form")])
def test_no_incentive_without_one_or_for_other_sources(client, sandbox, drain, incentive, source):
    shop = make_shop(settings=popup_settings(**incentive))
    ask(client, shop, source=source)
    answer_yes(sandbox, drain)
    assert drain(lambda: len(texts(sandbox)) == 1)  # the confirmation
    # and nothing else was queued for the shopper: no incentive row at all
    keys = db.session.scalars(select(Message.idempotency_key)).all()
    assert len(keys) == 2 and not [key for key in keys if key.startswith("optin-incentive:")]
