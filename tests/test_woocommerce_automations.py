"""WooCommerce merchants get what Shopify merchants get: a paid order delivered by the store's
webhook becomes the same order confirmation, and its completion with tracking the same
shipping update, through the real automations and the sandbox."""

from __future__ import annotations

from sqlalchemy import select

from connector.extensions import db
from connector.models import Message, WhatsAppAccount
from tests.woocommerce_support import app_url, connected_shop, fresh_order, store  # noqa: F401  (fixtures)


def test_a_paid_woocommerce_order_gets_its_confirmation_and_shipping_update(app_url, store, drain, sandbox):  # noqa: F811
    shop = connected_shop(store)
    db.session.add(WhatsAppAccount(shop_id=shop.id, phone_number_id="1000001", access_token="EAAG-test",
                                   messaging_limit=1000))
    shop.settings = {"governor": {"quiet_hours": {"enabled": False}, "pair_interval_seconds": 0.5}}
    db.session.commit()

    order = fresh_order(store, "order.updated__processing", billing={
        **fresh_order(store)["billing"], "phone": "0151 23456789", "country": "DE"})
    assert all(d.status_code == 200 for d in store.deliver("order.updated", order))
    assert store.deliver("order.updated", order)[0].status_code == 200  # WooCommerce's own redelivery

    def sent(template: str) -> list[dict]:
        return [m for m in sandbox.messages() if m["payload"].get("template", {}).get("name") == template]

    assert drain(lambda: len(sent("order_confirmation")) == 1, timeout=20)
    (confirmation,) = sent("order_confirmation")
    assert confirmation["to"] == "+4915123456789"  # the national number, read with the billing country
    rows = db.session.scalars(select(Message).where(Message.shop_id == shop.id)).all()
    assert sorted((m.automation, m.template_name) for m in rows) == [
        ("double_opt_in", "optin_confirmation"),  # she ticked the WhatsApp box at checkout: asked to confirm
        ("order_confirmation", "order_confirmation")]

    shipped = store.update_order(order["id"], status="completed", meta_data=[{
        "key": "_wc_shipment_tracking_items", "value": [{
            "tracking_provider": "DHL", "tracking_number": "00340434161234567890", "tracking_id": "trk-1",
            "date_shipped": "1764000000"}]}])
    store.deliver("order.updated", shipped)
    assert drain(lambda: len(sent("shipping_shipped")) == 1, timeout=20)
    assert len(sent("order_confirmation")) == 1  # the completed order is the same order, confirmed once
