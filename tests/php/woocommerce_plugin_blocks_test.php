<?php
/**
 * The plugin's Checkout Block support, with a stand-in for WordPress and WooCommerce: the
 * compatibility declarations, the additional checkout field, the copy of its value to the order
 * meta the connector reads, and the cart reports from Store API requests.
 *
 * Run: php tests/php/woocommerce_plugin_blocks_test.php — prints one JSON object.
 */

namespace Automattic\WooCommerce\Utilities {
	class FeaturesUtil {
		public static function declare_compatibility( $feature, $file, $compatible ) {
			$GLOBALS['wcc_test']['compatibility'][ $feature ] = array( basename( $file ), $compatible );
		}
	}
}

namespace {
	define( 'ABSPATH', __DIR__ . '/' );

	$GLOBALS['wcc_test'] = array(
		'actions'       => array(),
		'compatibility' => array(),
		'fields'        => array(),
		'posts'         => array(),
		'settings'      => array(
			'connector_url' => 'https://connector.example',
			'store_key'     => 'store-key-1',
			'shared_secret' => 'secret',
		),
	);

	function add_action( $hook, $callback, $priority = 10, $args = 1 ) {
		$GLOBALS['wcc_test']['actions'][ $hook ][] = $callback;
	}
	function add_filter( $hook, $callback, $priority = 10, $args = 1 ) {
	}
	function apply_filters( $hook, $value ) {
		return $value;
	}
	function do_action( $hook ) {
		$args = array_slice( func_get_args(), 1 );
		foreach ( isset( $GLOBALS['wcc_test']['actions'][ $hook ] ) ? $GLOBALS['wcc_test']['actions'][ $hook ] : array() as $callback ) {
			call_user_func_array( $callback, $args );
		}
	}
	function __( $text, $domain = 'default' ) {
		return $text;
	}
	function get_locale() {
		return 'de_DE';
	}
	function get_option( $name, $default = false ) {
		return 'wcc_settings' === $name ? $GLOBALS['wcc_test']['settings'] : $default;
	}
	function wp_parse_args( $args, $defaults ) {
		return array_merge( $defaults, $args );
	}
	function sanitize_text_field( $text ) {
		return trim( (string) $text );
	}
	function wp_unslash( $value ) {
		return $value;
	}
	function home_url( $path = '' ) {
		return 'https://store.example' . $path;
	}
	function add_query_arg( $key, $value, $url ) {
		return $url . '?' . $key . '=' . $value;
	}
	function get_current_user_id() {
		return 0;
	}
	function get_woocommerce_currency() {
		return 'EUR';
	}
	function wc_get_price_decimals() {
		return 2;
	}
	function wp_get_attachment_image_url( $id, $size ) {
		return '';
	}
	function woocommerce_register_additional_checkout_field( $field ) {
		$GLOBALS['wcc_test']['fields'][] = $field;
	}
	function wp_remote_post( $url, $args ) {
		$GLOBALS['wcc_test']['posts'][] = array(
			'url'    => $url,
			'signed' => $args['headers']['X-WCC-Signature'] === wcc_sign( $args['body'], 'secret' ),
			'report' => json_decode( $args['body'], true ),
		);
	}

	class WCC_Test_Session {
		private $data = array();
		public function get( $key ) {
			return isset( $this->data[ $key ] ) ? $this->data[ $key ] : null;
		}
		public function set( $key, $value ) {
			$this->data[ $key ] = $value;
		}
	}
	class WCC_Test_Product {
		public function get_name() {
			return 'Woo Single #1';
		}
		public function get_sku() {
			return 'W1';
		}
		public function get_image_id() {
			return 0;
		}
	}
	class WCC_Test_Cart {
		public function get_cart() {
			return array( array( 'product_id' => 93, 'variation_id' => 0, 'quantity' => 2, 'line_subtotal' => 6, 'data' => new WCC_Test_Product() ) );
		}
		public function get_subtotal() {
			return 6;
		}
		public function get_total( $context ) {
			return 6;
		}
	}
	function WC() {
		static $wc = null;
		if ( null === $wc ) {
			$wc = (object) array( 'session' => new WCC_Test_Session(), 'cart' => new WCC_Test_Cart() );
		}
		return $wc;
	}
	/** Billing fields, as orders and customers answer them. */
	trait WCC_Test_Billing {
		public function get_billing_email() {
			return 'ana@example.com';
		}
		public function get_billing_phone() {
			return '0151 23456789';
		}
		public function get_billing_first_name() {
			return 'Ana';
		}
		public function get_billing_last_name() {
			return 'Muster';
		}
		public function get_billing_country() {
			return 'DE';
		}
	}
	class WC_Order {
		use WCC_Test_Billing;
		public $meta = array();
		public function update_meta_data( $key, $value ) {
			$this->meta[ $key ] = $value;
		}
		public function get_meta( $key ) {
			return isset( $this->meta[ $key ] ) ? $this->meta[ $key ] : '';
		}
	}
	class WC_Customer {
		use WCC_Test_Billing;
	}

	require __DIR__ . '/../../integrations/woocommerce/wordpress-plugin/whatsapp-commerce-connector/whatsapp-commerce-connector.php';

	do_action( 'before_woocommerce_init' );
	do_action( 'woocommerce_init' );

	$ticked = new WC_Order();
	do_action( 'woocommerce_set_additional_field_value', 'whatsapp-commerce-connector/whatsapp-opt-in', true, 'other', $ticked );
	$unticked = new WC_Order();
	do_action( 'woocommerce_set_additional_field_value', 'whatsapp-commerce-connector/whatsapp-opt-in', false, 'other', $unticked );
	$other_field = new WC_Order();
	do_action( 'woocommerce_set_additional_field_value', 'someone-else/field', true, 'other', $other_field );
	$customer = new WC_Customer();
	do_action( 'woocommerce_set_additional_field_value', 'whatsapp-commerce-connector/whatsapp-opt-in', true, 'other', $customer );

	do_action( 'woocommerce_store_api_cart_update_customer_from_request', $customer, null );
	do_action( 'woocommerce_store_api_checkout_order_processed', $ticked );

	echo json_encode(
		array(
			'compatibility' => $GLOBALS['wcc_test']['compatibility'],
			'fields'        => $GLOBALS['wcc_test']['fields'],
			'ticked'        => $ticked->meta,
			'unticked'      => $unticked->meta,
			'other_field'   => $other_field->meta,
			'posts'         => $GLOBALS['wcc_test']['posts'],
		),
		JSON_UNESCAPED_SLASHES
	);
}
