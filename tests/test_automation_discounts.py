"""Unique discount codes for the last cart step, made through the store's API, with the fixed code as fallback."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from connector.extensions import db
from connector.models import Message, ShortLink
from tests.automation_events import apply, checkout
from tests.factories import make_contact, make_shop
from tests.fakes.woocommerce import FakeWooCommerce

CART = {"delays_seconds": [3600, 7200], "discount_source": "unique", "discount_percent": 15,
        "discount_code": "FIXED10", "discount_value": "10%"}


def _last_step():
    step = db.session.scalars(select(Message).where(Message.automation == "abandoned_cart")
                              .order_by(Message.id.desc())).first()
    link = db.session.scalars(select(ShortLink).where(ShortLink.message_id == step.id)).one()
    return step, parse_qs(urlsplit(link.target_url).query)


def _shopify_shop(fake_shopify, cart_settings=CART):
    shop = make_shop(fake_shopify.shop_domain, settings={"automations": {"abandoned_cart": cart_settings}})
    shop.credentials = {"kind": "custom_app", "access_token": fake_shopify.issue_token(expiring=False).access_token}
    db.session.commit()
    make_contact(shop)
    return shop


def test_shopify_unique_code_through_discount_code_basic_create(ctx, fake_shopify):
    created = []

    def discount_create(query, variables):
        if "discountCodeBasicCreate" not in query:
            return None
        created.append(variables["basicCodeDiscount"])
        return {"discountCodeBasicCreate": {"codeDiscountNode": {"id": "gid://shopify/DiscountCodeNode/1"},
                                            "userErrors": []}}

    fake_shopify.graphql_handlers.append(discount_create)
    shop = _shopify_shop(fake_shopify)
    apply(shop, checkout("cart-1"))
    step, query = _last_step()
    assert len(created) == 1
    code = created[0]["code"]
    assert code.startswith("WA") and code != "FIXED10"
    assert created[0]["customerGets"]["value"] == {"percentage": 0.15} and created[0]["usageLimit"] == 1
    assert step.template_name == "cart_reminder_discount"
    assert step.content["body"]["discount_code"] == code and step.content["body"]["discount_value"] == "10%"
    assert query["discount"] == [code]  # the cart link applies the same code
    # the first step carries none, and a second checkout update makes no second code
    apply(shop, checkout("cart-1"))
    assert len(created) == 1


def test_shopify_failure_falls_back_to_the_fixed_code_with_a_logged_reason(ctx, fake_shopify, caplog):
    def discount_refused(query, variables):
        if "discountCodeBasicCreate" not in query:
            return None
        return {"discountCodeBasicCreate": {"codeDiscountNode": None, "userErrors": [
            {"field": ["basicCodeDiscount"], "code": "INVALID", "message": "Access denied: write_discounts"}]}}

    fake_shopify.graphql_handlers.append(discount_refused)
    shop = _shopify_shop(fake_shopify)
    with caplog.at_level(logging.WARNING, logger="connector.automations.discounts"):
        apply(shop, checkout("cart-1"))
    step, query = _last_step()
    assert step.template_name == "cart_reminder_discount" and step.content["body"]["discount_code"] == "FIXED10"
    assert query["discount"] == ["FIXED10"]
    fallback = [r for r in caplog.records if r.getMessage() == "cart.discount_fallback"]
    assert fallback and "write_discounts" in fallback[0].reason and fallback[0].fallback == "fixed"


def test_shopify_unreachable_without_fixed_code_sends_the_plain_reminder(ctx, fake_shopify):
    fake_shopify.fail_next(500, count=10)
    shop = _shopify_shop(fake_shopify, {**CART, "discount_code": None})
    apply(shop, checkout("cart-1"))
    step, query = _last_step()
    assert step.template_name == "cart_reminder_2" and "discount" not in query


def test_woocommerce_unique_code_through_create_coupon_and_fallback(ctx):
    with FakeWooCommerce() as store:
        key, secret = store.issue_keys()
        shop = make_shop(store.base_url.removeprefix("http://"),
                         settings={"automations": {"abandoned_cart": CART}})
        shop.platform, shop.domain = "woocommerce", store.base_url
        shop.credentials = {"consumer_key": key, "consumer_secret": secret}
        shop.sync_state = {"woocommerce_version": "10.2.0"}  # checkout links carry the coupon
        db.session.commit()
        make_contact(shop)
        apply(shop, checkout("cart-1"))
        coupons = list(store.state.coupons.values())
        assert len(coupons) == 1
        coupon = coupons[0]
        assert coupon["amount"] == "15" and coupon["discount_type"] == "percent" and coupon["usage_limit"] == 1
        step, query = _last_step()
        assert step.content["body"]["discount_code"].lower() == coupon["code"]
        assert query["coupon"][0].lower() == coupon["code"]

        store.revoke_keys(key)  # the store refuses us now: the fixed code goes out instead
        apply(shop, checkout("cart-2"))
        step, query = _last_step()
        assert step.content["body"]["discount_code"] == "FIXED10" and len(store.state.coupons) == 1
