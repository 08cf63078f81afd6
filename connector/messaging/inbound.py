"""What shoppers send us: replies open the 24-hour window; WhatsApp's own stop/resume controls.

A reply is matched to its contact by the message it answers (``context.id``), then by the
business-scoped user id (usernames may come without a phone), then by phone number.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from connector.events import InboundMessage, MarketingPreferenceChanged
from connector.extensions import db
from connector.messaging.statuses import revoke_marketing
from connector.models import Contact, Message, Shop, utcnow
from connector.phones import InvalidPhoneError, normalise

log = logging.getLogger(__name__)


def find_contact(shop_id: int, *, context_wamid: str | None = None, user_id: str | None = None,
                 phone: str | None = None) -> Contact | None:
    if context_wamid:
        contact_id = db.session.scalar(
            select(Message.contact_id).where(Message.shop_id == shop_id, Message.wamid == context_wamid)
        )
        if contact_id is not None:
            return db.session.get(Contact, contact_id)
    if user_id:
        contact = db.session.scalars(
            select(Contact).where(Contact.shop_id == shop_id, Contact.wa_user_id == user_id)
        ).first()
        if contact is not None:
            return contact
    if phone:
        try:
            e164 = normalise(phone).e164
        except InvalidPhoneError:
            return None
        return db.session.scalars(select(Contact).where(Contact.shop_id == shop_id, Contact.phone_e164 == e164)).first()
    return None


def record_inbound(shop_id: int, event: InboundMessage) -> None:
    """Open (or extend) the contact's customer-service window; create the contact if new."""
    contact = find_contact(shop_id, context_wamid=event.context_wamid, user_id=event.user_id, phone=event.from_phone)
    if contact is None and event.from_phone:
        try:
            phone = normalise(event.from_phone)
        except InvalidPhoneError:
            log.info("inbound.skipped", extra={"shop_id": shop_id, "reason": "invalid_phone"})
            return
        shop = db.session.get(Shop, shop_id)
        contact = Contact(shop_id=shop_id, phone_e164=phone.e164, country=phone.country,
                          time_zone=phone.time_zone, locale=None, name=event.profile_name)
        contact.locale = shop.locale if shop else None
        db.session.add(contact)
    if contact is None:
        log.info("inbound.skipped", extra={"shop_id": shop_id, "reason": "unknown_user_without_phone"})
        return
    if event.user_id and not contact.wa_user_id:
        contact.wa_user_id = event.user_id
    if contact.last_inbound_at is None or event.occurred_at > contact.last_inbound_at:
        contact.last_inbound_at = event.occurred_at
    db.session.flush()
    log.info("inbound.recorded", extra={"shop_id": shop_id, "contact_id": contact.id, "kind": event.kind})


def apply_marketing_preference(shop_id: int, event: MarketingPreferenceChanged) -> None:
    """``stop`` revokes marketing consent at once; ``resume`` is recorded but needs a fresh opt-in."""
    contact = find_contact(shop_id, user_id=event.user_id, phone=event.phone)
    if contact is None:
        log.info("preference.unknown_contact", extra={"shop_id": shop_id, "value": event.value})
        return
    if event.value == "stop":
        revoke_marketing(shop_id, contact.id, source="whatsapp_user_preferences", at=event.occurred_at or utcnow())
    else:
        log.info("preference.recorded", extra={"shop_id": shop_id, "contact_id": contact.id, "value": event.value})
