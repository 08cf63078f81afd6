"""Constants of the WooCommerce adapter: header names, the order meta it reads, carrier statuses."""

from __future__ import annotations

from connector.events import FulfillmentStatus

#: the adapter's slug: the ``platform`` of every event it makes
PLATFORM = "woocommerce"

# Delivery headers, documented at https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks
HEADER_TOPIC = "X-WC-Webhook-Topic"
HEADER_RESOURCE = "X-WC-Webhook-Resource"
HEADER_EVENT = "X-WC-Webhook-Event"
HEADER_SIGNATURE = "X-WC-Webhook-Signature"
HEADER_WEBHOOK_ID = "X-WC-Webhook-ID"
HEADER_DELIVERY_ID = "X-WC-Webhook-Delivery-ID"
HEADER_SOURCE = "X-WC-Webhook-Source"
#: our plugin's cart reports
HEADER_CART_SIGNATURE = "X-WCC-Signature"

# Order meta our WordPress plugin writes at checkout.
META_OPT_IN = "_wcc_whatsapp_opt_in"  # "yes" | "no"
META_CONSENT_TEXT = "_wcc_consent_text"
META_CART_TOKEN = "_wcc_cart_token"
META_LOCALE = "_wcc_locale"
#: Where a shopper's language may be, first match wins. Core WooCommerce stores none.
#: ``_wcc_locale`` is ours (the plugin saves ``get_locale()`` at checkout); WPML's
#: WooCommerce Multilingual keeps the order language in ``wpml_language``; the other two
#: are seen in the wild for older WPML and Polylang set-ups and are best effort (verify).
LOCALE_META_KEYS = (META_LOCALE, "wpml_language", "_wpml_language", "pll_language")
#: WooCommerce Shipment Tracking (and Advanced Shipment Tracking, which writes the same
#: meta): a list of {tracking_provider, custom_tracking_provider, tracking_number,
#: custom_tracking_link, date_shipped, tracking_id}. https://woocommerce.com/document/shipment-tracking/
META_TRACKING_ITEMS = "_wc_shipment_tracking_items"
#: TrackShip for WooCommerce (the carrier-status service Advanced Shipment Tracking connects
#: to) keeps each tracking item's carrier status in order meta ``shipment_status``: an array
#: indexed like the tracking items, each ``{"status", "status_date" ("2021-07-27 15:28:02",
#: UTC), "est_delivery_date", "tracking_events", "tracking_page"}`` (trackship/
#: trackship-for-woocommerce; zorem/woo-advanced-shipment-tracking reads the same key).
#: WooCommerce Shipment Tracking and AST without TrackShip record no status after "shipped".
META_SHIPMENT_STATUS = "shipment_status"
#: TrackShip's status words → ours; anything else (unknown, pending_trackship, ...) is "shipped"
TRACKSHIP_STATUSES = {
    "pre_transit": FulfillmentStatus.SHIPPED,
    "in_transit": FulfillmentStatus.IN_TRANSIT,
    "out_for_delivery": FulfillmentStatus.OUT_FOR_DELIVERY,
    "available_for_pickup": FulfillmentStatus.READY_FOR_PICKUP,
    "delivered": FulfillmentStatus.DELIVERED,
    "failure": FulfillmentStatus.ATTEMPTED_DELIVERY,  # TrackShip's label: "Failed Attempt"
    "failed_attempt": FulfillmentStatus.ATTEMPTED_DELIVERY,  # older AST builds' word
    "exception": FulfillmentStatus.DELAYED,
    "on_hold": FulfillmentStatus.DELAYED,
    "return_to_sender": FulfillmentStatus.FAILURE,
}
#: AST's optional custom order status "Delivered" (REST ``status: "delivered"``): the whole
#: order arrived; its tracking items without a status of their own are delivered too.
DELIVERED_ORDER_STATUS = "delivered"
