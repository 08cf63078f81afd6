"""WooCommerce: connect (wc-auth), webhooks, and the plugin's cart reports."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("woocommerce", __name__)
