"""Shopify install (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("shopify", __name__)
