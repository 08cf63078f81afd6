"""Blueprints by audience: health, webhooks (vendors), and later install, storefront, admin, links."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from connector.web.health import bp as health
    from connector.web.webhooks import bp as webhooks

    for blueprint in (health, webhooks):
        app.register_blueprint(blueprint)
