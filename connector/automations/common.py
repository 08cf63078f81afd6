"""What every automation shares: shop settings with defaults, and queueing a catalogue
template whose every link is a tracked short link. Finding the contact of a store customer
is ``connector.contacts``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector import receipt_notes
from connector.automations import links as short_links
from connector.messaging import catalogue
from connector.messaging.outbox import QueuedMessage, queue_message
from connector.models import Contact, Shop

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
