"""Privacy: a customer's data export, their erasure, and the retention purge.

- ``customers/data_request`` (and ``connector contacts export``): :func:`export_customer`
  gathers everything held about the customer into one JSON document, stored encrypted in
  ``data_exports`` for the merchant.
- ``customers/redact`` (and ``connector contacts forget``): :func:`forget_contacts` erases
  the person's data everywhere and keeps the rows as anonymous counts (messages per
  automation and status, orders, clicks).
- :func:`purge_expired`, from the sweep: message bodies past the shop's retention, webhook
  bodies a week after processing, exports after 30 days, and shops uninstalled past the
  platform's schedule without a ``shop/redact``.

Shopify's timing: https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance
(``customers/redact`` must be completed within 30 days). What is kept and why: docs/privacy.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable

import phonenumbers
from sqlalchemy import Text, cast, delete, func, inspect, or_, select, update

from connector import consent, shop_settings
from connector.automations.links import home_page
from connector.contacts import email_hash
from connector.dbutil import rowcount
from connector.events import CustomerDataRequest, CustomerRedact, ShopRedact
from connector.extensions import db, get_redis
from connector.models import (
    Cart,
    ConsentEvent,
    Contact,
    DataExport,
    InboundRecord,
    Invoice,
    IssuedCode,
    LinkClick,
    Message,
    MessageStatus,
    OrderLine,
    OrderRecord,
    Referral,
    ReferralCode,
    ReviewAnswer,
    Shipment,
    Shop,
    ShortLink,
    StockSubscription,
    WebhookReceipt,
    utcnow,
)
from connector.models.contacts import CONSENT_GRANTED, CONSENT_PENDING, CONSENT_REVOKED
from connector.phones import InvalidPhoneError, normalise
from connector.stores.lifecycle import redact_shop
from connector.stores.platforms import platform_of

log = logging.getLogger(__name__)

EXPORT_FORMAT = "connector.customer_export/1"
#: a processed webhook body is only needed to process it again
RECEIPT_BODY_DAYS = 7
#: an export is for the merchant to hand over; it is not kept as a second copy of the data
DATA_EXPORT_DAYS = 30
#: how long after an uninstall the shop's data goes when the platform sends no ``shop/redact``:
#: Shopify sends one 48 h after the uninstall (a day's grace for its retries); WooCommerce never
#: does. the shop's ``redact_after_uninstall_days`` overrides.
EMPTY_BODY = b"{}"
_RECEIPT_CHUNK = 500
_MIN_NATIONAL_DIGITS = 6


# -- who: finding the contacts and what identifies them ------------------------------------------

def find_contacts(shop_id: int, *, customer_id: str | None = None, phone: str | None = None,
                  email: str | None = None, order_ids: Iterable[str] = ()) -> list[Contact]:
    """The shop's contacts matching any of the identifiers (phone read with the shop's country)."""
    shop = db.session.get(Shop, shop_id)
    conditions = []
    if customer_id:
        conditions.append(Contact.platform_customer_id == str(customer_id))
    e164 = _e164(phone, shop.country if shop else None)
    if e164:
        conditions.append(Contact.phone_e164 == e164)
    if email and email.strip():
        conditions.append(Contact.email_hash == email_hash(email))
    order_ids = [str(order_id) for order_id in order_ids]
    if order_ids:
        conditions.append(Contact.id.in_(select(OrderRecord.contact_id).where(
            OrderRecord.shop_id == shop_id, OrderRecord.order_id.in_(order_ids))))
    if not conditions:
        return []
    return list(db.session.scalars(select(Contact).where(Contact.shop_id == shop_id, or_(*conditions))
                                   .order_by(Contact.id)))


def _e164(phone: str | None, country: str | None) -> str | None:
    if not phone or not phone.strip():
        return None
    try:
        return normalise(phone, country).e164
    except InvalidPhoneError:
        return None


@dataclass
class Identity:
    """Everything by which the person can be recognised in a stored webhook body."""
    phones: set[str] = field(default_factory=set)  # E.164
    emails: set[str] = field(default_factory=set)  # lowercased
    email_hashes: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)  # platform customer ids, order ids, WhatsApp user ids

    @classmethod
    def of(cls, shop: Shop, contacts: list[Contact], *, order_ids: Iterable[str] = (), phone: str | None = None,
           email: str | None = None, customer_id: str | None = None) -> "Identity":
        identity = cls()
        for contact in contacts:
            identity.phones.update(filter(None, [contact.phone_e164]))
            identity.email_hashes.update(filter(None, [contact.email_hash]))
            identity.ids.update(filter(None, [contact.platform_customer_id, contact.wa_user_id]))
        identity.phones.update(filter(None, [_e164(phone, shop.country)]))
        if email and email.strip():
            identity.emails.add(email.strip().lower())
            identity.email_hashes.add(email_hash(email))
        identity.ids.update(str(value) for value in (customer_id, *order_ids) if value)
        return identity

    def phone_forms(self) -> tuple[set[str], set[str]]:
        """(international digits, national significant numbers) of every phone."""
        digits, national = set(), set()
        for e164 in self.phones:
            digits.add(e164.lstrip("+"))
            try:
                nsn = phonenumbers.national_significant_number(phonenumbers.parse(e164))
            except phonenumbers.NumberParseException:
                continue
            if len(nsn) >= _MIN_NATIONAL_DIGITS:
                national.add(nsn)
        return digits, national

    def __bool__(self) -> bool:
        return bool(self.phones or self.emails or self.email_hashes or self.ids)


class _Matcher:
    """Does a stored body mention the person? Errs on the side of yes: a wrongly matched body
    is one that can no longer be re-processed, a missed one is personal data left behind."""
    def __init__(self, identity: Identity):
        self.identity = identity
        self.digits, self.national = identity.phone_forms()
        self.texts = {*identity.phones, *self.digits, *identity.emails}

    def body(self, raw: bytes | None) -> bool:
        if not raw or raw == EMPTY_BODY:
            return False
        text = raw.decode("utf-8", errors="replace")
        if any(needle and needle in text.lower() for needle in self.texts):
            return True
        try:
            document = json.loads(text, parse_int=str, parse_float=str)
        except ValueError:
            return any(re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", text) for value in self.identity.ids)
        return self.value(document)

    def value(self, node: Any) -> bool:
        if isinstance(node, dict):
            return any(self.value(item) for item in node.values())
        if isinstance(node, list):
            return any(self.value(item) for item in node)
        if node is None or isinstance(node, bool):
            return False
        return self.scalar(str(node))

    def scalar(self, text: str) -> bool:
        if text in self.identity.ids:
            return True
        if "@" in text and (text.strip().lower() in self.identity.emails
                            or email_hash(text) in self.identity.email_hashes):
            return True
        digits = re.sub(r"\D", "", text)
        if len(digits) < _MIN_NATIONAL_DIGITS or len(text) > 40:
            return False
        # "+49 151 12345678", "4915112345678", "0151 1234 5678", "(0151) 12345678"
        return digits in self.digits or any(digits.endswith(nsn) for nsn in self.national)


def _mentioning_receipts(shop_id: int, identity: Identity) -> list[WebhookReceipt]:
    if not identity:
        return []
    matcher = _Matcher(identity)
    found: list[WebhookReceipt] = []
    last_id = 0
    while True:  # in chunks: a shop may hold many bodies
        chunk = db.session.scalars(select(WebhookReceipt).where(
            WebhookReceipt.shop_id == shop_id, WebhookReceipt.id > last_id)
            .order_by(WebhookReceipt.id).limit(_RECEIPT_CHUNK)).all()
        if not chunk:
            return found
        found.extend(receipt for receipt in chunk if matcher.body(receipt.body))
        last_id = chunk[-1].id


# -- the export --------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    return value


def _row(row: Any, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {column.key: _plain(getattr(row, column.key)) for column in inspect(row).mapper.column_attrs
            if column.key not in skip}


def _all(model: Any, *conditions) -> list:
    return list(db.session.scalars(select(model).where(*conditions).order_by(model.id)))


def _decoded(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace")


def export_customer(shop: Shop, contacts: list[Contact], *, order_ids: Iterable[str] = (),
                    request_ref: str | None = None, phone: str | None = None, email: str | None = None,
                    customer_id: str | None = None) -> DataExport:
    """Everything held about the customer, as one JSON document stored encrypted (not committed)."""
    order_ids = {str(order_id) for order_id in order_ids}
    contact_ids = [contact.id for contact in contacts]
    orders = _all(OrderRecord, OrderRecord.shop_id == shop.id,
                  or_(OrderRecord.contact_id.in_(contact_ids), OrderRecord.order_id.in_(order_ids)))
    all_order_ids = order_ids | {order.order_id for order in orders}
    people = []
    for contact in contacts:
        def of_contact(model, contact=contact):
            return _all(model, model.shop_id == shop.id, model.contact_id == contact.id)
        people.append({
            "contact": _row(contact),
            "consent_events": [_row(row) for row in of_contact(ConsentEvent)],
            "messages": [_row(row) for row in of_contact(Message)],
            "inbound_messages": [_row(row) for row in of_contact(InboundRecord)],
            "carts": [_row(row) for row in of_contact(Cart)],
            "short_links": [_row(row) for row in of_contact(ShortLink)],
            "link_clicks": [_row(row) for row in of_contact(LinkClick)],
            "stock_subscriptions": [_row(row) for row in of_contact(StockSubscription)],
            "order_lines": [_row(row) for row in of_contact(OrderLine)],
            "issued_codes": [_row(row) for row in of_contact(IssuedCode)],
            "referral_codes": [_row(row) for row in of_contact(ReferralCode)],
            "referrals": [_row(row) for row in _all(Referral, Referral.shop_id == shop.id,
                                                     Referral.referrer_contact_id == contact.id)],
            "review_answers": [_row(row) for row in of_contact(ReviewAnswer)],
        })
    identity = Identity.of(shop, contacts, order_ids=all_order_ids, phone=phone, email=email,
                           customer_id=customer_id)
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "generated_at": utcnow().isoformat(),
        "request_ref": request_ref,
        "shop": {"id": shop.id, "platform": shop.platform, "domain": shop.domain},
        "contacts": people,
        "orders": [_row(row) for row in orders],
        "shipments": [_row(row) for row in _all(Shipment, Shipment.shop_id == shop.id,
                                                Shipment.order_id.in_(all_order_ids))],
        # the PDF itself is re-rendered on request; its metadata says that it exists
        "invoices": [_row(row, skip=("pdf", "draft")) for row in _all(Invoice, Invoice.shop_id == shop.id,
                                                              Invoice.order_id.in_(all_order_ids))],
        "webhook_receipts": [{**_row(receipt, skip=("body",)), "body": _decoded(receipt.body)}
                             for receipt in _mentioning_receipts(shop.id, identity)],
    }
    export = DataExport(shop_id=shop.id, request_ref=(request_ref or "")[:64] or None,
                        content=json.dumps(document, sort_keys=True, default=str))
    db.session.add(export)
    db.session.flush()
    log.info("privacy.exported", extra={"shop_id": shop.id, "export_id": export.id, "contacts": len(contacts),
                                        "receipts": len(document["webhook_receipts"])})
    return export


# -- erasure -----------------------------------------------------------------------------------

def forget_contacts(shop: Shop, contacts: list[Contact], *, order_ids: Iterable[str] = (),
                    phone: str | None = None, email: str | None = None,
                    customer_id: str | None = None) -> dict[str, int]:
    """Erase the people's personal data everywhere; the rows stay as anonymous counts.

    ``phone``, ``email`` and ``customer_id`` (the request's own identifiers) also find
    webhook bodies of a person the connector never made a contact for. Flushes, does not
    commit: the caller's transaction (the receipt, the CLI command) commits.
    """
    now = utcnow()
    contacts = [contact for contact in contacts if contact.shop_id == shop.id]
    contact_ids = [contact.id for contact in contacts]
    order_ids = {str(order_id) for order_id in order_ids}
    order_ids |= set(db.session.scalars(select(OrderRecord.order_id).where(
        OrderRecord.shop_id == shop.id, OrderRecord.contact_id.in_(contact_ids))))
    identity = Identity.of(shop, contacts, order_ids=order_ids, phone=phone, email=email, customer_id=customer_id)
    counts: dict[str, int] = {"contacts": len(contacts)}

    # waiting messages are withdrawn, then consent ends with the person (an append-only entry
    # says so); the ledger keeps state, source and time, not the text shown or the evidence
    counts["messages_cancelled"] = _update(
        Message, Message.contact_id.in_(contact_ids), Message.status == MessageStatus.QUEUED,
        shop_id=shop.id, status=MessageStatus.CANCELLED, status_reason="contact_forgotten", updated_at=now)
    for contact in contacts:
        for purpose in consent.PURPOSES:
            if getattr(contact, f"{purpose}_consent") in (CONSENT_GRANTED, CONSENT_PENDING):
                consent.record(contact, purpose, CONSENT_REVOKED, "redaction", at=now)
    counts["consent_events"] = _update(ConsentEvent, ConsentEvent.contact_id.in_(contact_ids),
                                       shop_id=shop.id, text_shown=None, evidence=None)
    counts["messages"] = _update(Message, Message.contact_id.in_(contact_ids), shop_id=shop.id, content={},
                                 error_title=None)
    counts["inbound_messages"] = _update(InboundRecord, InboundRecord.contact_id.in_(contact_ids),
                                         shop_id=shop.id, text=None, reply_title=None)
    # a rating stays as an anonymous count; the comment is the shopper's own words
    counts["review_answers"] = _update(ReviewAnswer, ReviewAnswer.contact_id.in_(contact_ids), shop_id=shop.id,
                                       comment=None, updated_at=now)
    # link clicks hold no IP or user agent: the row (link, message, time) is the anonymous count.
    # The target of a link may be the shopper's order-status or checkout-recovery page.
    counts["short_links"] = _update(ShortLink, ShortLink.contact_id.in_(contact_ids), shop_id=shop.id,
                                    target_url=home_page(shop), updated_at=now)
    counts["link_clicks"] = db.session.scalar(select(func.count(LinkClick.id)).where(
        LinkClick.shop_id == shop.id, LinkClick.contact_id.in_(contact_ids))) or 0
    # carts and shipments hold no personal fields (lines, tokens, statuses); orders hold the
    # order-status URL, which opens the shopper's order page with their address
    counts["carts"] = db.session.scalar(select(func.count(Cart.id)).where(
        Cart.shop_id == shop.id, Cart.contact_id.in_(contact_ids))) or 0
    counts["orders"] = _update(OrderRecord, OrderRecord.order_id.in_(order_ids), shop_id=shop.id,
                               status_url=None, updated_at=now)
    counts["invoices"] = rowcount(db.session.execute(delete(Invoice).where(
        Invoice.shop_id == shop.id, Invoice.order_id.in_(order_ids)))) or 0
    counts["stock_subscriptions"] = rowcount(db.session.execute(delete(StockSubscription).where(
        StockSubscription.shop_id == shop.id, StockSubscription.contact_id.in_(contact_ids)))) or 0
    # a referral code keeps hashes of the addresses its owner ordered to (the self-referral rule)
    counts["referral_codes"] = _update(ReferralCode, ReferralCode.contact_id.in_(contact_ids), shop_id=shop.id,
                                       address_hashes=[])
    counts["webhook_receipts"] = _blank_receipts(shop.id, identity, now)
    counts["data_exports"] = _drop_exports(shop.id, identity, contact_ids)
    counts["redis_keys"] = _drop_rate_limit_keys(identity.phones)
    for contact in contacts:
        contact.phone_e164 = None
        contact.name = None
        contact.email_hash = None
        contact.wa_user_id = None
        contact.platform_customer_id = None
        contact.last_inbound_at = None  # no service window with no one at the other end
        contact.redacted_at = now
    db.session.flush()
    log.info("privacy.forgotten", extra={"shop_id": shop.id, "contact_ids": contact_ids, **counts})
    return counts


def _update(model: Any, *conditions, shop_id: int, **values) -> int:
    return rowcount(db.session.execute(update(model).where(model.shop_id == shop_id, *conditions).values(**values)
                                       .execution_options(synchronize_session="fetch"))) or 0


def _blank_receipts(shop_id: int, identity: Identity, now: datetime) -> int:
    """Bodies that mention the person become ``{}``. One not yet processed is closed as
    ``redacted`` instead of processed: acting on it later would bring the person back
    (a new contact, a message to them). See docs/privacy.md for the trade-off."""
    receipts = _mentioning_receipts(shop_id, identity)
    for receipt in receipts:
        receipt.body = EMPTY_BODY
        if receipt.processed_at is None:
            receipt.processed_at = now
            receipt.outcome = "redacted"
            receipt.claimed_until = None
            receipt.error = None
    return len(receipts)


def _drop_exports(shop_id: int, identity: Identity, contact_ids: list[int]) -> int:
    """Earlier exports about the person are copies of what is being erased."""
    matcher = _Matcher(identity)
    dropped = 0
    for export in _all(DataExport, DataExport.shop_id == shop_id):
        document = json.loads(export.content)
        ids = {person["contact"]["id"] for person in document.get("contacts", [])}
        if ids & set(contact_ids) or matcher.value(document):
            db.session.delete(export)
            dropped += 1
    return dropped


def _drop_rate_limit_keys(phones: Iterable[str]) -> int:
    """The opt-in limits count per phone under a hash of it (``connector.ratelimit``)."""
    redis = get_redis()
    dropped = 0
    for e164 in phones:
        digest = hashlib.sha256(e164.encode()).hexdigest()[:24]
        keys = list(redis.scan_iter(match=f"connector:rate:*:{digest}:*", count=500))
        if keys:
            dropped += redis.delete(*keys)
    return dropped


# -- the platform events -----------------------------------------------------------------------

def handle_customer_redact(shop_id: int, event: CustomerRedact) -> None:
    """``customers/redact``: erase the customer (idempotent: a second run finds nothing left)."""
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    contacts = find_contacts(shop_id, customer_id=event.customer_id, phone=event.phone, email=event.email,
                             order_ids=event.order_ids)
    forget_contacts(shop, contacts, order_ids=event.order_ids, phone=event.phone, email=event.email,
                    customer_id=event.customer_id)


def handle_data_request(shop_id: int, event: CustomerDataRequest) -> None:
    """``customers/data_request``: store the export for the merchant (admin API, CLI)."""
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    contacts = find_contacts(shop_id, customer_id=event.customer_id, phone=event.phone, email=event.email,
                             order_ids=event.order_ids)
    export_customer(shop, contacts, order_ids=event.order_ids, request_ref=event.request_id or event.platform,
                    phone=event.phone, email=event.email, customer_id=event.customer_id)


# -- retention ---------------------------------------------------------------------------------

def retention_days(shop: Shop) -> int:
    """Days a message body is kept: the shop's ``retention_days`` (180 by default)."""
    return shop_settings.effective(shop)["retention_days"]


def redact_after_uninstall(shop: Shop) -> timedelta:
    value = shop_settings.effective(shop)["redact_after_uninstall_days"]
    if value is not None:
        return timedelta(days=value)
    return platform_of(shop).redact_after_uninstall


def purge_expired(now: datetime | None = None) -> dict[str, int]:
    """Remove what is kept past its time; commits. Meant for the sweep, at most hourly."""
    now = now or utcnow()
    counts = {"message_bodies": 0, "inbound_texts": 0, "review_comments": 0, "receipt_bodies": 0, "data_exports": 0,
              "shops_redacted": 0}
    for shop in db.session.scalars(select(Shop).order_by(Shop.id)).all():
        cutoff = now - timedelta(days=retention_days(shop))
        counts["message_bodies"] += rowcount(db.session.execute(
            update(Message).where(Message.shop_id == shop.id, Message.created_at < cutoff,
                                  Message.status.not_in((MessageStatus.QUEUED, MessageStatus.SENDING)),
                                  cast(Message.content, Text) != "{}")
            .values(content={}).execution_options(synchronize_session=False))) or 0
        counts["inbound_texts"] += rowcount(db.session.execute(
            update(InboundRecord).where(InboundRecord.shop_id == shop.id, InboundRecord.received_at < cutoff,
                                        or_(InboundRecord.text.is_not(None), InboundRecord.reply_title.is_not(None)))
            .values(text=None, reply_title=None).execution_options(synchronize_session=False))) or 0
        counts["review_comments"] += rowcount(db.session.execute(  # the shopper's words, like an inbound text
            update(ReviewAnswer).where(ReviewAnswer.shop_id == shop.id, ReviewAnswer.commented_at < cutoff,
                                       ReviewAnswer.comment.is_not(None))
            .values(comment=None).execution_options(synchronize_session=False))) or 0
        db.session.commit()
    counts["receipt_bodies"] = rowcount(db.session.execute(
        update(WebhookReceipt).where(WebhookReceipt.processed_at < now - timedelta(days=RECEIPT_BODY_DAYS),
                                     WebhookReceipt.body != EMPTY_BODY)
        .values(body=EMPTY_BODY).execution_options(synchronize_session=False))) or 0
    counts["data_exports"] = rowcount(db.session.execute(
        delete(DataExport).where(DataExport.created_at < now - timedelta(days=DATA_EXPORT_DAYS))
        .execution_options(synchronize_session=False))) or 0
    db.session.commit()
    uninstalled = db.session.scalars(select(Shop).where(Shop.is_active.is_(False), Shop.uninstalled_at.is_not(None))
                                     .order_by(Shop.id)).all()
    for shop in uninstalled:
        assert shop.uninstalled_at is not None  # selected for it
        if shop.uninstalled_at < now - redact_after_uninstall(shop):
            redact_shop(shop.id, ShopRedact(platform=shop.platform, shop_domain=shop.domain))
            db.session.commit()
            counts["shops_redacted"] += 1
    log.info("privacy.purged", extra=counts)
    return counts
