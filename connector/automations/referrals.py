"""Forward to a friend: a customer's personal code, a friend's order made with it, the reward.

- **The code** (on ``OrderPaid``, switched on by ``automations.referral.enabled``): the paying
  contact's personal code (``FRIEND`` + an HMAC of shop and contact), made once through the
  store's API as a code any number of friends may use, each once, ``friend_percent`` % off for
  ``code_valid_days`` (``StorePlatform.create_referral_code``; a platform without it, or a
  failed call, sends nothing and logs ``referral.code_unavailable``; the next order tries
  again). It is sent ``delay_seconds`` after the order as template ``referral_invite``, with a
  wa.me share link carrying a ready-made text (``texts.json`` ``referral_share``) in its body;
  key ``referral:{contact}:invite``: once per contact.
- **A friend's order** whose discount codes include a referral code is recorded in
  ``referrals`` (once per order) and attributed to the code's owner, unless the order is the
  owner's own: the same phone (the same contact), the same e-mail (hash), the same shipping
  address (normalised: ``lifecycle.address_hash``; every address the owner ordered to counts)
  or the same store customer id. Those are ``refused`` with that reason, logged, never rewarded.
  Attribution does not depend on the switch: the codes live in the store either way.
- **The reward** (``reward_percent`` > 0, at most ``max_rewards`` per referrer): a single-use
  code for the referrer made through the store (``create_discount_code``), recorded as an
  issued code (so the unused-coupon follow-up covers it) and sent as ``referral_reward``; key
  ``referral:{referral id}:reward``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

from sqlalchemy import func, select

from connector.automations.common import automation_settings, queue_template
from connector.automations.lifecycle import address_hash, derived_code, order_codes, record_issued_code
from connector.automations.links import home_page
from connector.contacts import email_hash, first_name
from connector.dbutil import commit, insert_or_ignore
from connector.events import Order, OrderPaid
from connector.extensions import db
from connector.messaging import catalogue
from connector.models import Contact, IssuedCode, OrderRecord, Referral, ReferralCode, Shop, utcnow
from connector.stores.platforms import platform_of
from integrations.base import AdapterError

log = logging.getLogger(__name__)

AUTOMATION = "referral"
INVITE, REWARD = "referral_invite", "referral_reward"
#: addresses kept per referrer for the self-referral rule
MAX_ADDRESSES = 20


def on_order_paid(shop_id: int, event: OrderPaid) -> None:
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    order = event.order
    contact_id = db.session.scalar(select(OrderRecord.contact_id).where(OrderRecord.shop_id == shop.id,
                                                                       OrderRecord.order_id == order.order_id))
    contact = db.session.get(Contact, contact_id) if contact_id else None
    options = automation_settings(shop, AUTOMATION)
    codes = order_codes(order.discount_codes)
    if codes:
        referral_code = db.session.scalars(select(ReferralCode).where(
            ReferralCode.shop_id == shop.id, ReferralCode.code.in_(codes)).order_by(ReferralCode.id).limit(1)).first()
        if referral_code is not None:
            attribute(shop, referral_code, order, contact, options)
    if contact is None:
        commit(db.session)
        return
    own = db.session.scalars(select(ReferralCode).where(ReferralCode.shop_id == shop.id,
                                                        ReferralCode.contact_id == contact.id)).first()
    if own is not None:
        _remember_address(own, order)
    elif options["enabled"] and shop.is_active:
        _invite(shop, contact, order, options)
    commit(db.session)


def self_referral(referral_code: ReferralCode, referrer: Contact | None, order: Order,
                  friend: Contact | None) -> str | None:
    """Why the order is the referrer's own, or None: a friend's."""
    customer = order.customer
    if friend is not None and friend.id == referral_code.contact_id:
        return "same_phone"
    if referrer is not None and referrer.email_hash and customer.email and customer.email.strip() \
            and email_hash(customer.email) == referrer.email_hash:
        return "same_email"
    address = address_hash(order.shipping_address) or address_hash(order.billing_address)
    if address is not None and address in (referral_code.address_hashes or []):
        return "same_address"
    if referrer is not None and referrer.platform_customer_id and customer.platform_customer_id \
            and customer.platform_customer_id.strip()[:64] == referrer.platform_customer_id:
        return "same_customer"
    return None


def attribute(shop: Shop, referral_code: ReferralCode, order: Order, friend: Contact | None,
              options: dict) -> Referral | None:
    """Record the friend's order (once) as attributed to the code's owner, or refused with the reason."""
    referrer = db.session.get(Contact, referral_code.contact_id)
    reason = self_referral(referral_code, referrer, order, friend)
    now = utcnow()
    new_id = insert_or_ignore(db.session, Referral, {
        "shop_id": shop.id, "referrer_contact_id": referral_code.contact_id, "code": referral_code.code,
        "friend_order_id": order.order_id, "friend_contact_id": friend.id if friend else None,
        "status": Referral.REFUSED if reason else Referral.ATTRIBUTED, "reason": reason, "created_at": now,
    }, ("shop_id", "friend_order_id"))
    if new_id is None:
        return None  # this order was judged already
    referral = db.session.get(Referral, new_id)
    assert referral is not None
    log.info("referral.refused" if reason else "referral.attributed",
             extra={"shop_id": shop.id, "referral_id": referral.id, "reason": reason})
    if reason is None and referrer is not None and options["enabled"] and int(options["reward_percent"]) > 0:
        _reward(shop, referrer, referral, options, now)
    return referral


def _reward(shop: Shop, referrer: Contact, referral: Referral, options: dict, now: datetime) -> None:
    rewarded = db.session.scalar(select(func.count(Referral.id)).where(
        Referral.shop_id == shop.id, Referral.referrer_contact_id == referrer.id,
        Referral.status == Referral.REWARDED)) or 0
    if rewarded >= int(options["max_rewards"]):
        return
    code = derived_code(shop, f"referral-reward:{referral.id}")
    percent, valid_for = Decimal(int(options["reward_percent"])), timedelta(days=int(options["reward_valid_days"]))
    if not _made(platform_of(shop).create_discount_code, "the platform has no discount API", shop, code, percent,
                 valid_for, "referral.reward_unavailable", {"referral_id": referral.id}):
        return
    referral.status, referral.reward_code = Referral.REWARDED, code
    queued = queue_template(shop=shop, contact=referrer, automation=AUTOMATION, template=REWARD,
                   key=f"referral:{referral.id}:reward",
                   params={"customer_name": first_name(referrer, "👋"), "shop_name": shop.name or shop.domain,
                           "discount_code": code, "discount_value": f"{percent.normalize():f}%"},
                   links=[home_page(shop)])
    record_issued_code(shop, referrer.id, code, IssuedCode.REFERRAL_REWARD, issued_at=now, expires_at=now + valid_for,
                       message_id=queued.message.id)


def _made(make, missing: str, shop: Shop, code: str, percent: Decimal, valid_for: timedelta, event: str,
          ids: dict[str, int]) -> bool:
    """Make ``code`` in the store with the platform's ``make``; a refusal is logged (ids only) as ``event``."""
    try:
        if make is None:
            raise RuntimeError(missing)
        make(shop, code, percent, valid_for)
    except (AdapterError, RuntimeError, ValueError) as error:
        log.warning(event, extra={"shop_id": shop.id, **ids, "reason": f"{type(error).__name__}: {error}"[:300]})
        return False
    return True


def _remember_address(own: ReferralCode, order: Order) -> None:
    address = address_hash(order.shipping_address)
    if address is not None and address not in (own.address_hashes or []):
        own.address_hashes = [*(own.address_hashes or []), address][-MAX_ADDRESSES:]


def share_link(shop: Shop, contact: Contact, code: str, discount_value: str) -> str:
    """A wa.me link that opens WhatsApp with a ready-made text to forward to a friend."""
    text = catalogue.texts(contact.locale, shop.locale)["referral_share"].format(
        discount_value=discount_value, shop_name=shop.name or shop.domain, code=code, url=home_page(shop))
    return "https://wa.me/?text=" + quote(text, safe="")


def _invite(shop: Shop, contact: Contact, order: Order, options: dict) -> None:
    now = utcnow()
    code = derived_code(shop, f"referral:{contact.id}", prefix="FRIEND")
    percent, valid_for = Decimal(int(options["friend_percent"])), timedelta(days=int(options["code_valid_days"]))
    if not _made(platform_of(shop).create_referral_code, "the platform cannot make a shared code", shop, code,
                 percent, valid_for, "referral.code_unavailable", {"contact_id": contact.id}):
        return
    address = address_hash(order.shipping_address)
    insert_or_ignore(db.session, ReferralCode, {
        "shop_id": shop.id, "contact_id": contact.id, "code": code, "address_hashes": [address] if address else [],
        "created_at": now, "expires_at": now + valid_for}, ("shop_id", "contact_id"))
    commit(db.session)
    value = f"{percent.normalize():f}%"
    queue_template(shop=shop, contact=contact, automation=AUTOMATION, template=INVITE,
                   key=f"referral:{contact.id}:invite",
                   params={"customer_name": order.customer.first_name or first_name(contact, "👋"),
                           "shop_name": shop.name or shop.domain, "referral_code": code, "discount_value": value,
                           "share_link": share_link(shop, contact, code, value)},
                   links=[home_page(shop)], due_at=now + timedelta(seconds=int(options["delay_seconds"])))
