"""The SQLAlchemy models, one module per aggregate; import them from here."""

from connector.models.base import Base, utcnow
from connector.models.contacts import Contact
from connector.models.messages import Message, MessageKind, MessageStatus, Purpose
from connector.models.receipts import WebhookReceipt
from connector.models.shops import Shop, WhatsAppAccount

__all__ = [
    "Base",
    "Contact",
    "Message",
    "MessageKind",
    "MessageStatus",
    "Purpose",
    "Shop",
    "WebhookReceipt",
    "WhatsAppAccount",
    "utcnow",
]
