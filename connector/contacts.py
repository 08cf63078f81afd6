"""The shop's contacts: finding or creating the contact of a store customer.

Every layer that meets a shopper (the automations, the storefront widgets, the CLI) comes
here for the contact, so this sits below the automations and above consent and the double
opt-in: a WhatsApp opt-in ticked at checkout becomes a pending consent and its question.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from connector import consent, receipt_notes
from connector.dbutil import insert_or_load
from connector.events import Customer
from connector.extensions import db
from connector.models import Contact, Shop, utcnow
from connector.models.contacts import CONSENT_GRANTED, CONSENT_NONE, CONSENT_PENDING, CONSENT_REVOKED
from connector.optin import request_opt_in
from connector.phones import InvalidPhoneError, normalise


def email_hash(email: str) -> str:
    """How contacts keep an email: sha256 of the trimmed, lowercased address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def contact_for(shop: Shop, customer: Customer | None, *, transactional_source: str | None = None,
                now: datetime | None = None, consent_text: str | None = None) -> Contact | None:
    """The shop's contact for ``customer.phone`` (found or created), or None without a phone.

    ``transactional_source``: the customer gave this phone for *this order*, which is
    consent to hear about the order (confirmation, shipping); never marketing consent.
    A revoked transactional consent is not overridden by a later order.
    A WhatsApp opt-in ticked at checkout is recorded as *pending* marketing consent: the
    double opt-in that turns it into granted is the consent flow's job.
    """
    if customer is None or not customer.phone:
        receipt_notes.note(receipt_notes.NO_PHONE)
        return None
    try:
        phone = normalise(customer.phone, customer.country or shop.country)
    except InvalidPhoneError:
        receipt_notes.note(receipt_notes.INVALID_PHONE)
        return None
    now = now or utcnow()
    name = " ".join(part for part in (customer.first_name, customer.last_name) if part) or None
    contact, _made = insert_or_load(db.session, Contact, {
        "shop_id": shop.id, "phone_e164": phone.e164, "name": name, "locale": customer.locale,
        "country": phone.country, "time_zone": phone.time_zone, "marketing_consent": CONSENT_NONE,
        "transactional_consent": CONSENT_NONE, "created_at": now, "updated_at": now,
    }, ("shop_id", "phone_e164"), Contact.shop_id == shop.id, Contact.phone_e164 == phone.e164)
    if customer.locale and not contact.locale:
        contact.locale = customer.locale[:16]
    if name and not contact.name:
        contact.name = name[:255]
    if customer.platform_customer_id and not contact.platform_customer_id:
        contact.platform_customer_id = customer.platform_customer_id[:64]
    if customer.email and not contact.email_hash:
        contact.email_hash = email_hash(customer.email)
    if transactional_source and contact.transactional_consent in (CONSENT_NONE, CONSENT_PENDING):
        consent.record(contact, consent.TRANSACTIONAL, CONSENT_GRANTED, transactional_source, at=now)
    consent.from_platform(contact, customer.platform_marketing_consent, platform=shop.platform, at=now)
    if customer.whatsapp_opt_in and contact.marketing_consent in (CONSENT_NONE, CONSENT_REVOKED):
        # ticked at checkout: a storefront opt-in, so it waits for the shopper's YES (double opt-in)
        request_opt_in(shop, contact, source="checkout_checkbox", at=now,
                       text_shown=(consent_text or customer.whatsapp_consent_text
                                   or "WhatsApp opt-in checkbox at checkout (text not reported)"),
                       evidence={"locale": customer.locale} if customer.locale else None)
    db.session.flush()
    return contact


def first_name(contact: Contact, fallback: str) -> str:
    return (contact.name or "").split(" ")[0] or fallback
