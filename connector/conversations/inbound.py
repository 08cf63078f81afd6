"""What shoppers send us: kept as the conversation; replies open the 24-hour window; STOP/START
words, opt-in answers, COD decisions, review ratings and comments; WhatsApp's own stop/resume controls.

A reply is matched to its contact by the message it answers (``context.id``), then by the
business-scoped user id (usernames may come without a phone), then by phone number.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from connector import optin
from connector.conversations import entry_points, reviews
from connector.dbutil import insert_or_ignore
from connector.events import InboundMessage, MarketingPreferenceChanged
from connector.extensions import db
from connector.messaging import keywords
from connector.messaging.auto_reply import auto_reply
from connector.messaging.catalogue import parse_reply_payload
from connector.models import Contact, InboundRecord, Message, Shop, utcnow
from connector.models.contacts import CONSENT_PENDING
from connector.phones import InvalidPhoneError, normalise
from connector.stores.cod import cod_decision

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
    """Keep the message, open (or extend) the contact's 24-hour window, and act on what it says."""
    contact = find_contact(shop_id, context_wamid=event.context_wamid, user_id=event.user_id, phone=event.from_phone)
    shop = db.session.get(Shop, shop_id)
    if contact is None and event.from_phone:
        try:
            phone = normalise(event.from_phone)
        except InvalidPhoneError:
            log.info("inbound.skipped", extra={"shop_id": shop_id, "reason": "invalid_phone"})
            return
        contact = Contact(shop_id=shop_id, phone_e164=phone.e164, country=phone.country,
                          time_zone=phone.time_zone, locale=shop.locale if shop else None, name=event.profile_name)
        db.session.add(contact)
    if contact is None or shop is None:
        log.info("inbound.skipped", extra={"shop_id": shop_id, "reason": "unknown_user_without_phone"})
        return
    if event.user_id and not contact.wa_user_id:
        contact.wa_user_id = event.user_id
    if contact.last_inbound_at is None or event.occurred_at > contact.last_inbound_at:
        contact.last_inbound_at = event.occurred_at
    db.session.flush()
    record_id = insert_or_ignore(db.session, InboundRecord, {
        "shop_id": shop_id, "contact_id": contact.id, "wamid": event.wamid, "kind": event.kind[:32],
        "text": event.text, "reply_id": (event.reply_id or None) and event.reply_id[:256],
        "reply_title": (event.reply_title or None) and event.reply_title[:256],
        "context_wamid": event.context_wamid, "received_at": event.occurred_at, "created_at": utcnow()},
        conflict=("shop_id", "wamid"))
    if record_id is None:
        return  # the same message again (Meta redelivers): already acted on
    handled = _act_on(shop, contact, event)
    if handled:
        db.session.execute(update(InboundRecord).where(InboundRecord.id == record_id).values(handled_as=handled))
    log.info("inbound.recorded", extra={"shop_id": shop_id, "contact_id": contact.id, "kind": event.kind,
                                        "handled_as": handled})


def _act_on(shop: Shop, contact: Contact, event: InboundMessage) -> str | None:
    evidence = {"wamid": event.wamid}
    if event.reply_id:
        action, context = parse_reply_payload(event.reply_id)
        if action in (optin.YES, optin.NO):
            return optin.answer_confirmation(shop, contact, action, pending_id=context, reply_wamid=event.wamid,
                                             at=event.occurred_at)
        if action == "marketing_stop":
            return "opt_out" if optin.opt_out(shop, contact, source="quick_reply", at=event.occurred_at,
                                               evidence=evidence) else None
        if action in ("cod_confirm", "cod_cancel"):

            return cod_decision(shop, contact, action, order_id=context, at=event.occurred_at)
        if action in reviews.RATINGS:
            return reviews.record_rating(shop, contact, action, order_id=context, at=event.occurred_at)
    # an entry point's reference does not hide a keyword: "STOP #K7P2QX" is a STOP
    intent = keywords.intent_of(entry_points.without_references(event.text))
    if intent is None:
        # a click-to-chat entry point's message: the shopper asked for offers from there
        handled = entry_points.act_on_reference(shop, contact, event)
        if handled:
            return handled
        if event.kind == "text":  # the comment on a rating just given
            handled = reviews.take_comment(shop, contact, event.text, event.occurred_at)
            if handled:
                return handled
    if intent == keywords.OPT_OUT:
        return "opt_out" if optin.opt_out(shop, contact, source="keyword", at=event.occurred_at,
                                           evidence=evidence) else None
    if intent == keywords.OPT_IN:
        return "opt_in" if optin.opt_back_in(shop, contact, source="keyword", at=event.occurred_at,
                                             evidence=evidence) else None
    if contact.marketing_consent == CONSENT_PENDING and event.text:
        # YES / JA / SÍ … typed instead of tapped counts as the tap; anything else gets a hint, once
        answer = keywords.answer_of(event.text)
        if answer is not None:
            return optin.answer_confirmation(shop, contact, optin.YES if answer == keywords.ANSWER_YES else optin.NO,
                                             pending_id=None, reply_wamid=event.wamid, at=event.occurred_at,
                                             typed_text=event.text)
        hinted = optin.hint_pending(shop, contact, event.occurred_at)
        if hinted:
            return hinted
    return auto_reply(shop, contact, event.occurred_at)


def apply_marketing_preference(shop_id: int, event: MarketingPreferenceChanged) -> None:
    """WhatsApp's own controls: ``stop`` revokes marketing consent at once; ``resume`` restores
    a consent the shopper had given us before (it is not an opt-in of its own)."""
    contact = find_contact(shop_id, user_id=event.user_id, phone=event.phone)
    shop = db.session.get(Shop, shop_id)
    if contact is None or shop is None:
        log.info("preference.unknown_contact", extra={"shop_id": shop_id, "value": event.value})
        return
    at = event.occurred_at or utcnow()
    if event.value == "stop":
        optin.opt_out(shop, contact, source="whatsapp_user_preferences", at=at)
    elif event.value == "resume":
        optin.opt_back_in(shop, contact, source="whatsapp_user_preferences", at=at, require_previous_grant=True)
    else:
        log.info("preference.recorded", extra={"shop_id": shop_id, "contact_id": contact.id, "value": event.value})
