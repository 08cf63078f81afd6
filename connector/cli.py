"""The ``connector`` command: a Flask CLI group, so ``connector db upgrade`` works too."""

from __future__ import annotations

import json
import re
import sys

import click
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import select

from connector import devenv, embedded_redis
from connector.app import create_app, default_instance_path
from connector.cli_campaigns import campaigns_group, segments_group
from connector.cli_common import _fail, needs_schema, shop_or_fail
from connector.cli_contacts import contacts_group
from connector.cli_funnel import funnel_command
from connector.cli_rollups import rollups_group
from connector.cli_templates import templates_group
from connector.demo import run_demo
from connector.devserver import run_dev
from connector.events import ShopUninstalled
from connector.extensions import db, settings
from connector.jobs.worker import run_worker
from connector.messaging.limits import limit_state
from connector.messaging.reports import outbox_rows
from connector.models import Shop
from connector.queues import QUEUE_NAMES
from connector.receipts import receipt_rows
from connector.shops import ShopError, add_shopify, add_woocommerce, find_shop, resume_sending, set_whatsapp
from connector.stores.lifecycle import uninstall_shop
from connector.stores.platforms import PLATFORMS
from connector.stores.shopify import refresh_profile, subscribe_webhooks
from connector.stores.woocommerce import new_webhook_secret
from connector.stores.woocommerce_connect import WooCommerceConnectError, start_reconnect
from connector.wakeups import kick_dispatcher
from integrations.shopify.errors import ShopifyError
from integrations.whatsapp import sandbox


def _create_cli_app():
    """The app of one command; in development it talks to what `connector dev` in this folder runs."""
    taken = devenv.adopt(default_instance_path())
    if taken:
        shown = ", ".join(f"{name}={_without_password(value)}" for name, value in taken.items())
        click.echo(f"connector: using the `connector dev` running in this folder: {shown}", err=True)
    embedded_redis.on_start = lambda url: click.echo(
        "connector: REDIS_URL is unset and no `connector dev` runs in this folder: started a private Redis "
        "for this command only (what it queues ends with it)", err=True)
    return create_app()


def _without_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


@click.group(cls=FlaskGroup, create_app=_create_cli_app, add_version_option=False)
def cli() -> None:
    """WhatsApp commerce connector for Shopify and WooCommerce."""


def main() -> None:
    cli(prog_name="connector")


# -- processes ---------------------------------------------------------------------------------

@cli.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--name", default=None, help="Worker name (defaults to RQ's).")
@click.option("--queues", default=",".join(QUEUE_NAMES), show_default=True,
              help="Comma-separated queues this worker takes jobs from, in turn (the Procfile's roles).")
def worker_command(burst: bool, name: str | None, queues: str) -> None:
    """An RQ worker with the scheduler (SimpleWorker class), for production."""
    from flask import current_app


    names = [queue.strip() for queue in queues.split(",") if queue.strip()]
    unknown = sorted(set(names) - set(QUEUE_NAMES))
    if unknown or not names:
        raise click.BadParameter(f"unknown queue(s) {', '.join(unknown) or '(none given)'}; "
                                 f"choose from {', '.join(QUEUE_NAMES)}", param_hint="--queues")
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy typed as Flask
    run_worker(app, burst=burst, name=name, queues=names)


@cli.command("dev", with_appcontext=False)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--sandbox-port", default=8025, show_default=True, type=int)
def dev_command(port: int, sandbox_port: int) -> None:
    """Web + worker + scheduler + sandbox Cloud API, one process tree; Ctrl-C stops all."""
    run_dev(port=port, sandbox_port=sandbox_port)


@cli.command("demo", with_appcontext=False)
def demo_command() -> None:
    """The end-to-end story on embedded defaults, printed as it happens."""
    sys.exit(run_demo())


@cli.command("sandbox")
@click.option("--port", default=8025, show_default=True, type=int)
@click.option("--webhook-url", default=None, help="Where to post status webhooks (default: APP_URL/webhooks/whatsapp).")
@click.option("--latency-ms", default=0.0, type=float)
@click.option("--throughput", default=80, type=int, help="Messages per second per number before 130429.")
def sandbox_command(port: int, webhook_url: str | None, latency_ms: float, throughput: int) -> None:
    """Run the sandbox Cloud API in the foreground."""
    config = settings()
    sandbox.main([
        "--port", str(port), "--app-secret", config.whatsapp_app_secret,
        "--webhook-url", webhook_url or f"{config.app_url}/webhooks/whatsapp",
        "--latency-ms", str(latency_ms), "--throughput", str(throughput),
    ])


# -- shops and numbers -------------------------------------------------------------------------

def _register_groups() -> None:
    cli.add_command(templates_group)
    cli.add_command(funnel_command)
    cli.add_command(contacts_group)
    cli.add_command(rollups_group)
    cli.add_command(segments_group)
    cli.add_command(campaigns_group)


_register_groups()


@cli.group("shops", cls=AppGroup)
def shops_group() -> None:
    """Connected stores."""


@shops_group.group("add", cls=AppGroup)
def shops_add() -> None:
    """Connect a store by API credentials."""


@shops_add.command("shopify")
@click.option("--domain", required=True, help="name.myshopify.com")
@click.option("--access-token", required=True, help="Admin API token of a custom app.")
@click.option("--api-secret", default=None,
              help="The custom app's API secret key: Shopify signs this shop's webhooks with it "
                   "(default: SHOPIFY_API_SECRET).")
@click.option("--subscribe/--no-subscribe", default=True, show_default=True,
              help="Create the webhook subscriptions through the Admin API now.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Try the token against Shopify first and store nothing if it is refused "
                   "(--no-verify: an offline set-up, stored unchecked).")
@needs_schema
def shops_add_shopify(domain: str, access_token: str, api_secret: str | None, subscribe: bool, verify: bool) -> None:
    try:
        shop = add_shopify(domain, access_token, api_secret=api_secret, verify=verify)
    except ShopError as error:
        _fail(error)
    click.echo(f"shop {shop.id} {shop.domain} (key {shop.shop_key})" + ("" if verify else " — not verified"))
    if subscribe:

        if refresh_profile(shop):
            click.echo(f"profile: {shop.name}, {shop.country or '-'}, {shop.time_zone}, {shop.currency or '-'}, "
                       f"{shop.locale}")
        _subscribe_shopify(shop)
    click.echo(f"next: connect its WhatsApp number with `connector whatsapp set --shop {shop.id} "
               "--phone-number-id … --access-token …`")


@shops_group.command("disconnect")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@click.option("--yes", is_flag=True, help="Confirm: sending stops and queued messages are cancelled.")
@needs_schema
def shops_disconnect(shop_ref: str, yes: bool) -> None:
    """Disconnect a store (what Shopify's app/uninstalled does; WooCommerce sends no such event).

    Sending stops, queued and scheduled messages are cancelled, store credentials are dropped;
    the data is erased after the platform's schedule (see docs/privacy.md)."""
    if not yes:
        _fail(ShopError("this stops all sending for the shop; add --yes to confirm"))
    shop = shop_or_fail(shop_ref)
    uninstall_shop(shop.id, ShopUninstalled(platform=shop.platform, shop_domain=shop.domain))
    db.session.commit()
    click.echo(f"shop {shop.id} {shop.domain} disconnected")


@shops_group.command("plugin-settings")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@needs_schema
def shops_plugin_settings(shop_ref: str) -> None:
    """What to enter in the WordPress plugin's settings page (includes the shared secret)."""
    shop = shop_or_fail(shop_ref)
    if shop.platform != "woocommerce":
        _fail(ShopError("only WooCommerce stores use the WordPress plugin"))
    if not shop.credentials.get("webhook_secret"):  # the set-up job would make the same one
        shop.credentials = {**shop.credentials, "webhook_secret": new_webhook_secret()}
        db.session.commit()
    click.echo(f"Connector URL: {settings().app_url}")
    click.echo(f"Store key:     {shop.shop_key}")
    click.echo(f"Shared secret: {shop.credentials['webhook_secret']}")


@shops_group.command("subscribe")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@needs_schema
def shops_subscribe(shop_ref: str) -> None:
    """Create (or check) a token-connected Shopify shop's webhook subscriptions."""
    shop = shop_or_fail(shop_ref)
    if shop.platform != "shopify":
        _fail(ShopError("only Shopify shops subscribe through the Admin API; WooCommerce webhooks are made on connect"))
    _subscribe_shopify(shop)


def _subscribe_shopify(shop) -> None:
    try:
        created = subscribe_webhooks(shop)
    except ShopifyError as error:
        click.echo(f"webhook subscriptions NOT created: {error}. Check the token's scopes and network, then run "
                   f"`connector shops subscribe --shop {shop.id}`.", err=True)
        raise SystemExit(1) from None
    click.echo(f"webhooks: {len(created)} topic(s) subscribed at /webhooks/shopify")


@shops_add.command("woocommerce")
@click.option("--url", required=True, help="https://store.example")
@click.option("--consumer-key", required=True)
@click.option("--consumer-secret", required=True)
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Try the keys against the store (GET /system_status) first and store nothing if they do "
                   "not work (--no-verify: a new store stored unchecked; its first catch-up checks them).")
@needs_schema
def shops_add_woocommerce(url: str, consumer_key: str, consumer_secret: str, verify: bool) -> None:
    try:
        shop = add_woocommerce(url, consumer_key, consumer_secret, verify=verify)
    except ShopError as error:
        _fail(error)
    verified = bool((shop.sync_state or {}).get("verified_at"))
    click.echo(f"shop {shop.id} {shop.domain} (key {shop.shop_key})" + ("" if verified else " — keys not verified"))
    if shop.name:
        click.echo(f"profile: {shop.name}, {shop.country or '-'}, {shop.time_zone}, {shop.currency or '-'}, "
                   f"{shop.locale}")
    click.echo(f"next: `connector shops plugin-settings --shop {shop.id}` prints what the WordPress plugin needs; "
               f"then `connector whatsapp set --shop {shop.id} --phone-number-id … --access-token …`")


@shops_group.command("reconnect")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@needs_schema
def shops_reconnect(shop_ref: str) -> None:
    """Print a link that reconnects a WooCommerce store (new REST keys, approved at the store).

    The operator's way to replace the keys of a connected store; the store's admin has the
    Reconnect button of the plugin's settings page. The keys are kept only if they work."""
    _reconnect(shop_ref)


def _reconnect(shop_ref: str) -> None:
    try:
        url = start_reconnect(find_shop(shop_ref))
    except (ShopError, WooCommerceConnectError) as error:
        _fail(error)
    click.echo("Open this link as the store's admin within an hour, and approve:")
    click.echo(url)


@shops_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per shop.")
@needs_schema
def shops_list(as_json: bool) -> None:
    """Every shop: platform, domain, key, WhatsApp number, state, store trouble."""
    shops = db.session.scalars(select(Shop).order_by(Shop.id)).all()
    if not shops and not as_json:
        click.echo("no shops yet: connect one with `connector shops add shopify|woocommerce ...` "
                   "(or install the app / connect the store)")
    for shop in shops:
        state = (f"paused: {shop.sending_paused_reason}" if shop.is_sending_paused
                 else ("active" if shop.is_active else "inactive"))
        number = shop.whatsapp.phone_number_id if shop.whatsapp else "-"
        read_problem = PLATFORMS[shop.platform].store_problem if shop.platform in PLATFORMS else None
        problem = read_problem(shop) if read_problem is not None and shop.is_active else None
        if as_json:
            click.echo(json.dumps({
                "id": shop.id, "platform": shop.platform, "domain": shop.domain, "shop_key": shop.shop_key,
                "active": shop.is_active, "sending_paused": shop.is_sending_paused,
                "sending_paused_reason": shop.sending_paused_reason, "whatsapp_phone_number_id": number
                if shop.whatsapp else None, "store_problem": problem}, sort_keys=True, default=str))
            continue
        line = f"{shop.id}\t{shop.platform}\t{shop.domain}\t{shop.shop_key}\twhatsapp={number}\t{state}"
        if problem:
            error = str(problem["last_error"])
            kind = ("keys refused" if error.startswith("auth:")
                    else "address refused" if error.startswith("refused:") else "unreachable")
            line += (f"\tstore {kind} since {problem['failing_since'] or '?'} ({problem['failure_count'] or 1} tries, "
                     f"next try {problem['next_try_at'] or 'next sweep'}): {error}")
        click.echo(line)


@cli.group("whatsapp", cls=AppGroup)
def whatsapp_group() -> None:
    """The shop's WhatsApp number."""


@whatsapp_group.command("set")
@click.option("--shop", "shop_ref", required=True, help="Shop id, domain or key.")
@click.option("--phone-number-id", required=True)
@click.option("--access-token", required=True)
@click.option("--waba-id", default=None)
@click.option("--throughput", type=int, default=None,
              help="Messages per second Meta allows this number (80 by default).")
@click.option("--messaging-limit", type=int, default=None,
              help="Your own ceiling on unique recipients per 24 h, under the limit read from Meta (0 removes it).")
@click.option("--marketing-messages/--no-marketing-messages", "marketing_messages", default=None,
              help="The number is onboarded to Meta's Marketing Messages API: send marketing templates through "
                   "/marketing_messages (unchanged when not given; off for a new number).")
@needs_schema
def whatsapp_set(shop_ref, phone_number_id, access_token, waba_id, throughput, messaging_limit,
                 marketing_messages) -> None:
    try:
        limit = "keep" if messaging_limit is None else (None if messaging_limit == 0 else messaging_limit)
        account = set_whatsapp(find_shop(shop_ref), phone_number_id=phone_number_id, access_token=access_token,
                               waba_id=waba_id, throughput_per_second=throughput, messaging_limit=limit,
                               marketing_messages=marketing_messages)
    except ShopError as error:
        _fail(error)

    state = limit_state(account.shop)
    if state.get("meta_known") and not state.get("last_error"):
        meta = state.get("meta")
        learnt = f"Meta says {meta if meta is not None else 'unlimited'}"
    else:
        learnt = f"not read from Meta: {state.get('last_error') or 'no answer'}; retried daily"
    ceiling = f", your ceiling {state['override']}" if state.get("override") else ""
    route = "; marketing via the Marketing Messages API" if account.marketing_messages_onboarded else ""
    click.echo(f"shop {account.shop_id}: WhatsApp number {account.phone_number_id} "
               f"({account.throughput_per_second} msg/s, limit {account.messaging_limit or 'unlimited'} "
               f"recipients a day; {learnt}{ceiling}{route})")


@whatsapp_group.command("resume")
@click.option("--shop", "shop_ref", required=True)
@needs_schema
def whatsapp_resume(shop_ref: str) -> None:
    """Lift a pause set by an account-level Cloud API error (after fixing its cause)."""
    shop = shop_or_fail(shop_ref)
    resume_sending(shop)
    kick_dispatcher(shop.id)
    click.echo(f"shop {shop.id}: sending resumed")


# -- the outbox --------------------------------------------------------------------------------

@cli.command("outbox")
@click.option("--shop", "shop_ref", required=True, help="Shop id, domain or key.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--status", default=None, help="Only messages in this status.")
@click.option("--limit", default=100, show_default=True, type=int)
@needs_schema
def outbox_command(shop_ref: str, as_json: bool, status: str | None, limit: int) -> None:
    """The shop's messages, newest first."""
    shop = shop_or_fail(shop_ref)
    rows = outbox_rows(shop.id, status=status, limit=limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    if shop.is_sending_paused:
        click.echo(f"SENDING PAUSED since {shop.sending_paused_at:%Y-%m-%d %H:%M} UTC: {shop.sending_paused_reason}"
                   " (fix it, then `connector whatsapp resume --shop ...`)")
    if not rows:
        click.echo(f"no messages{' with status ' + status if status else ''} for this shop yet")
        return
    click.echo(f"{'id':>6}  {'created (UTC)':16}  {'automation':20} {'template':28} {'lang':6} {'status':10} reason")
    for row in rows:
        click.echo(f"{row['id']:>6}  {row['created_at'][:16].replace('T', ' '):16}  {row['automation'][:20]:20} "
                   f"{(row['template'] or '-')[:28]:28} {(row['language'] or '-'):6} {row['status']:10} "
                   f"{row['status_reason'] or ''}"
                   + (f" (due {row['due_at'][:16].replace('T', ' ')})" if row["status"] == "queued" and row["due_at"]
                      else ""))


# -- webhook receipts --------------------------------------------------------------------------

@cli.command("receipts")
@click.option("--shop", "shop_ref", required=True, help="Shop id, domain or key.")
@click.option("--dead", "dead_only", is_flag=True, help="Only receipts that will never be processed, with why.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", default=100, show_default=True, type=int)
@needs_schema
def receipts_command(shop_ref: str, dead_only: bool, as_json: bool, limit: int) -> None:
    """The shop's stored webhooks, newest first: state, attempts and, for failures, the reason."""
    shop = shop_or_fail(shop_ref)
    rows = receipt_rows(shop.id, dead_only=dead_only, limit=limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    if not rows:
        click.echo(f"shop {shop.id}: no {'dead ' if dead_only else ''}receipts")
        return
    click.echo(f"{'id':>8}  {'received (UTC)':19}  {'platform':11} {'topic':24} {'state':24} {'tries':>5}  error")
    for row in rows:
        click.echo(f"{row['id']:>8}  {row['received_at'][:19].replace('T', ' '):19}  {row['platform']:11} "
                   f"{row['topic'][:24]:24} {row['state'][:24]:24} {row['attempts']:>5}  {row['error'] or ''}")
