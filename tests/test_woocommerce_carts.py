"""Cart links: WooCommerce 10 checkout links, our plugin's endpoint, core add-to-cart."""

from __future__ import annotations

import pytest

from integrations.woocommerce.carts import cart_link, link_covers_all_lines

STORE = "https://store.example.com/"


def test_checkout_link_when_supported():
    url = cart_link(STORE, [(123, 2), ("456", 1)], coupon="SPRING10", supports_checkout_link=True, plugin_endpoint=True)
    assert url == "https://store.example.com/checkout-link/?products=123:2,456:1&coupon=SPRING10"


def test_plugin_endpoint_for_older_stores():
    url = cart_link(STORE, [(123, 2), (456, 1)], coupon="WA-5 OFF", supports_checkout_link=False, plugin_endpoint=True)
    assert url == "https://store.example.com/?wcc-cart=123:2,456:1&coupon=WA-5+OFF"


def test_add_to_cart_fallback_links_the_first_line_only():
    lines = [(123, 2), (456, 1)]
    url = cart_link(STORE, lines, coupon="X", supports_checkout_link=False, plugin_endpoint=False)
    assert url == "https://store.example.com/?add-to-cart=123&quantity=2"
    assert not link_covers_all_lines(lines, supports_checkout_link=False, plugin_endpoint=False)
    assert link_covers_all_lines([(1, 1)], supports_checkout_link=False, plugin_endpoint=False)


def test_repeated_ids_are_merged_in_order():
    url = cart_link(STORE, [(5, 1), (7, 1), (5, 2)], supports_checkout_link=True, plugin_endpoint=False)
    assert url == "https://store.example.com/checkout-link/?products=5:3,7:1"


def test_store_in_a_subdirectory():
    url = cart_link("https://example.com/shop/", [(5, 1)], supports_checkout_link=False, plugin_endpoint=True)
    assert url == "https://example.com/shop/?wcc-cart=5:1"


@pytest.mark.parametrize(
    ("lines", "coupon"),
    [([], None), ([(0, 1)], None), ([("abc", 1)], None), ([(5, 0)], None), ([(5, True)], None), ([(5, 1)], "A,B"),
     ([(5, 1)], " ")],
)
def test_invalid_input(lines, coupon):
    with pytest.raises(ValueError):
        cart_link(STORE, lines, coupon=coupon, supports_checkout_link=True, plugin_endpoint=False)


def test_the_link_form_follows_what_the_store_can_do():
    from connector.models import Shop
    from connector.stores.woocommerce import link_capabilities

    def shop(state=None, settings=None):
        return Shop(platform="woocommerce", domain="https://store.example", sync_state=state, settings=settings or {})

    assert link_capabilities(shop()) == (False, False)  # unknown store: the add-to-cart URL
    assert link_capabilities(shop({"woocommerce_version": "10.1.2"})) == (True, False)
    assert link_capabilities(shop({"woocommerce_version": "9.8.5", "plugin_seen_at": "2026-11-24T08:00:00"})) == (
        False, True)
    assert link_capabilities(shop({"woocommerce_version": "10.0.0"}, {"woocommerce": {"checkout_link": False}})) == (
        False, False)
