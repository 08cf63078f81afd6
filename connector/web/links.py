"""Tracked short links ``GET /l/<code>`` (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("links", __name__)
