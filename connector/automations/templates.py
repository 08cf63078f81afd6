"""Keeping the shop's WhatsApp templates in step with the catalogue.

``sync_templates`` submits every catalogue template in every language to the shop's WABA
(``POST /{waba_id}/message_templates``) and records each answer in ``template_approvals``
(PENDING, or the error). Meta's verdicts arrive as ``message_template_status_update``
webhooks; ``apply_status_updates`` records them as they come, so the status never goes
stale waiting for a poll. Templates with a media header need a sample uploaded through
Meta's Resumable Upload API; its handle is passed in (``--header-handle``) or the template
is recorded as ``NEEDS_SAMPLE`` and not submitted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from connector.dbutil import insert_or_ignore
from connector.extensions import db, settings
from connector.messaging import catalogue
from connector.models import Shop, TemplateApproval, WhatsAppAccount, utcnow
from integrations.whatsapp.client import WhatsAppClient
from integrations.whatsapp.errors import WhatsAppApiError, WhatsAppTransportError

log = logging.getLogger(__name__)

STATUS_FIELD = "message_template_status_update"


@dataclass(frozen=True, slots=True)
class SyncResult:
    name: str
    language: str
    status: str
    detail: str | None = None


def sync_templates(shop: Shop, *, header_handle: str | None = None, only: list[str] | None = None) -> list[SyncResult]:
    account = db.session.scalars(select(WhatsAppAccount).where(WhatsAppAccount.shop_id == shop.id)).first()
    if account is None or not account.waba_id:
        raise ValueError("the shop has no WhatsApp account with a WABA id (connector whatsapp set --waba-id)")
    cat = catalogue.load_catalogue()
    results = []
    with WhatsAppClient(access_token=account.access_token, phone_number_id=account.phone_number_id,
                        base_url=settings().whatsapp_api_base_url) as client:
        for name in cat.names:
            if only and name not in only:
                continue
            definition = cat.get(name)
            for language in definition.languages:
                current = _row(shop.id, name, language)
                if current is not None and current.version == definition.version and current.status in (
                        "PENDING", "APPROVED"):
                    results.append(SyncResult(name, language, current.status, "unchanged"))
                    continue
                needs_sample = definition.header_format in ("DOCUMENT", "IMAGE", "VIDEO") and not header_handle
                if needs_sample:
                    results.append(_record(shop.id, definition, language, "NEEDS_SAMPLE", "pass --header-handle"))
                    continue
                payload = catalogue.creation_payload(definition, language, app_url=settings().app_url,
                                                     header_handle=header_handle)
                try:
                    answer = client.create_template(account.waba_id, payload)
                except (WhatsAppApiError, WhatsAppTransportError) as error:
                    results.append(_record(shop.id, definition, language, "ERROR", str(error)[:255]))
                    continue
                results.append(_record(shop.id, definition, language, str(answer.get("status") or "PENDING"),
                                       None, meta_id=str(answer["id"])))
    return results


def _row(shop_id: int, name: str, language: str) -> TemplateApproval | None:
    return db.session.scalars(select(TemplateApproval).where(
        TemplateApproval.shop_id == shop_id, TemplateApproval.name == name,
        TemplateApproval.language == language)).first()


def _record(shop_id: int, definition, language: str, status: str, reason: str | None,
            meta_id: str | None = None) -> SyncResult:
    now = utcnow()
    insert_or_ignore(db.session, TemplateApproval, {
        "shop_id": shop_id, "name": definition.name, "language": language, "version": definition.version,
        "category": definition.category, "status": status, "created_at": now, "updated_at": now},
        conflict=("shop_id", "name", "language"))
    row = _row(shop_id, definition.name, language)
    row.version, row.category, row.status, row.reason = definition.version, definition.category, status, reason
    if meta_id:
        row.meta_template_id = meta_id
    db.session.commit()
    return SyncResult(definition.name, language, status, reason)


def apply_status_updates(payload: dict) -> int:
    """Record every ``message_template_status_update`` in a WhatsApp webhook body; count them."""
    applied = 0
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        for change in entry.get("changes") or []:
            if not isinstance(change, dict) or change.get("field") != STATUS_FIELD:
                continue
            value = change.get("value") or {}
            shop_ids = db.session.scalars(select(WhatsAppAccount.shop_id).where(
                WhatsAppAccount.waba_id == str(entry.get("id")))).all()
            name, language = value.get("message_template_name"), value.get("message_template_language")
            meta_id = value.get("message_template_id")
            for shop_id in shop_ids:
                query = select(TemplateApproval).where(TemplateApproval.shop_id == shop_id)
                query = query.where(TemplateApproval.meta_template_id == str(meta_id)) if meta_id else \
                    query.where(TemplateApproval.name == name, TemplateApproval.language == language)
                row = db.session.scalars(query).first()
                if row is None and name and language:
                    row = _row(shop_id, name, language)
                if row is None:
                    continue
                row.status = str(value.get("event") or row.status)[:32]
                reason = value.get("reason")
                row.reason = None if reason in (None, "NONE") else str(reason)[:255]
                applied += 1
                log.info("template.status", extra={"shop_id": shop_id, "template": row.name, "status": row.status})
    if applied:
        db.session.commit()
    return applied
