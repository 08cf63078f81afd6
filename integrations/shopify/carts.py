"""Cart permalinks: links that open a shop's checkout with the cart already filled.

Format and parameters: https://shopify.dev/docs/apps/build/checkout/create-cart-permalinks
``https://<shop domain>[/<locale>]/cart/<variant id>:<quantity>,...?<parameters>``. Without
``storefront=true`` the link goes straight to checkout. Permalinks cannot carry selling
plans and do not get past a storefront password.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlencode

from integrations.shopify.payloads import checkout_recovery_url

__all__ = ["CHECKOUT_PREFILL_FIELDS", "cart_permalink", "checkout_recovery_url"]

#: checkout fields a permalink may prefill, as ``checkout[...]`` parameter names
CHECKOUT_PREFILL_FIELDS: dict[str, str] = {
    "email": "checkout[email]",
    **{
        field: f"checkout[shipping_address][{field}]"
        for field in ("first_name", "last_name", "address1", "address2", "city", "province", "country", "zip")
    },
}

_HOST = re.compile(r"[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)+")
_LOCALE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,4})?", re.IGNORECASE)


def cart_permalink(
    shop_domain: str,
    lines: Iterable[tuple[str | int, int]],
    *,
    locale: str | None = None,
    default_locale: str | None = None,
    discount: str | Iterable[str] | None = None,
    ref: str | None = None,
    note: str | None = None,
    attributes: Mapping[str, str] | None = None,
    checkout: Mapping[str, str] | None = None,
    access_token: str | None = None,
) -> str:
    """The permalink for ``lines`` (``(variant_id, quantity)`` pairs) on ``shop_domain``.

    ``shop_domain`` is the ``*.myshopify.com`` domain or the shop's primary domain, with or
    without ``https://``. ``locale`` adds the ``/<locale>`` path prefix unless it equals
    ``default_locale``. ``discount`` codes may not contain commas (the parameter is a comma
    list). ``attributes`` become cart attributes (``attributes[key]=value``, shown in the
    order's notes: our reference for attribution goes there or in ``ref``). ``checkout``
    prefills the keys of :data:`CHECKOUT_PREFILL_FIELDS`. ``access_token`` is a *Storefront*
    API token that attributes the order to a sales channel, never an Admin token.
    Raises ``ValueError`` for an empty cart, a bad id or quantity, host, locale, discount
    code or prefill field.
    """
    host = _host(shop_domain)
    items = []
    for variant_id, quantity in lines:
        variant = str(variant_id).strip()
        if not variant.isdigit() or not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise ValueError("cart lines must be (numeric variant id, positive quantity)")
        items.append(f"{variant}:{quantity}")
    if not items:
        raise ValueError("a cart permalink needs at least one line")
    prefix = ""
    if locale and (default_locale is None or locale.lower() != default_locale.lower()):
        if not _LOCALE.fullmatch(locale):
            raise ValueError("locale must look like 'de' or 'pt-BR'")
        prefix = f"/{locale}"
    params: list[tuple[str, str]] = []
    codes = [discount] if isinstance(discount, str) else list(discount or ())
    if any("," in code for code in codes):
        raise ValueError("discount codes containing commas cannot go in a permalink")
    if codes:
        params.append(("discount", ",".join(code.strip() for code in codes if code.strip())))
    for key, value in (checkout or {}).items():
        if key not in CHECKOUT_PREFILL_FIELDS:
            raise ValueError(f"cannot prefill checkout field {key!r}")
        if value:
            params.append((CHECKOUT_PREFILL_FIELDS[key], str(value)))
    for key, value in (attributes or {}).items():
        params.append((f"attributes[{key}]", str(value)))
    if note:
        params.append(("note", note))
    if ref:
        params.append(("ref", ref))
    if access_token:
        params.append(("access_token", access_token))
    query = f"?{urlencode(params, quote_via=quote)}" if params else ""
    return f"https://{host}{prefix}/cart/{','.join(items)}{query}"


def _host(shop_domain: str) -> str:
    text = (shop_domain or "").strip().lower()
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    text = text.rstrip("/")
    if not _HOST.fullmatch(text):
        raise ValueError("shop domain must be a bare host name such as shop.example.com")
    return text
