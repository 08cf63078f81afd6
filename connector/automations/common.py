"""What every automation shares: its settings (``connector.shop_settings``), and queueing a catalogue
template whose every link is a tracked short link. Finding the contact of a store customer
is ``connector.contacts``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector import receipt_notes, shop_settings
from connector.automations import links as short_links
from connector.messaging import catalogue
from connector.messaging.outbox import QueuedMessage, queue_message
from connector.models import Contact, Shop

log = logging.getLogger(__name__)

def automation_settings(shop: Shop, name: str) -> dict[str, Any]:
    """The automation's settings with its defaults (``connector.shop_settings``, ``automations.<name>``)."""
    return shop_settings.automation(shop, name)


def is_enabled(shop: Shop, name: str) -> bool:
    enabled = bool(shop.is_active and automation_settings(shop, name)["enabled"])
    if not enabled:
        receipt_notes.note(receipt_notes.AUTOMATION_OFF)
    return enabled


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
