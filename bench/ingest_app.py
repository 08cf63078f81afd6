"""The WSGI app the ingest benchmark serves: the connector itself, plus one bare endpoint.

``POST /bench/bare`` reads nothing and answers "ok": the floor of this app under this server
with these settings (Flask routing, gunicorn, the same workers). The benchmark compares the
real ``POST /webhooks/shopify`` against it in the same run.
"""

from __future__ import annotations

from connector.app import create_app

app = create_app()


@app.post("/bench/bare")
def bare():
    return "ok"
