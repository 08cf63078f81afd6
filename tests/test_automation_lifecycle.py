"""Lifecycle automations (issue 18): review requests that collect answers, post-purchase content,
win-back. Store events go through the router (``apply``), shoppers' taps and texts through the
signed WhatsApp webhook of the sandbox, and a real worker sends everything through the outbox."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

from sqlalchemy import select

from connector.automations import winback
from connector.extensions import db, get_redis
from connector.models import InboundRecord, Message, ReviewAnswer, ShortLink, WebhookReceipt, utcnow
from tests.automation_events import PHONE, OrderPaid, apply, fulfillment, now, order
from tests.factories import make_contact, make_shop
from tests.test_admin_settings import auth, connected_shop

WA_ID = PHONE.lstrip("+")
GOVERNOR = {"quiet_hours": {"enabled": False}, "pair_interval_seconds": 0.1,
            "frequency_caps": {"marketing": {"max_messages": 50, "per_hours": 24}}}


def _sent(sandbox, template: str | None = None) -> list[dict]:
    return [m["payload"] for m in sandbox.messages()
            if (template is None and m["payload"].get("type") == "text")
            or (template is not None and m["payload"].get("template", {}).get("name") == template)]


def _texts(sandbox) -> list[str]:
    return [payload["text"]["body"] for payload in _sent(sandbox)]


def _post(sandbox, message: dict) -> None:
    assert sandbox.post_inbound("1000001", {"contacts": [{"wa_id": WA_ID, "profile": {"name": "Maria"}}],
                                            "messages": [{"from": WA_ID, "timestamp": str(int(time.time())),
                                                          **message}]}) == 200


def _tap(sandbox, payload: str, wamid: str, text: str = "5 - Excellent") -> None:
    _post(sandbox, {"id": wamid, "type": "button", "button": {"payload": payload, "text": text}})


def _write(sandbox, text: str, wamid: str) -> None:
    _post(sandbox, {"id": wamid, "type": "text", "text": {"body": text}})


def _handled_as(wamid: str) -> str | None:
    return db.session.scalars(select(InboundRecord.handled_as).where(InboundRecord.wamid == wamid)).first()


def _processed(wamid: str):
    def check() -> bool:
        return (db.session.scalars(select(InboundRecord).where(InboundRecord.wamid == wamid)).first() is not None
                and all(r.processed_at is not None for r in db.session.scalars(select(WebhookReceipt))))
    return check


def _review_shop(fake_shopify):
    shop = connected_shop(fake_shopify, settings={"governor": GOVERNOR, "automations": {"review_request": {
        "enabled": True, "delay_seconds": 0, "review_url": f"https://{fake_shopify.shop_domain}/pages/reviews"}}})
    make_contact(shop, PHONE)  # marketing consent granted: the review request is marketing
    return shop


def _deliver(shop, order_id: str, domain: str) -> None:
    apply(shop, OrderPaid(order(order_id, status_url=f"https://{domain}/orders/{order_id}")))
    apply(shop, fulfillment("delivered", fulfillment_id=f"f-{order_id}", order_id=order_id))


# -- review requests that collect answers ----------------------------------------------------------

def test_a_one_star_tap_is_stored_with_order_and_products_flagged_and_its_comment_kept(
        client, drain, sandbox, fake_shopify, caplog):
    shop = _review_shop(fake_shopify)
    _deliver(shop, "5001", fake_shopify.shop_domain)
    assert drain(lambda: len(_sent(sandbox, "review_rating")) == 1, timeout=30)
    buttons = json.dumps(_sent(sandbox, "review_rating")[0]["template"]["components"])
    for rating in range(1, 6):  # the rating buttons name the order
        assert f'"review_{rating}:5001"' in buttons

    caplog.set_level(logging.INFO)
    _tap(sandbox, "review_1:5001", "wamid.r1", text="1 - Very poor")
    assert drain(_processed("wamid.r1"))
    assert _handled_as("wamid.r1") == "review_rating"
    answer = db.session.scalars(select(ReviewAnswer)).one()
    assert (answer.shop_id, answer.order_id, answer.rating, answer.flagged) == (shop.id, "5001", 1, True)
    assert answer.product_ids == ["11", "12"] and answer.comment is None
    flagged = [r for r in caplog.records if r.getMessage() == "review.flagged"]
    assert len(flagged) == 1 and flagged[0].review_id == answer.id and flagged[0].rating == 1
    assert not any(WA_ID in r.getMessage() or WA_ID in json.dumps(r.__dict__, default=str)
                   for r in caplog.records if r.name.startswith("connector.conversations"))
    # asked for a comment inside the window the tap opened; a low rating gets no review-site link
    assert drain(lambda: len(_texts(sandbox)) == 1)
    assert "Kommentar" in _texts(sandbox)[0] and "/l/" not in _texts(sandbox)[0]

    # the admin sees it at once
    headers = auth(fake_shopify)
    listed = client.get("/admin/api/reviews?flagged=1", headers=headers).get_json()["reviews"]
    assert [(row["id"], row["rating"], row["order_id"], row["flagged"]) for row in listed] == [
        (answer.id, 1, "5001", True)]
    assert client.get("/admin/api/reviews?flagged=0", headers=headers).get_json()["reviews"] == []
    assert client.get("/admin/api/reviews?flagged=yes", headers=headers).status_code == 422

    # the next text is the comment, thanked for once; STOP is never taken for one
    _write(sandbox, "Die Kanne kam zerbrochen an.", "wamid.c1")
    assert drain(_processed("wamid.c1"))
    assert _handled_as("wamid.c1") == "review_comment"
    db.session.expire_all()
    answer = db.session.scalars(select(ReviewAnswer)).one()
    assert answer.comment == "Die Kanne kam zerbrochen an." and answer.commented_at is not None
    assert drain(lambda: len(_texts(sandbox)) == 2)
    _write(sandbox, "Noch etwas", "wamid.c2")  # the comment is taken once
    assert drain(_processed("wamid.c2"))
    assert _handled_as("wamid.c2") != "review_comment"
    assert db.session.scalars(select(ReviewAnswer.comment)).one() == "Die Kanne kam zerbrochen an."
    one = client.get(f"/admin/api/reviews/{answer.id}", headers=headers).get_json()["review"]
    assert one["comment"] == "Die Kanne kam zerbrochen an." and one["order_name"] == "#5001"


def test_a_five_star_tap_gets_the_review_site_as_a_tracked_link_and_a_stop_is_no_comment(
        client, drain, sandbox, fake_shopify):
    shop = _review_shop(fake_shopify)
    _deliver(shop, "5002", fake_shopify.shop_domain)
    assert drain(lambda: len(_sent(sandbox, "review_rating")) == 1, timeout=30)
    _tap(sandbox, "review_5:5002", "wamid.r5")
    assert drain(lambda: len(_texts(sandbox)) == 2)
    answer = db.session.scalars(select(ReviewAnswer)).one()
    assert (answer.rating, answer.flagged) == (5, False)
    link = db.session.scalars(select(ShortLink).where(ShortLink.link_key == "order:5002:review:site")).one()
    assert link.target_url.startswith(f"https://{fake_shopify.shop_domain}/pages/reviews?utm_source=whatsapp")
    site = next(text for text in _texts(sandbox) if "/l/" in text)
    assert site.endswith(f"/l/{link.code}")
    followed = client.get(f"/l/{link.code}")
    assert followed.status_code == 302 and followed.headers["Location"].startswith(
        f"https://{fake_shopify.shop_domain}/pages/reviews")
    # the same tap delivered again by Meta (same wamid) does nothing more
    _tap(sandbox, "review_5:5002", "wamid.r5")
    assert drain(_processed("wamid.r5"))
    time.sleep(0.3)
    assert drain(lambda: True) and len(_texts(sandbox)) == 2
    # STOP right after the rating is an opt-out, not a comment
    _write(sandbox, "STOP", "wamid.stop")
    assert drain(_processed("wamid.stop"))
    assert _handled_as("wamid.stop") == "opt_out"
    assert db.session.scalars(select(ReviewAnswer.comment)).one() is None


def test_a_rating_for_someone_elses_order_is_ignored(ctx, drain, sandbox):
    shop = make_shop(settings={"governor": GOVERNOR})
    make_contact(shop, PHONE)
    apply(shop, OrderPaid(order("5003", phone="+4915199999999")))  # another shopper's order
    _tap(sandbox, "review_1:5003", "wamid.other")
    assert drain(_processed("wamid.other"))
    assert _handled_as("wamid.other") is None
    assert db.session.scalars(select(ReviewAnswer)).all() == []


# -- post-purchase content -------------------------------------------------------------------------

def _content_shop(trigger: str = "delivered"):
    return make_shop(settings={"governor": GOVERNOR, "automations": {"post_purchase": {
        "enabled": True, "trigger": trigger, "delay_seconds": 0, "rules": [
            {"product_ids": ["11"], "url": "https://demo-shop.myshopify.com/pages/beans-guide",
             "note": "How to store your beans"},
            {"product_ids": ["99"], "url": "https://demo-shop.myshopify.com/pages/other", "note": "Not in it"},
            {"product_ids": [], "url": "https://www.youtube.com/watch?v=x", "note": "Off the shop's hosts"}]}}})


def _content_keys() -> list[str]:
    return [m.idempotency_key for m in db.session.scalars(
        select(Message).where(Message.automation == "post_purchase").order_by(Message.id))]


def test_post_purchase_content_once_per_order_and_rule_after_delivery(ctx, drain, sandbox):
    shop = _content_shop()
    apply(shop, OrderPaid(order("6001")))
    t = now()
    apply(shop, fulfillment("shipped", fulfillment_id="f-a", order_id="6001", at=t))
    assert _content_keys() == []  # the trigger is delivery
    apply(shop, fulfillment("delivered", fulfillment_id="f-a", order_id="6001", at=t + timedelta(seconds=1)))
    apply(shop, fulfillment("delivered", fulfillment_id="f-b", order_id="6001", at=t + timedelta(seconds=2)))
    apply(shop, fulfillment("delivered", fulfillment_id="f-a", order_id="6001", at=t + timedelta(seconds=3)))
    keys = _content_keys()
    assert len(keys) == 1 and keys[0].startswith("order:6001:content:")
    assert drain(lambda: len(_sent(sandbox, "post_purchase_content")) == 1, timeout=30)
    row = db.session.scalars(select(Message).where(Message.automation == "post_purchase")).one()
    assert row.purpose == "transactional" and row.content["body"]["content_note"] == "How to store your beans"
    link = db.session.scalars(select(ShortLink).where(ShortLink.message_id == row.id)).one()
    assert link.target_url.startswith("https://demo-shop.myshopify.com/pages/beans-guide?utm_source=whatsapp")
    assert row.content["buttons"][0]["url_suffix"] == link.code


def test_post_purchase_content_after_shipping_when_so_set_and_off_by_default(ctx):
    shop = _content_shop(trigger="shipped")
    apply(shop, OrderPaid(order("6002")), fulfillment("shipped", fulfillment_id="f-c", order_id="6002"))
    assert len(_content_keys()) == 1
    other = make_shop("other-shop.myshopify.com", phone_number_id="1000002")
    apply(other, OrderPaid(order("6003")), fulfillment("delivered", fulfillment_id="f-d", order_id="6003"))
    assert db.session.scalars(select(Message.idempotency_key).where(Message.shop_id == other.id,
                                                                    Message.automation == "post_purchase")).all() == []


# -- win-back --------------------------------------------------------------------------------------

def test_winback_once_per_period_only_to_consented_lapsed_customers(ctx, drain, sandbox):
    shop = make_shop(settings={"governor": GOVERNOR, "automations": {"winback": {"enabled": True}}})
    long_ago = now() - timedelta(days=100)
    lapsed = make_contact(shop, "+4915111111111")
    unconsented = make_contact(shop, "+4915122222222", marketing=False)
    recent = make_contact(shop, "+4915133333333")
    never = make_contact(shop, "+4915144444444")
    apply(shop, OrderPaid(order("7001", phone=lapsed.phone_e164, at=long_ago, cart_tokens=())),
          OrderPaid(order("7002", phone=unconsented.phone_e164, at=long_ago, cart_tokens=())),
          OrderPaid(order("7003", phone=recent.phone_e164, at=long_ago, cart_tokens=())),
          OrderPaid(order("7004", phone=recent.phone_e164, at=now() - timedelta(days=10), cart_tokens=())))
    assert never.id and winback.send_winbacks(utcnow()) == 1
    rows = db.session.scalars(select(Message).where(Message.automation == "winback")).all()
    period = winback.period_of(utcnow(), 90)
    assert [(row.contact_id, row.idempotency_key, row.purpose) for row in rows] == [
        (lapsed.id, f"winback:{lapsed.id}:{period}", "marketing")]
    assert drain(lambda: len(_sent(sandbox, "winback")) == 1, timeout=30)
    link = db.session.scalars(select(ShortLink).where(ShortLink.message_id == rows[0].id)).one()
    assert link.contact_id == lapsed.id and link.target_url.startswith("https://demo-shop.myshopify.com/?utm_source")
    assert rows[0].content["buttons"][0]["url_suffix"] == link.code
    # the next sweeps: the step rests, and even when it runs nothing more goes to her this period
    assert winback.send_winbacks(utcnow()) == 0
    get_redis().delete(winback.IDLE_KEY)
    assert winback.send_winbacks(utcnow()) == 0
    # 89 days on: she is still within her period; the customer whose order was 10 days ago has lapsed now
    later = utcnow() + timedelta(days=89)
    assert winback.queue_winbacks(shop, later) == 1
    newest = db.session.scalars(select(Message).where(Message.automation == "winback").order_by(Message.id.desc())
                                ).first()
    assert newest.contact_id == recent.id
    newest.created_at = later  # as the clock would have said then
    db.session.commit()
    # a period after hers, still without an order: one more for her, and only her
    assert winback.queue_winbacks(shop, utcnow() + timedelta(days=91)) == 1
    rows = db.session.scalars(select(Message).where(Message.automation == "winback").order_by(Message.id)).all()
    assert [row.contact_id for row in rows] == [lapsed.id, recent.id, lapsed.id]
    assert rows[2].idempotency_key == f"winback:{lapsed.id}:{winback.period_of(utcnow() + timedelta(days=91), 90)}"


def test_winback_is_off_by_default_and_goes_through_the_sweep(ctx):
    from connector.jobs.sweep import sweep

    shop = make_shop()
    contact = make_contact(shop, "+4915111111111")
    apply(shop, OrderPaid(order("7101", phone=contact.phone_e164, at=now() - timedelta(days=200), cart_tokens=())))
    assert sweep()["winbacks"] == 0
    shop.settings = {**shop.settings, "automations": {"winback": {"enabled": True, "days": 150}}}
    db.session.commit()
    get_redis().delete(winback.IDLE_KEY)
    assert sweep()["winbacks"] == 1


# -- privacy ---------------------------------------------------------------------------------------

def test_a_comment_goes_with_the_shoppers_erasure_and_with_the_texts_retention(ctx):
    from connector.models import OrderRecord
    from connector.privacy import forget_contacts, purge_expired

    shop = make_shop()
    kept, forgotten = make_contact(shop, "+4915111111111"), make_contact(shop, "+4915122222222")
    for contact, order_id in ((kept, "8001"), (forgotten, "8002")):
        db.session.add(OrderRecord(shop_id=shop.id, contact_id=contact.id, order_id=order_id, placed_at=utcnow()))
        db.session.add(ReviewAnswer(shop_id=shop.id, contact_id=contact.id, order_id=order_id, product_ids=[],
                                    rating=2, flagged=True, rated_at=utcnow(), comment="Zu bitter",
                                    commented_at=utcnow()))
    db.session.commit()
    assert forget_contacts(shop, [forgotten])["review_answers"] == 1
    db.session.commit()
    answers = {row.contact_id: row for row in db.session.scalars(select(ReviewAnswer))}
    assert answers[forgotten.id].comment is None and answers[forgotten.id].rating == 2  # the count stays
    assert answers[kept.id].comment == "Zu bitter"
    assert purge_expired(utcnow() + timedelta(days=100))["review_comments"] == 0  # within 180 days
    assert purge_expired(utcnow() + timedelta(days=181))["review_comments"] == 1
    assert db.session.scalars(select(ReviewAnswer.comment).where(ReviewAnswer.contact_id == kept.id)).one() is None


def test_winback_goes_through_the_governor_quiet_hours_and_a_revoked_consent(ctx, drain, sandbox):
    from connector import consent
    from connector.models.contacts import CONSENT_REVOKED

    shop = make_shop(settings={"governor": {**GOVERNOR, "quiet_hours": {"enabled": True, "start": "00:00",
                                                                        "end": "23:59"}},
                               "automations": {"winback": {"enabled": True}}})
    night = make_contact(shop, "+4915111111111")
    changed_mind = make_contact(shop, "+4915122222222")
    long_ago = now() - timedelta(days=120)
    apply(shop, OrderPaid(order("7201", phone=night.phone_e164, at=long_ago, cart_tokens=())),
          OrderPaid(order("7202", phone=changed_mind.phone_e164, at=long_ago, cart_tokens=())))
    assert winback.send_winbacks(utcnow()) == 2
    consent.record(changed_mind, consent.MARKETING, CONSENT_REVOKED, "keyword")  # STOP before it went out
    db.session.commit()
    rows = lambda: {row.contact_id: row for row in db.session.scalars(  # noqa: E731
        select(Message).where(Message.automation == "winback"))}
    assert drain(lambda: rows()[changed_mind.id].status == "suppressed" and rows()[night.id].status_reason
                 == "quiet_hours", timeout=20)
    assert rows()[night.id].status == "queued" and rows()[night.id].due_at > utcnow()
    assert _sent(sandbox, "winback") == []
