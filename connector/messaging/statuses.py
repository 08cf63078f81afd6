"""Delivery statuses and what Cloud API errors mean for a contact or a shop.

Statuses only move forward: sent < delivered < read (a ``read`` that overtakes its
``delivered`` implies it). ``failed`` ends a message unless a later ``delivered``/``read``
arrives, which wins: Meta does not guarantee the order of status webhooks.
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/status
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update

from connector import consent, consent_signal, rollups
from connector.events import MessageStatusChanged
from connector.extensions import db
from connector.messaging import costs
from connector.messaging.confirmations import confirm
from connector.models import Contact, Message, MessageStatus, Shop, utcnow
from connector.models.contacts import CONSENT_REVOKED
from connector.models.messages import STATUS_RANK
from integrations.whatsapp.errors import Disposition, ErrorRule, classify

log = logging.getLogger(__name__)

_INCOMING = {"sent": MessageStatus.SENT, "delivered": MessageStatus.DELIVERED, "read": MessageStatus.READ,
             "played": MessageStatus.READ}


def next_status(current: str, incoming: str) -> str | None:
    """The status after ``incoming`` arrives for a message at ``current``; None: no change."""
    current = MessageStatus(current)
    if incoming == "failed":
        if current in (MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED):
            return None
        return MessageStatus.FAILED
    target = _INCOMING.get(incoming)
    if target is None:
        return None
    if current in STATUS_RANK and STATUS_RANK[current] >= STATUS_RANK[target]:
        return None
    if current == MessageStatus.FAILED and target == MessageStatus.SENT:
        return None  # a late "sent" does not undo a failure; a later delivered/read does
    return target


def apply_status(shop_id: int, event: MessageStatusChanged) -> None:
    """Apply one status webhook to the shop's outbox row (found by wamid, else our callback id)."""
    # locked, and read afresh, so two deliveries of a status (or the dispatcher recording the
    # send) cannot both see the row unchanged: each fact is counted once (connector/rollups.py)
    message = db.session.scalars(
        select(Message).where(Message.shop_id == shop_id, Message.wamid == event.wamid)
        .with_for_update().execution_options(populate_existing=True)).first()
    if message is None and event.callback_data and event.callback_data.isdigit():
        # the send's answer was lost (worker killed mid-request): Meta echoes our id back
        message = db.session.scalars(
            select(Message).where(Message.shop_id == shop_id, Message.id == int(event.callback_data))
            .with_for_update().execution_options(populate_existing=True)).first()
        if message is not None and message.wamid is None:
            message.wamid = event.wamid
    if message is None:
        log.info("status.unknown_message", extra={"shop_id": shop_id, "status": event.status})
        return
    new = next_status(message.status, event.status)
    if new is None:
        return
    before = (message.status, message.sent_at, message.delivered_at, message.read_at, message.failed_at,
              message.status_reason)
    # Meta's timestamps have whole seconds; ours (sent_at) do not: keep the timeline ordered
    at = max(event.occurred_at, message.sent_at) if message.sent_at else event.occurred_at
    message.status = new
    message.claimed_until = None
    message.sent_at = message.sent_at or at
    if new in (MessageStatus.DELIVERED, MessageStatus.READ):
        message.delivered_at = message.delivered_at or at
        message.error_code = message.error_title = None
        if message.status_reason and message.status_reason.startswith("error:"):
            message.status_reason = None
    if new == MessageStatus.READ:
        assert message.delivered_at is not None  # set just above: read implies delivered
        message.read_at = message.read_at or max(at, message.delivered_at)
    if new == MessageStatus.FAILED:
        message.failed_at = at
        error = event.errors[0] if event.errors else None
        rule = classify(error.code if error else None, None)
        message.error_code = error.code if error else None
        message.error_title = (error.title if error else "failed")[:255]
        message.status_reason = f"error:{error.code}" if error else "error:unknown"
        shop = db.session.get(Shop, shop_id)
        assert shop is not None  # the shop of the message found above
        apply_error_consequences(shop, message.contact_id, rule, at)
    _count_cost(message, before[0], before[1])
    _count_changes(message, *before)
    log.info("status.applied", extra={"shop_id": shop_id, "message_id": message.id, "status": new})


def _count_cost(message: Message, status: str, sent_at) -> None:
    """The estimate follows what Meta charges, delivered messages: priced here when this webhook
    is the first to record the send (the dispatcher's answer was lost or slow), taken back when
    the message fails, and priced again if it is delivered after all."""
    if message.status == MessageStatus.FAILED:
        if message.estimated_cost is not None:  # counted when it was sent
            rollups.count(db.session, message.shop_id, message.failed_at or utcnow(), rollups.COST,
                          automation=message.automation, dimension=message.cost_currency, n=-1,
                          amount=-message.estimated_cost)
        message.estimated_cost = Decimal(0)
        message.cost_currency = message.cost_currency or costs.load_rate_card().currency
        return
    if sent_at is None and message.estimated_cost is None or status == MessageStatus.FAILED:
        assert message.sent_at is not None  # set by every status that is not a failure
        message.estimated_cost, message.cost_currency = costs.price_message(message, message.sent_at)
        rollups.count(db.session, message.shop_id, message.sent_at, rollups.COST, automation=message.automation,
                      dimension=message.cost_currency, amount=message.estimated_cost)


def _count_changes(message: Message, status: str, sent_at, delivered_at, read_at, failed_at, reason) -> None:
    """The daily rollups of what this status changed: each timestamp counts when it is first set;
    a failure counts while it stands (a later delivered/read takes it back)."""
    for metric, was, now in ((rollups.SENT, sent_at, message.sent_at),
                             (rollups.DELIVERED, delivered_at, message.delivered_at),
                             (rollups.READ, read_at, message.read_at)):
        if was is None and now is not None:
            rollups.count(db.session, message.shop_id, now, metric, automation=message.automation)
    if message.status == MessageStatus.FAILED and status != MessageStatus.FAILED:
        rollups.count(db.session, message.shop_id, message.failed_at or utcnow(), rollups.FAILED,
                      automation=message.automation, dimension=message.status_reason)
    elif status == MessageStatus.FAILED and message.status != MessageStatus.FAILED:
        rollups.count(db.session, message.shop_id, failed_at or utcnow(), rollups.FAILED,
                      automation=message.automation, dimension=reason, n=-1)


def apply_error_consequences(shop: Shop, contact_id: int, rule: ErrorRule, now: datetime | None = None) -> None:
    """What an error says beyond its message: opted out, cooling down, or the account paused."""
    now = now or utcnow()
    if rule.disposition == Disposition.OPTED_OUT:
        entry = revoke_marketing(shop.id, contact_id, source="whatsapp_error_131050", at=now)
        if entry is not None:
            # confirmed once, like every opt-out; only possible while the 24-hour window is open
            contact = db.session.get(Contact, contact_id)
            assert contact is not None  # revoke_marketing found it
            confirm(shop, contact, "optout_confirmed", key=f"optout-confirmed:{entry.id}")
    elif rule.contact_cooldown_seconds:
        db.session.execute(
            update(Contact)
            .where(Contact.shop_id == shop.id, Contact.id == contact_id)
            .values(marketing_paused_until=now + timedelta(seconds=rule.contact_cooldown_seconds))
        )
    elif rule.disposition == Disposition.PAUSE_ACCOUNT:
        pause_sending(shop, f"whatsapp_error:{rule.code if rule.code is not None else rule.name}", now)


def revoke_marketing(shop_id: int, contact_id: int, *, source: str, at: datetime):
    """Withdraw marketing consent (ledger entry, queued marketing suppressed, running dispatchers
    told); returns the ledger entry, or None when it was withdrawn already."""
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.shop_id != shop_id:
        return None
    entry = consent.record(contact, consent.MARKETING, CONSENT_REVOKED, source, at=at)
    # queued marketing goes even when consent was only pending (nothing was granted to withdraw)
    db.session.execute(
        update(Message)
        .where(Message.shop_id == shop_id, Message.contact_id == contact_id, Message.purpose == "marketing",
               Message.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.SUPPRESSED, status_reason="no_marketing_consent", updated_at=at)
    )
    consent_signal.mark_changed(db.session, shop_id)
    return entry


def pause_sending(shop: Shop, reason: str, at: datetime | None = None) -> None:
    """Stop all sending for the shop until an operator resumes it (``connector whatsapp resume``)."""
    if shop.sending_paused_at is not None:
        return
    shop.sending_paused_at = at or utcnow()
    shop.sending_paused_reason = reason
    log.warning("shop.sending_paused", extra={"shop_id": shop.id, "reason": reason})
