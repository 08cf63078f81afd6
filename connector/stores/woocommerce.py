"""The connector's side of a WooCommerce store (being written: see connector/web/woocommerce.py)."""

from __future__ import annotations

from connector.models import Shop, WebhookReceipt


def receipt_events(receipt: WebhookReceipt, shop: Shop) -> list:
    raise NotImplementedError("WooCommerce receipts are not processed yet")


def schedule_catchups() -> int:
    """Queue the catch-up of every WooCommerce store that is due; returns how many."""
    return 0
