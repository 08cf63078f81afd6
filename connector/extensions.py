"""Extension objects, created unbound and attached to an app in ``create_app``.

Nothing here connects at import time: the database engine is made by Flask-SQLAlchemy when
first used, Redis when ``get_redis`` is first called.
"""

from __future__ import annotations

from flask import current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from redis import Redis

from connector import embedded_redis
from connector.config import Settings
from connector.models import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()


def settings() -> Settings:
    """The running app's settings."""
    return current_app.config["CONNECTOR"]


def get_redis() -> Redis:
    """The app's Redis connection (starting the embedded server when REDIS_URL is unset)."""
    client = current_app.extensions.get("connector.redis")
    if client is None:
        url = embedded_redis.ensure_url(settings().redis_url)
        client = Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
        current_app.extensions["connector.redis"] = client
    return client
