"""``GET /metrics``: the Prometheus scrape, for the operator's monitoring only.

Without ``METRICS_TOKEN`` the route answers 404 like any unknown path, so a deployment that
does not monitor does not show it. With it, the request must carry ``Authorization: Bearer
<token>`` (compared in constant time); anything else is 401. The families are built at
scrape time by ``connector.monitoring.ConnectorCollector``, in a registry of their own (no
per-process metrics: several gunicorn workers must give one answer).
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from connector.extensions import db, get_redis, settings
from connector.monitoring import ConnectorCollector

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    token = settings().metrics_token
    if token is None:
        abort(404)
    if not _bearer_matches(request.headers.get("Authorization", ""), token):
        return Response("unauthorized\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    registry = CollectorRegistry()
    registry.register(ConnectorCollector(engine=db.engine, redis=get_redis()))
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encoder(registry), status=200, content_type=content_type,
                    headers={"Cache-Control": "no-store"})


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, credentials = header.partition(" ")
    # compare_digest takes as long for every wrong token of a length; encode: it refuses non-ASCII str
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode())
