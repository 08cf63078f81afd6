"""The admin's records: contacts (search, consent history with its proof, conversation,
messages, export, forget), the outbox (filters, reasons, CSV exports), templates (catalogue,
approval per language, sync) and the automations with their message previews.

Routes under ``/admin/api``, each behind ``session_required``, declared with ``documented`` and
scoped to ``g.shop``: another shop's id answers 404 like a missing one.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_records", __name__, url_prefix="/admin/api")
