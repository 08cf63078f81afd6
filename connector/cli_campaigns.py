"""``connector segments …`` and ``connector campaigns …``: segments, campaigns, their reports.

Contract (issue 18)::

    connector segments preview --shop S --segment JSON [--json]
    connector campaigns create --shop S --name NAME --template T --segment JSON
            [--variables JSON] [--link URL] [--at ISO-8601 | --local-time HH:MM]
            [--variants JSON] [--holdout PERCENT]          # prints the new campaign's id
    connector campaigns preview|start|pause|resume|cancel --campaign C
    connector campaigns report --campaign C [--json]

Bad input (JSON that does not parse, a segment or campaign marshmallow refuses, a state that
does not allow the command) says why on stderr and exits 2; nothing is stored.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from connector.campaigns import control, segments
from connector.campaigns.report import report as campaign_report
from connector.cli_common import _fail, needs_schema, progress, shop_or_fail
from connector.extensions import db
from connector.models import Campaign


def _json(option: str, text: str | None, default: Any = None) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError as error:
        _fail(ValueError(f"{option} is not JSON: {error}"))


def _invalid(error: ValidationError) -> None:
    _fail(ValueError(json.dumps({"errors": error.messages}, ensure_ascii=False)))


@click.group("segments", cls=AppGroup)
def segments_group() -> None:
    """Segments: which contacts a campaign goes to."""


@segments_group.command("preview")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@click.option("--segment", "segment_json", required=True, help="the segment's conditions, as JSON")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@needs_schema
def preview_segment(shop_ref: str, segment_json: str, as_json: bool) -> None:
    """How many contacts (with marketing consent) the segment holds now."""
    shop = shop_or_fail(shop_ref)
    try:
        conditions = segments.parse(_json("--segment", segment_json))
    except ValidationError as error:
        _invalid(error)
    started = time.perf_counter()
    count = segments.count(shop.id, conditions)
    elapsed = time.perf_counter() - started
    if as_json:
        click.echo(json.dumps({"count": count, "segment": segments.dump(conditions), "seconds": round(elapsed, 3)}))
    else:
        click.echo(f"{count} contact(s) with marketing consent match ({elapsed:.2f} s)")


@click.group("campaigns", cls=AppGroup)
def campaigns_group() -> None:
    """Campaigns: a marketing template to a segment, with variants and a holdout."""


@campaigns_group.command("create")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@click.option("--name", required=True)
@click.option("--template", required=True, help="a marketing template's name")
@click.option("--segment", "segment_json", required=True, help="the segment's conditions, as JSON")
@click.option("--variables", "variables_json", default=None, help="the template's variables, as a JSON object")
@click.option("--link", default=None, help="where the URL button leads (one of the shop's domains)")
@click.option("--at", "at", default=None, help="send at this moment (ISO 8601 with its offset)")
@click.option("--local-time", "local_time", default=None, help="send at HH:MM in each recipient's zone")
@click.option("--variants", "variants_json", default=None,
              help='A/B variants: [{"name": "A", "weight": 50, "variables": {...}}, …]')
@click.option("--holdout", "holdout", type=float, default=0.0, help="percent of the segment that gets nothing")
@click.option("--test-percent", "test_percent", type=float, default=None,
              help="with --variants: percent (of those not in the holdout) that tests them; the rest gets the winner")
@click.option("--winner-after", "winner_after", type=int, default=None, help="hours the test runs")
@needs_schema
def create_campaign(shop_ref: str, name: str, template: str, segment_json: str, variables_json: str | None,
                    link: str | None, at: str | None, local_time: str | None, variants_json: str | None,
                    holdout: float, test_percent: float | None, winner_after: int | None) -> None:
    """Make a draft campaign; prints its id."""
    shop = shop_or_fail(shop_ref)
    body = {"name": name, "template": template, "segment": _json("--segment", segment_json),
            "variables": _json("--variables", variables_json, {}), "link": link, "at": at, "local_time": local_time,
            "variants": _json("--variants", variants_json, []), "holdout_percent": holdout,
            "test_percent": test_percent, "winner_after_hours": winner_after}
    try:
        campaign = control.create(shop, body, created_by="cli")
    except ValidationError as error:
        _invalid(error)
    click.echo(campaign.id)


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        _fail(LookupError(f"no campaign {campaign_id}"))
    return campaign  # type: ignore[return-value]


@campaigns_group.command("preview")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--json", "as_json", is_flag=True)
@needs_schema
def preview_campaign(campaign_id: int, as_json: bool) -> None:
    """Who it would reach now, and how many days the number's tier needs for them."""
    figures = control.preview(_campaign(campaign_id))
    if as_json:
        click.echo(json.dumps(figures))
        return
    limit = figures["messaging_limit"]
    click.echo(f"{figures['recipients']} recipient(s) of {figures['audience']} in the segment "
               f"({figures['holdout']} in the holdout)")
    for variant in figures["variants"]:
        click.echo(f"  variant {variant['name']}: about {variant['recipients']}")
    click.echo(f"tier: {limit if limit else 'unlimited'} recipients per 24 h → {figures['days_needed']} day(s)")
    click.echo(f"estimated cost: {figures['estimated_cost']} {figures['cost_currency']} "
               f"(rate card {figures['rate_card']['version']}, {figures['rate_card']['as_of']})")


def _steer(action, campaign_id: int) -> None:
    _campaign(campaign_id)
    try:
        campaign = action(campaign_id)
    except control.CampaignStateError as error:
        _fail(error)
    click.echo(f"campaign {campaign.id}: {campaign.status}")


@campaigns_group.command("start")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--follow/--no-follow", default=None,
              help="show its progress until nothing is left to send (default: when stderr is a terminal)")
@needs_schema
def start_campaign(campaign_id: int, follow: bool | None) -> None:
    """Fix the audience and plan the campaign on a worker; it sends through the outbox."""
    _steer(control.start, campaign_id)
    if follow or (follow is None and sys.stderr.isatty()):
        _follow(campaign_id)


def _follow(campaign_id: int) -> None:
    """A progress bar over the campaign's messages, until nothing of it is open (Ctrl-C stops watching)."""
    while True:
        db.session.expire_all()
        campaign = _campaign(campaign_id)
        if campaign.planned_at or campaign.status in (Campaign.CANCELLED, Campaign.FAILED):
            break
        time.sleep(1)
    figures = control.progress(campaign)
    with progress(figures["messages"], f"campaign {campaign_id}") as advance:
        done = figures["messages"] - figures["open"]
        advance(done)
        while figures["open"] and figures["status"] in (Campaign.SENDING, Campaign.PAUSED):
            time.sleep(1)
            db.session.expire_all()
            figures = control.progress(_campaign(campaign_id))
            now_done = figures["messages"] - figures["open"]
            advance(now_done - done)
            done = now_done
    click.echo(f"campaign {campaign_id}: {figures['status']}, {figures['sent']} sent")


@campaigns_group.command("pause")
@click.option("--campaign", "campaign_id", type=int, required=True)
@needs_schema
def pause_campaign(campaign_id: int) -> None:
    """Send nothing more until it is resumed."""
    _steer(control.pause, campaign_id)


@campaigns_group.command("resume")
@click.option("--campaign", "campaign_id", type=int, required=True)
@needs_schema
def resume_campaign(campaign_id: int) -> None:
    """Go on from where it was paused."""
    _steer(control.resume, campaign_id)


@campaigns_group.command("cancel")
@click.option("--campaign", "campaign_id", type=int, required=True)
@needs_schema
def cancel_campaign(campaign_id: int) -> None:
    """Withdraw everything not sent yet; it never goes out."""
    _steer(control.cancel, campaign_id)


@campaigns_group.command("send-rest")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--variant", default=None, help="the variant to send (default: the test's winner)")
@needs_schema
def send_rest_command(campaign_id: int, variant: str | None) -> None:
    """After a test phase: send the winner (or the variant named) to those who waited for it."""
    _steer(lambda campaign: control.send_rest(campaign, variant), campaign_id)


@campaigns_group.command("report")
@click.option("--campaign", "campaign_id", type=int, required=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@needs_schema
def report_campaign(campaign_id: int, as_json: bool) -> None:
    """Each variant's funnel and revenue per recipient, against the holdout."""
    campaign = _campaign(campaign_id)
    control.progress(campaign)  # records completion
    figures = campaign_report(campaign)
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(f"{figures['name']} ({figures['status']}): {figures['sent']} sent, {figures['read']} read, "
               f"{figures['clicked']} clicked, {figures['orders']} order(s), "
               f"{figures['revenue']} {figures['currency'] or ''}")
    for group in figures["groups"]:
        versus = group.get("vs_holdout")
        interval = f"  vs holdout {versus['difference']:+.2f} [{versus['low']:+.2f}, {versus['high']:+.2f}]" \
            if versus else ""
        click.echo(f"  {group['variant']:10} {group['recipients']:>8} recipients {group['sent']:>8} sent "
                   f"{group['revenue_per_recipient']:>8.2f}/recipient{interval}")
    click.echo(figures["verdict"])
