"""Forward to a friend, through real ``orders/paid`` webhooks, a real worker, the fake Shopify
(its discount API) and the sandbox: a paying customer gets a personal code to forward on
WhatsApp; a friend's order with it is attributed to them and earns them a code of their own;
the customer's own order with it (same phone, e-mail or address) is refused, with the reason."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from sqlalchemy import select

from connector.extensions import db
from connector.models import IssuedCode, Message, Referral, ReferralCode, Shop, utcnow
from connector.privacy import forget_contacts
from tests.factories import make_contact
from tests.lifecycle_support import ADDRESS, PHONE, post_order, record_discounts, sample_order, shop, switch_on  # noqa: F401

FRIEND = "+4915177777777"
FRIEND_ADDRESS = {**ADDRESS, "first_name": "Jonas", "address1": "Gartenweg 12", "zip": "20095", "city": "Hamburg"}


def _sent(sandbox, template: str) -> list[dict]:
    return [m for m in sandbox.messages() if m["payload"].get("template", {}).get("name") == template]


def _referrer_with_code(client, fake_shopify, shop, run_worker):
    created = record_discounts(fake_shopify)
    switch_on(shop, referral={"delay_seconds": 0, "friend_percent": 10, "reward_percent": 15})
    referrer = make_contact(shop, PHONE)
    post_order(client, fake_shopify, sample_order("8001", at=utcnow()))
    run_worker()
    own = db.session.scalars(select(ReferralCode).where(ReferralCode.contact_id == referrer.id)).one()
    return referrer, own, created


def test_a_friends_order_with_the_code_is_attributed_and_rewarded(client, fake_shopify, shop, run_worker, drain,
                                                                  sandbox):
    referrer, own, created = _referrer_with_code(client, fake_shopify, shop, run_worker)
    (shared,) = [c for c in created if c["code"] == own.code]
    assert own.code.startswith("FRIEND")
    assert shared["usageLimit"] is None and shared["appliesOncePerCustomer"] is True  # many friends, each once
    assert shared["customerGets"]["value"] == {"percentage": 0.1}
    (invite,) = db.session.scalars(select(Message).where(Message.template_name == "referral_invite")).all()
    assert invite.idempotency_key == f"referral:{referrer.id}:invite" and invite.contact_id == referrer.id
    share = invite.content["body"]["share_link"]
    assert share.startswith("https://wa.me/?text=") and own.code in unquote(share)
    assert drain(lambda: len(_sent(sandbox, "referral_invite")) == 1)

    friend = make_contact(shop, FRIEND)
    order = sample_order("8002", at=utcnow(), phone=FRIEND, email="jonas@example.com", customer_id=42,
                         address=FRIEND_ADDRESS, codes=(own.code.lower(),))
    post_order(client, fake_shopify, order)
    post_order(client, fake_shopify, {**order, "updated_at": utcnow().isoformat()})  # delivered again, newer
    run_worker()
    (referral,) = db.session.scalars(select(Referral)).all()
    assert (referral.referrer_contact_id, referral.friend_contact_id, referral.friend_order_id) == (
        referrer.id, friend.id, "8002")
    assert referral.status == "rewarded" and referral.reason is None
    reward = db.session.scalars(select(IssuedCode).where(IssuedCode.code == referral.reward_code)).one()
    assert reward.contact_id == referrer.id and reward.source == "referral_reward"
    (made,) = [c for c in created if c["code"] == referral.reward_code]
    assert made["usageLimit"] == 1 and made["customerGets"]["value"] == {"percentage": 0.15}
    assert drain(lambda: len(_sent(sandbox, "referral_reward")) == 1)
    (message,) = _sent(sandbox, "referral_reward")
    assert message["to"] == PHONE  # the referrer, not the friend


@pytest.mark.parametrize("reason", ["same_phone", "same_email", "same_address"])
def test_a_customer_cannot_refer_themself(client, fake_shopify, shop, run_worker, reason):
    referrer, own, created = _referrer_with_code(client, fake_shopify, shop, run_worker)
    if reason == "same_phone":  # another e-mail, address and customer id: the phone is the referrer's
        order = sample_order("8003", at=utcnow(), email="other@example.com", customer_id=43,
                             address=FRIEND_ADDRESS, codes=(own.code,))
    elif reason == "same_email":  # another phone, written otherwise
        order = sample_order("8003", at=utcnow(), phone=FRIEND, email="  Maria@Example.COM ", customer_id=43,
                             address=FRIEND_ADDRESS, codes=(own.code,))
    else:  # another phone and e-mail; the referrer's address, written otherwise
        order = sample_order("8003", at=utcnow(), phone=FRIEND, email="other@example.com", customer_id=43,
                             address={**FRIEND_ADDRESS, "first_name": "M.", "address1": "HAUPTSTRASSE 5,",
                                      "zip": "10 115", "city": "berlin", "country_code": "DE"},
                             codes=(own.code,))
    post_order(client, fake_shopify, order)
    run_worker()
    (referral,) = db.session.scalars(select(Referral)).all()
    assert referral.status == "refused" and referral.reason == reason
    assert referral.reward_code is None
    assert db.session.scalars(select(IssuedCode).where(IssuedCode.source == "referral_reward")).all() == []
    assert db.session.scalars(select(Message).where(Message.template_name == "referral_reward")).all() == []


def test_no_code_when_off(client, fake_shopify, shop, run_worker):
    created = record_discounts(fake_shopify)
    make_contact(shop, PHONE)
    post_order(client, fake_shopify, sample_order("8101", at=utcnow()))
    run_worker()
    assert created == [] and db.session.scalars(select(ReferralCode)).all() == []


def test_erasing_the_referrer_drops_their_address_hashes(client, fake_shopify, shop, run_worker):
    referrer, own, _created = _referrer_with_code(client, fake_shopify, shop, run_worker)
    assert own.address_hashes  # the order's shipping address, hashed
    counts = forget_contacts(db.session.get(Shop, shop.id), [referrer])
    db.session.commit()
    db.session.expire_all()
    assert counts["referral_codes"] == 1 and db.session.get(ReferralCode, own.id).address_hashes == []
