<?php
/**
 * Plain-PHP tests of the plugin's pure helpers (no WordPress needed).
 *
 * Run: php tests/php/woocommerce_plugin_functions_test.php — exits non-zero on failure.
 */

require __DIR__ . '/../../integrations/woocommerce/wordpress-plugin/whatsapp-commerce-connector/includes/functions.php';

$failures = 0;

function check( $name, $expected, $actual ) {
	global $failures;
	if ( $expected !== $actual ) {
		$failures++;
		fwrite( STDERR, "FAIL {$name}: expected " . var_export( $expected, true ) . ' got ' . var_export( $actual, true ) . "\n" );
	}
}

// Cart parameter.
check( 'pairs', array( array( 123, 2 ), array( 456, 1 ) ), wcc_parse_cart_param( '123:2,456:1' ) );
check( 'default quantity', array( array( 5, 1 ) ), wcc_parse_cart_param( '5' ) );
check( 'merged', array( array( 5, 3 ), array( 7, 1 ) ), wcc_parse_cart_param( '5:1,7:1,5:2' ) );
check( 'garbage', array(), wcc_parse_cart_param( '5:1,abc' ) );
check( 'zero quantity', array(), wcc_parse_cart_param( '5:0' ) );
check( 'zero id', array(), wcc_parse_cart_param( '0:1' ) );
check( 'empty', array(), wcc_parse_cart_param( '' ) );
check( 'not a string', array(), wcc_parse_cart_param( array( '5:1' ) ) );
check( 'too many', array(), wcc_parse_cart_param( implode( ',', range( 1, 51 ) ) ) );

// Connector URL.
check( 'https', 'https://connector.example/base', wcc_normalise_connector_url( ' https://Connector.example/base/ ' ) );
check( 'http refused', '', wcc_normalise_connector_url( 'http://connector.example' ) );
check( 'http loopback', 'http://127.0.0.1:5000', wcc_normalise_connector_url( 'http://127.0.0.1:5000/' ) );
check( 'junk', '', wcc_normalise_connector_url( 'not a url' ) );
check( 'widget', 'https://c.example/storefront/widget.js?shop=my%20store', wcc_widget_url( 'https://c.example', 'my store' ) );

// Signature: WooCommerce core's own vector (empty secret, body "secret").
check( 'core vector', 'GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs=', wcc_sign( 'secret', '' ) );

// Reconnect link: the HMAC the connector checks (integrations/woocommerce/auth.py reconnect_signature).
$reconnect = wcc_reconnect_url( 'https://c.example', 'store-key-1', 'shared-secret', 1777629733, 'abcdef0123456789' );
check(
	'reconnect url',
	'https://c.example/woocommerce/reconnect?store=store-key-1&ts=1777629733&nonce=abcdef0123456789&sig=' . hash_hmac( 'sha256', "wcc-reconnect-v1\nstore-key-1\n1777629733\nabcdef0123456789", 'shared-secret' ),
	$reconnect
);
check( 'reconnect sig', 64, strlen( substr( $reconnect, strpos( $reconnect, 'sig=' ) + 4 ) ) );

// Admin app token: an HS256 JWT the connector verifies (integrations/woocommerce/admin_tokens.py).
$minted = wcc_admin_token( 'shared-secret', 'https://store.example', 'store-key-1', 7, 1777629733 );
$parts  = explode( '.', $minted['token'] );
check( 'token parts', 3, count( $parts ) );
check( 'token header', array( 'alg' => 'HS256', 'typ' => 'JWT' ), json_decode( base64_decode( strtr( $parts[0], '-_', '+/' ) ), true ) );
check(
	'token claims',
	array( 'iss' => 'https://store.example', 'dest' => 'store-key-1', 'aud' => 'whatsapp-commerce-connector', 'sub' => '7', 'iat' => 1777629733, 'exp' => 1777630033 ),
	json_decode( base64_decode( strtr( $parts[1], '-_', '+/' ) ), true )
);
check( 'token signature', wcc_base64url( hash_hmac( 'sha256', $parts[0] . '.' . $parts[1], 'shared-secret', true ) ), $parts[2] );
check( 'token expiry', 1777630033, $minted['expires_at'] );
check( 'lifetime capped', 1777629733 + 300, wcc_admin_token( 's', 'https://store.example', 'k', 7, 1777629733, 3600 )['expires_at'] );
check( 'no secret no token', '', wcc_admin_token( '', 'https://store.example', 'k', 7, 1777629733 )['token'] );
check( 'no user no token', '', wcc_admin_token( 's', 'https://store.example', 'k', 0, 1777629733 )['token'] );
check( 'base64url', '-_8', wcc_base64url( "\xfb\xff" ) );
check( 'app url', 'https://c.example/admin/?platform=woocommerce&store=https%3A%2F%2Fstore.example%2Fshop&locale=de_DE', wcc_admin_app_url( 'https://c.example', 'https://store.example/shop', 'de_DE' ) );
check( 'origin', 'https://c.example:8443', wcc_origin( 'https://C.example:8443/base' ) );
check( 'origin junk', '', wcc_origin( 'nope' ) );

// Report body.
$report = wcc_build_cart_report(
	array(
		'store'           => 'store-key-1',
		'cart_token'      => 't_abc',
		'updated_at'      => 1777629733,
		'currency'        => 'EUR',
		'locale'          => 'de_DE',
		'whatsapp_opt_in' => true,
		'consent_text'    => 'Send me order updates on WhatsApp',
		'lines'           => array( array( 'product_id' => 93, 'variation_id' => 0, 'quantity' => 2, 'price' => 3, 'title' => 'Woo Single #1' ) ),
		'subtotal'        => 6,
		'total'           => 16.5,
	)
);
check( 'version', 1, $report['version'] );
check( 'updated_at', '2026-05-01T10:02:13Z', $report['updated_at'] );
check( 'money as strings', array( '3.00', '6.00', '16.50' ), array( $report['lines'][0]['price'], $report['subtotal'], $report['total'] ) );
check( 'opt in', true, $report['whatsapp_opt_in'] );
check( 'no created_at', false, array_key_exists( 'created_at', $report ) );
check( 'opt-in unknown', null, wcc_build_cart_report( array() )['whatsapp_opt_in'] );
check( 'encoded', '{"version":1,"store":"s"', substr( wcc_encode_report( wcc_build_cart_report( array( 'store' => 's' ) ) ), 0, 24 ) );
check( 'opt-in meta yes', 'yes', wcc_opt_in_meta( '1' ) );
check( 'opt-in meta no', 'no', wcc_opt_in_meta( '' ) );

if ( $failures ) {
	fwrite( STDERR, "{$failures} failure(s)\n" );
	exit( 1 );
}
echo "ok\n";
