"""The dashboard's numbers: daily rollups counted as facts happen (status webhooks through the
real endpoint, clicks on /l/, attributed orders, the consent ledger), once per fact; the
rebuild recounting the same from the source tables; GET /home, POST /test-message and
GET /dashboard reading them, per shop and in the shop's time zone."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select

from connector import optin, rollups
from connector.events import OrderCancelled, OrderPaid, OrderPlaced
from connector.extensions import db
from connector.models import DailyRollup, Message, MessageStatus, Shop, ShortLink, TemplateApproval, WebhookReceipt
from integrations.whatsapp.webhooks import sign
from tests.automation_events import apply, order
from tests.factories import make_contact, make_shop, order_confirmation
from tests.test_admin_settings import auth, connected_shop

SECRET = "test-app-secret"


def rollup_rows(shop_id: int) -> dict[tuple, tuple[int, Decimal]]:
    """(day, automation, metric, dimension) → (count, amount), rows with nothing left out."""
    db.session.expire_all()
    rows = db.session.execute(select(DailyRollup).where(DailyRollup.shop_id == shop_id)).scalars()
    return {(r.day, r.automation, r.metric, r.dimension): (r.count, Decimal(r.amount)) for r in rows
            if r.count or r.amount}


def totals(shop_id: int) -> dict[tuple[str, str, str], int]:
    """(automation, metric, dimension) → count over every day."""
    summed: dict[tuple[str, str, str], int] = {}
    for (_, automation, metric, dimension), (count, _) in rollup_rows(shop_id).items():
        summed[(automation, metric, dimension)] = summed.get((automation, metric, dimension), 0) + count
    return {key: value for key, value in summed.items() if value}


def status_webhook(wamid: str, status: str, at: datetime, *, phone_number_id: str = "1000001",
                   errors: list | None = None) -> bytes:
    item = {"id": wamid, "status": status, "timestamp": str(int(at.timestamp())), "recipient_id": "4915112345678"}
    if errors:
        item["errors"] = errors
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
            "statuses": [item]}}]}]}).encode()


def post_status(client, body: bytes) -> None:
    response = client.post("/webhooks/whatsapp", data=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)})
    assert response.status_code == 200 and response.get_json()["status"] == "accepted"


def all_receipts_processed() -> bool:
    return db.session.scalar(select(func.count()).select_from(WebhookReceipt)
                             .where(WebhookReceipt.processed_at.is_(None))) == 0


def message(message_id: int) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message_id)


# --- counted as it happens, once per fact ---------------------------------------------------------


def test_status_webhooks_count_each_fact_once(ctx, client, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop)
    queued = order_confirmation(shop, contact).message
    assert drain(lambda: message(queued.id).status == MessageStatus.READ and all_receipts_processed())
    counted = {("order_confirmation", "sent", ""): 1, ("order_confirmation", "delivered", ""): 1,
               ("order_confirmation", "read", ""): 1, ("order_confirmation", "cost", "USD"): 1}
    assert totals(shop.id) == counted
    assert set(rollup_rows(shop.id)) == {(rollups.today(shop), "order_confirmation", metric, dimension)
                                         for metric, dimension in (("sent", ""), ("delivered", ""), ("read", ""),
                                                                   ("cost", "USD"))}

    # Meta delivers statuses again, in new bodies (new receipts, processed again): nothing moves
    wamid, later = message(queued.id).wamid, datetime.now(timezone.utc) + timedelta(seconds=5)
    for status in ("sent", "delivered", "read", "failed"):
        post_status(client, status_webhook(wamid, status, later))
    assert drain(all_receipts_processed)
    assert db.session.scalar(select(func.count()).select_from(WebhookReceipt)) == 3 + 4
    assert totals(shop.id) == counted


def test_a_failure_counts_by_its_error_and_a_later_delivery_takes_it_back(ctx, client, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop)
    sandbox.inject(kind="status_failure", code=131026, count=1)
    queued = order_confirmation(shop, contact).message
    assert drain(lambda: message(queued.id).status == MessageStatus.FAILED and all_receipts_processed())
    assert totals(shop.id) == {("order_confirmation", "sent", ""): 1,
                               ("order_confirmation", "failed", "error:131026"): 1}

    # Meta does not order its webhooks: a delivered after the failure wins, and the failure is taken
    # back (its cost, taken back with the failure since Meta charges delivered messages, counts again)
    post_status(client, status_webhook(message(queued.id).wamid, "delivered", datetime.now(timezone.utc)))
    assert drain(lambda: message(queued.id).status == MessageStatus.DELIVERED and all_receipts_processed())
    assert totals(shop.id) == {("order_confirmation", "sent", ""): 1, ("order_confirmation", "delivered", ""): 1,
                               ("order_confirmation", "cost", "USD"): 1}


def test_a_refused_send_counts_as_failed_once(ctx, drain, sandbox):
    shop = make_shop()
    contact = make_contact(shop)
    sandbox.inject(kind="error", code=131026, count=1)
    queued = order_confirmation(shop, contact).message
    assert drain(lambda: message(queued.id).status == MessageStatus.FAILED)
    assert totals(shop.id) == {("order_confirmation", "failed", "error:131026"): 1}


def test_quiet_hours_deferral_counts_once_per_message(ctx, drain):
    shop = make_shop(settings={"governor": {"quiet_hours": {"enabled": True, "start": "00:00", "end": "23:59",
                                                            "purposes": ["marketing", "transactional"]}}})
    contact = make_contact(shop, time_zone="UTC")
    queued = order_confirmation(shop, contact).message
    drain(lambda: message(queued.id).status_reason == "quiet_hours")
    # the row comes due again and waits for the same reason: the same deferral, not a new one
    db.session.execute(Message.__table__.update().values(due_at=datetime.now(timezone.utc)))
    db.session.commit()
    drain(lambda: message(queued.id).deferrals == 2)
    assert message(queued.id).status == MessageStatus.QUEUED
    assert totals(shop.id) == {("order_confirmation", "deferred", "quiet_hours"): 1}


def _attributed_flow(client, drain, sandbox) -> Shop:
    """An order confirmation read and clicked twice, an order credited to it, a cancelled
    attributed order, a failed message, a double opt-in from the widget, an opt-out by keyword."""
    shop = make_shop()
    apply(shop, OrderPaid(order("5001")))  # paid: the confirmation goes out
    first = db.session.scalars(select(Message).where(Message.shop_id == shop.id)).one()
    assert drain(lambda: message(first.id).status == MessageStatus.READ and all_receipts_processed())
    link = db.session.scalars(select(ShortLink).where(ShortLink.message_id == first.id)).one()
    for _ in range(2):
        assert client.get(f"/l/{link.code}").status_code == 302
    # placed (not paid): no confirmation, but recorded and credited to the click
    apply(shop, OrderPlaced(order("5002", cart_tokens=(), total=Decimal("80.00"))))
    apply(shop, OrderPlaced(order("5003", cart_tokens=(), total=Decimal("20.00"))))
    apply(shop, OrderCancelled(order("5003", cart_tokens=(), total=Decimal("20.00"))))

    other = make_contact(shop, "+4915199990000")
    sandbox.inject(kind="status_failure", code=131026, count=1, to="+4915199990000")
    failing = order_confirmation(shop, other, key="order:9:confirmation").message
    assert drain(lambda: message(failing.id).status == MessageStatus.FAILED and all_receipts_processed())

    shopper = make_contact(shop, "+4915177770000", marketing=False)
    asked = optin.request_opt_in(shop, shopper, source="widget_popup", text_shown="Get offers on WhatsApp")
    assert asked is not None and asked != optin.PENDING_ALREADY
    now = datetime.now(timezone.utc)
    assert optin.answer_confirmation(shop, shopper, optin.YES, pending_id=None, reply_wamid="wamid.yes", at=now)
    assert optin.opt_out(shop, shopper, source="keyword", at=now + timedelta(seconds=1))
    db.session.commit()
    assert drain(lambda: all_receipts_processed() and db.session.scalar(select(func.count()).select_from(Message).where(
        Message.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING]))) == 0)
    return shop


def test_clicks_orders_and_consent_are_counted_and_the_rebuild_recounts_the_same(ctx, client, drain, sandbox, run):
    shop = _attributed_flow(client, drain, sandbox)
    counted = totals(shop.id)
    assert counted[("order_confirmation", "clicked", "")] == 1  # two clicks, one message clicked
    assert counted[("order_confirmation", "orders", "EUR")] == 1  # 5002; 5003 was cancelled
    assert rollup_rows(shop.id)[(rollups.today(shop), "order_confirmation", "orders", "EUR")] == (1, Decimal("80.00"))
    assert counted[("", "optins", "widget_popup")] == 1  # the YES is credited to the form that asked
    assert counted[("", "optouts", "keyword")] == 1
    assert counted[("order_confirmation", "failed", "error:131026")] == 1
    assert counted[("order_confirmation", "sent", "")] == 2  # the opt-in question went unsent: answered first

    incremental = rollup_rows(shop.id)
    db.session.execute(DailyRollup.__table__.delete())
    db.session.commit()
    result = run("rollups", "rebuild", "--shop", shop.domain)
    assert result.exit_code == 0, result.output
    assert rollup_rows(shop.id) == incremental
    assert run("rollups", "rebuild").exit_code == 0  # every shop; twice changes nothing
    assert rollup_rows(shop.id) == incremental
    assert run("rollups", "rebuild", "--shop", "nope.example").exit_code == 2


def test_rebuild_keeps_deferrals_and_leaves_other_shops_alone(ctx, run):
    shop = make_shop()
    other = make_shop("other-shop.myshopify.com", phone_number_id="2000002")
    now = datetime.now(timezone.utc)
    rollups.count(db.session, shop.id, now, rollups.DEFERRED, automation="abandoned_cart", dimension="quiet_hours")
    rollups.count(db.session, shop.id, now, rollups.SENT, automation="abandoned_cart", n=5)  # nothing backs it
    rollups.count(db.session, other.id, now, rollups.SENT, automation="abandoned_cart", n=3)
    db.session.commit()
    assert run("rollups", "rebuild", "--shop", shop.domain).exit_code == 0
    assert totals(shop.id) == {("abandoned_cart", "deferred", "quiet_hours"): 1}
    assert totals(other.id) == {("abandoned_cart", "sent", ""): 3}


def test_a_count_is_lost_with_its_rolled_back_transaction(ctx):
    shop = make_shop()
    rollups.count(db.session, shop.id, datetime.now(timezone.utc), rollups.SENT, automation="x")
    db.session.rollback()
    db.session.commit()
    assert totals(shop.id) == {}


def test_a_count_for_a_shop_deleted_in_the_same_transaction_is_dropped(ctx):
    shop = make_shop()
    rollups.count(db.session, shop.id, datetime.now(timezone.utc), rollups.SENT, automation="x")
    db.session.execute(Shop.__table__.delete().where(Shop.id == shop.id))  # as a shop's redaction does
    db.session.commit()  # no foreign-key error: the count went with its shop
    assert db.session.scalar(select(func.count()).select_from(DailyRollup)) == 0


def test_facts_fall_on_the_shop_time_zone_day(ctx, client, drain):
    """Auckland is UTC+13 in December: 10:59 UTC is 23:59 on the 30th there, 11:01 UTC past midnight."""
    shop = make_shop(time_zone="Pacific/Auckland")
    contact = make_contact(shop)
    sent_at = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
    ids = []
    for n, delivered in enumerate((datetime(2026, 11, 30, 10, 59, tzinfo=timezone.utc),
                                   datetime(2026, 11, 30, 11, 1, tzinfo=timezone.utc))):
        row = order_confirmation(shop, contact, key=f"tz:{n}").message
        db.session.execute(Message.__table__.update().where(Message.id == row.id).values(
            status="sent", sent_at=sent_at, wamid=f"wamid.tz{n}", due_at=sent_at))
        db.session.commit()
        post_status(client, status_webhook(f"wamid.tz{n}", "delivered", delivered))
        ids.append(row.id)
    assert drain(lambda: all(message(i).status == MessageStatus.DELIVERED for i in ids) and all_receipts_processed())
    rows = rollup_rows(shop.id)
    assert rows[(date(2026, 11, 30), "order_confirmation", "delivered", "")] == (1, Decimal(0))
    assert rows[(date(2026, 12, 1), "order_confirmation", "delivered", "")] == (1, Decimal(0))


# --- the API ----------------------------------------------------------------------------------


def seed(shop: Shop, day: date, automation: str, metric: str, n: int, *, dimension: str = "",
         amount: str = "0") -> None:
    db.session.add(DailyRollup(shop_id=shop.id, day=day, automation=automation, metric=metric, dimension=dimension,
                               count=n, amount=Decimal(amount)))


def seeded_shop(fake_shopify, **options) -> tuple[Shop, date]:
    shop = connected_shop(fake_shopify, **options)
    shop.currency = "EUR"
    today = rollups.today(shop)
    for offset in range(10):  # 10 days of the abandoned cart, today included
        day = today - timedelta(days=offset)
        seed(shop, day, "abandoned_cart", "sent", 10)
        seed(shop, day, "abandoned_cart", "delivered", 8)
        seed(shop, day, "abandoned_cart", "read", 5)
        seed(shop, day, "abandoned_cart", "clicked", 2)
        seed(shop, day, "abandoned_cart", "orders", 1, dimension="EUR", amount="25.50")
    seed(shop, today, "abandoned_cart", "orders", 1, dimension="USD", amount="99.00")  # not the shop's currency
    seed(shop, today, "order_confirmation", "sent", 3)
    seed(shop, today, "order_confirmation", "delivered", 3)
    seed(shop, today - timedelta(days=1), "abandoned_cart", "deferred", 4, dimension="quiet_hours")
    seed(shop, today, "abandoned_cart", "failed", 2, dimension="error:131026")
    seed(shop, today, "", "optins", 6, dimension="widget_popup")
    seed(shop, today, "", "optins", 1, dimension="checkout_checkbox")
    seed(shop, today - timedelta(days=2), "", "optouts", 2, dimension="keyword")
    seed(shop, today - timedelta(days=2), "", "optouts", 1, dimension="whatsapp_user_preferences")
    seed(shop, today - timedelta(days=40), "abandoned_cart", "sent", 1000)  # outside 7 and 30 days
    db.session.commit()
    return shop, today


def test_dashboard_answers_the_seeded_figures_and_the_previous_period(client, fake_shopify):
    shop, today = seeded_shop(fake_shopify)
    response = client.get("/admin/api/dashboard?days=7", headers=auth(fake_shopify))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["days"] == 7 and body["time_zone"] == "UTC" and body["currency"] == "EUR"
    assert body["automations"] == ["abandoned_cart", "order_confirmation"]
    assert len(body["series"]) == 7 * 2
    point = next(p for p in body["series"] if p["date"] == today.isoformat() and p["automation"] == "abandoned_cart")
    assert point == {"date": today.isoformat(), "automation": "abandoned_cart", "sent": 10, "delivered": 8, "read": 5,
                     "clicked": 2, "orders": 2, "revenue": "25.50", "cost": "0.0000"}
    assert body["series"][0]["date"] == (today - timedelta(days=6)).isoformat()
    assert body["totals"] == {"sent": 73, "delivered": 59, "read": 35, "clicked": 14, "orders": 8,
                              "revenue": "178.50", "recipients": 59, "revenue_per_recipient": "3.03",
                              "cost": "0.0000", "revenue_per_cost": None}
    # the three days before the period (10 seeded in all)
    assert body["previous"] == {"sent": 30, "delivered": 24, "read": 15, "clicked": 6, "orders": 3,
                                "revenue": "76.50", "recipients": 24, "revenue_per_recipient": "3.19",
                                "cost": "0.0000", "revenue_per_cost": None}
    assert body["optins"] == [{"date": today.isoformat(), "source": "checkout_checkbox", "count": 1},
                              {"date": today.isoformat(), "source": "widget_popup", "count": 6}]
    assert body["optouts"] == [{"date": (today - timedelta(days=2)).isoformat(), "count": 3}]
    assert body["deferred"] == [{"date": (today - timedelta(days=1)).isoformat(), "reason": "quiet_hours",
                                 "count": 4}]
    assert body["failed"] == [{"date": today.isoformat(), "error": "error:131026", "count": 2}]

    month = client.get("/admin/api/dashboard?days=30", headers=auth(fake_shopify)).get_json()
    assert month["totals"]["sent"] == 103 and month["previous"]["sent"] == 1000 and len(month["series"]) == 60
    one = client.get("/admin/api/dashboard?days=90&automation=order_confirmation", headers=auth(fake_shopify))
    one = one.get_json()
    assert {p["automation"] for p in one["series"]} == {"order_confirmation"} and len(one["series"]) == 90
    assert one["totals"]["sent"] == 3 and one["failed"] == [] and one["deferred"] == []
    assert one["automations"] == ["abandoned_cart", "order_confirmation"]  # the filter's choices stay


def test_dashboard_refuses_other_periods_with_a_422(client, fake_shopify):
    connected_shop(fake_shopify)
    for query in ("days=14", "days=0", "days=abc", "days=7.5", f"automation={'x' * 51}"):
        response = client.get(f"/admin/api/dashboard?{query}", headers=auth(fake_shopify))
        assert response.status_code == 422, query
        assert set(response.get_json()["errors"]) <= {"days", "automation"}
    assert client.get("/admin/api/dashboard?days=90&automation=", headers=auth(fake_shopify)).status_code == 200
    assert client.get("/admin/api/dashboard").status_code == 401
    assert client.get("/admin/api/home").status_code == 401
    assert client.post("/admin/api/test-message", json={"phone": "+4915112345678"}).status_code == 401


def test_another_shops_figures_never_show(client, fake_shopify):
    seeded_shop(fake_shopify)
    mine = connected_shop(fake_shopify, "second-shop.myshopify.com", phone_number_id="2000002")
    headers = auth(fake_shopify, "second-shop.myshopify.com")
    body = client.get("/admin/api/dashboard?days=90", headers=headers).get_json()
    assert body["automations"] == [] and body["series"] == [] and body["optins"] == [] and body["failed"] == []
    assert body["totals"]["sent"] == 0 and body["previous"]["sent"] == 0
    home = client.get("/admin/api/home", headers=headers).get_json()
    assert home["today"] == {"sent": 0, "delivered": 0, "read": 0, "clicked": 0, "orders": 0, "revenue": "0.00",
                             "currency": None}
    assert mine.id != db.session.scalar(select(Shop.id).where(Shop.domain == fake_shopify.shop_domain))


def test_dashboard_days_are_the_shop_time_zone_days(client, fake_shopify):
    """A fact counted at 23:30 UTC lands on the next day in Berlin, and the period ends on Berlin's today."""
    shop = connected_shop(fake_shopify, time_zone="Europe/Berlin")
    late = datetime.now(timezone.utc).replace(hour=23, minute=30, second=0, microsecond=0) - timedelta(days=3)
    rollups.count(db.session, shop.id, late, rollups.SENT, automation="abandoned_cart")
    db.session.commit()
    body = client.get("/admin/api/dashboard?days=7", headers=auth(fake_shopify)).get_json()
    assert body["time_zone"] == "Europe/Berlin"
    assert body["series"][-1]["date"] == rollups.today(shop).isoformat()
    sent_on = [p["date"] for p in body["series"] if p["sent"]]
    assert sent_on == [(late.date() + timedelta(days=1)).isoformat()]


def test_home_shows_the_checklist_and_today(client, fake_shopify):
    shop, today = seeded_shop(fake_shopify)
    body = client.get("/admin/api/home", headers=auth(fake_shopify)).get_json()
    assert body["today"] == {"sent": 13, "delivered": 11, "read": 5, "clicked": 2, "orders": 2, "revenue": "25.50",
                             "currency": "EUR"}
    checklist = {item["key"]: item for item in body["checklist"]}
    assert list(checklist) == ["whatsapp_connected", "templates_approved", "storefront_widget", "test_message"]
    assert checklist["whatsapp_connected"]["done"] is True
    assert checklist["templates_approved"] == {"key": "templates_approved", "done": False,
                                               "detail": "templates not synced yet"}
    assert checklist["test_message"]["done"] is False
    editor = (f"https://{shop.domain}/admin/themes/current/editor?context=apps"
              f"&activateAppId={fake_shopify.api_key}/app-embed")  # the theme editor, the app embed selected
    assert checklist["storefront_widget"] == {"key": "storefront_widget", "done": False,
                                              "detail": "the storefront widget is switched off", "link": editor}
    shop.settings = {**shop.settings, "storefront": {"enabled": True, "popup": {"enabled": True}}}
    db.session.add_all([TemplateApproval(shop_id=shop.id, name="order_confirmation", language=lang, version=1,
                                         category="UTILITY", status=status)
                        for lang, status in (("en", "APPROVED"), ("de", "REJECTED"))])
    db.session.commit()
    checklist = client.get("/admin/api/home", headers=auth(fake_shopify)).get_json()["checklist"]
    assert checklist[1] == {"key": "templates_approved", "done": False, "detail": "1 of 2 approved, 1 rejected"}
    assert checklist[2]["key"] == "storefront_widget" and checklist[2]["done"] is True
    assert "opt-in popup" in checklist[2]["detail"] and checklist[2]["link"] == editor


def test_test_message_goes_through_the_outbox_and_ticks_the_checklist(client, fake_shopify, drain, sandbox):
    shop = connected_shop(fake_shopify)
    headers = auth(fake_shopify)
    for bad in ({"phone": "12"}, {"phone": ""}, {}, {"phone": 4915112345678}, {"phone": "+49151", "extra": 1}):
        response = client.post("/admin/api/test-message", json=bad, headers=headers)
        assert response.status_code == 422, bad
        assert "phone" in response.get_json()["errors"] or "extra" in response.get_json()["errors"]
    assert client.post("/admin/api/test-message", data="nope", headers={**headers, "Content-Type": "application/json"}
                       ).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0

    response = client.post("/admin/api/test-message", json={"phone": "+49 151 1234 5678"}, headers=headers)
    assert response.status_code == 202
    message_id = response.get_json()["message_id"]
    again = client.post("/admin/api/test-message", json={"phone": "+4915112345678"}, headers=headers)
    assert again.status_code == 202  # a double click within the minute: the same message
    item = client.get("/admin/api/home", headers=headers).get_json()["checklist"][3]
    assert item["key"] == "test_message" and item["done"] is True
    assert drain(lambda: message(message_id).status == MessageStatus.READ and all_receipts_processed())
    sent = sandbox.messages()
    assert [m["payload"]["template"]["name"] for m in sent] == ["test_message"]
    assert sent[0]["payload"]["to"] == "+4915112345678"
    row = message(message_id)
    assert row.shop_id == shop.id and row.automation == "test_message" and row.purpose == "transactional"
    assert client.get("/admin/api/home", headers=headers).get_json()["checklist"][3]["detail"] == "read"
    assert totals(shop.id)[("test_message", "test_requested", "")] in (1, 2)
