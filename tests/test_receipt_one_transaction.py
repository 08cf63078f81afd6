"""A receipt and everything it causes commit once, together; the dispatcher is woken after that
commit, and a failure leaves nothing behind (``connector.dbutil.held_transaction``)."""

from __future__ import annotations

from sqlalchemy import event, func, select

from connector.automations import orders
from connector.dbutil import held_transaction, insert_or_load, when_committed
from connector.events import OrderPaid
from connector.extensions import db, get_redis
from connector.jobs.ingest import process_receipt
from connector.models import Contact, Message, OrderRecord, ShortLink, WebhookReceipt, utcnow
from connector.routing import EVENT_HANDLERS
from connector.wakeups import kick_key
from tests.test_slow_vendor_backlog import deliver, shop  # noqa: F401 (fixture)


def _receipt_id() -> int:
    return db.session.scalars(select(WebhookReceipt.id).where(WebhookReceipt.topic == "orders/paid")).one()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_paid_order_commits_once_and_wakes_the_dispatcher_after(client, fake_shopify, shop):  # noqa: F811
    deliver(client, fake_shopify, "orders_paid__sample", "orders/paid", "evt-one-commit")
    receipt_id = _receipt_id()
    db.session.commit()
    commits, woken_before_commit = [], []

    def on_commit(_connection) -> None:
        woken_before_commit.append(bool(get_redis().exists(kick_key(shop.id))))
        commits.append(1)

    event.listen(db.engine, "commit", on_commit)
    try:
        assert process_receipt(receipt_id) == "processed"
    finally:
        event.remove(db.engine, "commit", on_commit)
    assert commits == [1] and woken_before_commit == [False]
    assert get_redis().exists(kick_key(shop.id))  # woken once the row was committed
    (message,) = db.session.scalars(select(Message)).all()
    assert message.automation == "order_confirmation"
    link = db.session.scalars(select(ShortLink)).one()
    assert link.message_id == message.id  # the button's link was attached in the same transaction


def test_a_failure_after_the_message_was_queued_leaves_nothing_and_wakes_nothing(client, fake_shopify, shop,  # noqa: F811
                                                                                 monkeypatch):
    deliver(client, fake_shopify, "orders_paid__sample", "orders/paid", "evt-fails-late")
    receipt_id = _receipt_id()
    db.session.commit()

    def fails_after(shop_id, event) -> None:
        raise RuntimeError("a later handler failed")

    monkeypatch.setitem(EVENT_HANDLERS, OrderPaid, (orders.on_order_paid, fails_after))
    assert process_receipt(receipt_id) == "failed"
    assert (_count(Message), _count(OrderRecord), _count(Contact), _count(ShortLink)) == (0, 0, 0, 0)
    assert not get_redis().exists(kick_key(shop.id))

    monkeypatch.setitem(EVENT_HANDLERS, OrderPaid, (orders.on_order_paid,))
    db.session.get(WebhookReceipt, receipt_id).claimed_until = None  # its retry is due
    db.session.commit()
    assert process_receipt(receipt_id) == "processed"
    assert (_count(Message), _count(OrderRecord)) == (1, 1)
    assert get_redis().exists(kick_key(shop.id))


def test_when_committed_waits_for_the_holders_commit_and_forgets_a_rollback(ctx):
    ran: list[str] = []
    with held_transaction(db.session):
        when_committed(db.session, lambda: ran.append("committed"))
        assert ran == []
        db.session.commit()
    assert ran == ["committed"]
    with held_transaction(db.session):
        when_committed(db.session, lambda: ran.append("rolled back"))
        db.session.rollback()
    db.session.commit()
    assert ran == ["committed"]
    when_committed(db.session, lambda: ran.append("now"))  # no holder: the caller has committed
    assert ran == ["committed", "now"]


def test_an_action_that_fails_after_the_commit_is_logged_not_raised(ctx, caplog):
    def broken() -> None:
        raise ConnectionError("redis is away")

    with held_transaction(db.session):
        when_committed(db.session, broken)
        db.session.commit()
    assert "db.after_commit_failed" in caplog.text


def test_insert_or_load_builds_a_new_row_without_reading_it_back_and_reads_a_taken_key(ctx):
    from tests.factories import make_shop

    shop = make_shop()
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement.split()[0])

    values = {"shop_id": shop.id, "phone_e164": "+4915100000001", "name": "Maria", "marketing_consent": "none",
              "transactional_consent": "none", "created_at": utcnow(), "updated_at": utcnow()}
    where = (Contact.shop_id == shop.id, Contact.phone_e164 == "+4915100000001")
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        contact, made = insert_or_load(db.session, Contact, values, ("shop_id", "phone_e164"), *where)
        assert made and contact.name == "Maria" and contact.email_hash is None and contact.id
        assert statements == ["INSERT"]  # nothing read back, not even a column left empty
        again, made_again = insert_or_load(db.session, Contact, {**values, "name": "Other"},
                                           ("shop_id", "phone_e164"), *where)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert not made_again and again is contact and again.name == "Maria"
    assert statements == ["INSERT", "INSERT", "SELECT"]
