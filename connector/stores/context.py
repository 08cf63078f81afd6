"""What the store layer hands to a platform adapter's parser about the shop a payload belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from connector.models import Shop

#: ``Session.info`` key: receipt id → its outcome, for a receipt whose events wait for a job of
#: their own (a Shopify inventory look-up: ADR 0012); the job re-applies the receipt later
WAITING_OUTCOMES = "store_receipts_waiting"


@dataclass(frozen=True)
class ShopContext:
    """What a parser may know about the shop a payload belongs to (integrations.base.ParseContext)."""

    shop: Shop

    @property
    def country(self) -> str | None:
        return self.shop.country

    @property
    def locale(self) -> str:
        return self.shop.locale or "en"
