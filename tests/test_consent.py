"""Consent end to end through the sandbox: double opt-in (confirmed, declined, expired), STOP and
START words, WhatsApp's own stop/resume, the ledger as the source of the state, and the
opt-in endpoint's validation and rate limits."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from connector import consent
from connector.extensions import db
from connector.models import ConsentEvent, Contact, InboundRecord, Message, MessageStatus, utcnow
from connector.models.contacts import CONSENT_GRANTED, CONSENT_NONE, CONSENT_PENDING, CONSENT_REVOKED
from tests.factories import make_contact, make_shop

PHONE = "+4915112345678"
WA_ID = PHONE.lstrip("+")
CONSENT_TEXT = "Yes, send me offers from Demo Shop on WhatsApp. I can unsubscribe at any time."


def _contact() -> Contact:
    db.session.expire_all()
    return db.session.scalars(select(Contact).where(Contact.phone_e164 == PHONE)).one()


def _texts(sandbox) -> list[str]:
    return [m["payload"]["text"]["body"] for m in sandbox.messages() if m["type"] == "text"]


def _ask(client, shop, *, phone=PHONE, ip="198.51.100.7", **extra):
    body = {"shop_key": shop.shop_key, "phone": phone, "consent_text": CONSENT_TEXT, "source": "widget_popup",
            "locale": "en", **extra}
    return client.post("/storefront/api/opt-in", json=body, environ_base={"REMOTE_ADDR": ip})


def _reply_button(sandbox, payload: str, *, title: str, context_wamid: str | None, wamid: str) -> None:
    message = {"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), "type": "button",
               "button": {"payload": payload, "text": title}}
    if context_wamid:
        message["context"] = {"from": "15550001111", "id": context_wamid}
    status = sandbox.post_inbound("1000001", {"contacts": [{"wa_id": WA_ID, "profile": {"name": "Maria"}}],
                                              "messages": [message]})
    assert status == 200


def _say(sandbox, text: str, wamid: str) -> None:
    assert sandbox.post_inbound("1000001", {
        "contacts": [{"wa_id": WA_ID, "profile": {"name": "Maria"}}],
        "messages": [{"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                      "text": {"body": text}}]}) == 200


def _confirmation(sandbox) -> tuple[str, str]:
    """The wamid of the confirmation template the sandbox received, and its YES payload."""
    (sent,) = [m for m in sandbox.messages() if m["type"] == "template"]
    assert sent["payload"]["template"]["name"] == "optin_confirmation"
    buttons = [c for c in sent["payload"]["template"]["components"] if c["type"] == "button"]
    yes = [b["parameters"][0]["payload"] for b in buttons if b["parameters"][0]["payload"].startswith("optin_yes")]
    return sent["wamid"], yes[0]


# -- double opt-in --------------------------------------------------------------------------------

def test_double_opt_in_confirmed_by_yes(client, drain, sandbox):
    shop = make_shop()
    response = _ask(client, shop)
    assert response.status_code == 202, response.get_json()
    assert drain(lambda: len(sandbox.messages()) == 1)
    contact = _contact()
    assert contact.marketing_consent == CONSENT_PENDING  # not yet: only the reply confirms
    (pending,) = consent.history(contact.id)
    assert (pending.state, pending.source, pending.text_shown) == (CONSENT_PENDING, "widget_popup", CONSENT_TEXT)

    wamid, yes = _confirmation(sandbox)
    _reply_button(sandbox, yes, title="Yes, subscribe", context_wamid=wamid, wamid="wamid.reply-yes")
    assert drain(lambda: _contact().marketing_consent == CONSENT_GRANTED)
    assert drain(lambda: len(_texts(sandbox)) == 1)
    assert "subscribed" in _texts(sandbox)[0]

    history = consent.history(_contact().id)
    assert [(e.state, e.source) for e in history] == [(CONSENT_PENDING, "widget_popup"),
                                                      (CONSENT_GRANTED, "double_opt_in")]
    question_id = db.session.scalar(select(Message.id).where(Message.template_name == "optin_confirmation"))
    assert history[1].evidence == {"pending_event_id": pending.id, "confirmation_message_id": question_id,
                                   "reply_wamid": "wamid.reply-yes"}
    assert history[1].text_shown == CONSENT_TEXT
    assert consent.derived_state(_contact().id, "marketing") == _contact().marketing_consent
    assert db.session.scalars(select(InboundRecord.handled_as)).all() == ["optin_confirmed"]
    # asking again once subscribed sends nothing more
    assert _ask(client, shop).get_json() == {"status": "already_subscribed"}


def test_no_thanks_leaves_the_shopper_without_marketing_consent(client, drain, sandbox):
    shop = make_shop()
    _ask(client, shop)
    assert drain(lambda: len(sandbox.messages()) == 1)
    wamid, yes = _confirmation(sandbox)
    _reply_button(sandbox, yes.replace("optin_yes", "optin_no"), title="No, thanks", context_wamid=wamid,
                  wamid="wamid.reply-no")
    assert drain(lambda: _contact().marketing_consent == CONSENT_NONE)
    assert [e.source for e in consent.history(_contact().id)] == ["widget_popup", "double_opt_in_declined"]


def test_an_expired_confirmation_does_not_grant_consent(client, drain, sandbox):
    shop = make_shop()
    _ask(client, shop)
    assert drain(lambda: len(sandbox.messages()) == 1)
    wamid, yes = _confirmation(sandbox)
    long_ago = utcnow() - timedelta(hours=49)
    db.session.execute(update(ConsentEvent).values(occurred_at=long_ago))
    db.session.execute(update(Contact).values(marketing_consent_at=long_ago))
    db.session.commit()

    _reply_button(sandbox, yes, title="Yes, subscribe", context_wamid=wamid, wamid="wamid.late-yes")
    assert drain(lambda: db.session.scalar(select(func.count()).select_from(InboundRecord)) == 1)
    assert drain(lambda: _contact().marketing_consent == CONSENT_NONE)
    assert [e.source for e in consent.history(_contact().id)] == ["widget_popup", "expiry"]
    assert _texts(sandbox) == []  # no "you're subscribed"


def test_the_sweep_expires_unanswered_opt_ins(ctx):
    from connector.jobs.sweep import sweep

    shop = make_shop()
    contact = make_contact(shop, marketing=False)
    consent.record(contact, "marketing", CONSENT_PENDING, "widget_popup", at=utcnow() - timedelta(hours=50),
                   text_shown=CONSENT_TEXT)
    fresh = make_contact(shop, "+4915198765432", marketing=False)
    consent.record(fresh, "marketing", CONSENT_PENDING, "widget_popup", text_shown=CONSENT_TEXT)
    db.session.commit()
    assert sweep()["expired_optins"] == 1
    assert _contact().marketing_consent == CONSENT_NONE
    assert db.session.get(Contact, fresh.id).marketing_consent == CONSENT_PENDING


# -- opt-out and back ---------------------------------------------------------------------------------

def _granted(shop) -> Contact:
    contact = make_contact(shop, marketing=False)
    consent.record(contact, "marketing", CONSENT_GRANTED, "double_opt_in", text_shown=CONSENT_TEXT)
    db.session.commit()
    return contact


def test_stop_revokes_before_the_next_send_and_is_confirmed_once(client, drain, sandbox):
    from connector.messaging.outbox import queue_message

    shop = make_shop()
    contact = _granted(shop)
    later = queue_message(shop=shop, contact=contact, idempotency_key="cart:9:step:2", automation="abandoned_cart",
                          purpose="marketing", kind="template", template_name="cart_reminder_2", language="en",
                          content={"body": {"customer_name": "Maria"}},
                          due_at=utcnow() + timedelta(hours=1)).message
    _say(sandbox, "Stop!", "wamid.stop-1")
    assert drain(lambda: _contact().marketing_consent == CONSENT_REVOKED)
    assert db.session.get(Message, later.id).status == MessageStatus.SUPPRESSED
    assert drain(lambda: len(_texts(sandbox)) == 1)
    assert "START" in _texts(sandbox)[0]

    _say(sandbox, "STOPP", "wamid.stop-2")  # said again, in German: already out, nothing more to confirm
    assert drain(lambda: db.session.scalar(select(func.count()).select_from(InboundRecord)) == 2)
    time.sleep(0.3)
    assert len(_texts(sandbox)) == 1

    _say(sandbox, "start", "wamid.start")
    assert drain(lambda: _contact().marketing_consent == CONSENT_GRANTED)
    assert drain(lambda: len(_texts(sandbox)) == 2)
    assert [(e.state, e.source) for e in consent.history(contact.id)][-2:] == [(CONSENT_REVOKED, "keyword"),
                                                                              (CONSENT_GRANTED, "keyword")]


@pytest.mark.parametrize("word", ["ARRÊT", "baja", "Parar", "ANNULLA", "uitschrijven"])
def test_stop_words_of_every_language(client, drain, sandbox, word):
    shop = make_shop()
    _granted(shop)
    _say(sandbox, word, f"wamid.{word}")
    assert drain(lambda: _contact().marketing_consent == CONSENT_REVOKED)


def test_a_question_containing_stop_is_a_conversation_kept_for_the_merchant(client, drain, sandbox):
    shop = make_shop()
    _granted(shop)
    _say(sandbox, "Can you stop the delivery until Monday?", "wamid.q")
    assert drain(lambda: db.session.scalar(select(func.count()).select_from(InboundRecord)) == 1)
    assert _contact().marketing_consent == CONSENT_GRANTED
    record = db.session.scalars(select(InboundRecord)).one()
    assert record.text == "Can you stop the delivery until Monday?" and record.handled_as is None


def test_whatsapp_stop_and_resume_controls(client, drain, sandbox):
    shop = make_shop()
    contact = _granted(shop)
    prefs = lambda value: {"contacts": [{"wa_id": WA_ID}],  # noqa: E731
                           "user_preferences": [{"wa_id": WA_ID, "detail": "User requested", "category":
                                                 "marketing_messages", "value": value,
                                                 "timestamp": int(time.time())}]}
    assert sandbox.post_inbound("1000001", prefs("stop")) == 200
    assert drain(lambda: _contact().marketing_consent == CONSENT_REVOKED)
    assert sandbox.post_inbound("1000001", prefs("resume")) == 200
    assert drain(lambda: _contact().marketing_consent == CONSENT_GRANTED)
    assert [e.source for e in consent.history(contact.id)][-2:] == ["whatsapp_user_preferences"] * 2


def test_whatsapp_resume_is_not_an_opt_in_of_its_own(client, drain, sandbox):
    shop = make_shop()
    make_contact(shop, marketing=False)
    assert sandbox.post_inbound("1000001", {"contacts": [{"wa_id": WA_ID}], "user_preferences": [
        {"wa_id": WA_ID, "category": "marketing_messages", "value": "resume", "timestamp": int(time.time())}]}) == 200
    time.sleep(0.3)
    drain(lambda: True)
    assert _contact().marketing_consent == CONSENT_NONE


def test_shopify_sms_consent_only_ever_grants_transactional(ctx):
    shop = make_shop()
    contact = make_contact(shop, marketing=False, transactional=False)
    assert consent.from_platform(contact, "subscribed", platform="shopify") is not None
    assert (contact.transactional_consent, contact.marketing_consent) == (CONSENT_GRANTED, CONSENT_NONE)
    assert consent.from_platform(contact, "not_subscribed", platform="shopify") is None


# -- the opt-in endpoint ------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ({"phone": "12"}, "phone"),
    ({"phone": "+49 30 12345678"}, "phone"),  # a Berlin landline: no WhatsApp
    ({"consent_text": ""}, "consent_text"),
    ({"source": "somewhere"}, "source"),
    ({"admin": True}, "admin"),
])
def test_opt_in_refuses_bad_input_with_the_field(client, body, field):
    shop = make_shop()
    request = {"shop_key": shop.shop_key, "phone": PHONE, "consent_text": CONSENT_TEXT, **body}
    response = client.post("/storefront/api/opt-in", json=request)
    assert response.status_code == 400 and response.get_json()["field"] == field
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0


def test_opt_in_for_an_unknown_shop_is_404(client):
    response = client.post("/storefront/api/opt-in", json={"shop_key": "nope", "phone": PHONE,
                                                            "consent_text": CONSENT_TEXT})
    assert response.status_code == 404


def test_a_burst_from_one_address_is_limited_and_sends_nothing_beyond(client):
    shop = make_shop()
    answers = [_ask(client, shop, phone=f"+4915112{i:06d}") for i in range(12)]
    assert [a.status_code for a in answers] == [202] * 5 + [429] * 7
    assert all(int(a.headers["Retry-After"]) > 0 for a in answers[5:])
    assert answers[5].get_json()["error"] == "rate_limited"
    assert db.session.scalar(select(func.count()).select_from(Message)) == 5


def test_one_phone_from_many_addresses_is_limited_too(client):
    shop = make_shop()
    answers = [_ask(client, shop, ip=f"203.0.113.{i}") for i in range(6)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429, 429]
    assert [a.get_json()["status"] for a in answers[:3]] == ["confirmation_sent"] + ["confirmation_pending"] * 2
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1  # one question, not three


def test_an_unanswered_question_is_asked_again_only_after_a_while(client):
    shop = make_shop()
    assert _ask(client, shop).get_json()["status"] == "confirmation_sent"
    db.session.execute(update(Contact).values(marketing_consent_at=utcnow() - timedelta(minutes=11)))
    db.session.commit()
    assert _ask(client, shop, ip="192.0.2.1").get_json()["status"] == "confirmation_sent"
    assert db.session.scalar(select(func.count()).select_from(Message)) == 2


def test_the_merchant_can_read_the_conversation(client, drain, sandbox):
    import json as json_module

    from connector.cli import cli

    shop = make_shop()
    _granted(shop)
    _say(sandbox, "Is the blue mug back?", "wamid.c1")
    _say(sandbox, "stop", "wamid.c2")
    assert drain(lambda: len(_texts(sandbox)) == 1)
    result = client.application.test_cli_runner().invoke(
        cli, ["contacts", "conversation", "--shop", shop.domain, "--phone", PHONE, "--json"])
    assert result.exit_code == 0, result.output
    entries = [json_module.loads(line) for line in result.output.splitlines()]
    assert [(e["direction"], e["text"]) for e in entries][:2] == [("in", "Is the blue mug back?"), ("in", "stop")]
    assert entries[1]["handled_as"] == "opt_out"
    assert entries[2]["direction"] == "out" and "START" in entries[2]["text"]


def test_admin_import_records_its_evidence_and_never_overrides_a_stop(ctx, tmp_path):
    from connector.cli import cli

    shop = make_shop()
    stopped = make_contact(shop, "+4915198765432", marketing=False)
    consent.record(stopped, "marketing", CONSENT_REVOKED, "keyword")
    db.session.commit()
    csv_file = tmp_path / "optins.csv"
    csv_file.write_text("phone,name\n+4915112345678,Maria\n+4915198765432,Otto\nnonsense,Nobody\n")
    result = ctx.test_cli_runner().invoke(cli, [
        "contacts", "import", "--shop", shop.domain, "--csv", str(csv_file), "--purpose", "marketing",
        "--consent-text", CONSENT_TEXT, "--evidence", "WhatsApp sign-up sheet at the shop counter, 2026-10"])
    assert result.exit_code == 0, result.output
    assert "1 consent(s) imported, 2 skipped" in result.output
    imported = _contact()
    assert imported.marketing_consent == CONSENT_GRANTED
    (entry,) = consent.history(imported.id)
    assert (entry.source, entry.text_shown) == ("admin_import", CONSENT_TEXT)
    assert entry.evidence["note"].startswith("WhatsApp sign-up sheet") and entry.evidence["line"] == 2
    assert db.session.get(Contact, stopped.id).marketing_consent == CONSENT_REVOKED


def test_stop_from_someone_never_subscribed_is_recorded_and_confirmed(client, drain, sandbox):
    shop = make_shop()
    make_contact(shop, marketing=False)
    _say(sandbox, "STOP", "wamid.never")
    assert drain(lambda: _contact().marketing_consent == CONSENT_REVOKED)
    assert drain(lambda: len(_texts(sandbox)) == 1)
