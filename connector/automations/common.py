"""What every automation shares: shop settings with defaults, finding the contact of a
store customer, and queueing a catalogue template whose every link is a tracked short link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from connector.dbutil import insert_or_ignore
from connector.events import Customer
from connector.extensions import db
from connector.messaging import catalogue
from connector.messaging.outbox import QueuedMessage, queue_message
from connector.models import Contact, Shop, utcnow
from connector.models.contacts import CONSENT_GRANTED, CONSENT_NONE, CONSENT_PENDING, CONSENT_REVOKED
from connector import receipt_notes
from connector.phones import InvalidPhoneError, normalise

log = logging.getLogger(__name__)

#: every automation's defaults; a shop overrides them in ``shop.settings["automations"][name]``
DEFAULTS: dict[str, dict[str, Any]] = {
    "order_confirmation": {"enabled": True, "trigger": "paid", "invoice_link_days": 30, "invoice_prefix": ""},
    # the cash-on-delivery question (Confirm / Cancel), and one reminder if unanswered after the delay
    # (0 or None: no reminder)
    "cod_confirmation": {"enabled": True, "reminder_delay_seconds": 4 * 3600},
    "shipping_updates": {"enabled": True},
    "abandoned_cart": {
        "enabled": True,
        "delays_seconds": [3600, 24 * 3600, 72 * 3600],
        "discount_code": None,  # fixed code the admin sets; shown in the last step only
        "discount_value": None,  # what the code gives, as the shopper reads it ("10%")
        "discount_source": "fixed",  # or "unique": a single-use code per cart through the store's API
        "discount_percent": 10,  # the unique code's percentage off
        "discount_valid_days": 7,  # how long a unique code works
        "quiet_after_order_seconds": 24 * 3600,
    },
    "back_in_stock": {"enabled": True, "batch_multiple": 1.0, "untracked_batch_size": 50,
                      "batch_interval_seconds": 1800, "subscription_days": 30},
    "review_request": {"enabled": False, "delay_seconds": 5 * 24 * 3600, "review_url": None},
    "attribution": {"window_seconds": 5 * 24 * 3600},
}


def automation_settings(shop: Shop, name: str) -> dict[str, Any]:
    given = ((shop.settings or {}).get("automations") or {}).get(name) or {}
    return {**DEFAULTS[name], **given}


def is_enabled(shop: Shop, name: str) -> bool:
    enabled = bool(shop.is_active and automation_settings(shop, name)["enabled"])
    if not enabled:
        receipt_notes.note(receipt_notes.AUTOMATION_OFF)
    return enabled


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
    insert_or_ignore(db.session, Contact, {
        "shop_id": shop.id, "phone_e164": phone.e164, "name": name, "locale": customer.locale,
        "country": phone.country, "time_zone": phone.time_zone, "marketing_consent": CONSENT_NONE,
        "transactional_consent": CONSENT_NONE, "created_at": now, "updated_at": now,
    }, conflict=("shop_id", "phone_e164"))
    contact = db.session.scalars(select(Contact).where(Contact.shop_id == shop.id,
                                                       Contact.phone_e164 == phone.e164)).one()
    if customer.locale and not contact.locale:
        contact.locale = customer.locale[:16]
    if name and not contact.name:
        contact.name = name[:255]
    if customer.platform_customer_id and not contact.platform_customer_id:
        contact.platform_customer_id = customer.platform_customer_id[:64]
    if customer.email and not contact.email_hash:
        from connector.privacy import email_hash

        contact.email_hash = email_hash(customer.email)
    from connector import consent

    if transactional_source and contact.transactional_consent in (CONSENT_NONE, CONSENT_PENDING):
        consent.record(contact, consent.TRANSACTIONAL, CONSENT_GRANTED, transactional_source, at=now)
    consent.from_platform(contact, customer.platform_marketing_consent, platform=shop.platform, at=now)
    if customer.whatsapp_opt_in and contact.marketing_consent in (CONSENT_NONE, CONSENT_REVOKED):
        # ticked at checkout: a storefront opt-in, so it waits for the shopper's YES (double opt-in)
        from connector.optin import request_opt_in

        request_opt_in(shop, contact, source="checkout_checkbox", at=now,
                       text_shown=(consent_text or customer.whatsapp_consent_text
                                   or "WhatsApp opt-in checkbox at checkout (text not reported)"),
                       evidence={"locale": customer.locale} if customer.locale else None)
    db.session.flush()
    return contact


def first_name(contact: Contact, fallback: str) -> str:
    return (contact.name or "").split(" ")[0] or fallback


@dataclass(frozen=True, slots=True)
class Link:
    """A URL button's target, turned into a short link when the message is queued."""

    target: str


def queue_template(*, shop: Shop, contact: Contact, automation: str, template: str, key: str,
                   params: dict[str, Any], links: list[str] | None = None, header: dict | None = None,
                   due_at: datetime | None = None, reply_context: str | None = None) -> QueuedMessage:
    """Render ``template`` in the contact's language and queue it under ``key``.

    Each URL in ``links`` (one per URL button, in order) becomes a tracked short link;
    the button carries its code as the URL suffix. ``reply_context`` is appended to each
    quick reply's payload (the order id of a COD question).
    """
    from connector.automations import links as short_links

    definition = catalogue.load_catalogue().get(template)
    language = catalogue.choose_language(definition, contact.locale, shop.locale)
    codes = [short_links.short_link(shop=shop, contact=contact, link_key=f"{key}:button:{index}", target=url,
                                    automation=automation, template=template).code
             for index, url in enumerate(links or [])]
    content = catalogue.render_content(definition, language, params, header=header, button_suffixes=codes,
                                       reply_context=reply_context)
    queued = queue_message(shop=shop, contact=contact, idempotency_key=key, automation=automation,
                           purpose=definition.purpose, kind="template", template_name=template,
                           language=language, content=content, due_at=due_at)
    if codes:
        short_links.attach_message(shop.id, codes, queued.message.id)
    return queued
