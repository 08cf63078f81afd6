"""``connector contacts export|forget``: a customer's data export and their erasure, by hand.

The same work as Shopify's ``customers/data_request`` and ``customers/redact``
(``connector.privacy``), for requests that reach the merchant another way (WooCommerce
never sends either) or for a shopper who asks on WhatsApp.
"""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from connector import consent
from connector.cli_common import _fail, needs_schema, progress, shop_or_fail
from connector.contacts import contact_for
from connector.conversations.thread import thread
from connector.events import Customer
from connector.extensions import db
from connector.models.contacts import CONSENT_GRANTED, CONSENT_REVOKED
from connector.phones import InvalidPhoneError, normalise
from connector.privacy import export_customer, find_contacts, forget_contacts


@click.group("contacts", cls=AppGroup)
def contacts_group() -> None:
    """Shoppers' personal data: export and erasure (GDPR)."""


def _who(command):
    command = click.option("--customer-id", default=None, help="The store's customer id.")(command)
    command = click.option("--email", default=None, help="The customer's email address.")(command)
    command = click.option("--phone", default=None,
                           help="Phone number (national numbers use the shop's country).")(command)
    return click.option("--shop", "shop_ref", required=True, help="Shop id, domain or key.")(command)


def _resolve(shop_ref: str, phone: str | None, email: str | None, customer_id: str | None):
    if sum(value is not None for value in (phone, email, customer_id)) != 1:
        _fail(click.UsageError("give exactly one of --phone, --email, --customer-id"))
    shop = shop_or_fail(shop_ref)
    return shop, find_contacts(shop.id, customer_id=customer_id, phone=phone, email=email)


@contacts_group.command("export")
@_who
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the JSON here (default: standard output).")
@needs_schema
def export_command(shop_ref: str, phone: str | None, email: str | None, customer_id: str | None,
                   output: str | None) -> None:
    """Everything held about one customer, as JSON (also kept, encrypted, for the merchant)."""
    shop, contacts = _resolve(shop_ref, phone, email, customer_id)
    export = export_customer(shop, contacts, request_ref="cli", phone=phone, email=email, customer_id=customer_id)
    db.session.commit()
    text = json.dumps(json.loads(export.content), indent=2, sort_keys=True, ensure_ascii=False)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        click.echo(f"export {export.id}: {len(contacts)} contact(s) written to {output}", err=True)
    else:
        click.echo(text)


@contacts_group.command("forget")
@_who
@click.option("--yes", is_flag=True, help="Confirm: the erasure cannot be undone.")
@needs_schema
def forget_command(shop_ref: str, phone: str | None, email: str | None, customer_id: str | None, yes: bool) -> None:
    """Erase one customer's personal data everywhere, keeping anonymous counts."""
    shop, contacts = _resolve(shop_ref, phone, email, customer_id)
    if not yes:
        _fail(click.UsageError(f"this erases {len(contacts)} contact(s) of shop {shop.id} for good: add --yes"))
    counts = forget_contacts(shop, contacts, phone=phone, email=email, customer_id=customer_id)
    db.session.commit()
    click.echo(f"shop {shop.id}: forgot {len(contacts)} contact(s); " +
               ", ".join(f"{name}={count}" for name, count in counts.items() if name != "contacts"))


@contacts_group.command("conversation")
@_who
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message.")
@needs_schema
def conversation_command(shop_ref: str, phone: str | None, email: str | None, customer_id: str | None,
                         as_json: bool) -> None:
    """The WhatsApp conversation with one customer, oldest first."""
    shop, contacts = _resolve(shop_ref, phone, email, customer_id)
    shown = 0
    for contact in contacts:
        for entry in thread(shop.id, contact.id):
            shown += 1
            if as_json:
                click.echo(json.dumps(entry, ensure_ascii=False))
                continue
            arrow = "←" if entry["direction"] == "in" else "→"
            note = entry.get("handled_as") or entry.get("status") or ""
            click.echo(f"{entry['at'][:19].replace('T', ' ')} {arrow} {entry['text'] or '[' + entry['kind'] + ']'}"
                       + (f"  ({note})" if note else ""))
    if not shown and not as_json:
        click.echo("no messages with this customer yet")


@contacts_group.command("import")
@click.option("--shop", "shop_ref", required=True, help="Shop id, domain or key.")
@click.option("--csv", "csv_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A CSV file with a 'phone' column (optional: 'name', 'locale').")
@click.option("--purpose", type=click.Choice(["marketing", "transactional"]), required=True)
@click.option("--consent-text", required=True, help="The exact text the shoppers agreed to.")
@click.option("--evidence", required=True, help="Where and when the consent was collected (kept as proof).")
@needs_schema
def import_command(shop_ref: str, csv_path: str, purpose: str, consent_text: str, evidence: str) -> None:
    """Import consents collected elsewhere, into the ledger with source ``admin_import``.

    Only import WhatsApp consent: an email or SMS opt-in is not consent to WhatsApp messages."""
    import csv


    shop = shop_or_fail(shop_ref)

    imported = skipped = 0
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.DictReader(handle))
    with open(csv_path, newline="", encoding="utf-8") as handle, progress(rows, "contacts") as advance:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            advance()
            try:
                phone = normalise((row.get("phone") or "").strip(), shop.country)
            except InvalidPhoneError:
                click.echo(f"line {line}: not a phone number, skipped", err=True)
                skipped += 1
                continue
            name = (row.get("name") or "").strip() or None
            contact = contact_for(shop, Customer(phone=phone.e164, first_name=name, locale=row.get("locale") or None,
                                                 country=phone.country))
            assert contact is not None  # the phone is a valid one (normalised above)
            if getattr(contact, f"{purpose}_consent") == CONSENT_REVOKED:
                skipped += 1  # the shopper withdrew it here: an older list does not override that
                continue
            consent.record(contact, purpose, CONSENT_GRANTED, "admin_import", text_shown=consent_text,
                           evidence={"note": evidence[:500], "file": csv_path.rsplit("/", 1)[-1], "line": line})
            imported += 1
    db.session.commit()
    click.echo(f"{imported} consent(s) imported, {skipped} skipped")
