"""Consent: the ledger, the derived state, and what a change does to waiting messages.

Every change goes through :func:`record`: one append-only ``consent_events`` row (source,
the exact text shown, time, evidence) and, in the same transaction, the contact's cached
state. Withdrawals also suppress the contact's queued messages of that purpose and move the
shop's consent signal, so a dispatcher holding claimed rows drops them before they are sent.

Rules that are easy to get wrong, kept here in one place:
- Shopify's SMS marketing consent is not WhatsApp consent: it may only ever grant
  *transactional* messages (:func:`from_platform`).
- Marketing consent from any storefront source is ``pending`` until the shopper answers the
  confirmation template with YES (double opt-in); unconfirmed opt-ins expire.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update

from connector import consent_signal, rollups
from connector.extensions import db
from connector.models import Contact, Message, MessageStatus, utcnow
from connector.models.consent import ConsentEvent
from connector.models.contacts import CONSENT_GRANTED, CONSENT_NONE, CONSENT_PENDING, CONSENT_REVOKED

log = logging.getLogger(__name__)

MARKETING = "marketing"
TRANSACTIONAL = "transactional"
PURPOSES = (MARKETING, TRANSACTIONAL)
STATES = (CONSENT_NONE, CONSENT_PENDING, CONSENT_GRANTED, CONSENT_REVOKED)

#: storefront sources whose marketing opt-in must be confirmed by the shopper (double opt-in)
STOREFRONT_SOURCES = ("widget_popup", "checkout_checkbox", "back_in_stock_form")


def record(contact: Contact, purpose: str, state: str, source: str, *, at: datetime | None = None,
           text_shown: str | None = None, evidence: dict | None = None) -> ConsentEvent | None:
    """Append a ledger entry and update the contact's state; None when the state is unchanged."""
    if purpose not in PURPOSES or state not in STATES:
        raise ValueError(f"bad consent change {purpose}={state}")
    at = at or utcnow()
    previous = getattr(contact, f"{purpose}_consent")
    if previous == state and state != CONSENT_PENDING:  # a new pending opt-in restarts its clock
        return None
    if purpose == MARKETING and state in (CONSENT_GRANTED, CONSENT_REVOKED):
        # the dashboard's opt-ins (by where the shopper asked) and opt-outs (by how)
        metric = rollups.OPTINS if state == CONSENT_GRANTED else rollups.OPTOUTS
        dimension = rollups.optin_source(source, contact.marketing_consent_source) if state == CONSENT_GRANTED \
            else source
        rollups.count(db.session, contact.shop_id, at, metric, dimension=dimension)
    entry = ConsentEvent(shop_id=contact.shop_id, contact_id=contact.id, purpose=purpose, state=state,
                         source=source[:64], text_shown=text_shown, evidence=evidence or None, occurred_at=at)
    db.session.add(entry)
    setattr(contact, f"{purpose}_consent", state)
    setattr(contact, f"{purpose}_consent_at", at)
    setattr(contact, f"{purpose}_consent_source", source[:64])
    if previous == CONSENT_GRANTED and state != CONSENT_GRANTED:
        _withdraw_waiting(contact, purpose, at)
    db.session.flush()
    log.info("consent.changed", extra={"shop_id": contact.shop_id, "contact_id": contact.id, "purpose": purpose,
                                       "from": previous, "to": state, "source": source})
    return entry


def _withdraw_waiting(contact: Contact, purpose: str, at: datetime) -> None:
    db.session.execute(
        update(Message)
        .where(Message.shop_id == contact.shop_id, Message.contact_id == contact.id, Message.purpose == purpose,
               Message.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.SUPPRESSED, status_reason=f"no_{purpose}_consent", updated_at=at)
    )
    consent_signal.mark_changed(db.session, contact.shop_id)


def derived_state(contact_id: int, purpose: str) -> str:
    """The state as the ledger says it: its latest entry for the purpose (``none`` if empty)."""
    state = db.session.scalar(
        select(ConsentEvent.state)
        .where(ConsentEvent.contact_id == contact_id, ConsentEvent.purpose == purpose)
        .order_by(ConsentEvent.id.desc())
        .limit(1)
    )
    return state or CONSENT_NONE


def history(contact_id: int) -> list[ConsentEvent]:
    return list(db.session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)
                                   .order_by(ConsentEvent.id)))


def last_granted_by(contact_id: int, purpose: str) -> ConsentEvent | None:
    """The latest grant, if the contact ever confirmed (to restore it on a WhatsApp "resume")."""
    return db.session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.contact_id == contact_id, ConsentEvent.purpose == purpose,
               ConsentEvent.state == CONSENT_GRANTED)
        .order_by(ConsentEvent.id.desc()).limit(1)
    ).first()


def from_platform(contact: Contact, platform_consent: str | None, *, platform: str, at: datetime | None = None,
                  evidence: dict | None = None) -> ConsentEvent | None:
    """A store's own SMS/marketing consent. It never grants WhatsApp marketing: at most, a
    "subscribed" shopper may receive transactional messages (order and shipping updates)."""
    if (platform_consent or "").lower() != "subscribed" or contact.transactional_consent == CONSENT_REVOKED:
        return None
    return record(contact, TRANSACTIONAL, CONSENT_GRANTED, "platform_consent", at=at,
                  evidence={"platform": platform, **(evidence or {})})
