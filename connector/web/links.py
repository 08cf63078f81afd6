"""Tracked short links ``GET /l/<code>`` and signed invoice downloads ``GET /l/invoice/<token>``.

Neither takes a destination from the request: a code names a row whose target was checked
against the shop's own hosts, and an invoice token names an invoice row. Anything unknown,
expired or foreign is 404 (no open redirect, no oracle telling which codes exist).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect

from connector.automations import links as short_links
from connector.automations.invoices import invoice_pdf, load_invoice_by_token

bp = Blueprint("links", __name__)


@bp.get("/l/<code>")
def follow_link(code: str):
    if len(code) > 40:  # a code (8), or a campaign recipient's code.contact.mac (at most 28)
        abort(404)
    target = short_links.follow(code)
    if target is None:
        abort(404)
    response = redirect(target, code=302)
    response.headers["Cache-Control"] = "no-store"  # every click must reach us to be counted
    return response


@bp.get("/l/invoice/<token>")
def invoice_download(token: str):
    invoice = load_invoice_by_token(token)
    if invoice is None:
        abort(404)
    return Response(invoice_pdf(invoice), mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{invoice.filename}"',
        "Cache-Control": "private, no-store",
        "X-Robots-Tag": "noindex",
    })
