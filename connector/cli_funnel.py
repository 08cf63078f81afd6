"""``connector report --shop S [--json]``: the funnel of each automation, from trigger to revenue."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from connector.automations.attribution import funnel
from connector.shops import ShopError, find_shop


def format_funnel(rows: list[dict]) -> str:
    head = (f"{'automation':20} {'triggered':>9} {'sent':>6} {'delivered':>9} {'read':>6} {'clicked':>7} "
            f"{'orders':>6}  revenue")
    lines = [head]
    for r in rows:
        revenue = ", ".join(f"{amount} {currency}".strip() for currency, amount in sorted(r["revenue"].items())) or "0"
        lines.append(f"{r['automation']:20} {r['triggered']:>9} {r['sent']:>6} {r['delivered']:>9} {r['read']:>6} "
                     f"{r['clicked']:>7} {r['orders']:>6}  {revenue}")
    return "\n".join(lines)


@click.command("report")
@click.option("--shop", "shop_ref", required=True, help="Shop id, key or domain.")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per automation per line")
@with_appcontext
def funnel_command(shop_ref: str, as_json: bool) -> None:
    """Per automation: triggered, sent, delivered, read, clicked, orders, revenue."""
    try:
        shop = find_shop(shop_ref)
    except ShopError as error:
        raise click.ClickException(str(error)) from None
    rows = funnel(shop.id)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
    else:
        click.echo(format_funnel(rows))
