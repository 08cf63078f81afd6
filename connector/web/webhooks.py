"""Vendor webhook endpoints. Each: raw body → signature → parse → receipt → commit → enqueue → 2xx.

WhatsApp (Meta), Shopify; WooCommerce's endpoint lives with its connect flow in
connector/web/woocommerce.py. The receipt is stored by ``connector.receipts``; a drainer
job does the rest (docs/adr/0006-ingest-path.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextlib import contextmanager
from typing import Iterator

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from connector.extensions import db, settings
from connector.models import WhatsAppAccount
from connector.receipts import ReceiptNotWritten, ReceiptResult, record_receipt
from connector.stores.shop_cache import forget_cached_shops, shopify_shop
from connector.web.errors import BadRequestBody, is_storable_text, require_json_object
from connector.web.errors import json_object as _json_object
from integrations.base import SignatureInvalidError, SignatureMissingError
from integrations.shopify import webhooks as shopify_webhooks
from integrations.whatsapp import webhooks as whatsapp_webhooks
from integrations.whatsapp.consts import SIGNATURE_HEADER
from integrations.whatsapp.errors import WhatsAppPayloadError

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)

#: what a vendor is told, serialized once (a dict answer goes through Flask's JSON provider on
#: every request, on the path the vendors time)
_ANSWERS = {status: json.dumps({"status": status}, separators=(",", ":")).encode() + b"\n"
            for status in ("accepted", "duplicate", "ignored", "ping")}


def answer(status: str) -> Response:
    """``{"status": …}`` with 200: the delivery was taken (or knowingly ignored)."""
    return Response(_ANSWERS[status], status=200, mimetype="application/json")


@contextmanager
def database_lookup() -> Iterator[None]:
    """Wrap the reads an ingest view makes before the receipt is written (the shop, its number).

    When the database cannot answer them, nothing was stored and the vendor must deliver
    again: the same 503 ``receipt_not_written`` as when the receipt INSERT itself fails,
    never a 500.
    """
    try:
        yield
    except (DBAPIError, PoolTimeoutError) as error:
        unreachable = isinstance(error, (OperationalError, PoolTimeoutError)) or error.connection_invalidated
        if not unreachable:
            raise
        db.session.rollback()
        cause = error.orig if isinstance(error, DBAPIError) else error
        raise ReceiptNotWritten(f"the shop could not be looked up: {type(cause).__name__}") from error


def stored(result: ReceiptResult) -> Response:
    """The answer for a delivery handed to ``record_receipt``."""
    return answer("duplicate" if result.is_duplicate else "accepted")


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
    # an id with a NUL or a lone surrogate is no shop's, and must not reach a query
    numbers = [number for number in numbers if is_storable_text(number)]
    with database_lookup():
        shop_ids = db.session.scalars(
            select(WhatsAppAccount.shop_id).where(WhatsAppAccount.phone_number_id.in_(numbers))
        ).all() if numbers else []
        if not shop_ids:
            # account-level changes (template status updates) name the WhatsApp Business Account, not a number
            wabas = [str(entry.get("id")) for entry in payload.get("entry") or [] if isinstance(entry, dict)
                     and is_storable_text(str(entry.get("id")))]
            shop_ids = db.session.scalars(
                select(WhatsAppAccount.shop_id).where(WhatsAppAccount.waba_id.in_(wabas))
            ).all() if wabas else []
    db.session.commit()  # end the read: its connection goes back to the pool before the receipt write
    if not shop_ids:
        # Signed by Meta but for a number no shop has (removed, or another app's): nothing to keep.
        log.info("whatsapp.webhook_unknown_number", extra={"numbers": len(numbers)})
        return answer("ignored")
    # Meta sends no delivery id; the same body delivered twice is the same delivery.
    result = record_receipt(
        platform="whatsapp",
        dedupe_key=hashlib.sha256(raw).hexdigest(),
        topic=_topic(payload),
        body=raw,
        shop_id=shop_ids[0],
    )
    return stored(result)


@bp.post("/shopify")
def shopify_receive():
    """Every Shopify topic, compliance topics included (the topic is in ``X-Shopify-Topic``).

    Shopify wants 401 for any HMAC failure (its compliance review sends forged requests) and
    a 2xx within 5 seconds: the body is verified, stored and acknowledged; the work is queued.
    """
    raw = request.get_data(cache=False)
    delivery = shopify_webhooks.delivery_headers(request.headers)
    with database_lookup():
        shop = shopify_shop(delivery.shop_domain)
    db.session.commit()  # end the read (plain values only): its connection goes back to the pool
    secrets = [s for s in ((shop.api_secret if shop else None), settings().shopify_api_secret) if s]
    if not secrets:
        return _shopify_unauthorized("no secret to verify this shop's webhooks with")
    try:
        _verify_with_any(raw, secrets)
    except (SignatureMissingError, SignatureInvalidError) as error:
        return _shopify_unauthorized(str(error) or type(error).__name__)
    if not delivery.topic or not delivery.shop_domain:
        raise BadRequestBody("X-Shopify-Topic and X-Shopify-Shop-Domain are required")
    if delivery.topic not in shopify_webhooks.TOPICS:
        log.info("shopify.webhook_topic_ignored", extra={"topic": delivery.topic[:64]})
        return answer("ignored")
    if shop is None:
        # genuine, but for a shop we do not know (never installed, or already redacted)
        log.info("shopify.webhook_unknown_shop", extra={"topic": delivery.topic})
        return answer("ignored")
    require_json_object(raw)  # every topic we take is a JSON object; refusing junk now keeps it out of the queue
    # one merchant action can fire several topics with the same event id: the key has both
    key = f"{shop.id}:{delivery.topic}:{delivery.event_id or hashlib.sha256(raw).hexdigest()}"
    try:
        result = record_receipt(platform="shopify", dedupe_key=key, topic=delivery.topic, body=raw,
                                    shop_id=shop.id)
    except IntegrityError:
        # the cached shop was deleted a moment ago (shop/redact): it is unknown now
        forget_cached_shops()
        log.info("shopify.webhook_unknown_shop", extra={"topic": delivery.topic})
        return answer("ignored")
    return stored(result)


def _verify_with_any(raw: bytes, secrets: list[str]) -> None:
    """A shop connected by a custom app signs with that app's secret; installs with ours."""
    for index, secret in enumerate(secrets):
        try:
            shopify_webhooks.verify(raw, request.headers, secret)
            return
        except SignatureInvalidError:
            if index == len(secrets) - 1:
                raise


def _shopify_unauthorized(reason: str):
    log.info("http.rejected", extra={"path": request.path, "status": 401, "reason": reason[:80]})
    return {"error": "signature_invalid", "message": "HMAC verification failed"}, 401


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
