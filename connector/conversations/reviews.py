"""Answers to the review request: the rating tapped, then an optional comment.

The request's rating buttons carry ``review_<n>:<order id>`` (``connector.automations.reviews``).
A tap counts only for an order of the same contact (as a COD answer does); it is stored in
``review_answers`` with the order's products (a later tap replaces the rating). A rating of
1–2 is flagged for the merchant at once (the row, the admin's ``/admin/api/reviews?flagged=1``
and a ``review.flagged`` log line without personal data). Every rating is answered, inside
the 24-hour window the tap opened (purpose ``service``), with the invitation to comment, and
a 4–5 also with the review site's tracked short link when the request made one. The next text
the contact writes within 24 hours of the rating is its comment (once; STOP and START words
are never taken as one), answered with a thank-you.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from connector.dbutil import insert_or_ignore
from connector.extensions import db, settings
from connector.messaging import catalogue
from connector.messaging.outbox import queue_message
from connector.models import Contact, OrderRecord, ReviewAnswer, Shop, ShortLink, utcnow
from connector.models.reviews import site_link_key

log = logging.getLogger(__name__)

AUTOMATION = "review_request"
RATINGS = {f"review_{n}": n for n in range(1, 6)}
#: ratings at or below this are flagged to the merchant
LOW_RATING = 2
#: ratings at or above this are offered the review site
HIGH_RATING = 4
COMMENT_WINDOW = timedelta(hours=24)
MAX_COMMENT_CHARS = 2000


def record_rating(shop: Shop, contact: Contact, action: str, *, order_id: str | None, at: datetime) -> str | None:
    order = db.session.scalars(select(OrderRecord).where(
        OrderRecord.shop_id == shop.id, OrderRecord.order_id == (order_id or ""))).first()
    if order is None or order.contact_id != contact.id:
        log.info("review.rating_ignored", extra={"shop_id": shop.id, "reason": "not_this_contacts_order"})
        return None
    rating = RATINGS[action]
    now = utcnow()
    insert_or_ignore(db.session, ReviewAnswer, {
        "shop_id": shop.id, "contact_id": contact.id, "order_id": order.order_id,
        "product_ids": list(order.product_ids or []), "rating": rating, "flagged": rating <= LOW_RATING,
        "rated_at": at, "created_at": now, "updated_at": now}, conflict=("shop_id", "order_id", "contact_id"))
    answer = db.session.scalars(select(ReviewAnswer).where(
        ReviewAnswer.shop_id == shop.id, ReviewAnswer.order_id == order.order_id,
        ReviewAnswer.contact_id == contact.id).with_for_update()).one()
    if answer.rating != rating:  # she tapped another rating: the last one counts
        answer.rating, answer.flagged, answer.rated_at = rating, rating <= LOW_RATING, at
    db.session.flush()
    if answer.flagged:
        log.warning("review.flagged", extra={"shop_id": shop.id, "review_id": answer.id, "rating": rating})
    else:
        log.info("review.rated", extra={"shop_id": shop.id, "review_id": answer.id, "rating": rating})
    _reply(shop, contact, "review_comment_prompt", key=f"review:{answer.id}:comment_prompt")
    if rating >= HIGH_RATING:
        link = db.session.scalars(select(ShortLink).where(ShortLink.shop_id == shop.id,
                                                          ShortLink.link_key == site_link_key(order.order_id))).first()
        if link is not None:
            _reply(shop, contact, "review_site_link", key=f"review:{answer.id}:site_link",
                   link=f"{settings().app_url}/l/{link.code}")
    return "review_rating"


def take_comment(shop: Shop, contact: Contact, text: str | None, at: datetime) -> str | None:
    """The contact's text as the comment on their latest rating, if one waits for it."""
    if not text or not text.strip():
        return None
    answer = db.session.scalars(select(ReviewAnswer).where(
        ReviewAnswer.shop_id == shop.id, ReviewAnswer.contact_id == contact.id,
        ReviewAnswer.rated_at >= at - COMMENT_WINDOW, ReviewAnswer.rated_at <= at,
        ReviewAnswer.comment.is_(None)).order_by(ReviewAnswer.rated_at.desc()).limit(1)
        .with_for_update()).first()
    if answer is None:
        return None
    answer.comment, answer.commented_at = text.strip()[:MAX_COMMENT_CHARS], at
    db.session.flush()
    log.info("review.commented", extra={"shop_id": shop.id, "review_id": answer.id, "flagged": answer.flagged})
    _reply(shop, contact, "review_comment_thanks", key=f"review:{answer.id}:comment_thanks")
    return "review_comment"


def _reply(shop: Shop, contact: Contact, text_key: str, *, key: str, link: str = "") -> None:
    text = catalogue.texts(contact.locale, shop.locale)[text_key].format(shop_name=shop.name or shop.domain,
                                                                         link=link)
    queue_message(shop=shop, contact=contact, idempotency_key=key, automation=AUTOMATION, purpose="service",
                  kind="text", content={"text": text})
