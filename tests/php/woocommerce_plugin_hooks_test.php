<?php
/**
 * Loads the plugin's main file with a minimal stand-in for WordPress (recorded hooks, settings,
 * translations, enqueued scripts) and runs its storefront and checkout hooks.
 *
 * Run: php tests/php/woocommerce_plugin_hooks_test.php [locale] — prints one JSON object:
 * the scripts enqueued on a storefront page (and their inline data), the checkout box's HTML, and
 * the order meta saved.
 */

define( 'ABSPATH', __DIR__ . '/' );

$GLOBALS['wcc_test'] = array(
	'actions'  => array(),
	'filters'  => array(),
	'scripts'  => array(),
	'inline'   => array(),
	'locale'   => isset( $argv[1] ) ? $argv[1] : 'en_US',
	// what a translation file would give for the box in German
	'de_DE'    => array(
		'Send me offers and news on WhatsApp. You can unsubscribe at any time by replying STOP.' => 'Schickt mir Angebote und Neuigkeiten per WhatsApp. Abmelden jederzeit mit der Antwort STOP.',
	),
	'settings' => array(
		'connector_url' => 'https://connector.example',
		'store_key'     => 'store-key-1',
		'shared_secret' => 'secret',
	),
);

function add_action( $hook, $callback, $priority = 10, $args = 1 ) {
	$GLOBALS['wcc_test']['actions'][ $hook ][] = $callback;
}
function add_filter( $hook, $callback, $priority = 10, $args = 1 ) {
	$GLOBALS['wcc_test']['filters'][ $hook ][] = $callback;
}
function apply_filters( $hook, $value ) {
	$extra = array_slice( func_get_args(), 2 );
	foreach ( isset( $GLOBALS['wcc_test']['filters'][ $hook ] ) ? $GLOBALS['wcc_test']['filters'][ $hook ] : array() as $callback ) {
		$value = call_user_func_array( $callback, array_merge( array( $value ), $extra ) );
	}
	return $value;
}
function do_action( $hook ) {
	$args = array_slice( func_get_args(), 1 );
	foreach ( isset( $GLOBALS['wcc_test']['actions'][ $hook ] ) ? $GLOBALS['wcc_test']['actions'][ $hook ] : array() as $callback ) {
		call_user_func_array( $callback, $args );
	}
}
function get_locale() {
	return $GLOBALS['wcc_test']['locale'];
}
function determine_locale() {
	return get_locale();
}
function __( $text, $domain = 'default' ) {
	$table = isset( $GLOBALS['wcc_test'][ get_locale() ] ) ? $GLOBALS['wcc_test'][ get_locale() ] : array();
	return isset( $table[ $text ] ) ? $table[ $text ] : $text;
}
function esc_html( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8' );
}
function esc_attr( $text ) {
	return esc_html( $text );
}
function get_option( $name, $default = false ) {
	return 'wcc_settings' === $name ? $GLOBALS['wcc_test']['settings'] : $default;
}
function wp_parse_args( $args, $defaults ) {
	return array_merge( $defaults, $args );
}
function wp_enqueue_script( $handle, $src = '', $deps = array(), $ver = false, $args = array() ) {
	$GLOBALS['wcc_test']['scripts'][ $handle ] = array(
		'src'  => $src,
		'ver'  => $ver,
		'args' => $args,
	);
}
function wp_add_inline_script( $handle, $data, $position = 'after' ) {
	$GLOBALS['wcc_test']['inline'][ $handle ][] = array( $position, $data );
}
function wp_json_encode( $data ) {
	return json_encode( $data );
}
function plugins_url( $path, $plugin_file ) {
	return 'https://shop.example/wp-content/plugins/whatsapp-commerce-connector/' . $path;
}
function rest_url( $path ) {
	return 'https://shop.example/wp-json/' . $path;
}
function sanitize_text_field( $text ) {
	return trim( (string) $text );
}
function wp_unslash( $value ) {
	return $value;
}

/** WooCommerce without a session or cart (the cart token is then ''). */
function WC() {
	return (object) array(
		'session' => null,
		'cart'    => null,
	);
}

/** An order that records its meta. */
class WCC_Test_Order {
	public $meta = array();
	public function update_meta_data( $key, $value ) {
		$this->meta[ $key ] = $value;
	}
}

require __DIR__ . '/../../integrations/woocommerce/wordpress-plugin/whatsapp-commerce-connector/whatsapp-commerce-connector.php';

do_action( 'wp_enqueue_scripts' );

ob_start();
do_action( 'woocommerce_review_order_before_submit' );
$box = ob_get_clean();

$_POST['wcc_whatsapp_opt_in'] = '1';
$order                        = new WCC_Test_Order();
do_action( 'woocommerce_checkout_create_order', $order, array() );

echo json_encode(
	array(
		'scripts'    => (object) $GLOBALS['wcc_test']['scripts'],
		'inline'     => (object) $GLOBALS['wcc_test']['inline'],
		'box'        => $box,
		'order_meta' => $order->meta,
	)
);
