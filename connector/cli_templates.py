"""``connector templates ...``: the WhatsApp template catalogue and its approval at Meta."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from connector.automations.templates import sync_size, sync_templates
from connector.cli_common import progress
from connector.extensions import db
from connector.models import TemplateApproval
from connector.shops import ShopError, find_shop


@click.group("templates", cls=AppGroup)
def templates_group() -> None:
    """WhatsApp message templates."""


@templates_group.command("sync")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@click.option("--header-handle", default=None,
              help="Resumable Upload handle of your own sample for media headers (default: sync uploads one)")
@click.option("--only", multiple=True, help="template name (repeatable); default: all")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def sync_command(shop_ref: str, header_handle: str | None, only: tuple[str, ...], as_json: bool) -> None:
    """Create or edit the catalogue's templates at the shop's WABA and record their status.

    Exits 1 when any template failed (an error, a missing sample, an edit Meta refused),
    after saying which and why on stderr.
    """
    shop = _shop(shop_ref)
    try:
        with progress(sync_size(list(only) or None), "templates") as advance:
            results = sync_templates(shop, header_handle=header_handle, only=list(only) or None,
                                     on_result=lambda _result: advance())
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    for result in results:
        if as_json:
            click.echo(json.dumps({"name": result.name, "language": result.language, "status": result.status,
                                   "detail": result.detail, "failed": result.failed}))
        else:
            click.echo(f"{result.name:28} {result.language:6} {result.status}"
                       + (f"  ({result.detail})" if result.detail else ""))
    failed = [result for result in results if result.failed]
    if failed:
        click.echo(f"{len(failed)} of {len(results)} template(s) failed:", err=True)
        for result in failed:
            click.echo(f"  {result.name} {result.language}: {result.detail}", err=True)
        raise SystemExit(1)


@templates_group.command("status")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def status_command(shop_ref: str, as_json: bool) -> None:
    """The approval status of every submitted template."""
    from sqlalchemy import select


    shop_id = _shop(shop_ref).id
    rows = db.session.scalars(select(TemplateApproval).where(TemplateApproval.shop_id == shop_id)
                              .order_by(TemplateApproval.name, TemplateApproval.language)).all()
    for row in rows:
        if as_json:
            click.echo(json.dumps({"name": row.name, "language": row.language, "version": row.version,
                                   "status": row.status, "reason": row.reason, "category": row.category,
                                   "meta_template_id": row.meta_template_id}, sort_keys=True))
            continue
        click.echo(f"{row.name:28} {row.language:6} v{row.version} {row.status}"
                   + (f" ({row.reason})" if row.reason else ""))
    if not rows and not as_json:
        click.echo("no template submitted yet: run `connector templates sync --shop ...`")


def _shop(reference: str):
    try:
        return find_shop(reference)
    except ShopError as error:
        raise click.ClickException(str(error)) from None
