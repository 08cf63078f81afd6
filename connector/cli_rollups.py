"""``connector rollups rebuild [--shop S]``: recount the dashboard's daily rollups from the
source tables (installs older than the rollups table, or a repair)."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from connector import rollups
from connector.cli_common import needs_schema, progress, shop_or_fail
from connector.extensions import db
from connector.models import Shop


@click.group("rollups", cls=AppGroup)
def rollups_group() -> None:
    """The dashboard's daily numbers per shop, automation and day."""


@rollups_group.command("rebuild")
@click.option("--shop", "shop_ref", default=None, help="Shop id, key or domain (default: every shop).")
@needs_schema
def rebuild_command(shop_ref: str | None) -> None:
    """Recount sent, delivered, read, failed, clicked, orders, revenue, opt-ins and opt-outs
    from the outbox, clicks, orders and the consent ledger (deferrals are kept: nothing
    else records them). Each shop in one transaction."""
    shops = [shop_or_fail(shop_ref)] if shop_ref else list(db.session.scalars(select(Shop).order_by(Shop.id)))
    with progress(len(shops), "rebuilding") as advance:
        for shop in shops:
            written = rollups.rebuild(db.session, shop)
            db.session.commit()
            click.echo(f"{shop.domain}: {written} rollup rows")
            advance()
