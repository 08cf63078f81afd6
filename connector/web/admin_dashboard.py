"""The admin's numbers: the home page's checklist and today's figures, and the dashboard's daily
series per automation (read from the daily rollups, never by scanning the outbox).

Routes under ``/admin/api``, each behind ``session_required`` and declared with ``documented``.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_dashboard", __name__, url_prefix="/admin/api")
