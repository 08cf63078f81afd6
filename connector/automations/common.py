"""What every automation shares: its settings (``connector.shop_settings``), and queueing a template
(the catalogue's or the shop's own: ``connector.messaging.shop_catalogue``) whose every link is a
tracked short link, with the recipient's variables filled in. Finding the contact of a store customer
is ``connector.contacts``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector import receipt_notes, shop_settings
from connector.automations import links as short_links
from connector.contacts import first_name
from connector.messaging import catalogue, shop_catalogue
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


#: variables every template may use without the sender giving them: filled per recipient
RECIPIENT_PARAMETERS = ("customer_name", "shop_name")
#: the greeting's name when the contact has none (what the automations have always used)
NAMELESS = "👋"


def recipient_params(shop: Shop, contact: Contact, definition: catalogue.TemplateDefinition) -> dict[str, str]:
    """``customer_name`` (the contact's first name) and ``shop_name`` (the shop's name, else its
    domain), for those of them the template uses."""
    values = {"customer_name": first_name(contact, NAMELESS), "shop_name": shop.name or shop.domain}
    return {name: values[name] for name in RECIPIENT_PARAMETERS if name in definition.parameters}


@dataclass(frozen=True, slots=True)
class Link:
    """A URL button's target, turned into a short link when the message is queued."""

    target: str


def queue_template(*, shop: Shop, contact: Contact, automation: str, template: str, key: str,
                   params: dict[str, Any], links: list[str] | None = None, header: dict | None = None,
                   due_at: datetime | None = None, reply_context: str | None = None) -> QueuedMessage:
    """Render ``template`` (the catalogue's, or one of the shop's own) in the contact's language
    and queue it under ``key``. ``customer_name`` and ``shop_name`` are filled for the recipient
    unless ``params`` gives them (``recipient_params``).

    Each URL in ``links`` (one per URL button, in order) becomes a tracked short link;
    the button carries its code as the URL suffix. ``reply_context`` is appended to each
    quick reply's payload (the order id of a COD question).
    """
    definition = shop_catalogue.template_for(shop.id, template)
    language = catalogue.choose_language(definition, contact.locale, shop.locale)
    params = {**recipient_params(shop, contact, definition), **params}
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
