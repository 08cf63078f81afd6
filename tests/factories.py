"""Test data builders (plain functions; every row belongs to a shop)."""

from __future__ import annotations

from datetime import datetime

from connector.extensions import db
from connector.models import Contact, Shop, WhatsAppAccount, utcnow
from connector.models.contacts import CONSENT_GRANTED


def make_shop(domain: str = "demo-shop.myshopify.com", *, phone_number_id: str = "1000001", throughput: int = 80,
              messaging_limit: int | None = 1000, settings: dict | None = None, time_zone: str = "UTC") -> Shop:
    shop = Shop(platform="shopify", domain=domain,
                settings=settings or {"governor": {"quiet_hours": {"enabled": False}}},
                time_zone=time_zone, locale="en")
    shop.credentials = {"access_token": "shpat_test"}
    db.session.add(shop)
    db.session.flush()
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id=phone_number_id, waba_id="WABA1",
                                   access_token="EAAG-test-token", throughput_per_second=throughput,
                                   messaging_limit=messaging_limit))
    db.session.commit()
    return shop


def make_contact(shop: Shop, phone: str = "+4915112345678", *, marketing: bool = True, transactional: bool = True,
                 time_zone: str | None = "Europe/Berlin", last_inbound_at: datetime | None = None,
                 name: str | None = "Maria Muster") -> Contact:
    now = utcnow()
    contact = Contact(
        shop_id=shop.id, phone_e164=phone, name=name, locale="de", country="DE", time_zone=time_zone,
        marketing_consent=CONSENT_GRANTED if marketing else "none", marketing_consent_at=now if marketing else None,
        transactional_consent=CONSENT_GRANTED if transactional else "none",
        transactional_consent_at=now if transactional else None, last_inbound_at=last_inbound_at,
    )
    db.session.add(contact)
    db.session.commit()
    return contact


def order_confirmation(shop: Shop, contact: Contact, key: str = "order:1001:confirmation", **overrides):
    from connector.messaging.outbox import queue_message

    options = dict(
        shop=shop, contact=contact, idempotency_key=key, automation="order_confirmation", purpose="transactional",
        kind="template", template_name="order_confirmation", language="de",
        content={"body": ["Maria", "#1001", "49,90 €"], "buttons": [{"index": 0, "url_suffix": "orders/1001"}]},
    )
    options.update(overrides)
    return queue_message(**options)


def make_shopify_and_woocommerce(shopify_domain: str, woo_domain: str, *, phone_number_id: str,
                                 shopify_time_zone: str = "UTC", shopify_locale: str = "en") -> tuple[Shop, Shop]:
    """A custom-app Shopify shop with a WhatsApp number, and a WooCommerce store beside it."""
    shopify = Shop(platform="shopify", domain=shopify_domain, settings={}, time_zone=shopify_time_zone,
                   locale=shopify_locale, country="DE")
    shopify.credentials = {"kind": "custom_app", "access_token": "shpat_test"}
    woo = Shop(platform="woocommerce", domain=woo_domain, settings={}, time_zone="UTC", locale="en", country="DE")
    woo.credentials = {"consumer_key": "ck_x", "consumer_secret": "cs_x", "webhook_secret": "wc-secret"}
    db.session.add_all([shopify, woo])
    db.session.flush()
    db.session.add(WhatsAppAccount(shop_id=shopify.id, phone_number_id=phone_number_id, waba_id="102290129340398",
                                   access_token="EAAG-test-token", throughput_per_second=80))
    db.session.commit()
    return shopify, woo


def queue_due_confirmations(shop_id: int, count: int, base: int) -> None:
    """``count`` contacts (phones ``+base``, ``+base+1`` …) with one due order confirmation each,
    written in two bulk INSERTs (the sending benchmark and the pacing test seed with it)."""
    from sqlalchemy import insert, select

    from connector.models import Message

    now = utcnow()
    db.session.execute(insert(Contact), [
        {"shop_id": shop_id, "phone_e164": f"+{base + i}", "time_zone": "Europe/Berlin", "marketing_consent": "none",
         "transactional_consent": "granted", "created_at": now, "updated_at": now} for i in range(count)])
    contact_ids = db.session.scalars(select(Contact.id).where(Contact.shop_id == shop_id).order_by(Contact.id)).all()
    db.session.execute(insert(Message), [
        {"shop_id": shop_id, "contact_id": contact_id, "idempotency_key": f"order:{i}:confirmation",
         "automation": "order_confirmation", "purpose": "transactional", "kind": "template",
         "template_name": "order_confirmation", "language": "en",
         "content": {"body": ["Alex", f"#{1000 + i}", "49.90 EUR"], "buttons": [{"index": 0, "url_suffix": f"o/{i}"}]},
         "status": "queued", "attempts": 0, "deferrals": 0, "priority": 0, "due_at": now,
         "counts_toward_tier": False, "created_at": now, "updated_at": now}
        for i, contact_id in enumerate(contact_ids)])
    db.session.commit()
