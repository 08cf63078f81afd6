"""``GET /healthz``: is the database reachable, is Redis reachable."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from connector.extensions import db, get_redis

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    checks = {"database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        log.warning("health.database_unreachable", extra={"error": type(error).__name__})
        checks["database"] = "unreachable"
    try:
        get_redis().ping()
    except (RedisError, OSError) as error:
        log.warning("health.redis_unreachable", extra={"error": type(error).__name__})
        checks["redis"] = "unreachable"
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "degraded", **checks), 200 if healthy else 503
