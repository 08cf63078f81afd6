"""A shopper who types YES (JA, SÍ, OUI, SIM, JA GRAAG…) to a pending opt-in is confirmed, with the
typed text as evidence; anything else gets a short hint, once (issue 14, point 15). Through the
real opt-in endpoint, the sandbox's inbound webhooks and a real worker."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector import consent
from connector.extensions import db
from connector.models import InboundRecord
from connector.models.contacts import CONSENT_GRANTED, CONSENT_NONE, CONSENT_PENDING
from tests.factories import make_shop
from tests.test_consent import _ask, _contact, _say, _texts


@pytest.mark.parametrize(("typed", "locale"), [("YES", "en"), ("Ja", "de"), ("SÍ", "es"), ("oui !", "fr"),
                                               ("SIM", "pt_BR"), ("JA GRAAG", "nl"), ("Sì, iscrivimi", "it")])
def test_14_15_a_typed_yes_confirms_the_pending_opt_in(client, drain, sandbox, typed, locale):
    shop = make_shop()
    assert _ask(client, shop, locale=locale).status_code == 202
    assert drain(lambda: len(sandbox.messages()) == 1)  # the question
    _say(sandbox, typed, "wamid.typed-yes")
    assert drain(lambda: _contact().marketing_consent == CONSENT_GRANTED)
    assert drain(lambda: len(_texts(sandbox)) == 1)  # "you're subscribed", once
    granted = consent.history(_contact().id)[-1]
    assert (granted.state, granted.source) == (CONSENT_GRANTED, "double_opt_in")
    assert granted.evidence["typed_text"] == typed
    assert granted.evidence["reply_wamid"] == "wamid.typed-yes"
    assert db.session.scalars(select(InboundRecord.handled_as)).all() == ["optin_confirmed"]


def test_14_15_a_typed_no_declines(client, drain, sandbox):
    shop = make_shop()
    _ask(client, shop)
    assert drain(lambda: len(sandbox.messages()) == 1)
    _say(sandbox, "No thanks", "wamid.typed-no")
    assert drain(lambda: _contact().marketing_consent == CONSENT_NONE)
    assert consent.history(_contact().id)[-1].evidence["typed_text"] == "No thanks"


def test_14_15_anything_else_gets_one_hint_and_stays_pending(client, drain, sandbox):
    shop = make_shop()
    _ask(client, shop)
    assert drain(lambda: len(sandbox.messages()) == 1)
    _say(sandbox, "what offers do you have?", "wamid.other-1")
    assert drain(lambda: len(_texts(sandbox)) == 1)
    assert "reply YES" in _texts(sandbox)[0]
    _say(sandbox, "hello?", "wamid.other-2")
    assert drain(lambda: db.session.query(InboundRecord).count() == 2)
    assert len(_texts(sandbox)) == 1  # the hint came once
    assert _contact().marketing_consent == CONSENT_PENDING
    assert db.session.scalars(select(InboundRecord.handled_as).order_by(InboundRecord.id)).all() == ["optin_hint", None]


def test_14_15_a_typed_yes_without_a_pending_question_is_only_a_message(client, drain, sandbox):
    from tests.factories import make_contact

    shop = make_shop()
    make_contact(shop, phone="+4915112345678", marketing=False)
    _say(sandbox, "yes", "wamid.yes-alone")
    assert drain(lambda: db.session.query(InboundRecord).count() == 1)
    assert _contact().marketing_consent == CONSENT_NONE
    assert db.session.scalars(select(InboundRecord.handled_as)).all() == [None]
    assert _texts(sandbox) == []


def test_14_15_a_marketing_message_waits_for_the_opt_in_with_its_reason_and_due_time(ctx, client, drain, sandbox):
    from connector.cli import cli
    from connector.models import Message, MessageStatus
    from tests.factories import order_confirmation
    from tests.test_consent import _confirmation, _reply_button

    shop = make_shop()
    _ask(client, shop)
    assert drain(lambda: len(sandbox.messages()) == 1)  # the question
    order_confirmation(shop, _contact(), key="campaign:1:reminder", automation="back_in_stock", purpose="marketing")

    def waiting():
        db.session.expire_all()
        return db.session.scalars(select(Message).where(Message.idempotency_key == "campaign:1:reminder")).one()

    assert drain(lambda: waiting().status_reason == "awaiting_consent")
    row = waiting()
    assert row.status == MessageStatus.QUEUED and row.due_at > row.created_at  # waits, not suppressed
    listing = ctx.test_cli_runner().invoke(cli, ["outbox", "--shop", str(shop.id)]).output
    assert "awaiting_consent (due " in listing

    wamid, yes = _confirmation(sandbox)
    _reply_button(sandbox, yes, title="Yes, subscribe", context_wamid=wamid, wamid="wamid.yes-release")
    assert drain(lambda: waiting().status in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ))
