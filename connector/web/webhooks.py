"""Vendor webhook endpoints. Each: raw body → signature → parse → receipt → commit → enqueue → 2xx.

Only the WhatsApp endpoint exists so far; Shopify and WooCommerce join this blueprint with
the same shape.
"""

from __future__ import annotations

import hashlib
import json
import logging

from flask import Blueprint, Response, request
from sqlalchemy import select

from connector.extensions import db, settings
from connector.models import WhatsAppAccount
from connector.receipts import record_and_enqueue
from connector.web.errors import BadRequestBody
from integrations.whatsapp import webhooks as whatsapp_webhooks
from integrations.whatsapp.consts import SIGNATURE_HEADER
from integrations.whatsapp.errors import WhatsAppPayloadError

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)


@bp.get("/whatsapp")
def whatsapp_verify():
    """Meta's subscription handshake: echo ``hub.challenge`` when the verify token matches."""
    challenge = whatsapp_webhooks.answer_challenge(request.args, settings().whatsapp_verify_token)
    if challenge is None:
        log.info("whatsapp.verify_refused")
        return Response("verification refused", status=403, mimetype="text/plain")
    return Response(challenge, status=200, mimetype="text/plain")


@bp.post("/whatsapp")
def whatsapp_receive():
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug answers 413
    whatsapp_webhooks.verify_signature(raw, request.headers.get(SIGNATURE_HEADER), settings().whatsapp_app_secret)
    payload = _json_object(raw)
    try:
        numbers = whatsapp_webhooks.phone_number_ids(payload)
    except WhatsAppPayloadError as error:
        raise BadRequestBody(str(error)) from None
    shop_ids = db.session.scalars(
        select(WhatsAppAccount.shop_id).where(WhatsAppAccount.phone_number_id.in_(numbers))
    ).all() if numbers else []
    if not shop_ids:
        # Signed by Meta but for a number no shop has (removed, or another app's): nothing to keep.
        log.info("whatsapp.webhook_unknown_number", extra={"numbers": len(numbers)})
        return {"status": "ignored"}, 200
    # Meta sends no delivery id; the same body delivered twice is the same delivery.
    result = record_and_enqueue(
        platform="whatsapp",
        dedupe_key=hashlib.sha256(raw).hexdigest(),
        topic=_topic(payload),
        body=raw,
        shop_id=shop_ids[0],
    )
    return {"status": "duplicate" if result.is_duplicate else "accepted"}, 200


def _json_object(raw: bytes) -> dict:
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequestBody("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequestBody("body must be a JSON object")
    return payload


def _topic(payload: dict) -> str:
    fields = sorted(
        {
            str(change.get("field"))
            for entry in payload.get("entry") or []
            if isinstance(entry, dict)
            for change in entry.get("changes") or []
            if isinstance(change, dict)
        }
    )
    return ",".join(fields)[:64] or "unknown"
