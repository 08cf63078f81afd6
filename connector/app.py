"""The Flask application: ``create_app`` builds it, and installs the process-wide hooks.

Nothing connects or registers anything when a module is imported: the SQLite pragmas and
the session hooks (inventory look-ups, consent signals, daily rollups) are installed here, by
the process that builds an app (the web server, a worker, the CLI, a test).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Mapping

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from connector import consent_signal, crypto, dbutil, logs, rollups
from connector.config import flask_config, load_settings
from connector.extensions import db, migrate
from connector.jobs import inventory
from connector.web import security
from connector.web.admin import bp as admin
from connector.web.admin_campaigns import bp as admin_campaigns
from connector.web.admin_dashboard import bp as admin_dashboard
from connector.web.admin_entry_points import bp as admin_entry_points
from connector.web.admin_records import bp as admin_records
from connector.web.admin_reviews import bp as admin_reviews
from connector.web.admin_templates import bp as admin_templates
from connector.web.apidoc import bp as apidoc
from connector.web.errors import register_error_handlers
from connector.web.health import bp as health
from connector.web.links import bp as links
from connector.web.metrics import bp as metrics
from connector.web.shopify import bp as shopify
from connector.web.storefront import bp as storefront
from connector.web.webhooks import bp as webhooks
from connector.web.woocommerce import bp as woocommerce

#: the web layer's blueprints, by audience: health, vendor webhooks, installs (Shopify,
#: WooCommerce), the embedded admin (its page and API, the API's OpenAPI document), the
#: storefront widgets, short links, metrics
BLUEPRINTS = (health, webhooks, shopify, woocommerce, admin, admin_dashboard, admin_records, admin_entry_points,
              admin_campaigns, admin_templates, admin_reviews, apidoc, storefront, links, metrics)

#: what ships inside the package (the wheel carries it as package data): the admin page and the
#: template catalogue, and the Alembic migrations
PACKAGE_DATA = files("connector")
TEMPLATES_DIR = Path(str(PACKAGE_DATA / "templates"))
MIGRATIONS_DIR = Path(str(PACKAGE_DATA / "migrations"))


def default_instance_path() -> str:
    """``CONNECTOR_INSTANCE_PATH``, else ``instance/`` in the working folder: the SQLite file and the
    development secrets belong to the folder the command runs in, not to the package (an
    installed wheel lives in site-packages)."""
    return os.environ.get("CONNECTOR_INSTANCE_PATH") or str(Path.cwd() / "instance")


def create_app(config_overrides: Mapping[str, object] | None = None) -> Flask:
    """Build the app. ``config_overrides`` use environment variable names."""
    install_sqlite_pragmas()
    inventory.install_lookup_hooks()
    consent_signal.install_hooks()
    rollups.install_hooks()
    dbutil.install_hooks()
    instance_path = default_instance_path()
    app = Flask(
        "connector",
        instance_path=instance_path,
        template_folder=str(TEMPLATES_DIR),
    )
    settings = load_settings(overrides=config_overrides, instance_path=app.instance_path)
    logs.configure(settings.log_level)
    app.config.update(flask_config(settings))
    crypto.install_keyring(settings.encryption_keys)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    security.install(app, trusted_proxy_count=settings.trusted_proxy_count)
    return app


def install_sqlite_pragmas() -> None:
    """Listen for new database connections (once per process; installing twice is a no-op)."""
    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite: WAL so readers never block the writer, foreign keys on, wait on locks."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
