"""Click-to-chat entry points: "Shop window", "Parcel insert", "Instagram bio".

Each is a ``wa.me`` link to the shop's number whose prefilled text ends with a short
reference (``#K7P2QX``), downloadable as a QR code. A shopper who sends that message has
asked, from their own number, for the shop's messages: the message is recorded as their
marketing opt-in from that entry point (ledger source ``entry_point:<ref>``, the text they
sent as ``text_shown``) and confirmed once. The dashboard counts opt-ins per entry point by
that source. Archived entry points keep working (their codes are in print); only the list
forgets them.
"""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import segno
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector import optin
from connector.events import InboundMessage
from connector.extensions import db
from connector.models import Contact, EntryPoint, Shop, utcnow
from connector.models.entry_points import REF_ALPHABET, REF_LENGTH, new_ref

SOURCE_PREFIX = "entry_point:"
_REFERENCE = re.compile(rf"#([{REF_ALPHABET}]{{{REF_LENGTH}}})(?![A-Z0-9])")
#: what the shopper's message says unless the admin writes their own, by the shop's language
DEFAULT_TEXTS = {
    "en": "Hi! Please send me news and offers on WhatsApp.",
    "de": "Hallo! Bitte schickt mir Neuigkeiten und Angebote per WhatsApp.",
    "es": "¡Hola! Enviadme novedades y ofertas por WhatsApp, por favor.",
    "fr": "Bonjour ! Envoyez-moi vos nouveautés et offres sur WhatsApp, s'il vous plaît.",
    "it": "Ciao! Inviatemi novità e offerte su WhatsApp, per favore.",
    "pt": "Olá! Por favor, enviem-me novidades e ofertas pelo WhatsApp.",
    "nl": "Hoi! Stuur me alsjeblieft nieuws en aanbiedingen via WhatsApp.",
}


class NoWhatsAppNumberError(LookupError):
    """The shop has no WhatsApp number with a known display number to link to."""


def default_text(shop: Shop) -> str:
    return DEFAULT_TEXTS.get((shop.locale or "en")[:2].lower(), DEFAULT_TEXTS["en"])


def message_text(entry: EntryPoint) -> str:
    return f"{entry.text} #{entry.ref}"


def link(shop: Shop, entry: EntryPoint) -> str:
    """``https://wa.me/<number>?text=<the prefilled message>``."""
    account = shop.whatsapp
    digits = re.sub(r"\D", "", (account.display_phone_number or "") if account else "")
    if not digits:
        raise NoWhatsAppNumberError("the shop's WhatsApp number is not known yet")
    return f"https://wa.me/{digits}?text={quote(message_text(entry), safe='')}"


def qr_code(shop: Shop, entry: EntryPoint, kind: str) -> bytes:
    """The entry point's link as a QR code, ``svg`` or ``png`` (segno; error correction M,
    which survives a little wear on a parcel insert)."""
    code = segno.make(link(shop, entry), error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind=kind, scale=10 if kind == "png" else 4, border=4,
              **({"title": entry.name} if kind == "svg" else {}))
    return buffer.getvalue()


def create(shop: Shop, name: str, text: str | None = None) -> EntryPoint:
    """A new entry point with a reference unused in this shop."""
    for _ in range(8):
        entry = EntryPoint(shop_id=shop.id, name=name, text=text or default_text(shop), ref=new_ref())
        try:
            with db.session.begin_nested():
                db.session.add(entry)
                db.session.flush()
        except IntegrityError:
            continue  # the reference was taken (one in 887 million per pair): draw again
        return entry
    raise RuntimeError("could not draw an unused reference")


def archive(entry: EntryPoint) -> None:
    entry.archived_at = entry.archived_at or utcnow()


def without_references(text: str | None) -> str | None:
    """The message without its references (what a keyword check should read)."""
    return _REFERENCE.sub("", text.upper()).strip() if text else text


def entry_point_of(shop_id: int, text: str | None) -> EntryPoint | None:
    """The shop's entry point whose reference the message carries, if any."""
    if not text:
        return None
    refs = _REFERENCE.findall(text.upper())
    if not refs:
        return None
    return db.session.scalars(select(EntryPoint).where(EntryPoint.shop_id == shop_id,
                                                       EntryPoint.ref.in_(refs[:5]))).first()


def act_on_reference(shop: Shop, contact: Contact, event: InboundMessage) -> str | None:
    """``entry_point_opt_in`` when the message came from an entry point and subscribed the
    shopper, ``entry_point`` when they were subscribed already, None when it carries no
    reference of this shop."""
    entry = entry_point_of(shop.id, event.text)
    if entry is None:
        return None
    subscribed = optin.opt_in_by_message(
        shop, contact, source=f"{SOURCE_PREFIX}{entry.ref}", text=(event.text or "")[:1000], at=event.occurred_at,
        evidence={"wamid": event.wamid, "entry_point_id": entry.id, "entry_point": entry.name})
    return "entry_point_opt_in" if subscribed else "entry_point"
