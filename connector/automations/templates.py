"""Keeping the shop's WhatsApp templates in step with the catalogue and the shop's own.

``sync_templates`` submits every catalogue template in every language to the shop's WABA,
then the shop's own templates (``connector.messaging.shop_catalogue``: a merchant's edit is a
new version, like a version bump in the catalogue), and records each answer in
``template_approvals``. A template Meta has never seen is
created (``POST /{waba_id}/message_templates``). One it has seen is *edited*
(``POST /{template-id}``) when its definition changed (a version bump in the catalogue) or
Meta rejected or paused it; an unchanged approved or pending one is left alone. Meta
refuses a second creation of a name and language (code 100, subcode 2388024), so when no
row remembers the id (a fresh database, a template made by hand) the existing template is
looked up by name and edited. Meta's edit rules, which the sandbox enforces too: only
APPROVED, REJECTED and PAUSED templates can be edited; an approved one keeps its category
and may be edited once in 24 hours and ten times in 30 days; every edit goes back to
review (PENDING). An edit Meta refuses leaves the row as it was (Meta still holds the old
content) with the reason, and the result is marked failed.
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates

Templates with a document header need a sample: sync renders a small PDF (fpdf2, like the
invoices) and uploads it once per run through Graph's Resumable Upload API, which needs the
Meta app id (``WHATSAPP_APP_ID``; any value against the sandbox). ``--header-handle`` still
overrides it. Meta's verdicts arrive as ``message_template_status_update`` webhooks;
the router hands them to ``on_template_status_changed`` as
``TemplateStatusChanged`` events (``integrations.whatsapp`` reads Meta's payload), which
records them, and an approval releases the messages that waited
for it (reason ``template_not_approved``) and wakes the shop's dispatcher.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fpdf import FPDF
from sqlalchemy import select, update

from connector.dbutil import insert_or_ignore
from connector.events import TemplateCategoryChanged, TemplateStatusChanged
from connector.extensions import db, settings
from connector.messaging import catalogue, shop_catalogue
from connector.messaging.dispatch_rows import TEMPLATE_NOT_APPROVED
from connector.models import Message, MessageStatus, Shop, TemplateApproval, WhatsAppAccount, utcnow
from connector.wakeups import kick_dispatcher
from integrations.whatsapp.client import WhatsAppClient
from integrations.whatsapp.errors import WhatsAppApiError, WhatsAppTransportError

log = logging.getLogger(__name__)

#: Meta lets only templates in these states be edited
EDITABLE = ("APPROVED", "REJECTED", "PAUSED")
#: a PENDING or APPROVED template at the catalogue's version needs nothing
SETTLED = ("PENDING", "APPROVED")
#: Graph error_subcode for "content in this language already exists"
TEMPLATE_EXISTS_SUBCODE = 2388024
#: what the dispatcher writes on a message whose template is not approved in its language
WAITING_REASON = TEMPLATE_NOT_APPROVED
MEDIA_HEADERS = ("DOCUMENT", "IMAGE", "VIDEO")
#: the official Graph host; any other base URL is the sandbox, which takes any app id
GRAPH_HOST = "https://graph.facebook.com"


@dataclass(frozen=True, slots=True)
class SyncResult:
    name: str
    language: str
    status: str
    detail: str | None = None
    #: the template is not where the catalogue wants it (an error, a missing sample, a refused edit)
    failed: bool = False


def sync_size(shop_id: int, only: list[str] | None = None) -> int:
    """How many (template, language) pairs ``sync_templates`` goes through."""
    return sum(len(definition.languages) for name, definition in shop_catalogue.templates_for(shop_id).items()
               if not only or name in only)


def sync_templates(shop: Shop, *, header_handle: str | None = None, only: list[str] | None = None,
                   on_result: Callable[[SyncResult], None] | None = None) -> list[SyncResult]:
    """Create or edit the shop's templates at Meta so that they match the catalogue
    (``on_result`` is told of each pair as it is done: the CLI's progress bar)."""
    account = db.session.scalars(select(WhatsAppAccount).where(WhatsAppAccount.shop_id == shop.id)).first()
    if account is None or not account.waba_id:
        raise ValueError("the shop has no WhatsApp account with a WABA id (connector whatsapp set --waba-id)")
    templates = shop_catalogue.templates_for(shop.id)  # the catalogue's, then the shop's own
    unknown = sorted(set(only or ()) - set(templates))
    if unknown:
        raise ValueError(f"no template {', '.join(unknown)} in the catalogue or the shop's own")
    config = settings()
    app_id = config.whatsapp_app_id or (None if config.whatsapp_api_base_url.startswith(GRAPH_HOST) else "sandbox")
    results = []
    with WhatsAppClient(access_token=account.access_token, phone_number_id=account.phone_number_id,
                        base_url=config.whatsapp_api_base_url) as client:
        samples = _Samples(client, app_id, header_handle)
        for name, definition in templates.items():
            if only and name not in only:
                continue
            for language in definition.languages:
                results.append(_sync_one(client, account.waba_id, shop.id, definition, language, samples))
                if on_result is not None:
                    on_result(results[-1])
    return results


def _sync_one(client: WhatsAppClient, waba_id: str, shop_id: int, definition, language: str,
              samples: "_Samples") -> SyncResult:
    current = _row(shop_id, definition.name, language)
    if current is not None and current.version == definition.version and current.status in SETTLED:
        return SyncResult(definition.name, language, current.status, "unchanged")
    if current is not None and current.meta_template_id and current.status == "PENDING":
        # Meta edits nothing under review: the new version goes in on a sync after the verdict
        return SyncResult(definition.name, language, "PENDING",
                          f"v{definition.version} waits: v{current.version} is still under review")
    handle, problem = samples.handle(definition.header_format)
    if problem:
        return _record(shop_id, definition, language, "NEEDS_SAMPLE", problem, failed=True)
    payload = catalogue.creation_payload(definition, language, app_url=settings().app_url, header_handle=handle)
    if current is not None and current.meta_template_id and current.status in EDITABLE:
        return _edit(client, shop_id, definition, language, current.meta_template_id, current.status,
                     current.category, payload)
    try:
        answer = client.create_template(waba_id, payload)
    except WhatsAppApiError as error:
        if error.subcode != TEMPLATE_EXISTS_SUBCODE:
            return _record(shop_id, definition, language, "ERROR", _why(error), failed=True)
        return _edit_existing(client, waba_id, shop_id, definition, language, payload)
    except WhatsAppTransportError as error:
        return _record(shop_id, definition, language, "ERROR", _why(error), failed=True)
    return _record(shop_id, definition, language, str(answer.get("status") or "PENDING"), None,
                   meta_id=str(answer["id"]))


def _edit_existing(client: WhatsAppClient, waba_id: str, shop_id: int, definition, language: str,
                   payload: dict) -> SyncResult:
    """Meta has this name and language already (made by hand, or our row was lost): edit that one."""
    try:
        found = [t for t in client.find_templates(waba_id, definition.name) if t.get("language") == language]
    except (WhatsAppApiError, WhatsAppTransportError) as error:
        return _record(shop_id, definition, language, "ERROR", f"exists at Meta, lookup failed: {_why(error)}",
                       failed=True)
    if not found:
        return _record(shop_id, definition, language, "ERROR", "Meta says it exists but does not list it",
                       failed=True)
    existing = found[0]
    status, meta_id = str(existing.get("status") or "PENDING"), str(existing["id"])
    if status not in EDITABLE:
        detail = f"exists at Meta as {status}; it cannot be edited until reviewed"
        return _record(shop_id, definition, language, status, detail, meta_id=meta_id, version=0,
                       failed=status != "PENDING")
    return _edit(client, shop_id, definition, language, meta_id, status, str(existing.get("category") or ""),
                 payload)


def _edit(client: WhatsAppClient, shop_id: int, definition, language: str, meta_id: str, status: str,
          category: str, payload: dict) -> SyncResult:
    """``POST /{template-id}``: the new components (and, unless approved, the category)."""
    if status == "APPROVED" and category and category != definition.category:
        # Meta: an approved template's category never changes; a new name is the only way
        return _refused(shop_id, definition, language, meta_id, status,
                        f"category {category} of an approved template cannot become {definition.category}")
    body = {"components": payload["components"]}
    if status != "APPROVED":
        body["category"] = payload["category"]
    try:
        client.edit_template(meta_id, body)
    except (WhatsAppApiError, WhatsAppTransportError) as error:
        return _refused(shop_id, definition, language, meta_id, status, f"edit refused: {_why(error)}")
    result = _record(shop_id, definition, language, "PENDING", None, meta_id=meta_id)
    return SyncResult(result.name, result.language, result.status, "edited")


def _refused(shop_id: int, definition, language: str, meta_id: str, status: str, why: str) -> SyncResult:
    """Meta still holds the old content: keep the row's status and version, remember why."""
    row = _row(shop_id, definition.name, language)
    if row is None:
        return _record(shop_id, definition, language, status, why[:255], meta_id=meta_id, version=0, failed=True)
    row.reason, row.meta_template_id = why[:255], meta_id
    db.session.commit()
    return SyncResult(definition.name, language, row.status, why, failed=True)


def _why(error: Exception) -> str:
    """Meta's own words for a person where it gave them, else the error's summary."""
    if isinstance(error, WhatsAppApiError):
        return (error.user_message or error.details or error.title or str(error))[:255]
    return str(error)[:255]


class _Samples:
    """Sample media for templates with a media header, uploaded at most once per sync run."""

    def __init__(self, client: WhatsAppClient, app_id: str | None, given: str | None) -> None:
        self._client, self._app_id, self._given = client, app_id, given
        self._document: tuple[str | None, str | None] | None = None

    def handle(self, header_format: str | None) -> tuple[str | None, str | None]:
        """(handle, None), or (None, why there is none); (None, None) for templates without media."""
        if header_format not in MEDIA_HEADERS:
            return None, None
        if self._given:
            return self._given, None
        if header_format != "DOCUMENT":
            return None, f"a {header_format} header needs a sample: pass --header-handle"
        if not self._app_id:
            return None, "set WHATSAPP_APP_ID (the Meta app's id) so that the sample document can be uploaded"
        if self._document is None:
            try:
                handle = self._client.upload_sample(self._app_id, sample_document(), mime_type="application/pdf",
                                                    filename="sample-invoice.pdf")
                self._document = (handle, None)
            except (WhatsAppApiError, WhatsAppTransportError) as error:
                self._document = (None, f"sample upload failed: {_why(error)}")
        return self._document


def sample_document() -> bytes:
    """A one-page sample invoice (PDF), the example Meta reviews for document headers."""
    pdf = FPDF(format="A4")
    pdf.set_creator("whatsapp-commerce-connector")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, "Invoice INV-1001", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for line in ("Sample invoice for template review", "Order #1001", "1 x Example product    49.90 EUR",
                 "Total    49.90 EUR"):
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _row(shop_id: int, name: str, language: str) -> TemplateApproval | None:
    return db.session.scalars(select(TemplateApproval).where(
        TemplateApproval.shop_id == shop_id, TemplateApproval.name == name,
        TemplateApproval.language == language)).first()


def _record(shop_id: int, definition, language: str, status: str, reason: str | None,
            meta_id: str | None = None, *, version: int | None = None, failed: bool = False) -> SyncResult:
    """Upsert the row; ``version`` 0 marks content that may not be the catalogue's (edited on a later sync)."""
    now = utcnow()
    version = definition.version if version is None else version
    insert_or_ignore(db.session, TemplateApproval, {
        "shop_id": shop_id, "name": definition.name, "language": language, "version": version,
        "category": definition.category, "status": status, "created_at": now, "updated_at": now},
        conflict=("shop_id", "name", "language"))
    row = _row(shop_id, definition.name, language)
    assert row is not None  # inserted above, or there already
    row.version, row.category, row.status, row.reason = version, definition.category, status, reason
    if meta_id:
        row.meta_template_id = meta_id
    db.session.commit()
    return SyncResult(definition.name, language, status, reason, failed=failed)


def _approval_of(shop_id: int, event: TemplateStatusChanged | TemplateCategoryChanged) -> TemplateApproval | None:
    """The shop's approval row a Meta webhook is about: by Meta's template id, else by name and language."""
    query = select(TemplateApproval).where(TemplateApproval.shop_id == shop_id)
    query = query.where(TemplateApproval.meta_template_id == event.template_id) if event.template_id else \
        query.where(TemplateApproval.name == event.name, TemplateApproval.language == event.language)
    row = db.session.scalars(query).first()
    if row is None and event.name and event.language:
        row = _row(shop_id, event.name, event.language)
    return row


def on_template_status_changed(shop_id: int, event: TemplateStatusChanged) -> None:
    """Record Meta's verdict on one of the shop's templates (the receipt's transaction commits).

    An approval releases the messages that waited for it and wakes the shop's dispatcher.
    """
    row = _approval_of(shop_id, event)
    if row is None:
        log.info("template.status_unknown_template", extra={"shop_id": shop_id, "status": event.status})
        return
    row.status = event.status[:32]
    row.reason = event.reason[:255] if event.reason else None
    log.info("template.status", extra={"shop_id": shop_id, "template": row.name, "status": row.status})
    if row.status == "APPROVED":
        _release_waiting(shop_id, row.name, row.language)


def on_template_category_changed(shop_id: int, event: TemplateCategoryChanged) -> None:
    """Record the category Meta now gives one of the shop's templates (the receipt's transaction
    commits). Meta may re-categorise an approved template (UTILITY → MARKETING when it reads as
    promotional) and charges the category at the time of use; the dispatcher judges a message
    by its template's recorded category, so from now on a template that became MARKETING goes
    only to contacts with marketing consent (``governor``: ``recategorised_marketing``). The
    advance notice of a change (``impending``) changes nothing yet.
    https://developers.facebook.com/documentation/business-messaging/whatsapp/marketing-messages/route-template-messages
    """
    if event.impending:
        log.info("template.category_change_announced", extra={"shop_id": shop_id, "template": event.name,
                                                              "category": event.correct_category})
        return
    row = _approval_of(shop_id, event)
    if row is None:
        log.info("template.category_unknown_template", extra={"shop_id": shop_id, "category": event.new_category})
        return
    previous, row.category = row.category, event.new_category[:32]
    log.info("template.category_changed", extra={"shop_id": shop_id, "template": row.name, "language": row.language,
                                                 "previous": previous, "category": row.category})


def _release_waiting(shop_id: int, name: str, language: str) -> None:
    """Messages that waited for this (template, language) approval are due now."""
    now = utcnow()
    released = db.session.execute(update(Message).where(
        Message.shop_id == shop_id, Message.status == MessageStatus.QUEUED,
        Message.status_reason == WAITING_REASON, Message.template_name == name,
        Message.language == language).values(due_at=now, updated_at=now).returning(Message.id)).scalars().all()
    if released:
        kick_dispatcher(shop_id)  # a kick before the commit finds the rows a moment later (the sweep too)
