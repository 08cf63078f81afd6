"""Blueprints by audience: health, vendor webhooks, installs (Shopify, WooCommerce), the embedded admin."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from connector.web.admin import bp as admin
    from connector.web.health import bp as health
    from connector.web.links import bp as links
    from connector.web.metrics import bp as metrics
    from connector.web.shopify import bp as shopify
    from connector.web.storefront import bp as storefront
    from connector.web.webhooks import bp as webhooks
    from connector.web.woocommerce import bp as woocommerce

    for blueprint in (health, webhooks, shopify, woocommerce, admin, storefront, links, metrics):
        app.register_blueprint(blueprint)
