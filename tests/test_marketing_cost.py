"""Meta's current rules and what a message costs (issue 18): the Marketing Messages API per
number, ``template_category_update`` webhooks, and an estimated cost per sent message.

End to end: the outbox, the real dispatcher in a real RQ worker, the sandbox Cloud API (both
send endpoints), its signed webhooks through the real endpoint, PostgreSQL and Redis."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from connector import rollups
from connector.automations import templates
from connector.events import TemplateCategoryChanged
from connector.extensions import db, settings
from connector.messaging import costs
from connector.messaging.outbox import queue_message
from connector.models import DailyRollup, Message, MessageStatus, TemplateApproval, WebhookReceipt, WhatsAppAccount
from integrations.whatsapp.client import WhatsAppClient
from integrations.whatsapp.errors import WhatsAppApiError
from integrations.whatsapp.webhooks import parse
from tests.factories import make_contact, make_shop, order_confirmation
from tests.test_admin_settings import auth, connected_shop

SETTLED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.SUPPRESSED,
           MessageStatus.FAILED)


def cart_reminder(shop, contact, key: str = "cart:1:reminder"):
    return queue_message(shop=shop, contact=contact, idempotency_key=key, automation="abandoned_cart",
                         purpose="marketing", kind="template", template_name="cart_reminder_1", language="de",
                         content={"body": ["Maria"], "buttons": [{"index": 0, "url_suffix": "c/abc"}]}).message


def fresh(message_id: int) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message_id)


def receipts_done() -> bool:
    return db.session.scalar(select(func.count()).select_from(WebhookReceipt)
                             .where(WebhookReceipt.processed_at.is_(None))) == 0


def endpoints(sandbox) -> dict[str, str]:
    return {m["payload"]["template"]["name"]: m["endpoint"] for m in sandbox.messages() if m["type"] == "template"}


# --- 1. the Marketing Messages API ------------------------------------------------------------


def test_marketing_templates_go_to_marketing_messages_once_the_number_is_onboarded(ctx, drain, sandbox, run):
    shop = make_shop()
    contact = make_contact(shop)
    result = run("whatsapp", "set", "--shop", shop.domain, "--phone-number-id", "1000001",
                 "--access-token", "EAAG-test-token", "--marketing-messages")
    assert result.exit_code == 0, result.output
    assert "Marketing Messages API" in result.output
    assert db.session.scalars(select(WhatsAppAccount)).one().marketing_messages_onboarded is True

    reminder = cart_reminder(shop, contact)
    confirmation = order_confirmation(shop, make_contact(shop, "+4915112345679")).message  # no pair-rate wait
    assert drain(lambda: {fresh(reminder.id).status, fresh(confirmation.id).status} == {MessageStatus.READ}
                 and receipts_done())
    # marketing through the MM API, everything else through the Cloud API; the same statuses come back
    assert endpoints(sandbox) == {"cart_reminder_1": "marketing_messages", "order_confirmation": "messages"}
    assert fresh(reminder.id).wamid == next(m["wamid"] for m in sandbox.messages()
                                            if m["endpoint"] == "marketing_messages")

    # the flag stays when not given, and goes with --no-marketing-messages
    assert run("whatsapp", "set", "--shop", shop.domain, "--phone-number-id", "1000001",
               "--access-token", "EAAG-test-token").exit_code == 0
    assert db.session.scalars(select(WhatsAppAccount)).one().marketing_messages_onboarded is True
    assert run("whatsapp", "set", "--shop", shop.domain, "--phone-number-id", "1000001",
               "--access-token", "EAAG-test-token", "--no-marketing-messages").exit_code == 0
    assert db.session.scalars(select(WhatsAppAccount)).one().marketing_messages_onboarded is False
    later = cart_reminder(shop, make_contact(shop, "+4915112345670"), key="cart:2:reminder")
    assert drain(lambda: fresh(later.id).status == MessageStatus.READ)
    assert len(sandbox.messages()) == 3 and sandbox.messages()[-1]["endpoint"] == "messages"


def test_a_number_not_onboarded_sends_marketing_through_messages(ctx, drain, sandbox):
    shop = make_shop()
    reminder = cart_reminder(shop, make_contact(shop))
    assert drain(lambda: fresh(reminder.id).status == MessageStatus.READ)
    assert endpoints(sandbox) == {"cart_reminder_1": "messages"}


def test_the_sandbox_marketing_endpoint_takes_marketing_templates_only(ctx, sandbox):
    shop = make_shop()
    templates.sync_templates(shop, only=["order_confirmation"])  # a UTILITY template the sandbox knows
    with WhatsAppClient(access_token="EAAG-test-token", phone_number_id="1000001",
                        base_url=settings().whatsapp_api_base_url) as client:
        sent = client.send_template("+4915112345678", "cart_reminder_1", "de", body=["Maria"], marketing=True)
        assert sent.wamid
        with pytest.raises(WhatsAppApiError) as text:
            client.send({"messaging_product": "whatsapp", "to": "+4915112345679", "type": "text",
                         "text": {"body": "hi"}}, marketing=True)
        with pytest.raises(WhatsAppApiError) as utility:
            client.send_template("+4915112345679", "order_confirmation", "de", marketing=True)
        assert client.send_template("+4915112345679", "order_confirmation", "de").wamid  # fine on /messages
    assert text.value.code == 100 and utility.value.code == 100
    assert [m["endpoint"] for m in sandbox.messages()] == ["marketing_messages", "messages"]


def test_the_admin_shows_the_setting_beside_the_masked_token(client, fake_shopify):
    shop = connected_shop(fake_shopify)
    shop.whatsapp.access_token = "EAAGzZ0123456789abcdefghijklmnop1234"
    db.session.commit()
    answer = client.get("/admin/api/whatsapp", headers=auth(fake_shopify)).get_json()
    assert answer["marketing_messages_onboarded"] is False and answer["token"] == "EAAG…••••1234"
    shop.whatsapp.marketing_messages_onboarded = True
    db.session.commit()
    assert client.get("/admin/api/whatsapp", headers=auth(fake_shopify)).get_json()[
        "marketing_messages_onboarded"] is True


# --- 2. template_category_update -------------------------------------------------------------


def category_webhook(value: dict) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "time": 1764000000,
            "changes": [{"field": "template_category_update", "value": value}]}]}


def test_template_category_update_is_parsed_completed_and_impending():
    completed = parse(category_webhook({"message_template_id": 1689556908129832,
                                        "message_template_name": "order_confirmation",
                                        "message_template_language": "de", "previous_category": "UTILITY",
                                        "new_category": "MARKETING"}))
    assert completed == [TemplateCategoryChanged(
        waba_id="102290129340398", new_category="MARKETING", template_id="1689556908129832",
        name="order_confirmation", language="de", previous_category="UTILITY")]
    impending = parse(category_webhook({"message_template_id": 1689556908129832,
                                        "message_template_name": "order_confirmation",
                                        "message_template_language": "de", "correct_category": "MARKETING",
                                        "new_category": "UTILITY", "category_update_timestamp": 1764086400}))
    assert impending[0].impending is True and impending[0].correct_category == "MARKETING"
    broken = parse(category_webhook({"message_template_name": "order_confirmation"}))
    assert type(broken[0]).__name__ == "UnhandledChange"


def _approval(shop_id: int) -> TemplateApproval:
    db.session.expire_all()
    return db.session.scalars(select(TemplateApproval).where(
        TemplateApproval.shop_id == shop_id, TemplateApproval.name == "order_confirmation",
        TemplateApproval.language == "de")).one()


def test_a_recategorised_template_stops_going_to_transactional_only_contacts(ctx, drain, sandbox):
    shop = make_shop()
    db.session.scalars(select(WhatsAppAccount)).one().marketing_messages_onboarded = True
    db.session.commit()
    templates.sync_templates(shop, only=["order_confirmation"])
    # the sandbox approves and says so by webhook, through the real endpoint
    assert drain(lambda: _approval(shop.id).status == "APPROVED" and receipts_done())
    transactional_only = make_contact(shop, "+4915111111111", marketing=False)
    consented = make_contact(shop, "+4915122222222")
    before = order_confirmation(shop, transactional_only, key="order:1:confirmation").message
    assert drain(lambda: fresh(before.id).status == MessageStatus.READ)  # a utility template: it goes

    # Meta's advance notice changes nothing; the completed change makes it marketing
    assert sandbox.recategorise_template("order_confirmation", "de", "MARKETING", impending=True) == 200
    assert drain(receipts_done)
    assert _approval(shop.id).category == "UTILITY"
    assert sandbox.recategorise_template("order_confirmation", "de", "MARKETING") == 200
    assert drain(lambda: receipts_done() and _approval(shop.id).category == "MARKETING")

    refused = order_confirmation(shop, transactional_only, key="order:2:confirmation").message
    allowed = order_confirmation(shop, consented, key="order:3:confirmation").message
    assert drain(lambda: fresh(refused.id).status in SETTLED and fresh(allowed.id).status == MessageStatus.READ)
    assert (fresh(refused.id).status, fresh(refused.id).status_reason) == (MessageStatus.SUPPRESSED,
                                                                           "recategorised_marketing")
    # and, the template being marketing now, through the Marketing Messages API, billed as marketing
    sent = [m for m in sandbox.messages() if m["payload"]["template"]["name"] == "order_confirmation"]
    assert [(m["to"], m["endpoint"]) for m in sent] == [("+4915111111111", "messages"),
                                                        ("+4915122222222", "marketing_messages")]
    assert fresh(allowed.id).estimated_cost == Decimal("0.1502")


# --- 3. cost ------------------------------------------------------------------------------------


CARD = costs.load_rate_card()
BEFORE = datetime(2026, 9, 15, 12, tzinfo=timezone.utc)
AFTER = datetime(2026, 10, 15, 12, tzinfo=timezone.utc)


def test_the_rate_card_says_what_it_is_and_prices_by_category_and_country():
    described = CARD.describe()
    assert described["estimate"] is True and described["currency"] == "USD" and described["version"]
    assert described["source"].startswith("https://developers.facebook.com/") and described["as_of"]
    assert costs.estimate(CARD, category="marketing", country="DE", at=AFTER, window_open=False) == Decimal("0.1502")
    assert costs.estimate(CARD, category="utility", country="IN", at=AFTER, window_open=False) == Decimal("0.0017")
    # an unlisted country costs the default; Meta bills by calling code (+1: US), or the BSUID's prefix
    assert costs.estimate(CARD, category="marketing", country="FR", at=AFTER, window_open=False) == CARD.default[
        "marketing"]
    assert costs.country_of("+14155550123") == "US" and costs.country_of("+4915112345678") == "DE"
    assert costs.country_of(None, "BR.13491208655302741918") == "BR" and costs.country_of(None, None) is None
    assert costs.category_of("template", "transactional", "MARKETING") == "marketing"
    assert costs.category_of("template", "marketing", None) == "marketing"
    assert costs.category_of("template", "transactional", None) == "utility"
    assert costs.category_of("text", "service", None) == "service"


def test_what_the_customer_service_window_makes_free_follows_meta_rules_of_the_day():
    utility = dict(category="utility", country="DE", window_open=True)
    # July 2025 to September 2026: utility inside the window and service replies were free
    assert costs.estimate(CARD, at=BEFORE, **utility) == 0
    assert costs.estimate(CARD, category="service", country="DE", at=BEFORE, window_open=True,
                          service_sent_this_month=5000) == 0
    # from October 2026 both are charged, service at the utility rate after 1,000 a month
    assert costs.estimate(CARD, at=AFTER, **utility) == Decimal("0.0605")
    assert costs.estimate(CARD, category="service", country="DE", at=AFTER, window_open=True,
                          service_sent_this_month=999) == 0
    assert costs.estimate(CARD, category="service", country="DE", at=AFTER, window_open=True,
                          service_sent_this_month=1000) == Decimal("0.0605")
    # marketing costs the same inside the window
    assert costs.estimate(CARD, category="marketing", country="DE", at=BEFORE, window_open=True) == Decimal("0.1502")


def cost_rows(shop_id: int) -> dict[str, tuple[int, Decimal]]:
    db.session.expire_all()
    rows = db.session.scalars(select(DailyRollup).where(DailyRollup.shop_id == shop_id,
                                                        DailyRollup.metric == rollups.COST))
    summed: dict[str, tuple[int, Decimal]] = {}
    for row in rows:
        n, amount = summed.get(row.automation, (0, Decimal(0)))
        summed[row.automation] = (n + row.count, amount + Decimal(row.amount))
    return summed


def test_every_sent_message_gets_its_estimate_and_the_dashboard_shows_cost_beside_revenue(
        client, fake_shopify, drain, sandbox, run):
    shop = connected_shop(fake_shopify)
    shop.currency = "USD"  # the card's currency: revenue per unit spent can be given
    db.session.commit()
    hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    writing = make_contact(shop, "+919876543210", last_inbound_at=hour_ago)
    replied = make_contact(shop, "+919876543211", last_inbound_at=hour_ago)
    failing = make_contact(shop, "+4915199990000")
    reminder = cart_reminder(shop, make_contact(shop))  # one message per contact: no pair-rate waits
    confirmation = order_confirmation(shop, make_contact(shop, "+4915112345679")).message
    in_window = order_confirmation(shop, writing, key="order:2:confirmation").message
    reply = queue_message(shop=shop, contact=replied, idempotency_key="reply:1", automation="auto_reply",
                          purpose="service", kind="text", content={"text": "Thanks!"}).message
    sandbox.inject(kind="status_failure", code=131026, count=1, to="+4915199990000")
    failed = order_confirmation(shop, failing, key="order:3:confirmation").message
    ids = [reminder.id, confirmation.id, in_window.id, reply.id, failed.id]
    assert drain(lambda: all(fresh(i).status in (MessageStatus.READ, MessageStatus.FAILED) for i in ids)
                 and receipts_done())

    priced = {i: (fresh(i).estimated_cost, fresh(i).cost_currency) for i in ids}
    assert priced == {reminder.id: (Decimal("0.1502"), "USD"),  # marketing to +49
                      confirmation.id: (Decimal("0.0605"), "USD"),  # utility to +49, outside the window
                      in_window.id: (Decimal("0.0017"), "USD"),  # utility to +91 inside the window: charged now
                      reply.id: (Decimal("0"), "USD"),  # a service reply within the monthly allowance
                      failed.id: (Decimal("0"), "USD")}  # Meta charges delivered messages only
    assert cost_rows(shop.id) == {"abandoned_cart": (1, Decimal("0.1502")),
                                  "order_confirmation": (2, Decimal("0.0622")), "auto_reply": (1, Decimal(0))}

    today = rollups.today(shop)
    db.session.add(DailyRollup(shop_id=shop.id, day=today, automation="abandoned_cart", metric=rollups.ORDERS,
                               dimension="USD", count=1, amount=Decimal("30.00")))
    db.session.commit()
    body = client.get("/admin/api/dashboard?days=7", headers=auth(fake_shopify)).get_json()
    assert body["cost"]["estimate"] is True and body["cost"]["currency"] == "USD"
    rows = {row["automation"]: row for row in body["by_automation"]}
    assert (rows["abandoned_cart"]["revenue"], rows["abandoned_cart"]["cost"],
            rows["abandoned_cart"]["revenue_per_cost"]) == ("30.00", "0.1502", "199.73")
    assert (rows["order_confirmation"]["cost"], rows["order_confirmation"]["revenue_per_cost"]) == ("0.0622", "0.00")
    assert body["totals"]["cost"] == "0.2124" and body["totals"]["revenue_per_cost"] == "141.24"
    point = next(p for p in body["series"] if p["date"] == today.isoformat() and p["automation"] == "abandoned_cart")
    assert point["cost"] == "0.1502"

    # the rebuild recounts the same costs from the outbox
    before = cost_rows(shop.id)
    assert run("rollups", "rebuild", "--shop", shop.domain).exit_code == 0
    assert cost_rows(shop.id) == before

    # in another currency than the card's, no revenue per unit spent is made up
    shop.currency = "EUR"
    db.session.commit()
    other = client.get("/admin/api/dashboard?days=7", headers=auth(fake_shopify)).get_json()
    assert other["totals"]["cost"] == "0.2124" and other["totals"]["revenue_per_cost"] is None


def test_a_send_first_recorded_by_its_webhook_is_priced_once(ctx, drain, sandbox):
    shop = make_shop()
    sandbox.inject(kind="lost_reply", status=504, count=1)
    message = order_confirmation(shop, make_contact(shop)).message
    assert drain(lambda: fresh(message.id).status in (MessageStatus.DELIVERED, MessageStatus.READ)
                 and receipts_done())
    assert (fresh(message.id).estimated_cost, fresh(message.id).cost_currency) == (Decimal("0.0605"), "USD")
    assert cost_rows(shop.id) == {"order_confirmation": (1, Decimal("0.0605"))}


def test_a_rate_card_file_that_is_not_one_is_refused(tmp_path):
    broken = tmp_path / "card.json"
    broken.write_text(json.dumps({"version": "x", "currency": "USD", "rules": []}))
    with pytest.raises(costs.RateCardError):
        costs.load_rate_card(broken)
    assert costs.load_rate_card().currency == "USD"
