"""``purge_expired``: message bodies past the shop's retention, processed webhook bodies after
7 days, exports after 30 days, and shops uninstalled past the platform's schedule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from connector.extensions import db
from connector.models import DataExport, InboundRecord, Message, Shop, WebhookReceipt
from tests.factories import make_contact, make_shop, order_confirmation

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def _message(shop, contact, key: str, *, age_days: float, status: str = "read") -> int:
    message = order_confirmation(shop, contact, key=key, content={"body": [f"text {key}"]}).message
    db.session.execute(update(Message).where(Message.id == message.id).values(
        created_at=NOW - timedelta(days=age_days), status=status))
    db.session.commit()
    return message.id


def _inbound(shop, contact, wamid: str, *, age_days: float) -> int:
    row = InboundRecord(shop_id=shop.id, contact_id=contact.id, wamid=wamid, kind="button", text=f"text {wamid}",
                        reply_id="optin_yes:1", reply_title="Ja", received_at=NOW - timedelta(days=age_days))
    db.session.add(row)
    db.session.commit()
    return row.id


def _receipt(shop, key: str, *, processed_days_ago: float | None, received_days_ago: float = 30) -> int:
    row = WebhookReceipt(platform="shopify", dedupe_key=key, topic="orders/paid", shop_id=shop.id,
                         body=b'{"phone": "+4915112345678"}', received_at=NOW - timedelta(days=received_days_ago),
                         processed_at=None if processed_days_ago is None else NOW - timedelta(days=processed_days_ago),
                         attempts=1)
    db.session.add(row)
    db.session.commit()
    return row.id


def _uninstalled(domain: str, platform: str, *, days_ago: float, phone_number_id: str, settings: dict | None = None):
    shop = make_shop(domain, phone_number_id=phone_number_id, settings=settings)
    shop.platform = platform
    shop.is_active = False
    shop.uninstalled_at = NOW - timedelta(days=days_ago)
    db.session.commit()
    return shop.id


def test_message_bodies_past_the_shops_retention_are_purged(ctx):
    from connector.privacy import purge_expired

    short = make_shop("short.myshopify.com", phone_number_id="2000001",
                      settings={"retention_days": 30, "governor": {"quiet_hours": {"enabled": False}}})
    default = make_shop("default.myshopify.com", phone_number_id="2000002")
    a, b = make_contact(short), make_contact(default)
    old_short = _message(short, a, "old", age_days=40)
    young_short = _message(short, a, "young", age_days=10)
    waiting_short = _message(short, a, "waiting", age_days=40, status="queued")  # due later: still to be sent
    old_default = _message(default, b, "old", age_days=200)
    mid_default = _message(default, b, "mid", age_days=100)
    old_inbound, young_inbound = _inbound(short, a, "w-old", age_days=31), _inbound(short, a, "w-young", age_days=29)
    default_inbound = _inbound(default, b, "w-default", age_days=179)

    counts = purge_expired(NOW)
    db.session.expire_all()

    assert counts["message_bodies"] == 2 and counts["inbound_texts"] == 1
    assert db.session.get(Message, old_short).content == {} and db.session.get(Message, old_default).content == {}
    assert db.session.get(Message, old_short).status == "read"  # the anonymous count stays
    for kept, key in ((young_short, "young"), (waiting_short, "waiting"), (mid_default, "mid")):
        assert db.session.get(Message, kept).content == {"body": [f"text {key}"]}
    purged = db.session.get(InboundRecord, old_inbound)
    assert (purged.text, purged.reply_title, purged.kind, purged.reply_id) == (None, None, "button", "optin_yes:1")
    assert db.session.get(InboundRecord, young_inbound).text == "text w-young"
    assert db.session.get(InboundRecord, default_inbound).text == "text w-default"
    assert purge_expired(NOW)["message_bodies"] == 0  # nothing left to purge: rows are not rewritten


def test_processed_webhook_bodies_go_after_seven_days_and_unprocessed_ones_stay(ctx):
    from connector.privacy import purge_expired

    shop = make_shop()
    old = _receipt(shop, "old", processed_days_ago=8)
    recent = _receipt(shop, "recent", processed_days_ago=6)
    pending = _receipt(shop, "pending", processed_days_ago=None)
    assert purge_expired(NOW)["receipt_bodies"] == 1
    db.session.expire_all()
    assert db.session.get(WebhookReceipt, old).body == b"{}"
    assert db.session.get(WebhookReceipt, recent).body != b"{}"
    assert db.session.get(WebhookReceipt, pending).body != b"{}"


def test_exports_go_after_thirty_days(ctx):
    from connector.privacy import purge_expired

    shop = make_shop()
    old = DataExport(shop_id=shop.id, request_ref="old", content="{}", created_at=NOW - timedelta(days=31))
    young = DataExport(shop_id=shop.id, request_ref="young", content="{}", created_at=NOW - timedelta(days=29))
    db.session.add_all([old, young])
    db.session.commit()
    assert purge_expired(NOW)["data_exports"] == 1
    assert db.session.scalars(select(DataExport.request_ref)).all() == ["young"]


def test_uninstalled_shops_are_redacted_after_the_platforms_schedule(ctx):
    from connector.privacy import purge_expired

    woo_old = _uninstalled("old.example", "woocommerce", days_ago=31, phone_number_id="3000001")
    woo_young = _uninstalled("young.example", "woocommerce", days_ago=29, phone_number_id="3000002")
    woo_configured = _uninstalled("short.example", "woocommerce", days_ago=8, phone_number_id="3000003",
                                  settings={"redact_after_uninstall_days": 7})
    shopify_missed = _uninstalled("missed.myshopify.com", "shopify", days_ago=4, phone_number_id="3000004")
    shopify_waiting = _uninstalled("waiting.myshopify.com", "shopify", days_ago=1, phone_number_id="3000005")
    active = make_shop("active.myshopify.com", phone_number_id="3000006").id
    make_contact(db.session.get(Shop, woo_old))
    db.session.expunge_all()  # nothing loaded: purge_expired reads what it needs

    assert purge_expired(NOW)["shops_redacted"] == 3
    db.session.expunge_all()
    remaining = set(db.session.scalars(select(Shop.id)))
    assert remaining == {woo_young, shopify_waiting, active}
    assert {woo_old, woo_configured, shopify_missed}.isdisjoint(remaining)
