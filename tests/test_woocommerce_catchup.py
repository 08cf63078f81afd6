"""Catch-up planning: webhook repair and the order cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from integrations.woocommerce.catchup import OVERLAP, Cursor, is_new, next_cursor, query_after, webhooks_to_repair

OURS = "https://connector.example/webhooks/woocommerce/shop-1"
TOPICS = ("order.created", "order.updated", "product.updated")


def hook(id, topic, status="active", url=OURS):
    return {"id": id, "topic": topic, "status": status, "delivery_url": url}


def test_nothing_to_do_when_all_active():
    existing = [hook(1, "order.created"), hook(2, "order.updated"), hook(3, "product.updated")]
    assert webhooks_to_repair(existing, TOPICS, OURS) == ([], [])


def test_disabled_and_paused_are_reactivated_missing_are_created():
    existing = [
        hook(1, "order.created", "disabled"),
        hook(2, "order.updated", "paused"),
        hook(9, "product.updated", url="https://other-app.example/hook", status="disabled"),
    ]
    assert webhooks_to_repair(existing, TOPICS, OURS + "/") == (["1", "2"], ["product.updated"])


def test_one_reactivation_per_topic_and_none_when_one_is_active():
    existing = [
        hook(12, "order.created", "disabled"),
        hook(7, "order.created", "disabled"),
        hook(3, "order.updated", "disabled"),
        hook(4, "order.updated", "active"),
        hook(5, "product.updated", "pending"),  # unknown status: leave it, create one
    ]
    assert webhooks_to_repair(existing, TOPICS, OURS) == (["7"], ["product.updated"])


def order(id, modified):
    return {"id": id, "date_modified_gmt": modified}


def test_cursor_moves_to_the_newest_and_keeps_same_second_snapshots():
    orders = [order(1, "2026-05-01T10:00:00"), order(2, "2026-05-01T10:05:00"), order(3, "2026-05-01T10:05:00")]
    cursor = next_cursor(orders, None)
    assert cursor.modified_at == datetime(2026, 5, 1, 10, 5, tzinfo=UTC)
    assert cursor.seen == {("2", "2026-05-01T10:05:00"), ("3", "2026-05-01T10:05:00")}
    assert query_after(cursor) == cursor.modified_at - OVERLAP


def test_same_second_order_committed_late_is_not_skipped():
    first = next_cursor([order(1, "2026-05-01T10:05:00")], None)
    # the next run asks from before 10:05:00 and sees order 1 again plus a late order 4
    listing = [order(1, "2026-05-01T10:05:00"), order(4, "2026-05-01T10:05:00")]
    assert [o["id"] for o in listing if is_new(o, first)] == [4]
    second = next_cursor(listing, first)
    assert second.modified_at == first.modified_at
    assert not any(is_new(o, second) for o in listing)


def test_changed_order_comes_through_again():
    cursor = next_cursor([order(1, "2026-05-01T10:05:00")], None)
    assert is_new(order(1, "2026-05-01T10:05:30"), cursor)


def test_cursor_never_goes_back_and_forgets_old_pairs():
    start = Cursor.start(datetime(2026, 5, 1, 10, 0))
    assert start.modified_at.tzinfo is UTC
    cursor = next_cursor([order(1, "2026-05-01T10:00:00")], start)
    later = next_cursor([order(2, "2026-05-01T11:00:00")], cursor)
    assert later.seen == {("2", "2026-05-01T11:00:00")}
    assert next_cursor([], later) == later
    assert next_cursor([order(3, "2026-05-01T09:00:00")], later).modified_at == later.modified_at
    assert next_cursor([], None) is None
    assert next_cursor([{"id": 1}, {"date_modified_gmt": "x"}], None) is None


def test_cursor_json_roundtrip():
    cursor = next_cursor([order(1, "2026-05-01T10:00:00"), order(2, "2026-05-01T09:59:59")], None)
    assert Cursor.from_json(cursor.to_json()) == cursor
    assert cursor.modified_at - timedelta(seconds=1) < cursor.modified_at
