"""``connector templates ...``: the WhatsApp template catalogue (being written)."""

from __future__ import annotations

import click
from flask.cli import AppGroup


@click.group("templates", cls=AppGroup)
def templates_group() -> None:
    """WhatsApp message templates."""
