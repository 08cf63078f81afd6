"""``connector templates ...``: the WhatsApp template catalogue and its approval at Meta."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from connector.automations.templates import sync_size, sync_templates
from connector.cli_common import progress, shop_or_fail
from connector.extensions import db
from connector.jobs.templates import enqueue_template_sync
from connector.messaging import shop_catalogue
from connector.messaging.template_model import CatalogueError
from connector.models import TemplateApproval
from connector.shops import ShopError, find_shop

NOT_SUBMITTED = "NOT_SUBMITTED"


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
        with progress(sync_size(shop.id, list(only) or None), "templates") as advance:
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


@templates_group.command("create")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@click.option("--file", "path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="one template in the catalogue's JSON format (docs/templates.md)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
def create_command(shop_ref: str, path: Path, as_json: bool) -> None:
    """Store the shop's own template (a new version when it exists and differs) and queue its
    submission to Meta. Prints its name and version.

    Exits 2, storing nothing, when the file is not readable JSON or breaks a rule (which it
    says on stderr).
    """
    shop = shop_or_fail(shop_ref)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        _bad_input(f"{path.name}: not readable JSON ({error})")
    try:
        saved = shop_catalogue.save(shop.id, data, created_by="cli", source=path.name)
    except CatalogueError as error:
        db.session.rollback()
        _bad_input(str(error))
    db.session.commit()
    account = shop.whatsapp
    queued = saved.outcome != shop_catalogue.UNCHANGED and account is not None and bool(account.waba_id)
    if queued:
        enqueue_template_sync(shop.id, [saved.template.name])
    if as_json:
        click.echo(json.dumps({"name": saved.template.name, "version": saved.template.version,
                               "outcome": saved.outcome, "queued": queued}))
        return
    click.echo(f"{saved.template.name} v{saved.template.version} ({saved.outcome})")
    if saved.outcome == shop_catalogue.UNCHANGED:
        click.echo("unchanged: nothing to submit", err=True)
    elif not queued:
        click.echo("not submitted: the shop has no WhatsApp account with a WABA id (connector whatsapp set "
                   "--waba-id), then run `connector templates sync`", err=True)
    else:
        click.echo("submission to Meta queued", err=True)


@templates_group.command("list")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per template")
def list_command(shop_ref: str, as_json: bool) -> None:
    """Every template the shop can send, the catalogue's and its own, with Meta's status per language."""
    shop = shop_or_fail(shop_ref)
    approvals = {(row.name, row.language): row for row in db.session.scalars(
        select(TemplateApproval).where(TemplateApproval.shop_id == shop.id))}
    own = set(shop_catalogue.shop_templates(shop.id))
    for name, definition in shop_catalogue.templates_for(shop.id).items():
        statuses = {language: approvals[(name, language)].status if (name, language) in approvals
                    else NOT_SUBMITTED for language in definition.languages}
        source = "shop" if name in own else "catalogue"
        if as_json:
            click.echo(json.dumps({"name": name, "source": source, "version": definition.version,
                                   "category": definition.category, "statuses": statuses}, sort_keys=True))
            continue
        summary = " ".join(f"{language}:{status}" for language, status in statuses.items())
        click.echo(f"{name:28} {source:9} v{definition.version} {definition.category:9} {summary}")


def _bad_input(message: str):
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _shop(reference: str):
    try:
        return find_shop(reference)
    except ShopError as error:
        raise click.ClickException(str(error)) from None
