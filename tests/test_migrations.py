"""Alembic: a single head; upgrade, downgrade and upgrade again on a database of its own
(PostgreSQL when TEST_DATABASE_URL points at one); and the migrated schema equals the models."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from connector.app import MIGRATIONS_DIR, create_app
from connector.models import Base


def test_single_head():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"


@pytest.fixture
def scratch_database(database_url, tmp_path):
    """A throwaway database on the same server as the test database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"migrations_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_upgrade_downgrade_upgrade_and_schema_matches_models(app_env, scratch_database):
    app = create_app({**app_env, "DATABASE_URL": scratch_database})
    with app.app_context():
        upgrade()
        engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        tables = set(inspect(engine).get_table_names())
        assert {"shops", "whatsapp_accounts", "contacts", "messages", "webhook_receipts"} <= tables
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == [], f"models and migrations disagree: {differences}"

        downgrade(revision="base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

        upgrade()
        assert {"shops", "messages"} <= set(inspect(engine).get_table_names())
        engine.dispose()
    from connector.extensions import db

    with app.app_context():
        db.engine.dispose()
