"""The SQLAlchemy models, one module per aggregate; import them from here."""

from connector.models.base import Base, utcnow
from connector.models.campaigns import Campaign, CampaignRecipient, Segment
from connector.models.catalog import Variant
from connector.models.commerce import (
    Cart,
    Invoice,
    LinkClick,
    OrderLine,
    OrderRecord,
    Shipment,
    ShortLink,
    StockSubscription,
    TemplateApproval,
)
from connector.models.consent import ConsentEvent, DataExport, InboundRecord
from connector.models.contacts import Contact
from connector.models.entry_points import EntryPoint
from connector.models.lifecycle import IssuedCode, Referral, ReferralCode
from connector.models.messages import Message, MessageKind, MessageStatus, Purpose
from connector.models.receipts import ResourceVersion, WebhookReceipt
from connector.models.reviews import ReviewAnswer
from connector.models.rollups import DailyRollup
from connector.models.shop_templates import ShopTemplate, ShopTemplateVersion
from connector.models.shops import SettingsChange, Shop, WhatsAppAccount

__all__ = [
    "Campaign",
    "CampaignRecipient",
    "Cart",
    "EntryPoint",
    "Invoice",
    "IssuedCode",
    "LinkClick",
    "OrderLine",
    "OrderRecord",
    "Shipment",
    "ShortLink",
    "StockSubscription",
    "TemplateApproval",
    "Base",
    "ConsentEvent",
    "Contact",
    "DailyRollup",
    "DataExport",
    "InboundRecord",
    "Message",
    "MessageKind",
    "MessageStatus",
    "Purpose",
    "Referral",
    "ReferralCode",
    "ResourceVersion",
    "ReviewAnswer",
    "Segment",
    "SettingsChange",
    "Shop",
    "ShopTemplate",
    "ShopTemplateVersion",
    "Variant",
    "WebhookReceipt",
    "WhatsAppAccount",
    "utcnow",
]
