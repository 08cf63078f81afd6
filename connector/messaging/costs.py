"""What a message costs: Meta's per-message price by category and recipient country, from a
versioned rate card (``rate_card.json`` beside this module), as an estimate.

Meta charges per delivered template message by the template's category at the time of use
(marketing, utility, authentication) and the recipient's country calling code; free-form
messages (``service``) are only possible inside the 24-hour customer-service window. Which
categories the window makes free changed on 2026-10-01; the card's ``rules`` say which apply
from which day, so a message is priced by the rules of the day it was sent.
https://developers.facebook.com/documentation/business-messaging/whatsapp/pricing

The estimate is set once, when a message is first recorded as sent (the dispatcher's answer or
Meta's ``sent`` webhook, whichever comes first), on ``messages.estimated_cost`` in the card's
currency, and counted into the ``cost`` rollup of its automation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import func, select

from connector.extensions import db
from connector.messaging.governor import SERVICE_WINDOW
from connector.models import Contact, Message, TemplateApproval
from connector.models.messages import MessageKind, Purpose

MARKETING, UTILITY, AUTHENTICATION, SERVICE = "marketing", "utility", "authentication", "service"
TEMPLATE_CATEGORIES = (MARKETING, UTILITY, AUTHENTICATION)
#: what a template message is billed as when its template's category is not known here (a shop
#: that never synced its templates): what the automation's purpose implies
_BY_PURPOSE: dict[str, str] = {Purpose.MARKETING: MARKETING}
ZERO = Decimal(0)


class RateCardError(ValueError):
    """The rate card file is not what this module reads."""


@dataclass(frozen=True, slots=True)
class Rule:
    starts: date
    free_in_service_window: frozenset[str]
    #: free service messages per number and calendar month (UTC); None: all free or none
    free_service_per_month: int | None


@dataclass(frozen=True, slots=True)
class RateCard:
    version: str
    currency: str
    as_of: str
    source: str
    estimate: bool
    rules: tuple[Rule, ...]
    default: dict[str, Decimal]
    countries: dict[str, dict[str, Decimal]]

    def rule_at(self, at: datetime) -> Rule:
        day = at.astimezone(timezone.utc).date()
        current = self.rules[0]
        for rule in self.rules:
            if rule.starts <= day:
                current = rule
        return current

    def rate(self, category: str, country: str | None) -> Decimal:
        """The price of one message of a template ``category`` to ``country`` (the default if unlisted)."""
        rates = self.countries.get((country or "").upper(), self.default)
        return rates.get(category, self.default[category])

    def describe(self) -> dict[str, Any]:
        """What the dashboard says about the figures: they are an estimate, from where, of when."""
        return {"version": self.version, "currency": self.currency, "as_of": self.as_of, "source": self.source,
                "estimate": self.estimate}


def category_of(kind: str, purpose: str, template_category: str | None) -> str:
    """What Meta bills a message as: a template by its category (as recorded, else as its purpose
    implies), anything else as a service message."""
    if kind != MessageKind.TEMPLATE:
        return SERVICE
    known = (template_category or "").lower()
    if known in TEMPLATE_CATEGORIES:
        return known
    return _BY_PURPOSE.get(purpose, UTILITY)


def country_of(phone_e164: str | None, user_id: str | None = None) -> str | None:
    """The recipient's country as Meta bills it: by the calling code (+1 is "US"), else the prefix
    of a business-scoped user id (``DE.1234…``)."""
    digits = (phone_e164 or "").lstrip("+")
    for length in (1, 2, 3):  # calling codes are prefix-free: the first known prefix is the code
        if len(digits) > length and digits[:length].isdigit() and \
                int(digits[:length]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            region = phonenumbers.region_code_for_country_code(int(digits[:length]))
            if region != phonenumbers.UNKNOWN_REGION:
                return region
            break
    prefix = (user_id or "").split(".", 1)[0]
    return prefix.upper() if len(prefix) == 2 and prefix.isalpha() else None


def estimate(card: RateCard, *, category: str, country: str | None, at: datetime, window_open: bool,
             service_sent_this_month: int = 0) -> Decimal:
    """The estimated price of one message sent at ``at``; 0 where Meta does not charge it.

    ``service_sent_this_month``: the number's service messages already sent this month, for the
    monthly allowance of the rules that have one."""
    rule = card.rule_at(at)
    if category == SERVICE:
        if SERVICE in rule.free_in_service_window:
            return ZERO
        allowance = rule.free_service_per_month
        if allowance is not None and service_sent_this_month < allowance:
            return ZERO
        return card.rate(UTILITY, country)  # service messages are billed at the utility rate
    if window_open and category in rule.free_in_service_window:
        return ZERO
    return card.rate(category, country)


def month_start(at: datetime) -> datetime:
    """The first instant of ``at``'s calendar month in UTC (the service allowance's month)."""
    return at.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def service_sent_this_month(shop_id: int, at: datetime) -> int:
    """The shop's (its number's) free-form messages sent since the start of ``at``'s month."""
    return int(db.session.scalar(select(func.count()).select_from(Message).where(
        Message.shop_id == shop_id, Message.kind != MessageKind.TEMPLATE, Message.sent_at >= month_start(at),
        Message.sent_at.is_not(None))) or 0)


def price_message(message: Message, at: datetime) -> tuple[Decimal, str]:
    """The estimate for one outbox row first recorded as sent at ``at`` by a status webhook (the
    dispatcher prices the rows it sends itself from what it already holds)."""
    card = load_rate_card()
    contact = db.session.get(Contact, message.contact_id)
    category = None
    if message.kind == MessageKind.TEMPLATE:
        category = db.session.scalar(select(TemplateApproval.category).where(
            TemplateApproval.shop_id == message.shop_id, TemplateApproval.name == message.template_name,
            TemplateApproval.language == message.language))
    billed_as = category_of(message.kind, message.purpose, category)
    inbound = contact.last_inbound_at if contact is not None else None
    if inbound is not None and inbound.tzinfo is None:
        inbound = inbound.replace(tzinfo=timezone.utc)
    window_open = inbound is not None and at - inbound < SERVICE_WINDOW
    services = service_sent_this_month(message.shop_id, at) if billed_as == SERVICE else 0
    country = country_of(contact.phone_e164, contact.wa_user_id) if contact is not None else None
    return estimate(card, category=billed_as, country=country, at=at, window_open=window_open,
                    service_sent_this_month=services), card.currency


RATE_CARD_FILE = files("connector.messaging").joinpath("rate_card.json")


def load_rate_card(path: str | Path | None = None) -> RateCard:
    """The rate card (the packaged one unless ``path``), read once per path."""
    return _load(str(path) if path else None)


@lru_cache(maxsize=4)
def _load(path: str | None) -> RateCard:
    raw = json.loads(Path(path).read_text() if path else RATE_CARD_FILE.read_text())
    try:
        rules = tuple(sorted((Rule(date.fromisoformat(r["from"]), frozenset(r["free_in_service_window"]),
                                    r["free_service_messages_per_month"]) for r in raw["rules"]),
                             key=lambda rule: rule.starts))
        default = {category: Decimal(raw["default"][category]) for category in TEMPLATE_CATEGORIES}
        countries = {code.upper(): {category: Decimal(value) for category, value in rates.items()}
                     for code, rates in raw["countries"].items()}
        card = RateCard(version=str(raw["version"]), currency=str(raw["currency"]), as_of=str(raw["as_of"]),
                        source=str(raw["source"]), estimate=bool(raw.get("estimate", True)), rules=rules,
                        default=default, countries=countries)
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise RateCardError(f"rate card: {error!r}") from None
    if not rules or len(card.currency) != 3:
        raise RateCardError("rate card: needs rules and a three-letter currency")
    return card
