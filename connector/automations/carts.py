"""Abandoned-cart sequence: steps as outbox rows with ``due_at``, stopped the moment it is moot.

A ``CheckoutUpdated`` with a phone and lines opens (or refreshes) the cart and queues every
step at once, each a marketing template row due ``delays_seconds[i]`` after the checkout
started (1 h, 24 h, 72 h by default), key ``cart:{cart_id}:step:{n}``. The dispatcher wakes
for each when it is due. Only the last step carries the discount (the admin's fixed code,
``automations.abandoned_cart.discount_code`` + ``discount_value``), and only if one is set.
With ``discount_source = "unique"`` the code is made per cart through the store's API, with
the fixed code as the fallback (``connector.automations.discounts``).
Every step links (a tracked short link) to a prefilled cart with exactly the cart's lines.

The sequence stops — its queued rows become ``cancelled`` with a reason — when:

- an order carries the cart's token (``converted``), or the same contact orders anything,
  through any checkout or device (``contact_ordered``), or the same store customer does —
  the same customer id or e-mail (trimmed, lowercased), whatever phone the order carries,
  if any (``customer_ordered``): ``stop_for_order``;
- the contact starts a newer cart (``newer_cart``);
- the checkout completes (``checkout_completed``);
- the contact opts out: ``revoke_marketing`` suppresses every queued marketing row.

A step that waited (deferred by the governor) until the next step overtook it, or whose cart
stopped while the dispatcher held it, is cancelled as ``superseded`` when the dispatcher
next claims it (``connector.messaging.sequences``).

No sequence starts within ``quiet_after_order_seconds`` (24 h) of the contact's last order.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Iterable

from sqlalchemy import Select, case, false, literal, or_, select, update

from connector.automations.common import automation_settings, is_enabled, queue_template
from connector.automations.discounts import discount_for
from connector.automations.lifecycle import record_issued_code
from connector.automations.links import safe_target, with_utm
from connector.contacts import contact_for, email_hash, first_name
from connector.dbutil import commit, insert_or_ignore, rowcount
from connector.events import CheckoutUpdated, Customer, Order
from connector.extensions import db
from connector.messaging.sequences import step_key
from connector.models import Cart, Contact, IssuedCode, Message, MessageStatus, OrderRecord, Shop, ShortLink, utcnow
from connector.stores.platforms import platform_of

log = logging.getLogger(__name__)

AUTOMATION = "abandoned_cart"


def on_checkout_updated(shop_id: int, event: CheckoutUpdated) -> None:
    shop = db.session.get(Shop, shop_id)
    if shop is None or not is_enabled(shop, AUTOMATION):
        return
    now = utcnow()
    contact = contact_for(shop, event.customer)
    lines = [[line.variant_id or line.product_id, line.quantity] for line in event.lines
             if (line.variant_id or line.product_id) and line.quantity > 0]
    insert_or_ignore(db.session, Cart, {
        "shop_id": shop.id, "cart_token": event.cart_token[:128], "contact_id": contact.id if contact else None,
        "alt_tokens": list(event.alt_tokens), "lines": lines, "currency": event.currency, "total": event.total,
        "status": Cart.OPEN, "checkout_updated_at": event.updated_at,
        "created_at": event.created_at or event.updated_at, "updated_at": now,
    }, conflict=("shop_id", "cart_token"))
    cart = db.session.scalars(
        select(Cart).where(Cart.shop_id == shop.id, Cart.cart_token == event.cart_token[:128])).one()
    if cart.status != Cart.OPEN:
        db.session.commit()
        return
    cart.lines, cart.total, cart.currency = lines, event.total, event.currency
    cart.alt_tokens = sorted(set(cart.alt_tokens or []) | set(event.alt_tokens))
    if contact is not None and cart.contact_id is None:
        cart.contact_id = contact.id
    if event.completed_at is not None:
        _stop(shop.id, [cart], Cart.CONVERTED, "checkout_completed")
        db.session.commit()
        return
    if contact is None or not lines:
        db.session.commit()
        return
    options = automation_settings(shop, AUTOMATION)
    quiet = timedelta(seconds=float(options["quiet_after_order_seconds"]))
    last_order = db.session.scalar(select(OrderRecord.placed_at).where(
        OrderRecord.shop_id == shop.id, OrderRecord.contact_id == contact.id)
        .order_by(OrderRecord.placed_at.desc()).limit(1))
    if last_order is not None and now - last_order < quiet:
        _stop(shop.id, [cart], Cart.STOPPED, "recent_order")
        db.session.commit()
        log.info("cart.skipped_recent_order", extra={"shop_id": shop.id, "cart_id": cart.id})
        return
    older = db.session.scalars(select(Cart).where(
        Cart.shop_id == shop.id, Cart.contact_id == contact.id, Cart.status == Cart.OPEN, Cart.id != cart.id,
        Cart.created_at <= cart.created_at)).all()
    _stop(shop.id, older, Cart.STOPPED, "newer_cart")
    db.session.commit()
    _schedule(shop, contact, cart, event, options)


def _schedule(shop: Shop, contact: Contact, cart: Cart, event: CheckoutUpdated, options: dict) -> None:
    delays = [float(seconds) for seconds in options["delays_seconds"]]
    started = cart.created_at
    for step, delay in enumerate(delays, start=1):
        last = step == len(delays)
        key = step_key(cart.id, step)
        existing = db.session.scalar(select(Message).where(Message.shop_id == shop.id, Message.idempotency_key == key))
        if existing is not None:
            # the cart changed since the step was queued: its link must still open the cart as it is now
            code = ((existing.content or {}).get("body") or {}).get("discount_code")
            _retarget(shop, key, cart_url(shop, cart.lines, discount=code, fallback=event.recovery_url),
                      existing.template_name)
            continue
        # the store's API is asked for a unique code only when the last step is first queued
        discount = discount_for(shop, cart, options) if last else None
        template = "cart_reminder_discount" if discount else ("cart_reminder_1" if step == 1 else "cart_reminder_2")
        params = {"customer_name": first_name(contact, event.customer.first_name or "👋"),
                  "shop_name": shop.name or shop.domain}
        if discount:
            params.update(discount_code=discount.code, discount_value=discount.value)
        target = cart_url(shop, cart.lines, discount=discount.code if discount else None, fallback=event.recovery_url)
        queued = queue_template(shop=shop, contact=contact, automation=AUTOMATION, template=template, key=key,
                                params=params, links=[target], due_at=max(utcnow(), started + timedelta(seconds=delay)))
        if discount and discount.source == "unique":  # for the unused-coupon follow-up (coupons.py)
            now = utcnow()
            record_issued_code(shop, contact.id, discount.code, IssuedCode.CART, issued_at=now,
                               expires_at=now + timedelta(days=float(options.get("discount_valid_days") or 7)),
                               message_id=queued.message.id)
            commit(db.session)


def cart_url(shop: Shop, lines: list, *, discount: str | None, fallback: str | None) -> str:
    """A link that opens checkout with exactly ``lines`` (and the discount), on the shop's own domain."""
    pairs = [(str(item), int(quantity)) for item, quantity in lines]
    try:
        url = platform_of(shop).cart_url(shop, pairs, discount)
    except ValueError:
        url = None
    return safe_target(shop, url, fallback)


def _retarget(shop: Shop, key: str, target: str, template: str | None) -> None:
    queued = db.session.scalar(select(Message.id).where(Message.shop_id == shop.id, Message.idempotency_key == key,
                                                        Message.status == MessageStatus.QUEUED))
    if queued is not None:
        db.session.execute(update(ShortLink)
                           .where(ShortLink.shop_id == shop.id, ShortLink.link_key == f"{key}:button:0")
                           .values(target_url=with_utm(target, automation=AUTOMATION, template=template)))
        db.session.commit()


def stop_for_order(shop: Shop, order: Order, contact: Contact | None) -> None:
    """The order converts its cart, and ends every sequence of the same contact.

    Without a cart token the order converts no cart by token, and the contact's and the same
    customer's sequences end in two statements: one read of their open carts, one update of
    their queued reminders.
    """
    tokens = [token[:128] for token in order.cart_tokens if token]
    matched = list(db.session.scalars(select(Cart).where(Cart.shop_id == shop.id, Cart.cart_token.in_(tokens)))) \
        if tokens else []
    contact_ids = {cart.contact_id for cart in matched if cart.contact_id} | ({contact.id} if contact else set())
    if tokens:  # an order may name the checkout by another of its tokens
        for cart in db.session.scalars(select(Cart).where(Cart.shop_id == shop.id, Cart.status == Cart.OPEN,
                                                          Cart.contact_id.in_(contact_ids) if contact_ids
                                                          else false())):
            if set(cart.alt_tokens or ()) & set(tokens) and cart not in matched:
                matched.append(cart)
    for cart in matched:
        cart.converted_order_id = order.order_id
    _stop(shop.id, [c for c in matched if c.status == Cart.OPEN], Cart.CONVERTED, "converted")
    same_customer = same_customer_query(shop.id, order.customer)
    people = ([Cart.contact_id.in_(contact_ids)] if contact_ids else []) + \
        ([Cart.contact_id.in_(same_customer)] if same_customer is not None else [])
    if not people:
        return
    others = db.session.scalars(select(Cart).where(Cart.shop_id == shop.id, Cart.status == Cart.OPEN,
                                                   or_(*people))).all()
    _stop(shop.id, [cart for cart in others if cart.contact_id in contact_ids], Cart.CONVERTED, "contact_ordered")
    _stop(shop.id, [cart for cart in others if cart.contact_id not in contact_ids], Cart.CONVERTED,
          "customer_ordered")
    # anything of this automation still waiting for these people, whichever cart it came from
    reason = case((Message.contact_id.in_(contact_ids), "contact_ordered"), else_="customer_ordered") \
        if contact_ids else literal("customer_ordered")
    recipients = ([Message.contact_id.in_(contact_ids)] if contact_ids else []) + \
        ([Message.contact_id.in_(same_customer)] if same_customer is not None else [])
    db.session.execute(update(Message).where(
        Message.shop_id == shop.id, or_(*recipients), Message.automation == AUTOMATION,
        Message.status == MessageStatus.QUEUED).values(
            status=MessageStatus.CANCELLED, status_reason=reason, updated_at=utcnow()))


def same_customer_query(shop_id: int, customer: Customer | None) -> Select[tuple[int]] | None:
    """The ids of the shop's contacts the store knows as this customer (a query, to use as a
    subquery): the same customer id, or the same e-mail (trimmed, lowercased; contacts keep only
    its hash), whatever phone they used. None when the customer has neither."""
    if customer is None:
        return None
    conditions = []
    if customer.platform_customer_id and customer.platform_customer_id.strip():
        conditions.append(Contact.platform_customer_id == customer.platform_customer_id.strip()[:64])
    if customer.email and customer.email.strip():
        conditions.append(Contact.email_hash == email_hash(customer.email))
    if not conditions:
        return None
    return select(Contact.id).where(Contact.shop_id == shop_id, or_(*conditions))


def _stop(shop_id: int, carts: Iterable[Cart], status: str, reason: str) -> None:
    now = utcnow()
    for cart in carts:
        cart.status, cart.status_reason = status, reason
        cancelled = rowcount(db.session.execute(update(Message).where(
            Message.shop_id == shop_id, Message.status == MessageStatus.QUEUED,
            or_(*[Message.idempotency_key.like(f"cart:{cart.id}:step:%")])).values(
                status=MessageStatus.CANCELLED, status_reason=reason, updated_at=now)))
        log.info("cart.stopped", extra={"shop_id": shop_id, "cart_id": cart.id, "reason": reason,
                                        "cancelled": cancelled})
