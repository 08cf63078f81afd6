"""Tracked short links: ``{APP_URL}/l/<code>`` → the shop's own page, with UTM parameters.

A link is made once per intent (``link_key``: the message's idempotency key and button), so
a retried job reuses the code it made before. Targets are checked twice against the shop's
own hosts (``shop.domain`` and ``settings["link_domains"]``): when the link is made (a
foreign target falls back to the shop's home page) and again when it is followed (a host
removed since then answers 404). The target always comes from our database, never from the
request, so ``/l/`` cannot be used as an open redirect.

A campaign sends the same link to many recipients: one row per campaign variant and button
(``campaign_link``), and each recipient's button carries ``<code>.<contact>.<mac>``
(``recipient_suffix``): the contact's id in base 36 and an HMAC of both under the app's secret,
so a click is counted for that contact and their message without a row per recipient, and a
forged or altered suffix is a 404 like an unknown code.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from base64 import urlsafe_b64encode
from datetime import datetime
from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select, update

from connector import rollups, shop_settings
from connector.dbutil import commit, insert_or_ignore, inserted_row
from connector.extensions import db, settings
from connector.models import Contact, LinkClick, Message, Shop, ShortLink, utcnow

log = logging.getLogger(__name__)

CODE_BYTES = 6  # 8 URL-safe characters: 2**48 codes, unguessable enough for a redirect


def shop_hosts(shop: Shop) -> set[str]:
    """The hosts a link of ``shop`` may lead to: its store domain and the ones the admin added."""
    hosts = {_host(shop.domain)}
    for domain in shop_settings.effective(shop)["link_domains"]:
        hosts.add(_host(domain))
    hosts.discard("")
    return hosts


def is_shop_url(shop: Shop, url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in shop_hosts(shop) \
        and not parts.username and not parts.password


def home_page(shop: Shop) -> str:
    return f"https://{_host(shop.domain)}/"


def safe_target(shop: Shop, *candidates: str | None) -> str:
    """The first candidate on the shop's own hosts, else the shop's home page."""
    for url in candidates:
        if is_shop_url(shop, url):
            return url  # type: ignore[return-value]
    return home_page(shop)


def with_utm(url: str, *, automation: str, template: str | None) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith("utm_")]
    query += [("utm_source", "whatsapp"), ("utm_medium", automation), ("utm_campaign", template or automation)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def short_link(*, shop: Shop, contact: Contact | None, link_key: str, target: str, automation: str,
               template: str | None) -> ShortLink:
    """The short link for ``link_key`` (made now, or the one made by an earlier attempt)."""
    target = with_utm(safe_target(shop, target), automation=automation, template=template)
    for _ in range(5):
        values = {
            "shop_id": shop.id, "code": secrets.token_urlsafe(CODE_BYTES), "link_key": link_key[:220],
            "target_url": target, "automation": automation, "template_name": template,
            "contact_id": contact.id if contact else None, "clicks": 0,
            "created_at": utcnow(), "updated_at": utcnow(),
        }
        inserted = insert_or_ignore(db.session, ShortLink, values, conflict=("shop_id", "link_key"))
        if inserted is not None:
            return inserted_row(db.session, ShortLink, values, inserted)
        link = db.session.scalars(select(ShortLink).where(ShortLink.shop_id == shop.id,
                                                          ShortLink.link_key == link_key[:220])).first()
        if link is not None:
            return link
        # the random code collided with another shop's: draw again
    raise RuntimeError("could not allocate a short link code")


CAMPAIGN_KEY_PREFIX = "campaign:"
MAC_CHARS = 6  # 36 bits: a forger has one chance in 68 billion per try


def campaign_link(*, shop: Shop, campaign_id: int, variant: int, button: int, target: str, template: str) -> ShortLink:
    """The one link a campaign variant's URL button leads through (made once, like any link)."""
    return short_link(shop=shop, contact=None, link_key=f"{CAMPAIGN_KEY_PREFIX}{campaign_id}:{variant}:button:{button}",
                      target=target, automation="campaign", template=template)


def recipient_suffixes() -> Callable[[str, int], str]:
    """``suffix(code, contact_id)``: what a recipient's URL button carries after ``/l/`` — the
    link, the contact, their MAC (the key read once, for a planner making many)."""
    keyed = hmac.new(settings().secret_key.encode(), digestmod=hashlib.sha256)

    def suffix(code: str, contact_id: int) -> str:
        token = f"{code}.{_base36(contact_id)}"
        mac = keyed.copy()
        mac.update(token.encode())
        return f"{token}.{urlsafe_b64encode(mac.digest()).decode()[:MAC_CHARS]}"

    return suffix


def _mac(token: str) -> str:
    digest = hmac.new(settings().secret_key.encode(), token.encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest).decode()[:MAC_CHARS]


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if not number:
            return text


def _recipient(code: str) -> tuple[str, int] | None:
    """(link code, contact id) of a valid ``recipient_suffix``; None when it is not one or forged."""
    parts = code.split(".")
    if len(parts) != 3 or not parts[1] or len(parts[1]) > 12:
        return None
    link_code, contact, mac = parts
    if not hmac.compare_digest(mac.encode(), _mac(f"{link_code}.{contact}").encode()):
        return None
    try:
        return link_code, int(contact, 36)
    except ValueError:
        return None


def link_url(code: str) -> str:
    return f"{settings().app_url}/l/{code}"


def attach_message(shop_id: int, codes: list[str], message_id: int) -> None:
    db.session.execute(update(ShortLink).where(ShortLink.shop_id == shop_id, ShortLink.code.in_(codes),
                                               ShortLink.message_id.is_(None)).values(message_id=message_id))
    commit(db.session)


def follow(code: str, *, now: datetime | None = None) -> str | None:
    """Record a click on ``code`` and return where to go; None when there is nowhere safe."""
    contact_id, message_id = None, None
    if "." in code:  # a campaign recipient's link
        recipient = _recipient(code)
        if recipient is None:
            return None
        code, contact_id = recipient
    link = db.session.scalars(select(ShortLink).where(ShortLink.code == code)).first()
    if link is None:
        return None
    if contact_id is not None:
        if not link.link_key.startswith(CAMPAIGN_KEY_PREFIX):
            return None
        campaign_id = link.link_key[len(CAMPAIGN_KEY_PREFIX):].split(":")[0]
        message_id = db.session.scalar(select(Message.id).where(
            Message.shop_id == link.shop_id, Message.idempotency_key == f"campaign:{campaign_id}:{contact_id}"))
        if message_id is None:  # the contact was forgotten, or the row is another shop's
            contact_id = None
    else:
        contact_id, message_id = link.contact_id, link.message_id
    shop = db.session.get(Shop, link.shop_id)
    if shop is None or not is_shop_url(shop, link.target_url):
        log.info("link.refused", extra={"shop_id": link.shop_id, "link_id": link.id})
        return None
    now = now or utcnow()
    if message_id is not None:
        _count_first_click(link.shop_id, contact_id, message_id, now)
    db.session.execute(update(ShortLink).where(ShortLink.id == link.id)
                       .values(clicks=ShortLink.clicks + 1, last_clicked_at=now))
    db.session.add(LinkClick(shop_id=link.shop_id, link_id=link.id, contact_id=contact_id,
                             message_id=message_id, clicked_at=now))
    db.session.commit()
    log.info("link.clicked", extra={"shop_id": link.shop_id, "link_id": link.id, "message_id": message_id})
    return link.target_url


def _count_first_click(shop_id: int, contact_id: int | None, message_id: int, now: datetime) -> None:
    """The message's first click on any of its links counts once in the daily rollups: decided
    under the message's row lock, so two clicks at the same moment are not both first."""
    automation = db.session.scalar(select(Message.automation).where(
        Message.shop_id == shop_id, Message.id == message_id).with_for_update())
    if automation is None:
        return
    clicked_before = db.session.scalar(select(LinkClick.id).where(
        LinkClick.shop_id == shop_id, LinkClick.contact_id == contact_id,
        LinkClick.message_id == message_id).limit(1))
    if clicked_before is None:
        rollups.count(db.session, shop_id, now, rollups.CLICKED, automation=automation)


def _host(domain: str) -> str:
    domain = domain.strip().lower()
    if "://" in domain:
        domain = urlsplit(domain).hostname or ""
    return domain.split("/")[0].split(":")[0]
