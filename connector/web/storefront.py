"""Storefront API for the widget: back-in-stock subscriptions, opt-in (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("storefront", __name__, url_prefix="/storefront")
