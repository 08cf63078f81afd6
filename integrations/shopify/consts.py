"""Constants of the Shopify adapter: the pinned Admin API version, header names, grant types.

The Admin API version is pinned here and nowhere else (the app TOML repeats it, and a test
checks that the two agree). Shopify releases a version every quarter and supports each for
twelve months: https://shopify.dev/docs/api/usage/versioning
2026-07 is the newest stable version in the webhook reference we work from
(https://shopify.dev/docs/api/webhooks/2026-07, "2026-07 latest").
"""

API_VERSION = "2026-07"

#: ``{shop}`` is replaced by the shop's ``*.myshopify.com`` domain; tests point it at a fake
DEFAULT_BASE_URL = "https://{shop}"

# --- Headers -------------------------------------------------------------------------------
# https://shopify.dev/docs/apps/build/webhooks/delivery-structure

ACCESS_TOKEN_HEADER = "X-Shopify-Access-Token"
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
SHOP_DOMAIN_HEADER = "X-Shopify-Shop-Domain"
API_VERSION_HEADER = "X-Shopify-API-Version"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"

# --- OAuth ---------------------------------------------------------------------------------
# https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/token-exchange

GRANT_TYPE_REFRESH_TOKEN = "refresh_token"
GRANT_TYPE_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_TYPE_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
TOKEN_TYPE_OFFLINE = "urn:shopify:params:oauth:token-type:offline-access-token"
TOKEN_TYPE_ONLINE = "urn:shopify:params:oauth:token-type:online-access-token"

#: the adapter's slug: URLs, registry keys, fixture folders and log keys use the same word
PLATFORM = "shopify"
