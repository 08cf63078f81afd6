<?php
/**
 * Pure helpers of the WhatsApp Commerce Connector plugin.
 *
 * No WordPress or WooCommerce calls here, so that tests/php can run these with plain PHP.
 *
 * @package WhatsAppCommerceConnector
 */

if ( ! defined( 'WCC_CART_REPORT_VERSION' ) ) {
	define( 'WCC_CART_REPORT_VERSION', 1 );
}

/** Most items a cart link may carry; longer links are refused, not truncated. */
if ( ! defined( 'WCC_MAX_CART_LINK_ITEMS' ) ) {
	define( 'WCC_MAX_CART_LINK_ITEMS', 50 );
}

/**
 * Parse the value of ?wcc-cart= ("ID:QTY,ID:QTY") into a list of [id, quantity] pairs.
 *
 * The same format as WooCommerce 10's /checkout-link/?products=. Repeated ids are merged.
 * Returns an empty array when any part is malformed, so a tampered link adds nothing.
 *
 * @param string $value Raw parameter value.
 * @return array<int, array{0:int,1:int}>
 */
function wcc_parse_cart_param( $value ) {
	if ( ! is_string( $value ) || '' === trim( $value ) ) {
		return array();
	}
	$merged = array();
	foreach ( explode( ',', trim( $value ) ) as $part ) {
		if ( ! preg_match( '/^\s*([1-9][0-9]{0,19})(?::([1-9][0-9]{0,3}))?\s*$/', $part, $match ) ) {
			return array();
		}
		$id       = (int) $match[1];
		$quantity = isset( $match[2] ) ? (int) $match[2] : 1;
		$merged[ $id ] = ( isset( $merged[ $id ] ) ? $merged[ $id ] : 0 ) + $quantity;
	}
	if ( count( $merged ) > WCC_MAX_CART_LINK_ITEMS ) {
		return array();
	}
	$pairs = array();
	foreach ( $merged as $id => $quantity ) {
		$pairs[] = array( $id, $quantity );
	}
	return $pairs;
}

/**
 * Normalise the connector URL from the settings: https (or http on loopback), no trailing slash.
 *
 * @param string $url Raw URL.
 * @return string Empty string when unusable.
 */
function wcc_normalise_connector_url( $url ) {
	$url   = trim( (string) $url );
	$parts = parse_url( $url );
	if ( ! is_array( $parts ) || empty( $parts['scheme'] ) || empty( $parts['host'] ) ) {
		return '';
	}
	$scheme = strtolower( $parts['scheme'] );
	$host   = strtolower( $parts['host'] );
	$local  = in_array( $host, array( 'localhost', '127.0.0.1', '[::1]' ), true );
	if ( 'https' !== $scheme && ! ( 'http' === $scheme && $local ) ) {
		return '';
	}
	$port = isset( $parts['port'] ) ? ':' . (int) $parts['port'] : '';
	$path = isset( $parts['path'] ) ? rtrim( $parts['path'], '/' ) : '';
	return $scheme . '://' . $host . $port . $path;
}

/**
 * URL of the storefront widget script for this store.
 *
 * @param string $connector_url Normalised connector URL.
 * @param string $store_key     Store key from the settings.
 * @return string
 */
function wcc_widget_url( $connector_url, $store_key ) {
	return $connector_url . '/storefront/widget.js?shop=' . rawurlencode( $store_key );
}

/**
 * The signed link that starts a reconnect at the connector: new REST keys for this store.
 *
 * The connector only lets a store that is already connected be reconnected when the start is
 * signed with the store's current shared secret: HMAC-SHA256 (hex) of
 * "wcc-reconnect-v1\n{store key}\n{timestamp}\n{nonce}". The link is good for five minutes
 * and once (the nonce); the keys are kept only if they work against this store.
 *
 * @param string $connector_url Normalised connector URL.
 * @param string $store_key     Store key from the settings.
 * @param string $secret        Shared secret from the settings.
 * @param int    $timestamp     Unix seconds, now.
 * @param string $nonce         16 to 64 random letters and digits.
 * @return string
 */
function wcc_reconnect_url( $connector_url, $store_key, $secret, $timestamp, $nonce ) {
	$timestamp = (int) $timestamp;
	$message   = "wcc-reconnect-v1\n" . $store_key . "\n" . $timestamp . "\n" . $nonce;
	$query     = array(
		'store' => $store_key,
		'ts'    => $timestamp,
		'nonce' => $nonce,
		'sig'   => hash_hmac( 'sha256', $message, $secret ),
	);
	return $connector_url . '/woocommerce/reconnect?' . http_build_query( $query, '', '&', PHP_QUERY_RFC3986 );
}

/**
 * Base64url without padding (RFC 7515, appendix C), as JWTs are written.
 *
 * @param string $bytes Raw bytes.
 * @return string
 */
function wcc_base64url( $bytes ) {
	return rtrim( strtr( base64_encode( $bytes ), '+/', '-_' ), '=' );
}

/**
 * The bearer token the embedded admin app sends to the connector for a store admin.
 *
 * An HS256 JWT signed with the store's shared secret (the connector verifies it in
 * integrations/woocommerce/admin_tokens.py): iss the store's URL, dest the store key, aud
 * "whatsapp-commerce-connector", sub the WordPress user id, iat now, exp at most five minutes on.
 *
 * @param string $secret    Shared secret from the settings.
 * @param string $store_url The store's URL (home_url()).
 * @param string $store_key Store key from the settings.
 * @param int    $user_id   The WordPress user the token is for.
 * @param int    $now       Unix seconds.
 * @param int    $lifetime  Seconds, 1 to 300.
 * @return array{token:string,expires_at:int} An empty token when the settings cannot sign one.
 */
function wcc_admin_token( $secret, $store_url, $store_key, $user_id, $now, $lifetime = 300 ) {
	$now      = (int) $now;
	$lifetime = max( 1, min( 300, (int) $lifetime ) );
	if ( '' === (string) $secret || '' === (string) $store_key || (int) $user_id <= 0 ) {
		return array(
			'token'      => '',
			'expires_at' => 0,
		);
	}
	$header  = wcc_base64url( json_encode( array( 'alg' => 'HS256', 'typ' => 'JWT' ) ) );
	$claims  = array(
		'iss'  => (string) $store_url,
		'dest' => (string) $store_key,
		'aud'  => 'whatsapp-commerce-connector',
		'sub'  => (string) (int) $user_id,
		'iat'  => $now,
		'exp'  => $now + $lifetime,
	);
	$payload = wcc_base64url( json_encode( $claims, JSON_UNESCAPED_SLASHES ) );
	$signed  = $header . '.' . $payload;
	return array(
		'token'      => $signed . '.' . wcc_base64url( hash_hmac( 'sha256', $signed, (string) $secret, true ) ),
		'expires_at' => $now + $lifetime,
	);
}

/**
 * The connector's admin app URL framed by the plugin's menu page.
 *
 * @param string $connector_url Normalised connector URL.
 * @param string $store_url     The store's URL (home_url()).
 * @param string $locale        The WordPress user's locale (get_user_locale()).
 * @return string
 */
function wcc_admin_app_url( $connector_url, $store_url, $locale ) {
	$query = array(
		'platform' => 'woocommerce',
		'store'    => $store_url,
		'locale'   => $locale,
	);
	return $connector_url . '/admin/?' . http_build_query( $query, '', '&', PHP_QUERY_RFC3986 );
}

/**
 * The origin (scheme://host[:port]) of a URL, the target of postMessage calls.
 *
 * @param string $url A URL.
 * @return string Empty string when the URL has no scheme or host.
 */
function wcc_origin( $url ) {
	$parts = parse_url( (string) $url );
	if ( ! is_array( $parts ) || empty( $parts['scheme'] ) || empty( $parts['host'] ) ) {
		return '';
	}
	$port = isset( $parts['port'] ) ? ':' . (int) $parts['port'] : '';
	return strtolower( $parts['scheme'] ) . '://' . strtolower( $parts['host'] ) . $port;
}

/** The storefront calls the plugin forwards to the connector. */
const WCC_STOREFRONT_CALLS = array( 'back-in-stock', 'opt-in' );

/**
 * The headers of a storefront call forwarded to the connector's /storefront/signed/api/{name}:
 * the store key, the time, the shopper's address and an HMAC-SHA256 (base64) with the shared
 * secret over "wcc-forward-v1\n{store}\n{timestamp}\n{visitor}\n{name}\n{body}" (checked by
 * integrations/woocommerce/storefront.py).
 *
 * @param string $secret    Shared secret from the settings.
 * @param string $store_key Store key from the settings.
 * @param int    $timestamp Unix seconds, now.
 * @param string $visitor   The shopper's IP address ('' when unknown).
 * @param string $name      One of WCC_STOREFRONT_CALLS.
 * @param string $body      The shopper's JSON body, unchanged.
 * @return array<string,string>
 */
function wcc_forward_headers( $secret, $store_key, $timestamp, $visitor, $name, $body ) {
	$timestamp = (int) $timestamp;
	$visitor   = preg_match( '/^[0-9A-Fa-f:.]{0,45}$/', (string) $visitor ) ? (string) $visitor : '';
	$message   = "wcc-forward-v1\n" . $store_key . "\n" . $timestamp . "\n" . $visitor . "\n" . $name . "\n" . $body;
	return array(
		'Content-Type'            => 'application/json',
		'X-WCC-Store'             => $store_key,
		'X-WCC-Timestamp'         => (string) $timestamp,
		'X-WCC-Visitor'           => $visitor,
		'X-WCC-Forward-Signature' => base64_encode( hash_hmac( 'sha256', $message, $secret, true ) ),
	);
}

/**
 * Money as a decimal string with two or more places, never a float in JSON.
 *
 * @param mixed $amount Amount.
 * @param int   $decimals Decimals.
 * @return string
 */
function wcc_money( $amount, $decimals = 2 ) {
	return number_format( (float) $amount, max( 0, (int) $decimals ), '.', '' );
}

/**
 * Build the cart report body (format documented in integrations/woocommerce/webhooks.py).
 *
 * @param array $cart Keys: store, cart_token, created_at, updated_at (unix seconds), currency,
 *                    locale, customer_id, email, phone, first_name, last_name, country,
 *                    whatsapp_opt_in (bool|null), consent_text, lines (product_id,
 *                    variation_id, quantity, price, title, sku, image_url), subtotal,
 *                    total, recovery_url, completed, decimals.
 * @return array
 */
function wcc_build_cart_report( array $cart ) {
	$decimals = isset( $cart['decimals'] ) ? (int) $cart['decimals'] : 2;
	$lines    = array();
	foreach ( isset( $cart['lines'] ) && is_array( $cart['lines'] ) ? $cart['lines'] : array() as $line ) {
		$lines[] = array(
			'product_id'   => (int) ( isset( $line['product_id'] ) ? $line['product_id'] : 0 ),
			'variation_id' => (int) ( isset( $line['variation_id'] ) ? $line['variation_id'] : 0 ),
			'quantity'     => (int) ( isset( $line['quantity'] ) ? $line['quantity'] : 0 ),
			'price'        => wcc_money( isset( $line['price'] ) ? $line['price'] : 0, $decimals ),
			'title'        => (string) ( isset( $line['title'] ) ? $line['title'] : '' ),
			'sku'          => (string) ( isset( $line['sku'] ) ? $line['sku'] : '' ),
			'image_url'    => (string) ( isset( $line['image_url'] ) ? $line['image_url'] : '' ),
		);
	}
	$opt_in = array_key_exists( 'whatsapp_opt_in', $cart ) ? $cart['whatsapp_opt_in'] : null;
	$report = array(
		'version'         => WCC_CART_REPORT_VERSION,
		'store'           => (string) ( isset( $cart['store'] ) ? $cart['store'] : '' ),
		'cart_token'      => (string) ( isset( $cart['cart_token'] ) ? $cart['cart_token'] : '' ),
		'updated_at'      => gmdate( 'Y-m-d\TH:i:s\Z', (int) ( isset( $cart['updated_at'] ) ? $cart['updated_at'] : 0 ) ),
		'currency'        => (string) ( isset( $cart['currency'] ) ? $cart['currency'] : '' ),
		'locale'          => (string) ( isset( $cart['locale'] ) ? $cart['locale'] : '' ),
		'customer_id'     => (int) ( isset( $cart['customer_id'] ) ? $cart['customer_id'] : 0 ),
		'email'           => (string) ( isset( $cart['email'] ) ? $cart['email'] : '' ),
		'phone'           => (string) ( isset( $cart['phone'] ) ? $cart['phone'] : '' ),
		'first_name'      => (string) ( isset( $cart['first_name'] ) ? $cart['first_name'] : '' ),
		'last_name'       => (string) ( isset( $cart['last_name'] ) ? $cart['last_name'] : '' ),
		'country'         => (string) ( isset( $cart['country'] ) ? $cart['country'] : '' ),
		'whatsapp_opt_in' => null === $opt_in ? null : (bool) $opt_in,
		'consent_text'    => (string) ( isset( $cart['consent_text'] ) ? $cart['consent_text'] : '' ),
		'lines'           => $lines,
		'subtotal'        => wcc_money( isset( $cart['subtotal'] ) ? $cart['subtotal'] : 0, $decimals ),
		'total'           => wcc_money( isset( $cart['total'] ) ? $cart['total'] : 0, $decimals ),
		'completed'       => ! empty( $cart['completed'] ),
	);
	if ( ! empty( $cart['created_at'] ) ) {
		$report['created_at'] = gmdate( 'Y-m-d\TH:i:s\Z', (int) $cart['created_at'] );
	}
	if ( ! empty( $cart['recovery_url'] ) ) {
		$report['recovery_url'] = (string) $cart['recovery_url'];
	}
	return $report;
}

/**
 * Encode a report exactly once: the signature covers these bytes.
 *
 * @param array $report Report.
 * @return string
 */
function wcc_encode_report( array $report ) {
	return (string) json_encode( $report, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE );
}

/**
 * X-WCC-Signature: base64 of the raw HMAC-SHA256 of the body, as WooCommerce signs webhooks.
 *
 * @param string $body   Exact request body.
 * @param string $secret Shared secret from the settings.
 * @return string
 */
function wcc_sign( $body, $secret ) {
	return base64_encode( hash_hmac( 'sha256', $body, $secret, true ) );
}

/**
 * Opt-in meta value: "yes" or "no", as WooCommerce stores booleans in meta.
 *
 * @param mixed $posted Posted checkbox value.
 * @return string
 */
function wcc_opt_in_meta( $posted ) {
	return in_array( $posted, array( '1', 1, 'yes', 'on', true ), true ) ? 'yes' : 'no';
}
