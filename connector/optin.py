"""Double opt-in, keyword opt-out/opt-in, and the one confirmation each change earns.

- A marketing opt-in from a storefront source (widget popup, checkout checkbox, back-in-stock
  form) records *pending* consent with the exact text shown and sends the
  ``optin_confirmation`` template; only a YES reply to it grants marketing consent. NO, or
  no answer within ``OPTIN_TTL``, leaves the shopper without marketing consent.
- STOP words, WhatsApp's own stop control and error 131050 revoke marketing consent (before
  the next send: see ``connector.consent_signal``); START brings it back.
- Each change that actually changes something is confirmed to the shopper once, as a
  free-form text in their language, only while the 24-hour window is open (it always is
  right after they wrote to us; after a silent 131050 nothing can be sent, and nothing is).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from connector import consent, shop_settings
from connector.dbutil import commit, insert_or_ignore
from connector.extensions import db, settings
from connector.messaging import catalogue
from connector.messaging.confirmations import confirm
from connector.messaging.governor import AWAITING_CONSENT
from connector.messaging.outbox import QueuedMessage, queue_message, release_waiting
from connector.models import ConsentEvent, Contact, IssuedCode, Message, Shop, utcnow
from connector.models.contacts import CONSENT_GRANTED, CONSENT_NONE, CONSENT_PENDING, CONSENT_REVOKED
from connector.stores.platforms import platform_of
from integrations.base import AdapterError

log = logging.getLogger(__name__)

OPTIN_TTL = timedelta(hours=48)
#: a new opt-in for a contact whose question is younger than this does not ask again
REASK_AFTER = timedelta(minutes=10)
#: what request_opt_in returns when a recent question is still unanswered
PENDING_ALREADY = "pending_already"
CONFIRMATION_TEMPLATE = "optin_confirmation"
YES, NO = "optin_yes", "optin_no"


def request_opt_in(shop: Shop, contact: Contact, *, source: str, text_shown: str, at: datetime | None = None,
                   evidence: dict | None = None) -> QueuedMessage | str | None:
    """Record a pending marketing opt-in and queue the confirmation question.

    None when the contact is already subscribed; ``PENDING_ALREADY`` when a question asked less
    than ``REASK_AFTER`` ago is still unanswered (nothing recorded, nothing sent)."""
    if contact.marketing_consent == CONSENT_GRANTED:
        return None
    at = at or utcnow()
    if (contact.marketing_consent == CONSENT_PENDING and contact.marketing_consent_at
            and at - contact.marketing_consent_at < REASK_AFTER):
        return PENDING_ALREADY  # a question is on its way; asking again would only spam
    entry = consent.record(contact, consent.MARKETING, CONSENT_PENDING, source, at=at,
                           text_shown=text_shown, evidence=evidence)
    assert entry is not None  # a pending opt-in is always recorded (it restarts the clock)
    definition = catalogue.load_catalogue().get(CONFIRMATION_TEMPLATE)
    language = catalogue.choose_language(definition, contact.locale, shop.locale)
    content = catalogue.render_content(definition, language, {"shop_name": shop.name or shop.domain},
                                       reply_context=str(entry.id))
    return queue_message(shop=shop, contact=contact, idempotency_key=f"optin:{contact.id}:{entry.id}",
                         automation="double_opt_in", purpose="confirmation", kind="template",
                         template_name=CONFIRMATION_TEMPLATE, language=language, content=content)


def answer_confirmation(shop: Shop, contact: Contact, action: str, *, pending_id: str | None, reply_wamid: str,
                        at: datetime, typed_text: str | None = None) -> str | None:
    """A YES/NO tap on the confirmation, or the same answer typed (``typed_text``, kept as
    evidence). Only the latest, unexpired pending opt-in counts."""
    if contact.marketing_consent != CONSENT_PENDING:
        return None  # answered already, expired, or the shopper said STOP since
    latest = _latest_pending(contact)
    if latest is None or (pending_id and str(latest.id) != pending_id):
        return None  # a tap on an older question: the newer one is the one that counts
    if at - latest.occurred_at > OPTIN_TTL:
        expire(contact, at)
        return None
    question = db.session.scalar(select(Message.id).where(
        Message.shop_id == contact.shop_id, Message.idempotency_key == f"optin:{contact.id}:{latest.id}"))
    evidence = {"pending_event_id": latest.id, "confirmation_message_id": question, "reply_wamid": reply_wamid}
    if typed_text is not None:
        evidence["typed_text"] = typed_text[:200]
    if action == YES:
        consent.record(contact, consent.MARKETING, CONSENT_GRANTED, "double_opt_in", at=at,
                       text_shown=latest.text_shown, evidence=evidence)
        release_waiting(shop.id, contact.id, AWAITING_CONSENT)
        confirm(shop, contact, "optin_confirmed", key=f"optin-confirmed:{latest.id}")
        _send_incentive(shop, contact, latest)
        return "optin_confirmed"
    consent.record(contact, consent.MARKETING, CONSENT_NONE, "double_opt_in_declined", at=at, evidence=evidence)
    confirm(shop, contact, "optin_declined", key=f"optin-declined:{latest.id}")
    return "optin_declined"


#: the opt-ins whose popup may promise an incentive (storefront.popup.incentive)
INCENTIVE_SOURCES = ("widget_popup",)


def incentive_code(shop: Shop, pending: ConsentEvent) -> str:
    """The single-use code of one opt-in: derived (HMAC with ``SECRET_KEY``), so it cannot be
    guessed from another shopper's, and a retried job asks the store for the same code."""
    digest = hmac.new(settings().secret_key.encode(), f"incentive:{shop.id}:{pending.id}".encode(), hashlib.sha256)
    return f"WA{digest.hexdigest()[:10].upper()}"


def _send_incentive(shop: Shop, contact: Contact, pending: ConsentEvent) -> QueuedMessage | None:
    """After the YES to a popup's opt-in, the incentive the popup promised, on WhatsApp: a
    single-use code made through the store's API, or the admin's fixed code (also the fallback
    when the store cannot make one). Sent inside the 24-hour window the YES opened; once."""
    if pending.source not in INCENTIVE_SOURCES:
        return None
    incentive = shop_settings.effective(shop)["storefront"]["popup"]["incentive"]
    code = incentive["code"] if incentive["kind"] in ("fixed_code", "unique_code") else None
    if incentive["kind"] == "unique_code":
        make = platform_of(shop).create_discount_code
        candidate = incentive_code(shop, pending)
        try:
            if make is None:
                raise RuntimeError("the platform has no discount API")
            make(shop, candidate, Decimal(incentive["percent"]), timedelta(days=incentive["valid_days"]))
            code = candidate
        except (AdapterError, RuntimeError, ValueError) as error:
            log.warning("optin.incentive_fallback", extra={"shop_id": shop.id, "contact_id": contact.id,
                                                           "reason": f"{type(error).__name__}: {error}"[:300],
                                                           "fallback": "fixed" if code else "none"})
    if not code:
        return None
    text = catalogue.texts(contact.locale, shop.locale)["optin_incentive"].format(
        code=code, shop_name=shop.name or shop.domain)
    queued = queue_message(shop=shop, contact=contact, idempotency_key=f"optin-incentive:{pending.id}",
                           automation="double_opt_in", purpose="service", kind="text",
                           content={"text": text, "code": code})
    if code != incentive["code"]:  # a unique code: remembered for the unused-coupon follow-up (automations/coupons.py)
        now = utcnow()
        insert_or_ignore(db.session, IssuedCode, {
            "shop_id": shop.id, "contact_id": contact.id, "code": code.upper()[:64], "source": IssuedCode.POPUP,
            "issued_at": now, "expires_at": now + timedelta(days=incentive["valid_days"]),
            "message_id": queued.message.id}, ("shop_id", "code"))
        commit(db.session)
    return queued


def hint_pending(shop: Shop, contact: Contact, at: datetime) -> str | None:
    """Something other than an answer while the question is pending: say once how to answer."""
    if contact.marketing_consent != CONSENT_PENDING:
        return None
    latest = _latest_pending(contact)
    if latest is None or at - latest.occurred_at > OPTIN_TTL:
        return None
    key = f"optin-hint:{latest.id}"
    if db.session.scalar(select(Message.id).where(Message.shop_id == contact.shop_id, Message.idempotency_key == key)):
        return None  # hinted already: the rest is conversation
    return "optin_hint" if confirm(shop, contact, "optin_hint", key=key) else None


def opt_out(shop: Shop, contact: Contact, *, source: str, at: datetime, evidence: dict | None = None) -> bool:
    """Withdraw marketing consent; True (and one confirmation) only if it changed anything.

    A shopper who never subscribed is recorded as withdrawn too: a later import or checkbox
    must not quietly override the STOP they sent."""
    if contact.marketing_consent == CONSENT_REVOKED:
        return False
    entry = consent.record(contact, consent.MARKETING, CONSENT_REVOKED, source, at=at, evidence=evidence)
    assert entry is not None  # not revoked already (above): the state changes
    confirm(shop, contact, "optout_confirmed", key=f"optout-confirmed:{entry.id}")
    return True


def opt_back_in(shop: Shop, contact: Contact, *, source: str, at: datetime, evidence: dict | None = None,
                require_previous_grant: bool = False) -> bool:
    """START (typed by the shopper: explicit and from their own number) or WhatsApp's resume
    control (which only restores a consent the shopper had given us before)."""
    if contact.marketing_consent == CONSENT_GRANTED:
        return False
    if require_previous_grant and consent.last_granted_by(contact.id, consent.MARKETING) is None:
        return False
    entry = consent.record(contact, consent.MARKETING, CONSENT_GRANTED, source, at=at, evidence=evidence)
    assert entry is not None  # not granted already (above): the state changes
    release_waiting(shop.id, contact.id, AWAITING_CONSENT)
    confirm(shop, contact, "resumed", key=f"resumed:{entry.id}")
    return True


def opt_in_by_message(shop: Shop, contact: Contact, *, source: str, text: str, at: datetime,
                      evidence: dict | None = None) -> bool:
    """The shopper sent us a message that asks for offers (a click-to-chat entry point's
    prefilled text): explicit and from their own number, so it is the opt-in itself, and the
    text they sent is its proof. True (and one confirmation) only if it changed anything: the
    same message sent again confirms nothing twice."""
    if contact.marketing_consent == CONSENT_GRANTED:
        return False
    entry = consent.record(contact, consent.MARKETING, CONSENT_GRANTED, source, at=at, text_shown=text,
                           evidence=evidence)
    assert entry is not None  # not granted already (above): the state changes
    release_waiting(shop.id, contact.id, AWAITING_CONSENT)
    confirm(shop, contact, "optin_confirmed", key=f"optin-confirmed:message:{entry.id}")
    return True


def expire(contact: Contact, at: datetime) -> None:
    consent.record(contact, consent.MARKETING, CONSENT_NONE, "expiry", at=at)


def expire_pending(now: datetime | None = None) -> int:
    """Unconfirmed opt-ins older than ``OPTIN_TTL`` lapse (run by the sweep)."""
    now = now or utcnow()
    contacts = db.session.scalars(
        select(Contact).where(Contact.marketing_consent == CONSENT_PENDING,
                              Contact.marketing_consent_at < now - OPTIN_TTL).limit(1000)
    ).all()
    for contact in contacts:
        expire(contact, now)
    db.session.commit()
    if contacts:
        log.info("consent.optins_expired", extra={"count": len(contacts)})
    return len(contacts)


def _latest_pending(contact: Contact):
    return db.session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.contact_id == contact.id, ConsentEvent.purpose == consent.MARKETING,
               ConsentEvent.state == CONSENT_PENDING)
        .order_by(ConsentEvent.id.desc()).limit(1)
    ).first()
