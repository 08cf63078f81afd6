"""Back-in-stock: subscriptions through the storefront API; alerts sized to the stock."""

from __future__ import annotations

import itertools

from sqlalchemy import func, select

from connector.automations.back_in_stock import send_restock_batch
from connector.extensions import db
from connector.models import Contact, Message, StockSubscription
from connector.models.contacts import CONSENT_GRANTED
from tests.automation_events import apply, now, stock, timedelta
from tests.factories import make_shop

_visitors = itertools.count(1)


def _subscribe(client, shop, phone, variant="111"):
    # each shopper from their own address: the opt-in limits allow 5 sign-ups per address
    visitor = next(_visitors)
    return client.post("/storefront/api/back-in-stock", json={"shop_key": shop.shop_key, "phone": phone,
                                                               "variant_id": variant},
                       environ_base={"REMOTE_ADDR": f"10.0.{visitor // 250}.{visitor % 250}"})


def _alerts():
    return db.session.scalars(select(Message).where(Message.automation == "back_in_stock").order_by(Message.id)).all()


def test_api_validates_and_records_pending_consent(ctx, client):
    shop = make_shop()
    assert client.post("/storefront/api/back-in-stock", json={"shop_key": shop.shop_key}).status_code == 400
    assert _subscribe(client, shop, "not a phone").status_code == 400
    assert client.post("/storefront/api/back-in-stock", json={"shop_key": "nope", "phone": "+4915112345678",
                                                               "variant_id": "1"}).status_code == 404
    assert client.post("/storefront/api/back-in-stock", json={"shop_key": shop.shop_key, "phone": "+4915112345678",
                                                               "variant_id": "1", "extra": 1}).status_code == 400
    first = _subscribe(client, shop, "+49 151 12345678")
    assert first.status_code == 201 and first.json["consent"] == "pending"
    assert _subscribe(client, shop, "+4915112345678").status_code == 200  # already subscribed: same row
    contact = db.session.scalars(select(Contact)).one()
    assert contact.marketing_consent_source == "back_in_stock_form"
    # the alert is marketing: the sign-up asked the shopper to confirm (double opt-in), once
    questions = db.session.scalars(select(Message).where(Message.template_name == "optin_confirmation")).all()
    assert [(m.purpose, m.contact_id) for m in questions] == [("confirmation", contact.id)]
    assert db.session.scalar(select(func.count(StockSubscription.id))) == 1


def test_restock_of_5_with_100_subscribers_notifies_one_batch_and_rechecks(ctx, client, drain, sandbox):
    shop = make_shop(settings={"governor": {"quiet_hours": {"enabled": False}},
                               "automations": {"back_in_stock": {"batch_interval_seconds": 3600}}})
    apply(shop, stock(False, 0, at=now() - timedelta(minutes=5)))
    for n in range(100):
        assert _subscribe(client, shop, f"+49151{n:08d}").status_code == 201
    db.session.execute(Contact.__table__.update().values(marketing_consent=CONSENT_GRANTED))  # double opt-in done
    db.session.commit()
    apply(shop, stock(True, 5))
    alerts = _alerts()
    assert len(alerts) == 5
    first_five = db.session.scalars(select(StockSubscription).order_by(StockSubscription.id).limit(5)).all()
    assert {s.status for s in first_five} == {"notified"}  # first come, first served
    assert {s.message_id for s in first_five} == {m.id for m in alerts}
    assert drain(lambda: len(sandbox.messages()) == 5)
    assert alerts[0].content["buttons"][0]["url_suffix"]

    apply(shop, stock(True, 2, at=now() + timedelta(seconds=1)))  # 3 sold: no new restock, no new batch
    assert len(_alerts()) == 5
    assert send_restock_batch(shop.id, "111") == 2  # next batch re-checks: 2 left, 2 alerts
    apply(shop, stock(False, 0, at=now() + timedelta(seconds=2)))  # sold out again
    assert send_restock_batch(shop.id, "111") == 0
    assert len(_alerts()) == 7
    assert db.session.scalar(select(func.count(StockSubscription.id)).where(StockSubscription.status == "active")) == 93


def test_sold_out_again_cancels_queued_alerts_and_expired_subscriptions_are_skipped(ctx, client):
    shop = make_shop(settings={"governor": {"quiet_hours": {"start": "00:00", "end": "23:59", "enabled": True,
                                                            "purposes": ["marketing"]}}})
    apply(shop, stock(False, 0, at=now() - timedelta(minutes=5)))
    for n in range(3):
        _subscribe(client, shop, f"+49151{n:08d}")
    db.session.execute(Contact.__table__.update().values(marketing_consent=CONSENT_GRANTED))
    old = db.session.scalars(select(StockSubscription).order_by(StockSubscription.id)).first()
    old.expires_at = now() - timedelta(seconds=1)
    db.session.commit()
    apply(shop, stock(True, 10))
    assert len(_alerts()) == 2  # the expired subscription got nothing
    apply(shop, stock(False, 0, at=now() + timedelta(seconds=1)))
    db.session.expire_all()
    assert [(m.status, m.status_reason) for m in _alerts()] == [("cancelled", "sold_out")] * 2


def _restock_with_subscribers(client, shop, count: int) -> None:
    apply(shop, stock(False, 0, at=now() - timedelta(minutes=5)))
    for n in range(count):
        assert _subscribe(client, shop, f"+49152{n:08d}").status_code == 201
    db.session.execute(Contact.__table__.update().values(marketing_consent=CONSENT_GRANTED))  # double opt-in done
    db.session.commit()


def test_a_lost_batch_job_is_resumed_by_the_sweep_once(ctx, client):
    from connector.extensions import get_redis
    from connector.jobs.sweep import sweep
    from connector.queues import MAINTENANCE, get_queue

    shop = make_shop(settings={"governor": {"quiet_hours": {"enabled": False}},
                               "automations": {"back_in_stock": {"batch_interval_seconds": 60}}})
    _restock_with_subscribers(client, shop, 12)
    apply(shop, stock(True, 5))
    assert len(_alerts()) == 5
    get_redis().flushdb()  # Redis restarted: the next batch's scheduled job is gone
    assert sweep()["resumed_restocks"] == 0  # not due yet: the next batch comes 60 s after the first
    db.session.execute(StockSubscription.__table__.update().where(StockSubscription.notified_at.is_not(None))
                       .values(notified_at=now() - timedelta(seconds=200)))
    db.session.commit()
    assert sweep()["resumed_restocks"] == 1
    assert sweep()["resumed_restocks"] == 0  # once per stalled batch
    jobs = [job for job in get_queue(MAINTENANCE).jobs if job.func_name.endswith("send_restock_batch")]
    assert len(jobs) == 1
    jobs[0].perform()
    db.session.expire_all()
    assert len(_alerts()) == 10  # the stock still holds 5: five more waiting subscribers are told


def test_a_restock_that_never_started_or_is_sold_out_is_not_resumed(ctx, client):
    from connector.jobs.sweep import sweep

    shop = make_shop(settings={"automations": {"back_in_stock": {"batch_interval_seconds": 60}}})
    _restock_with_subscribers(client, shop, 3)
    assert sweep()["resumed_restocks"] == 0  # out of stock, nobody told yet
    apply(shop, stock(True, 1))
    apply(shop, stock(False, 0, at=now() + timedelta(seconds=1)))
    db.session.execute(StockSubscription.__table__.update().where(StockSubscription.notified_at.is_not(None))
                       .values(notified_at=now() - timedelta(hours=1)))
    db.session.commit()
    assert sweep()["resumed_restocks"] == 0  # sold out again: nothing to resume


def test_an_alert_that_cannot_be_made_uses_up_only_its_own_subscription(ctx, client, monkeypatch):
    from connector.automations import back_in_stock

    shop = make_shop(settings={"governor": {"quiet_hours": {"enabled": False}}})
    _restock_with_subscribers(client, shop, 3)
    subscriptions = db.session.scalars(select(StockSubscription).order_by(StockSubscription.id)).all()
    broken = subscriptions[1].id
    original = back_in_stock.queue_template

    def queue(**kwargs):
        if kwargs["key"].endswith(f":subscription:{broken}"):
            raise ValueError("recipient is not a valid phone number")
        return original(**kwargs)

    monkeypatch.setattr(back_in_stock, "queue_template", queue)
    apply(shop, stock(True, 10))
    db.session.expire_all()
    statuses = [s.status for s in db.session.scalars(select(StockSubscription).order_by(StockSubscription.id))]
    assert statuses == ["notified", "expired", "notified"]
    assert len(_alerts()) == 2
