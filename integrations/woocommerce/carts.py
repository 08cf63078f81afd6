"""Links that put items in a WooCommerce cart (cart recovery, back-in-stock, reorder).

Three forms, best first:

1. WooCommerce 10's shareable checkout link, ``/checkout-link/?products=ID:QTY,...&coupon=CODE``:
   fills the cart with simple products or variation ids, applies one coupon and opens
   checkout in a fresh session.
   https://developer.woocommerce.com/docs/best-practices/urls-and-routing/checkout-urls
   (added by woocommerce/woocommerce#58140).
2. Our WordPress plugin's endpoint, ``/?wcc-cart=ID:QTY,...&coupon=CODE``: the same for
   older stores (the plugin adds each item with ``WC()->cart->add_to_cart``, applies the
   coupon and redirects to checkout; see the plugin's ``wcc_parse_cart_param``).
3. Core's ``/?add-to-cart=ID&quantity=N``: one product per URL. A variation id works as
   the id. Handled by ``WC_Form_Handler::add_to_cart_action`` in core; documented only
   by secondary sources (see docs platforms reference §2.4). Coupons cannot be applied.
   With several lines we link the first one only: a partial cart that opens is better
   than no link, and the message can still name every item. Callers that need all
   items must check :func:`link_covers_all_lines` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import quote, urlencode

from integrations.woocommerce.auth import normalise_store_url

__all__ = ["CHECKOUT_LINK_PATH", "PLUGIN_CART_PARAM", "cart_link", "format_lines", "link_covers_all_lines"]

CHECKOUT_LINK_PATH = "/checkout-link/"
PLUGIN_CART_PARAM = "wcc-cart"


def cart_link(
    store_url: str,
    lines: Sequence[tuple[int | str, int]],
    *,
    coupon: str | None = None,
    supports_checkout_link: bool,
    plugin_endpoint: bool,
) -> str:
    """A URL that fills the cart with ``lines`` [(product or variation id, quantity)].

    Repeated ids are merged (their quantities added) and order is kept. Raises
    ``ValueError`` for no lines, a non-numeric id, a quantity below 1, or a coupon with
    a comma (the checkout link would read it as two).
    """
    items = _merged(lines)
    base = normalise_store_url(store_url)
    if coupon is not None and ("," in coupon or not coupon.strip()):
        raise ValueError("coupon must be a non-empty code without commas")
    if supports_checkout_link:
        return f"{base}{CHECKOUT_LINK_PATH}?{_query('products', items, coupon)}"
    if plugin_endpoint:
        return f"{base}/?{_query(PLUGIN_CART_PARAM, items, coupon)}"
    product_id, quantity = items[0]
    return f"{base}/?{urlencode({'add-to-cart': product_id, 'quantity': quantity})}"


def link_covers_all_lines(lines: Sequence[tuple[int | str, int]], *, supports_checkout_link: bool,
                          plugin_endpoint: bool) -> bool:
    """False when :func:`cart_link` would fall back to a single ``add-to-cart`` item."""
    return supports_checkout_link or plugin_endpoint or len(_merged(lines)) == 1


def format_lines(items: Iterable[tuple[str, int]]) -> str:
    """``ID:QTY,ID:QTY``, the value both multi-item forms take."""
    return ",".join(f"{product_id}:{quantity}" for product_id, quantity in items)


def _query(name: str, items: list[tuple[str, int]], coupon: str | None) -> str:
    # ":" and "," stay readable; WooCommerce decodes the value either way.
    query = f"{name}={quote(format_lines(items), safe=':,')}"
    if coupon:
        query += "&" + urlencode({"coupon": coupon.strip()})
    return query


def _merged(lines: Sequence[tuple[int | str, int]]) -> list[tuple[str, int]]:
    merged: dict[str, int] = {}
    for product_id, quantity in lines:
        text = str(product_id).strip()
        if not text.isascii() or not text.isdigit() or int(text) <= 0:
            raise ValueError("product ids must be positive integers")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValueError("quantities must be integers of at least 1")
        key = str(int(text))
        merged[key] = merged.get(key, 0) + quantity
    if not merged:
        raise ValueError("a cart link needs at least one line")
    return list(merged.items())
