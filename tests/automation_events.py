"""Neutral commerce events for the automation tests, and a way to apply them as the worker does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from connector.events import (
    CheckoutUpdated,
    Customer,
    FulfillmentUpdated,
    LineItem,
    Order,
    OrderPaid,
    OrderPlaced,
    StockChanged,
)

PHONE = "+4915123456789"


def now() -> datetime:
    return datetime.now(timezone.utc)


def customer(phone: str | None = PHONE, **overrides) -> Customer:
    return Customer(**{"phone": phone, "first_name": "Maria", "last_name": "Muster", "locale": "de", "country": "DE",
                       **overrides})


def lines() -> tuple[LineItem, ...]:
    return (LineItem(product_id="11", variant_id="111", title="Espresso beans 1 kg", quantity=2,
                     unit_price=Decimal("19.90"), tax=Decimal("2.60")),
            LineItem(product_id="12", variant_id="121", title="Milk jug", quantity=1, unit_price=Decimal("12.50")))


def order(order_id: str = "5001", *, cart_tokens=("cart-abc",), phone: str | None = PHONE, at: datetime | None = None,
          **overrides) -> Order:
    at = at or now()
    values = dict(platform="shopify", order_id=order_id, name=f"#{order_id}", created_at=at, updated_at=at,
                  customer=customer(phone), lines=lines(), currency="EUR", subtotal=Decimal("52.30"),
                  shipping=Decimal("4.90"), tax=Decimal("9.13"), discount=Decimal("0"), total=Decimal("57.20"),
                  cart_tokens=tuple(cart_tokens), status_url=f"https://demo-shop.myshopify.com/orders/{order_id}",
                  taxes_included=True)
    values.update(overrides)
    return Order(**values)


def checkout(token: str = "cart-abc", *, phone: str | None = PHONE, at: datetime | None = None,
             completed: bool = False) -> CheckoutUpdated:
    at = at or now()
    return CheckoutUpdated(platform="shopify", cart_token=token, updated_at=at, created_at=at, customer=customer(phone),
                           lines=lines(), currency="EUR", subtotal=Decimal("52.30"), total=Decimal("52.30"),
                           recovery_url=f"https://demo-shop.myshopify.com/checkouts/{token}/recover",
                           completed_at=at if completed else None)


def fulfillment(status: str, *, fulfillment_id: str = "f-1", order_id: str = "5001", at: datetime | None = None,
                tracking_url: str = "https://www.ups.com/track?n=1Z999") -> FulfillmentUpdated:
    return FulfillmentUpdated(platform="shopify", order_id=order_id, fulfillment_id=fulfillment_id, status=status,
                              occurred_at=at or now(), tracking_company="UPS", tracking_numbers=("1Z999",),
                              tracking_urls=(tracking_url,), customer=customer(), order_name=f"#{order_id}")


def stock(available: bool, quantity: int | None, *, variant_id: str = "111",
          at: datetime | None = None) -> StockChanged:
    return StockChanged(platform="shopify", product_id="11", variant_id=variant_id, available=available,
                        quantity=quantity, occurred_at=at or now(), title="Espresso beans 1 kg")


def apply(shop, *events) -> None:
    """What ``process_store_receipt`` does with parsed events: stale check, then the handlers."""
    from connector.extensions import db
    from connector.ordering import is_stale
    from connector.routing import EVENT_HANDLERS

    for event in events:
        if is_stale(shop.id, event):
            continue
        for handler in EVENT_HANDLERS.get(type(event), ()):
            handler(shop.id, event)
    db.session.commit()


__all__ = ["OrderPaid", "OrderPlaced", "apply", "checkout", "customer", "fulfillment", "now", "order", "stock",
           "timedelta"]
