"""The schemas of a shop's settings: every setting's name, type, default, bounds and meaning.

``connector.shop_settings`` reads and writes settings through ``SCHEMA``; this module only
describes them (marshmallow 4, ``unknown=RAISE``). The merchant bounds apply while
``MERCHANT`` is set (a change through the admin API); the code's own bounds always do.
"""

from __future__ import annotations

import contextvars
import math
import re
from typing import Any
from urllib.parse import urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, validate

MINUTE, HOUR, DAY = 60, 3600, 86400
#: no step of any sequence later than this after what triggered it
LATEST_STEP_SECONDS = 30 * DAY
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: True while a merchant's change is validated: the merchant bounds apply, not only the code's
MERCHANT = contextvars.ContextVar("shop_settings_merchant", default=False)


# -- fields and validators ---------------------------------------------------------------------

class Bounds(validate.Validator):
    """``minimum <= value <= maximum``; below ``minimum`` down to ``operator_minimum`` only
    for values stored by an operator (never through the admin API). ``zero_is_off``: 0 is
    allowed too, and means "none"."""

    def __init__(self, minimum: float | None = None, maximum: float | None = None, *,
                 operator_minimum: float | None = None, zero_is_off: bool = False) -> None:
        self.minimum, self.maximum, self.operator_minimum = minimum, maximum, operator_minimum
        self.zero_is_off = zero_is_off

    def __call__(self, value: Any) -> Any:
        if self.zero_is_off and value == 0:
            return value
        low = self.minimum if MERCHANT.get() or self.operator_minimum is None else self.operator_minimum
        if low is not None and value < low:
            raise ValidationError(f"Must be at least {low:g}.")
        if self.maximum is not None and value > self.maximum:
            raise ValidationError(f"Must be at most {self.maximum:g}.")
        return value


class Steps(validate.Validator):
    """A sequence's delays in seconds: 1–5 steps, strictly increasing, the first no sooner than
    ``first_minimum`` (merchants) and none later than 30 days."""

    def __init__(self, first_minimum: int) -> None:
        self.first_minimum = first_minimum

    def __call__(self, value: list) -> list:
        if not 1 <= len(value) <= 5:
            raise ValidationError("Give 1 to 5 steps.")
        if MERCHANT.get() and value[0] < self.first_minimum:
            raise ValidationError(f"The first step must be at least {self.first_minimum // MINUTE} minutes "
                                  f"({self.first_minimum} seconds) after the trigger.")
        if value[0] < 0:
            raise ValidationError("A step cannot be before the trigger.")
        if value[-1] > LATEST_STEP_SECONDS:
            raise ValidationError(f"No step may be later than 30 days ({LATEST_STEP_SECONDS} seconds).")
        if any(later <= earlier for earlier, later in zip(value, value[1:], strict=False)):
            raise ValidationError("Steps must be in strictly increasing order.")
        return value


_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_SPAN = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _link_domain(value: str) -> None:
    host = value.strip().lower()
    if "://" in host:
        host = urlsplit(host).hostname or ""
    if not _HOST.match(host.split("/")[0]):
        raise ValidationError("Give a host name (www.dhl.de).")


def _span(value: str | list) -> None:
    for span in [value] if isinstance(value, str) else value:
        if not isinstance(span, str) or not _SPAN.match(span.replace(" ", "")):
            raise ValidationError('Opening hours are "HH:MM-HH:MM" or a list of them.')
        start, end = span.replace(" ", "").split("-")
        if end != "24:00" and end <= start:
            raise ValidationError("A span must end after it starts.")


class Hours(fields.Field):
    """One day's opening hours: ``"09:00-17:00"`` or a list of spans."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (str, list)):
            raise ValidationError('Opening hours are "HH:MM-HH:MM" or a list of them.')
        _span(value)
        return value


class JsonNumber(fields.Number):
    """A finite JSON number, kept as given (15 stays 15, 12.5 stays 12.5); never a string."""

    num_type = float

    def _format_num(self, value):
        return value if isinstance(value, int) else float(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) or (isinstance(value, float) and not math.isfinite(value)):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def _integer(default: int | None, meaning: str, **options: Any) -> fields.Integer:
    return fields.Integer(strict=True, load_default=default, metadata={"description": meaning}, **options)


def _number(default: float | None, meaning: str, **options: Any) -> fields.Number:
    return JsonNumber(load_default=default, metadata={"description": meaning}, **options)


def _flag(default: bool, meaning: str) -> fields.Boolean:
    return fields.Boolean(truthy={True}, falsy={False}, load_default=default, metadata={"description": meaning})


def _text(default: str | None, meaning: str, length: int, **options: Any) -> fields.String:
    return fields.String(load_default=default, validate=validate.Length(max=length),
                         metadata={"description": meaning}, **options)


def _section(schema: type[Schema], meaning: str) -> fields.Nested:
    return fields.Nested(schema, load_default=lambda: schema().load({}), metadata={"description": meaning})


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


# -- the automations (their names are the ``automation`` of their outbox rows) ----------------

class OrderConfirmationSchema(StrictSchema):
    enabled = _flag(True, "Send the order confirmation.")
    trigger = fields.String(load_default="paid", validate=validate.OneOf(["paid", "placed"]),
                            metadata={"description": "Confirm when the order is paid, or as soon as it is placed."})
    invoice_link_days = _integer(30, "Days the invoice link in the confirmation works.",
                                 validate=Bounds(1, 365, operator_minimum=0))
    invoice_prefix = _text("", "Put before the order number to make the invoice number.", 16)


class CodConfirmationSchema(StrictSchema):
    enabled = _flag(True, "Ask cash-on-delivery buyers to confirm or cancel their order.")
    reminder_delay_seconds = _integer(
        4 * HOUR, "One reminder when the question is unanswered after this many seconds; 0 or null: none.",
        allow_none=True, validate=Bounds(15 * MINUTE, 2 * DAY, operator_minimum=0, zero_is_off=True))


class ShippingUpdatesSchema(StrictSchema):
    enabled = _flag(True, "Send shipped, out-for-delivery and delivered updates.")


class AbandonedCartSchema(StrictSchema):
    enabled = _flag(True, "Remind shoppers of the carts they left.")
    delays_seconds = fields.List(
        fields.Integer(strict=True), load_default=lambda: [HOUR, DAY, 3 * DAY], validate=Steps(15 * MINUTE),
        metadata={"description": "Seconds after the checkout started that each reminder is due; the last one "
                                 "carries the discount. 1-5 steps, increasing, the first after 15 minutes or more, "
                                 "none after 30 days."})
    discount_code = _text(None, "A fixed code the shop made, shown in the last reminder.", 50, allow_none=True)
    discount_value = _text(None, 'What the code gives, as the shopper reads it ("10%").', 20, allow_none=True)
    discount_source = fields.String(
        load_default="fixed", validate=validate.OneOf(["fixed", "unique"]),
        metadata={"description": "fixed: the code above; unique: a single-use code per cart made in the store."})
    discount_percent = _number(10, "The unique code's percentage off (1-90).", validate=Bounds(1, 90))
    discount_valid_days = _integer(7, "Days a unique code works.", validate=Bounds(1, 90))
    quiet_after_order_seconds = _integer(DAY, "No reminders for a shopper who ordered in the last this many seconds.",
                                         validate=Bounds(0, LATEST_STEP_SECONDS))


class BackInStockSchema(StrictSchema):
    enabled = _flag(True, "Tell subscribers when a product is back.")
    batch_multiple = _number(1.0, "Subscribers told per unit restocked, per batch.", validate=Bounds(0.1, 100))
    untracked_batch_size = _integer(50, "Subscribers per batch when the store does not count stock.",
                                    validate=Bounds(1, 10_000))
    batch_interval_seconds = _integer(30 * MINUTE, "Seconds between batches.",
                                      validate=Bounds(5 * MINUTE, DAY, operator_minimum=0))
    subscription_days = _integer(30, "Days a subscription lasts.", validate=Bounds(1, 365))


class ReviewRequestSchema(StrictSchema):
    enabled = _flag(False, "Ask for a review after delivery (marketing: only with consent).")
    delay_seconds = _integer(5 * DAY, "Seconds after delivery.",
                             validate=Bounds(HOUR, LATEST_STEP_SECONDS, operator_minimum=0))
    review_url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"},
                            metadata={"description": "Where the review button leads (the shop's own domains); "
                                                     "null: the order's page."})


class ContentRuleSchema(StrictSchema):
    product_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list,
                              validate=validate.Length(max=100),
                              metadata={"description": "The store's product ids it is for; empty: every order."})
    url = fields.Url(required=True, schemes={"http", "https"},
                     metadata={"description": "The guide or video (the shop's own domains or link_domains)."})
    note = fields.String(required=True, validate=validate.Length(min=1, max=200),
                         metadata={"description": 'What it is, as the shopper reads it ("How to brew with '
                                                  'your grinder").'})


class PostPurchaseSchema(StrictSchema):
    enabled = _flag(False, "Send a usage guide or video after delivery, per product.")
    trigger = fields.String(load_default="delivered", validate=validate.OneOf(["delivered", "shipped"]),
                            metadata={"description": "After delivery, or as soon as the order is shipped."})
    delay_seconds = _integer(DAY, "Seconds after the delivery (or shipping).",
                             validate=Bounds(0, LATEST_STEP_SECONDS))
    rules = fields.List(fields.Nested(ContentRuleSchema), load_default=list, validate=validate.Length(max=20),
                        metadata={"description": "One message per order and rule whose products it has: "
                                                 "{product_ids, url, note}; at most 20."})


class WinbackSchema(StrictSchema):
    enabled = _flag(False, "Write to customers who have not ordered for a while (marketing: only with consent).")
    days = _integer(90, "Days without an order; also the least time between two win-back messages.",
                    validate=Bounds(30, 730, operator_minimum=1))
    url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"},
                     metadata={"description": "Where its button leads (the shop's own domains); null: the home page."})


class AttributionSchema(StrictSchema):
    window_seconds = _integer(5 * DAY, "An order this many seconds after a click counts as the message's.",
                              validate=Bounds(HOUR, LATEST_STEP_SECONDS))


# -- the lifecycle automations (connector/automations/repurchase.py, coupons.py, referrals.py) --

class ProductIntervalSchema(StrictSchema):
    product_id = fields.String(required=True, validate=validate.Length(min=1, max=64),
                               metadata={"description": "The store's product id."})
    days = fields.Integer(strict=True, required=True, validate=Bounds(1, 365),
                          metadata={"description": "Days after the last order of it that the reminder is due."})


def _one_per_product(value: list) -> None:
    ids = [item["product_id"] for item in value]
    if len(ids) != len(set(ids)):
        raise ValidationError("Give each product once.")


class RepurchaseReminderSchema(StrictSchema):
    enabled = _flag(False, "Remind buyers to order a product again when it should be running out.")
    intervals = fields.List(
        fields.Nested(ProductIntervalSchema), load_default=list,
        validate=[validate.Length(max=200), _one_per_product],
        metadata={"description": "Per product, days after its last order ([{\"product_id\", \"days\"}]); "
                                 "products not listed use the interval learnt from the shop's repeat orders."})
    learn = _flag(True, "Learn a product's interval from its repeat orders (their median) when there are enough.")
    min_repeats = _integer(5, "Repeat orders a learnt interval needs.", validate=Bounds(3, 1000))
    late_days = _integer(14, "No reminder when the interval ended more than this many days ago (an old order).",
                         validate=Bounds(1, 90))


class CouponReminderSchema(StrictSchema):
    enabled = _flag(False, "Remind a shopper once of a code we gave them that is still unused (marketing).")
    after_days = _integer(3, "Days after the code was issued.", validate=Bounds(1, 60, operator_minimum=0))
    min_hours_left = _integer(12, "No reminder for a code that expires sooner than this many hours.",
                              validate=Bounds(1, 7 * 24, operator_minimum=0))


class ReferralSchema(StrictSchema):
    enabled = _flag(False, "Give each paying customer a personal code to forward to friends (marketing).")
    delay_seconds = _integer(2 * DAY, "Seconds after the customer's paid order that the code is sent.",
                             validate=Bounds(HOUR, LATEST_STEP_SECONDS, operator_minimum=0))
    friend_percent = _integer(10, "A friend's discount with the code, in percent.", validate=Bounds(1, 90))
    code_valid_days = _integer(180, "Days the personal code works.", validate=Bounds(7, 730))
    reward_percent = _integer(10, "The referrer's own single-use code per friend's order, in percent; 0: none.",
                              validate=Bounds(1, 90, zero_is_off=True))
    reward_valid_days = _integer(30, "Days a reward code works.", validate=Bounds(1, 365))
    max_rewards = _integer(10, "Reward codes per referrer at most.", validate=Bounds(1, 1000))


class AutomationsSchema(StrictSchema):
    order_confirmation = _section(OrderConfirmationSchema, "The order confirmation, with its invoice.")
    cod_confirmation = _section(CodConfirmationSchema, "The cash-on-delivery question.")
    shipping_updates = _section(ShippingUpdatesSchema, "Shipping updates.")
    abandoned_cart = _section(AbandonedCartSchema, "The abandoned-cart reminders.")
    back_in_stock = _section(BackInStockSchema, "Back-in-stock alerts.")
    review_request = _section(ReviewRequestSchema, "The review request.")
    repurchase_reminder = _section(RepurchaseReminderSchema, "The repurchase reminder.")
    coupon_reminder = _section(CouponReminderSchema, "The unused-coupon follow-up.")
    referral = _section(ReferralSchema, "Forward to a friend: personal referral codes.")
    post_purchase = _section(PostPurchaseSchema, "Usage guides and videos after the purchase.")
    winback = _section(WinbackSchema, "Win-back messages to customers who stopped ordering.")
    attribution = _section(AttributionSchema, "How revenue is credited to messages.")


# -- the send governor (connector/messaging/governor.py) ---------------------------------------

class QuietHoursSchema(StrictSchema):
    enabled = _flag(True, "Hold messages during the recipient's night.")
    start = fields.String(load_default="21:00", validate=validate.Regexp(_CLOCK, error="Give a time as HH:MM."),
                          metadata={"description": "Start, HH:MM in the recipient's time zone."})
    end = fields.String(load_default="08:00", validate=validate.Regexp(_CLOCK, error="Give a time as HH:MM."),
                        metadata={"description": "End, HH:MM in the recipient's time zone."})
    purposes = fields.List(fields.String(validate=validate.OneOf(["marketing", "transactional"])),
                           load_default=lambda: ["marketing"],
                           metadata={"description": "Which messages wait: marketing, transactional."})


class CapSchema(StrictSchema):
    max_messages = _integer(2, "At most this many messages ...", validate=Bounds(1, 50))
    per_hours = _number(24, "... in this many hours, per contact.", validate=Bounds(1, 24 * 30))


class FrequencyCapsSchema(StrictSchema):
    marketing = fields.Nested(CapSchema, load_default=lambda: CapSchema().load({}),
                              metadata={"description": "The cap on marketing messages per contact."})
    transactional = fields.Nested(CapSchema, load_default=None, allow_none=True,
                                  metadata={"description": "A cap on transactional messages; null: none."})


class GovernorSchema(StrictSchema):
    quiet_hours = _section(QuietHoursSchema, "Quiet hours in the recipient's time zone.")
    frequency_caps = _section(FrequencyCapsSchema, "Messages per contact and period.")
    pair_interval_seconds = _number(6.0, "Seconds between two messages to one recipient (Meta's pair rate).",
                                    validate=Bounds(6, 60, operator_minimum=0))


# -- the rest ----------------------------------------------------------------------------------

class AutoReplySchema(StrictSchema):
    enabled = _flag(False, "Answer messages outside opening hours, at most once per 12 hours.")
    hours = fields.Dict(keys=fields.String(validate=validate.OneOf(DAYS)), values=Hours(), load_default=None,
                        allow_none=True,
                        metadata={"description": 'Opening hours per day ("mon": "09:00-17:00"), in the shop\'s '
                                                 "time zone; a missing day is closed; null: no auto-reply."})
    hours_text = _text("", "The opening hours as the answer states them.", 200)


class InvoiceSchema(StrictSchema):
    address_lines = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list,
                                validate=validate.Length(max=6),
                                metadata={"description": "The seller's address on the invoice, one line each."})
    tax_id = _text(None, "The seller's VAT or tax number.", 50, allow_none=True)
    email = fields.Email(load_default=None, allow_none=True,
                         metadata={"description": "The seller's e-mail address on the invoice."})


class WooCommerceSchema(StrictSchema):
    checkout_link = fields.Boolean(truthy={True}, falsy={False}, load_default=None, allow_none=True,
                                   metadata={"description": "Use WooCommerce's checkout links; null: when the "
                                                            "store's version has them (10.0+)."})
    plugin_endpoint = fields.Boolean(truthy={True}, falsy={False}, load_default=None, allow_none=True,
                                     metadata={"description": "Use the plugin's cart link; null: once the plugin "
                                                              "has reported a cart."})


_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
#: the languages the widget speaks (its strings and the consent texts below)
WIDGET_LANGUAGES = ("en", "de", "es", "fr", "it", "pt", "nl")


def _consent_texts(value: dict) -> None:
    for language, text in value.items():
        if language not in WIDGET_LANGUAGES:
            raise ValidationError(f"Languages are {', '.join(WIDGET_LANGUAGES)}.")
        if not isinstance(text, str) or not 20 <= len(text.strip()) <= 500:
            raise ValidationError("A consent text has 20 to 500 characters.")


class ChatButtonSchema(StrictSchema):
    enabled = _flag(True, "Show the floating WhatsApp chat button.")
    position = fields.String(load_default="right", validate=validate.OneOf(["right", "left"]),
                             metadata={"description": "Which bottom corner the button sits in."})
    colour = fields.String(load_default="#25D366", validate=validate.Regexp(_COLOUR, error="Give a colour as #RRGGBB."),
                           metadata={"description": "The button's colour."})
    label = _text("", "Text beside the icon; empty: the icon alone (its accessible name is still said).", 40)
    message = _text("", "The prefilled message on other pages; empty: the widget's own greeting.", 300)
    product_message = _text("", "The prefilled message on a product page ({product} and {url} are filled in); "
                                "empty: the widget's own.", 300)
    cart_message = _text("", "The prefilled message on the cart page ({cart} is the list of items); empty: the "
                             "widget's own.", 300)
    hours = fields.Dict(keys=fields.String(validate=validate.OneOf(DAYS)), values=Hours(), load_default=None,
                        allow_none=True,
                        metadata={"description": "When someone answers chats, per day; shown beside the button. "
                                                 "null: the auto-reply's opening hours."})


class IncentiveSchema(StrictSchema):
    kind = fields.String(load_default="none", validate=validate.OneOf(["none", "unique_code", "fixed_code"]),
                         metadata={"description": "What a shopper gets after confirming on WhatsApp: nothing, a "
                                                  "single-use code made in the store, or the code below."})
    percent = _integer(10, "The unique code's discount in percent.", validate=Bounds(1, 90))
    valid_days = _integer(14, "Days the unique code is valid.", validate=Bounds(1, 90))
    code = _text(None, "The fixed code (kind fixed_code).", 50, allow_none=True)
    headline = _text("", "The popup's headline, such as \"10% off your first order\"; empty: the widget's own.", 80)


class PopupSchema(StrictSchema):
    enabled = _flag(False, "Show the opt-in popup.")
    trigger = fields.String(load_default="delay", validate=validate.OneOf(["delay", "exit", "scroll"]),
                            metadata={"description": "When it opens: after a delay, on exit intent, or on scroll."})
    delay_seconds = _integer(15, "Seconds on the page before it opens (trigger delay).", validate=Bounds(3, 600))
    scroll_percent = _integer(50, "How far down the page it opens (trigger scroll).", validate=Bounds(10, 100))
    frequency_days = _integer(14, "Days before a browser that closed it sees it again.", validate=Bounds(1, 365))
    incentive = _section(IncentiveSchema, "What a shopper gets for subscribing.")


class StorefrontSchema(StrictSchema):
    enabled = _flag(False, "The storefront widget is switched on.")
    chat_button = _section(ChatButtonSchema, "The floating chat button.")
    popup = _section(PopupSchema, "The opt-in popup.")
    notify_me = _flag(True, "Offer \"notify me on WhatsApp\" when the selected variant is sold out.")
    inline_opt_in = _flag(True, "The inline opt-in block, where the theme places it.")
    consent_texts = fields.Dict(load_default=dict, validate=_consent_texts,
                                metadata={"description": "The consent text shown beside each form, per language "
                                                         "(en, de, …); a missing language: the widget's own text."})


class SettingsSchema(StrictSchema):
    automations = _section(AutomationsSchema, "Each automation's switch and settings.")
    governor = _section(GovernorSchema, "The send governor's quiet hours, caps and pacing.")
    auto_reply = _section(AutoReplySchema, "The out-of-hours auto-reply.")
    invoice = _section(InvoiceSchema, "The seller's details on invoices.")
    link_domains = fields.List(fields.String(validate=_link_domain),
                               load_default=list, validate=validate.Length(max=20),
                               metadata={"description": "Hosts besides the store's own that links may lead to "
                                                        "(a carrier's tracking site)."})
    retention_days = _integer(180, "Days message texts are kept.", validate=Bounds(7, 3650, operator_minimum=1))
    redact_after_uninstall_days = _integer(
        None, "Days after an uninstall that the shop's data is deleted; null: the platform's rule.",
        allow_none=True, validate=Bounds(1, 365))
    woocommerce = _section(WooCommerceSchema, "How cart links are made in a WooCommerce store.")
    storefront = _section(StorefrontSchema, "The storefront widget: chat button, opt-in popup, notify me.")


SCHEMA = SettingsSchema()
