"""Pure planning for the periodic WooCommerce catch-up job.

WooCommerce never retries a failed delivery, and it disables a webhook after a handful of
consecutive failures (``woocommerce_max_webhook_delivery_failures``, default 5; see
class-wc-webhook.php ``failed_delivery``). So a job must, every few minutes:

1. list the store's webhooks and repair ours (:func:`webhooks_to_repair`);
2. list orders modified since the last run and parse each one as ``order.updated``
   events (the parser describes the current state and the core deduplicates), using
   :func:`query_after` for the ``modified_after`` to ask with, :func:`is_new` to skip
   what the last run already handled, and :func:`next_cursor` to move on.

Why a cursor with a set of seen snapshots, not just a timestamp: ``date_modified_gmt``
has one-second resolution and ``modified_after`` is exclusive (WordPress' date query
``after``), so "after the newest timestamp seen" would lose a second order saved in the
same second but committed after our query. We ask again from ``OVERLAP`` before the
newest timestamp and drop the (id, date_modified) pairs already handled; an order that
changed again has a new pair and comes through. The overlap also absorbs small clock
and commit-order skew between the web heads of one store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["OVERLAP", "REPAIRABLE_STATUSES", "Cursor", "is_new", "next_cursor", "query_after", "webhooks_to_repair"]

#: how far back each run looks again before the newest timestamp already handled
OVERLAP = timedelta(minutes=2)
#: ``paused`` is set by an admin, ``disabled`` by WooCommerce after failures
#: (https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks)
REPAIRABLE_STATUSES = frozenset({"disabled", "paused"})


def webhooks_to_repair(
    existing: Sequence[Mapping[str, Any]],
    wanted_topics: Iterable[str],
    delivery_url: str,
) -> tuple[list[str], list[str]]:
    """Plan the webhook repair: (ids to set ``active``, topics to create).

    Only webhooks whose ``delivery_url`` is ours count; other apps' webhooks are never
    touched. A wanted topic with an active webhook of ours needs nothing; with only
    disabled or paused ones, the lowest id is reactivated (one, so that the shop does
    not get two deliveries per change); with none, it is created. ``paused`` is
    reactivated too: the merchant cannot use our app with paused hooks, and reconnecting
    is the only way they would get them back. Deterministic: ids and topics sorted.
    """
    ours: dict[str, list[Mapping[str, Any]]] = {}
    target = _url_key(delivery_url)
    for hook in existing:
        topic = hook.get("topic")
        if isinstance(topic, str) and _url_key(hook.get("delivery_url")) == target:
            ours.setdefault(topic, []).append(hook)
    to_reactivate: list[str] = []
    to_create: list[str] = []
    for topic in sorted(set(wanted_topics)):
        hooks = ours.get(topic, [])
        if any(hook.get("status") == "active" for hook in hooks):
            continue
        repairable = sorted(
            (_id_key(hook.get("id")) for hook in hooks if hook.get("status") in REPAIRABLE_STATUSES),
            key=lambda pair: pair[0],
        )
        if repairable:
            to_reactivate.append(repairable[0][1])
        else:
            to_create.append(topic)
    return sorted(to_reactivate, key=lambda text: (len(text), text)), to_create


def _url_key(value: object) -> str | None:
    return value.strip().rstrip("/") if isinstance(value, str) and value.strip() else None


def _id_key(value: object) -> tuple[int, str]:
    text = str(value)
    return (int(text) if text.isdigit() else 0, text)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the catch-up stands: the newest ``date_modified_gmt`` handled, and every
    (order id, date_modified_gmt) pair handled within :data:`OVERLAP` of it."""

    modified_at: datetime
    seen: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def to_json(self) -> dict:
        """A JSON-safe form for the shop's row."""
        return {"modified_at": self.modified_at.isoformat(), "seen": sorted([list(pair) for pair in self.seen])}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cursor:
        modified_at = datetime.fromisoformat(str(data["modified_at"]))
        if modified_at.tzinfo is None:
            modified_at = modified_at.replace(tzinfo=UTC)
        seen = frozenset((str(pair[0]), str(pair[1])) for pair in data.get("seen", ()) if len(pair) == 2)
        return cls(modified_at=modified_at, seen=seen)

    @classmethod
    def start(cls, at: datetime) -> Cursor:
        """The cursor of a newly connected shop: catch up from ``at`` (e.g. connect time)."""
        return cls(modified_at=at if at.tzinfo else at.replace(tzinfo=UTC))


def query_after(cursor: Cursor) -> datetime:
    """The ``modified_after`` to ask with (``dates_are_gmt=true``)."""
    return cursor.modified_at - OVERLAP


def is_new(order: Mapping[str, Any], cursor: Cursor | None) -> bool:
    """False for an order snapshot the previous runs already handled."""
    key = _snapshot(order)
    return key is None or cursor is None or key not in cursor.seen


def next_cursor(orders: Iterable[Mapping[str, Any]], previous_cursor: Cursor | None) -> Cursor | None:
    """The cursor after handling ``orders`` (the whole listing of this run).

    The newest timestamp never goes backwards; the seen set keeps only pairs within
    :data:`OVERLAP` of it, so it stays small. ``None`` when there was no previous
    cursor and nothing dated was listed.
    """
    pairs = set(previous_cursor.seen) if previous_cursor else set()
    newest = previous_cursor.modified_at if previous_cursor else None
    for order in orders:
        key = _snapshot(order)
        if key is None:
            continue
        pairs.add(key)
        modified_at = _gmt(key[1])
        if modified_at is not None and (newest is None or modified_at > newest):
            newest = modified_at
    if newest is None:
        return None
    horizon = newest - OVERLAP
    kept = frozenset(pair for pair in pairs if (_gmt(pair[1]) or newest) >= horizon)
    return Cursor(modified_at=newest, seen=kept)


def _snapshot(order: Mapping[str, Any]) -> tuple[str, str] | None:
    order_id, modified = order.get("id"), order.get("date_modified_gmt")
    if isinstance(order_id, bool) or not isinstance(order_id, (int, str)) or not isinstance(modified, str):
        return None
    return (str(order_id), modified) if _gmt(modified) else None


def _gmt(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
