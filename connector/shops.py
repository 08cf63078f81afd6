"""Connecting stores and WhatsApp numbers by hand (the service behind the CLI; the install flows
are in connector/stores/)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy import or_, select

from connector.extensions import db, settings
from connector.messaging import limits
from connector.models import Shop, WhatsAppAccount, utcnow
from connector.stores.woocommerce_connect import WooCommerceConnectError, connect_with_keys
from connector.wakeups import kick_dispatcher
from integrations.shopify import operations as shopify_operations
from integrations.shopify.client import GraphQLClient
from integrations.shopify.errors import ShopifyAuthError, ShopifyError

# Shopify accepts only *.myshopify.com shop domains: ../shared/reference/platforms.md §1.2
_SHOPIFY_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]\.myshopify\.com$")


class ShopError(ValueError):
    """A shop cannot be connected or found as asked; the message says why."""


def shopify_domain(raw: str) -> str:
    text = raw.strip().lower()
    host = urlsplit(text if "://" in text else f"https://{text}").hostname or ""
    if "." not in host:
        host = f"{host}.myshopify.com"
    if not _SHOPIFY_DOMAIN.match(host):
        raise ShopError(f"{raw!r} is not a shop domain of the form name.myshopify.com")
    return host


def add_shopify(domain: str, access_token: str, *, api_secret: str | None = None, verify: bool = True) -> Shop:
    """A store connected with a custom-app Admin API token (self-hosters).

    The token is tried against Shopify first (``shop { name }``) and nothing is stored when
    Shopify refuses it or cannot be asked; ``verify=False`` stores it unchecked (offline
    set-ups). A custom app signs its webhooks with its own API secret key; without one here,
    the app-wide ``SHOPIFY_API_SECRET`` is used to verify them.
    """
    if not access_token.strip():
        raise ShopError("the access token is empty")
    host = shopify_domain(domain)
    credentials = {"access_token": access_token.strip(), "kind": "custom_app"}
    if api_secret and api_secret.strip():
        credentials["api_secret"] = api_secret.strip()
    if verify:
        check_shopify_token(host, credentials["access_token"])
    return _upsert("shopify", host, credentials)


def check_shopify_token(domain: str, access_token: str) -> str:
    """The shop's name, read with this token; :class:`ShopError` when Shopify refuses it or
    does not answer."""
    try:
        with GraphQLClient(domain, access_token, base_url=settings().shopify_admin_base_url, max_retries=1) as client:
            return shopify_operations.shop_name(client)
    except ShopifyAuthError:
        raise ShopError(f"Shopify refused this access token for {domain}; nothing was stored "
                        "(check the custom app's Admin API token and that the app is installed)") from None
    except ShopifyError as error:
        raise ShopError(f"could not check the token with Shopify ({error}); nothing was stored "
                        "(--no-verify stores it unchecked)") from None


def add_woocommerce(url: str, consumer_key: str, consumer_secret: str, *, verify: bool = True) -> Shop:
    """A store connected by REST keys: the URL must be https:// and not an internal address
    (resolved now, checked again on every connection); the keys must authenticate against
    the store first (``GET /system_status``, ``connector.stores.woocommerce_connect``), unless
    ``verify=False`` for a new store in an offline set-up."""
    if not consumer_key.startswith("ck_") or not consumer_secret.startswith("cs_"):
        raise ShopError("WooCommerce REST keys start with ck_ (key) and cs_ (secret)")
    if "://" not in url:
        raise ShopError("a WooCommerce store URL must be https:// (its REST keys travel in headers)")
    try:
        return connect_with_keys(url, consumer_key, consumer_secret, verify=verify)
    except WooCommerceConnectError as error:
        raise ShopError(f"{error}; nothing was stored") from None


def _upsert(platform: str, domain: str, credentials: dict) -> Shop:
    shop = db.session.scalars(select(Shop).where(Shop.platform == platform, Shop.domain == domain)).first()
    if shop is None:
        shop = Shop(platform=platform, domain=domain, settings={}, time_zone="UTC", locale="en")
        db.session.add(shop)
    shop.credentials = {**shop.credentials, **credentials}
    shop.is_active = True
    shop.uninstalled_at = None
    db.session.commit()
    return shop


def find_shop(reference: str) -> Shop:
    """A shop by id, domain or shop key."""
    conditions = [Shop.domain == reference.strip().lower(), Shop.shop_key == reference.strip()]
    if reference.isdigit():
        conditions.append(Shop.id == int(reference))
    shop = db.session.scalars(select(Shop).where(or_(*conditions))).first()
    if shop is None:
        raise ShopError(f"no shop {reference!r} (use its id, domain or key; `connector shops list`)")
    return shop


def set_whatsapp(shop: Shop, *, phone_number_id: str, access_token: str, waba_id: str | None = None,
                 throughput_per_second: int | None = None,
                 messaging_limit: int | None | str = "keep",
                 marketing_messages: bool | None = None) -> WhatsAppAccount:
    """Connect (or change) the shop's WhatsApp number; everything is checked before anything changes.

    ``marketing_messages``: the number's portfolio is onboarded to the Marketing Messages API
    (its terms accepted in WhatsApp Manager), so marketing templates go to ``/marketing_messages``;
    None keeps what was set (off for a new number)."""
    phone_number_id, access_token = phone_number_id.strip(), access_token.strip()
    if not phone_number_id.isdigit():
        raise ShopError("a phone number id is the numeric id Meta shows for the number")
    if not access_token:
        raise ShopError("the access token is empty")
    if throughput_per_second is not None and not 1 <= throughput_per_second <= 1000:
        raise ShopError("throughput must be between 1 and 1,000 messages per second")
    if messaging_limit not in ("keep", None) and (not isinstance(messaging_limit, int) or messaging_limit < 1):
        raise ShopError("the messaging limit is a positive number of recipients (or unlimited)")
    taken = db.session.scalars(
        select(WhatsAppAccount).where(WhatsAppAccount.phone_number_id == phone_number_id,
                                      WhatsAppAccount.shop_id != shop.id)
    ).first()
    if taken is not None:
        raise ShopError("that phone number id is already connected to another shop")
    account = db.session.scalars(select(WhatsAppAccount).where(WhatsAppAccount.shop_id == shop.id)).first()
    if account is None:
        # Meta starts new business portfolios at 1,000 unique recipients a day
        account = WhatsAppAccount(shop_id=shop.id, throughput_per_second=80, messaging_limit=1000)
        db.session.add(account)
    account.phone_number_id = phone_number_id
    account.access_token = access_token
    account.waba_id = waba_id or account.waba_id
    if throughput_per_second is not None:
        account.throughput_per_second = throughput_per_second
    if marketing_messages is not None:
        account.marketing_messages_onboarded = marketing_messages
    db.session.flush()
    if messaging_limit != "keep":
        assert not isinstance(messaging_limit, str)  # any other text was refused above
        # an explicit value is the operator's ceiling under Meta's limit (None removes it)
        limits.set_override(shop, account, messaging_limit)
        if messaging_limit is None and not limits.limit_state(shop).get("meta_known"):
            account.messaging_limit = None
    db.session.commit()
    # what Meta says the portfolio may reach; on failure the limit above stays and the daily refresh retries
    limits.refresh_from_meta(shop, account)
    _wake(shop)  # messages that waited for a number go now
    return account


def resume_sending(shop: Shop) -> None:
    shop.sending_paused_at = None
    shop.sending_paused_reason = None
    shop.updated_at = utcnow()
    db.session.commit()
    _wake(shop)


def _wake(shop: Shop) -> None:
    kick_dispatcher(shop.id)
