<?php
/**
 * Plugin Name:       WhatsApp Commerce Connector
 * Description:       Connects WooCommerce to the WhatsApp Commerce Connector: WhatsApp opt-in to offers and news at checkout, cart reports and multi-item cart links.
 * Version:           0.2.0
 * Requires at least: 6.0
 * Requires PHP:      7.4
 * Requires Plugins:  woocommerce
 * WC requires at least: 8.9
 * WC tested up to:   10.3
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       whatsapp-commerce-connector
 *
 * @package WhatsAppCommerceConnector
 */

/*
 * This program is free software; you can redistribute it and/or modify it under the terms
 * of the GNU General Public License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * This program is distributed in the hope that it will be useful, but WITHOUT ANY
 * WARRANTY; without even the implied warranty of MERCHANTABILITY or FITNESS FOR A
 * PARTICULAR PURPOSE. See the GNU General Public License for more details.
 */

defined( 'ABSPATH' ) || exit;

require_once __DIR__ . '/includes/functions.php';

const WCC_OPTION          = 'wcc_settings';
const WCC_META_OPT_IN     = '_wcc_whatsapp_opt_in';
const WCC_META_CONSENT    = '_wcc_consent_text';
const WCC_META_CART_TOKEN = '_wcc_cart_token';
const WCC_META_LOCALE     = '_wcc_locale';
const WCC_FIELD_OPT_IN    = 'wcc_whatsapp_opt_in';
const WCC_CART_PARAM      = 'wcc-cart';

/**
 * Plugin settings with defaults.
 *
 * @return array{connector_url:string,store_key:string,shared_secret:string}
 */
function wcc_settings() {
	$saved = get_option( WCC_OPTION, array() );
	return wp_parse_args(
		is_array( $saved ) ? $saved : array(),
		array(
			'connector_url' => '',
			'store_key'     => '',
			'shared_secret' => '',
		)
	);
}

/*
 * Settings page (Settings API).
 */

add_action( 'admin_init', 'wcc_register_settings' );
add_action( 'admin_menu', 'wcc_add_settings_page' );

/** Register the option, its section and fields. */
function wcc_register_settings() {
	register_setting(
		'wcc',
		WCC_OPTION,
		array(
			'type'              => 'array',
			'sanitize_callback' => 'wcc_sanitize_settings',
			'default'           => array(),
		)
	);
	add_settings_section( 'wcc_main', __( 'Connection', 'whatsapp-commerce-connector' ), '__return_false', 'wcc' );
	$fields = array(
		'connector_url' => __( 'Connector URL', 'whatsapp-commerce-connector' ),
		'store_key'     => __( 'Store key', 'whatsapp-commerce-connector' ),
		'shared_secret' => __( 'Shared secret', 'whatsapp-commerce-connector' ),
	);
	foreach ( $fields as $name => $label ) {
		add_settings_field( 'wcc_' . $name, $label, 'wcc_render_field', 'wcc', 'wcc_main', array( 'name' => $name ) );
	}
}

/**
 * Sanitize the settings form.
 *
 * @param mixed $input Posted values.
 * @return array
 */
function wcc_sanitize_settings( $input ) {
	$input = is_array( $input ) ? $input : array();
	$old   = wcc_settings();
	$url   = wcc_normalise_connector_url( isset( $input['connector_url'] ) ? $input['connector_url'] : '' );
	if ( '' === $url && ! empty( $input['connector_url'] ) ) {
		add_settings_error( WCC_OPTION, 'wcc_url', __( 'The connector URL must start with https://.', 'whatsapp-commerce-connector' ) );
	}
	$secret = isset( $input['shared_secret'] ) ? trim( (string) $input['shared_secret'] ) : '';
	return array(
		'connector_url' => $url,
		'store_key'     => sanitize_text_field( isset( $input['store_key'] ) ? $input['store_key'] : '' ), // keys are case-sensitive: not sanitize_key()
		// An empty field keeps the stored secret, so it never has to be echoed back.
		'shared_secret' => '' === $secret ? $old['shared_secret'] : $secret,
	);
}

/**
 * Render one settings field.
 *
 * @param array $args Field arguments.
 */
function wcc_render_field( $args ) {
	$name     = $args['name'];
	$settings = wcc_settings();
	$is_secret = 'shared_secret' === $name;
	printf(
		'<input type="%1$s" class="regular-text" name="%2$s[%3$s]" value="%4$s" autocomplete="off" />',
		$is_secret ? 'password' : 'text',
		esc_attr( WCC_OPTION ),
		esc_attr( $name ),
		$is_secret ? '' : esc_attr( $settings[ $name ] )
	);
}

/** Add the page under Settings. */
function wcc_add_settings_page() {
	add_options_page(
		__( 'WhatsApp Commerce', 'whatsapp-commerce-connector' ),
		__( 'WhatsApp Commerce', 'whatsapp-commerce-connector' ),
		'manage_woocommerce',
		'wcc',
		'wcc_render_settings_page'
	);
}

/** Render the settings page. */
function wcc_render_settings_page() {
	if ( ! current_user_can( 'manage_woocommerce' ) ) {
		return;
	}
	echo '<div class="wrap"><h1>' . esc_html__( 'WhatsApp Commerce', 'whatsapp-commerce-connector' ) . '</h1><form method="post" action="options.php">';
	settings_fields( 'wcc' );
	do_settings_sections( 'wcc' );
	submit_button();
	echo '</form>';
	if ( wcc_can_reconnect( wcc_settings() ) ) {
		echo '<h2>' . esc_html__( 'Reconnect', 'whatsapp-commerce-connector' ) . '</h2>';
		echo '<p>' . esc_html__( 'Give the connector new REST API keys for this store, for example after the keys were revoked. You approve the keys on the next screen; the connector keeps them only if they work.', 'whatsapp-commerce-connector' ) . '</p>';
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '">';
		echo '<input type="hidden" name="action" value="wcc_reconnect" />';
		wp_nonce_field( 'wcc_reconnect' );
		submit_button( __( 'Reconnect store', 'whatsapp-commerce-connector' ), 'secondary', 'wcc_reconnect_submit', false );
		echo '</form>';
	}
	echo '</div>';
}

/**
 * Whether the settings hold what a signed reconnect needs.
 *
 * @param array $settings Plugin settings.
 * @return bool
 */
function wcc_can_reconnect( $settings ) {
	return '' !== $settings['connector_url'] && '' !== $settings['store_key'] && '' !== $settings['shared_secret'];
}

add_action( 'admin_post_wcc_reconnect', 'wcc_handle_reconnect' );

/** Send the admin to the connector with a reconnect signed by the shared secret. */
function wcc_handle_reconnect() {
	if ( ! current_user_can( 'manage_woocommerce' ) ) {
		wp_die( esc_html__( 'Sorry, you are not allowed to reconnect this store.', 'whatsapp-commerce-connector' ), '', array( 'response' => 403 ) );
	}
	check_admin_referer( 'wcc_reconnect' );
	$settings = wcc_settings();
	if ( ! wcc_can_reconnect( $settings ) ) {
		wp_safe_redirect( admin_url( 'options-general.php?page=wcc' ) );
		exit;
	}
	$url  = wcc_reconnect_url( $settings['connector_url'], $settings['store_key'], $settings['shared_secret'], time(), bin2hex( random_bytes( 16 ) ) );
	$host = wp_parse_url( $settings['connector_url'], PHP_URL_HOST );
	add_filter(
		'allowed_redirect_hosts',
		static function ( $hosts ) use ( $host ) {
			$hosts[] = $host; // only the connector this store is configured with
			return $hosts;
		}
	);
	wp_safe_redirect( $url );
	exit;
}

/*
 * The admin app: WooCommerce → WhatsApp frames the connector's app and hands it tokens.
 */

add_action( 'admin_menu', 'wcc_add_app_page', 60 ); // after WooCommerce made its menu
add_action( 'admin_enqueue_scripts', 'wcc_enqueue_app_script' );
add_action( 'rest_api_init', 'wcc_register_rest_routes' );

/** Add WooCommerce → WhatsApp. */
function wcc_add_app_page() {
	add_submenu_page(
		'woocommerce',
		__( 'WhatsApp', 'whatsapp-commerce-connector' ),
		__( 'WhatsApp', 'whatsapp-commerce-connector' ),
		'manage_woocommerce',
		'wcc-app',
		'wcc_render_app_page'
	);
}

/**
 * The URL the menu page frames, or '' while the connection settings are incomplete.
 *
 * @return string
 */
function wcc_app_url() {
	$settings = wcc_settings();
	if ( ! wcc_can_reconnect( $settings ) ) {
		return '';
	}
	return wcc_admin_app_url( $settings['connector_url'], home_url(), get_user_locale() );
}

/** Render WooCommerce → WhatsApp: the connector's app, full width. */
function wcc_render_app_page() {
	if ( ! current_user_can( 'manage_woocommerce' ) ) {
		return;
	}
	$url = wcc_app_url();
	echo '<div class="wrap"><h1 class="screen-reader-text">' . esc_html__( 'WhatsApp', 'whatsapp-commerce-connector' ) . '</h1>';
	if ( '' === $url ) {
		echo '<div class="notice notice-warning"><p>' . esc_html__( 'Enter the connector URL, the store key and the shared secret first.', 'whatsapp-commerce-connector' ) . ' <a href="' . esc_url( admin_url( 'options-general.php?page=wcc' ) ) . '">' . esc_html__( 'Connection settings', 'whatsapp-commerce-connector' ) . '</a></p></div></div>';
		return;
	}
	echo '<iframe id="wcc-admin-app" src="' . esc_url( $url ) . '" title="' . esc_attr__( 'WhatsApp Commerce', 'whatsapp-commerce-connector' ) . '" style="width:100%;min-height:calc(100vh - 120px);border:0;background:#fff"></iframe></div>';
}

/**
 * Load the token hand-off on the menu page only.
 *
 * @param string $hook_suffix The admin page being loaded.
 */
function wcc_enqueue_app_script( $hook_suffix ) {
	if ( 'woocommerce_page_wcc-app' !== $hook_suffix || '' === wcc_app_url() ) {
		return;
	}
	$settings = wcc_settings();
	wp_enqueue_script( 'wcc-admin-app', plugins_url( 'assets/admin-app.js', __FILE__ ), array(), '0.2.0', true );
	wp_localize_script(
		'wcc-admin-app',
		'wccAdminApp',
		array(
			'connectorOrigin' => wcc_origin( $settings['connector_url'] ),
			'tokenUrl'        => rest_url( 'whatsapp-commerce-connector/v1/admin-token' ),
			'nonce'           => wp_create_nonce( 'wp_rest' ),
		)
	);
}

/**
 * GET /wp-json/whatsapp-commerce-connector/v1/admin-token, the storefront calls
 * POST /wp-json/whatsapp-commerce-connector/v1/storefront/{back-in-stock|opt-in}, and the
 * widget's settings GET /wp-json/whatsapp-commerce-connector/v1/storefront/widget-settings.
 */
function wcc_register_rest_routes() {
	register_rest_route(
		'whatsapp-commerce-connector/v1',
		'/storefront/(?P<name>' . implode( '|', WCC_STOREFRONT_CALLS ) . ')',
		array(
			'methods'             => 'POST',
			'callback'            => 'wcc_rest_forward',
			// shoppers are not logged in: the connector checks every field and limits the rate
			'permission_callback' => '__return_true',
		)
	);
	register_rest_route(
		'whatsapp-commerce-connector/v1',
		'/storefront/widget-settings',
		array(
			'methods'             => 'GET',
			'callback'            => 'wcc_rest_widget_settings',
			'permission_callback' => '__return_true', // public: what the widget draws for every shopper
		)
	);
	register_rest_route(
		'whatsapp-commerce-connector/v1',
		'/admin-token',
		array(
			'methods'             => 'GET',
			'callback'            => 'wcc_rest_admin_token',
			'permission_callback' => 'wcc_rest_can_manage',
		)
	);
}

/**
 * Who may have a token: a logged-in user with manage_woocommerce, from a page of this site
 * (the wp_rest nonce; WordPress checks it for cookie logins too, checked here again so the
 * route never answers a cross-site request).
 *
 * @param WP_REST_Request $request The request.
 * @return true|WP_Error
 */
function wcc_rest_can_manage( $request ) {
	$nonce = (string) $request->get_header( 'X-WP-Nonce' );
	if ( '' === $nonce || ! wp_verify_nonce( $nonce, 'wp_rest' ) ) {
		return new WP_Error( 'wcc_bad_nonce', __( 'The page expired; reload it.', 'whatsapp-commerce-connector' ), array( 'status' => 403 ) );
	}
	if ( ! current_user_can( 'manage_woocommerce' ) ) {
		return new WP_Error( 'wcc_forbidden', __( 'Sorry, you are not allowed to manage this store.', 'whatsapp-commerce-connector' ), array( 'status' => rest_authorization_required_code() ) );
	}
	return true;
}

/**
 * A five-minute token for the current user.
 *
 * @param WP_REST_Request $request The request.
 * @return WP_REST_Response|WP_Error
 */
function wcc_rest_admin_token( $request ) {
	$settings = wcc_settings();
	$token    = wcc_admin_token( $settings['shared_secret'], home_url(), $settings['store_key'], get_current_user_id(), time() );
	if ( '' === $token['token'] ) {
		return new WP_Error( 'wcc_not_configured', __( 'Enter the store key and the shared secret first.', 'whatsapp-commerce-connector' ), array( 'status' => 409 ) );
	}
	$response = new WP_REST_Response( $token, 200 );
	$response->header( 'Cache-Control', 'no-store' );
	return $response;
}

/**
 * Forward a shopper's storefront call to the connector, signed with the shared secret, and
 * answer what the connector answered. The shopper's browser only ever talks to this store.
 *
 * @param WP_REST_Request $request The request.
 * @return WP_REST_Response|WP_Error
 */
function wcc_rest_forward( $request ) {
	$settings = wcc_settings();
	$name     = (string) $request->get_param( 'name' );
	$body     = (string) $request->get_body();
	if ( ! in_array( $name, WCC_STOREFRONT_CALLS, true ) ) {
		return new WP_Error( 'wcc_unknown_call', __( 'Unknown storefront call.', 'whatsapp-commerce-connector' ), array( 'status' => 404 ) );
	}
	if ( strlen( $body ) > 16384 ) {
		return new WP_Error( 'wcc_too_large', __( 'The request is too large.', 'whatsapp-commerce-connector' ), array( 'status' => 413 ) );
	}
	if ( ! wcc_can_reconnect( $settings ) ) {
		return new WP_Error( 'wcc_not_configured', __( 'WhatsApp is not set up for this store yet.', 'whatsapp-commerce-connector' ), array( 'status' => 503 ) );
	}
	$visitor  = apply_filters( 'wcc_visitor_ip', isset( $_SERVER['REMOTE_ADDR'] ) ? sanitize_text_field( wp_unslash( $_SERVER['REMOTE_ADDR'] ) ) : '' );
	$response = wp_remote_post(
		$settings['connector_url'] . '/storefront/signed/api/' . $name,
		array(
			'timeout' => 10,
			'headers' => wcc_forward_headers( $settings['shared_secret'], $settings['store_key'], time(), $visitor, $name, $body ),
			'body'    => $body,
		)
	);
	if ( is_wp_error( $response ) ) {
		return new WP_Error( 'wcc_unavailable', __( 'WhatsApp sign-up is unavailable right now. Please try again later.', 'whatsapp-commerce-connector' ), array( 'status' => 502 ) );
	}
	$answer = json_decode( (string) wp_remote_retrieve_body( $response ), true );
	$result = new WP_REST_Response( is_array( $answer ) ? $answer : array(), (int) wp_remote_retrieve_response_code( $response ) );
	$result->header( 'Cache-Control', 'no-store' );
	$retry = wp_remote_retrieve_header( $response, 'retry-after' );
	if ( '' !== (string) $retry ) {
		$result->header( 'Retry-After', (string) $retry );
	}
	return $result;
}

/*
 * Storefront widget: the plugin ships its own copy of the connector's widget (assets/widget.js
 * and the part it loads on interaction, assets/widget-ui.js; built from widget/ in the
 * connector's repository). WordPress.org allows no remotely loaded code, so nothing is loaded
 * from the connector: the settings and every call go through this site's REST routes.
 */

add_action( 'wp_enqueue_scripts', 'wcc_enqueue_widget' );

/** Enqueue the bundled widget on storefront pages, configured for this store's REST routes. */
function wcc_enqueue_widget() {
	$settings = wcc_settings();
	if ( '' === $settings['connector_url'] || '' === $settings['store_key'] || ! file_exists( __DIR__ . '/assets/widget.js' ) ) {
		return;
	}
	$version = (string) filemtime( __DIR__ . '/assets/widget.js' );
	wp_enqueue_script(
		'wcc-widget',
		plugins_url( 'assets/widget.js', __FILE__ ),
		array(),
		$version,
		array(
			'in_footer' => true,
			'strategy'  => 'defer',
		)
	);
	wp_add_inline_script( 'wcc-widget', 'window.WhatsAppWidgetConfig = ' . wp_json_encode( wcc_widget_config( $settings ) ) . ';', 'before' );
}

/**
 * What the widget reads (window.WhatsAppWidgetConfig): the store key, this site's storefront
 * routes, the page's language, and on a product page the product and its variants.
 *
 * @param array $settings The plugin's settings.
 * @return array<string,string>
 */
function wcc_widget_config( $settings ) {
	$config = array(
		'shop'        => $settings['store_key'],
		'api'         => rest_url( 'whatsapp-commerce-connector/v1/storefront' ),
		'settingsUrl' => rest_url( 'whatsapp-commerce-connector/v1/storefront/widget-settings' ),
		'ui'          => plugins_url( 'assets/widget-ui.js', __FILE__ ),
		'locale'      => str_replace( '_', '-', determine_locale() ),
	);
	$product = function_exists( 'is_product' ) && is_product() && function_exists( 'wc_get_product' ) ? wc_get_product( get_queried_object_id() ) : null;
	if ( $product ) {
		$config['productId'] = (string) $product->get_id();
		$variants            = array();
		$ids                 = $product->is_type( 'variable' ) ? $product->get_children() : array( $product->get_id() );
		foreach ( $ids as $id ) {
			$variant = wc_get_product( $id );
			if ( $variant ) {
				$variants[] = array(
					'id'        => (string) $id,
					'available' => $variant->is_in_stock(),
				);
			}
		}
		$config['variants'] = wp_json_encode( $variants );
	}
	return $config;
}

/**
 * GET /wp-json/whatsapp-commerce-connector/v1/storefront/widget-settings: the widget's settings
 * from the connector, kept five minutes (they are public: what the widget draws).
 *
 * @return WP_REST_Response|WP_Error
 */
function wcc_rest_widget_settings() {
	$settings = wcc_settings();
	if ( ! wcc_can_reconnect( $settings ) ) {
		return new WP_Error( 'wcc_not_configured', __( 'WhatsApp is not set up for this store yet.', 'whatsapp-commerce-connector' ), array( 'status' => 503 ) );
	}
	$answer = get_transient( 'wcc_widget_settings' );
	if ( ! is_array( $answer ) ) {
		$response = wp_remote_get(
			$settings['connector_url'] . '/storefront/api/widget-settings?shop=' . rawurlencode( $settings['store_key'] ),
			array( 'timeout' => 5 )
		);
		if ( is_wp_error( $response ) || 200 !== (int) wp_remote_retrieve_response_code( $response ) ) {
			return new WP_Error( 'wcc_unavailable', __( 'WhatsApp is unavailable right now.', 'whatsapp-commerce-connector' ), array( 'status' => 502 ) );
		}
		$answer = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		if ( ! is_array( $answer ) ) {
			return new WP_Error( 'wcc_unavailable', __( 'WhatsApp is unavailable right now.', 'whatsapp-commerce-connector' ), array( 'status' => 502 ) );
		}
		set_transient( 'wcc_widget_settings', $answer, 5 * MINUTE_IN_SECONDS );
	}
	$result = new WP_REST_Response( $answer, 200 );
	$result->header( 'Cache-Control', 'public, max-age=300' );
	return $result;
}

/*
 * WhatsApp opt-in at checkout (classic checkout).
 */

/**
 * The consent text shown next to the box, in the shopper's language; saved verbatim with the
 * order and sent with the cart reports, so the connector's consent ledger keeps what was shown.
 *
 * The box asks for marketing (offers and news): that is what ticking it starts (a double
 * opt-in on WhatsApp). Order and delivery updates need no box: they answer the order the
 * shopper placed with this phone number.
 *
 * @return string
 */
function wcc_consent_text() {
	return (string) apply_filters( 'wcc_consent_text', __( 'Send me offers and news on WhatsApp. You can unsubscribe at any time by replying STOP.', 'whatsapp-commerce-connector' ) );
}

add_action( 'woocommerce_review_order_before_submit', 'wcc_render_opt_in' );

/** Print the opt-in checkbox above the Place order button (unticked by default). */
function wcc_render_opt_in() {
	printf(
		'<p class="form-row wcc-opt-in"><label class="woocommerce-form__label woocommerce-form__label-for-checkbox checkbox"><input type="checkbox" class="woocommerce-form__input woocommerce-form__input-checkbox input-checkbox" name="%1$s" id="%1$s" value="1" /> <span>%2$s</span></label></p>',
		esc_attr( WCC_FIELD_OPT_IN ),
		esc_html( wcc_consent_text() )
	);
}

/**
 * Our cart token, kept in the WooCommerce session so that the cart, its reports and the
 * order it becomes share one id.
 *
 * @return string
 */
function wcc_cart_token() {
	if ( ! function_exists( 'WC' ) || ! WC()->session ) {
		return '';
	}
	$token = WC()->session->get( 'wcc_cart_token' );
	if ( ! is_string( $token ) || '' === $token ) {
		$token = 't_' . bin2hex( random_bytes( 12 ) );
		WC()->session->set( 'wcc_cart_token', $token );
	}
	return $token;
}

add_action( 'woocommerce_checkout_create_order', 'wcc_save_order_meta', 10, 2 );

/**
 * Save opt-in state, the exact consent text, cart token and locale on the order.
 *
 * @param WC_Order $order Order being created.
 * @param array    $data  Posted checkout data.
 */
function wcc_save_order_meta( $order, $data ) {
	// phpcs:ignore WordPress.Security.NonceVerification.Missing -- WooCommerce verified the checkout nonce.
	$posted = isset( $_POST[ WCC_FIELD_OPT_IN ] ) ? sanitize_text_field( wp_unslash( $_POST[ WCC_FIELD_OPT_IN ] ) ) : '';
	wcc_record_order_consent( $order, $posted );
}

/**
 * What the connector reads from an order's meta: the box's state, the exact text it showed,
 * the cart token and the shopper's locale.
 *
 * @param WC_Order $order  The order.
 * @param string   $posted The box's value ('' when unticked).
 */
function wcc_record_order_consent( $order, $posted ) {
	$order->update_meta_data( WCC_META_OPT_IN, wcc_opt_in_meta( $posted ) );
	$order->update_meta_data( WCC_META_CONSENT, wcc_consent_text() );
	$order->update_meta_data( WCC_META_CART_TOKEN, wcc_cart_token() );
	$order->update_meta_data( WCC_META_LOCALE, get_locale() );
}

/*
 * The Checkout Block (WooCommerce's default checkout since 8.3): the same box through the
 * Additional Checkout Fields API (WooCommerce 8.9+), in the order's own fields (never the
 * customer's, so it is never ticked in advance on a later order), and cart reports from the
 * Store API requests the blocks make. The classic hooks above stay for classic checkouts.
 */

const WCC_BLOCK_FIELD = 'whatsapp-commerce-connector/whatsapp-opt-in';

add_action( 'before_woocommerce_init', 'wcc_declare_compatibility' );
add_action( 'woocommerce_init', 'wcc_register_block_opt_in' );
add_action( 'woocommerce_set_additional_field_value', 'wcc_block_opt_in_value', 10, 4 );
add_action( 'woocommerce_store_api_cart_update_customer_from_request', 'wcc_report_block_customer', 10, 2 );
add_action( 'woocommerce_store_api_checkout_order_processed', 'wcc_report_block_order_placed' );

/** HPOS (custom order tables) and the Cart and Checkout Blocks: both supported. */
function wcc_declare_compatibility() {
	if ( class_exists( '\Automattic\WooCommerce\Utilities\FeaturesUtil' ) ) {
		\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', __FILE__, true );
		\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'cart_checkout_blocks', __FILE__, true );
	}
}

/** The opt-in box in the Checkout Block: optional, unticked. */
function wcc_register_block_opt_in() {
	if ( ! function_exists( 'woocommerce_register_additional_checkout_field' ) ) {
		return;
	}
	woocommerce_register_additional_checkout_field(
		array(
			'id'       => WCC_BLOCK_FIELD,
			'label'    => wcc_consent_text(),
			'location' => 'order',
			'type'     => 'checkbox',
			'required' => false, // consent is never a condition of buying
		)
	);
}

/**
 * Copy the block's box to the meta the connector reads, as the classic checkout does.
 *
 * @param string $key       Field id.
 * @param mixed  $value     Its value.
 * @param string $group     'billing', 'shipping' or 'other'.
 * @param object $wc_object The order (or customer) the value is set on.
 */
function wcc_block_opt_in_value( $key, $value, $group, $wc_object ) {
	if ( WCC_BLOCK_FIELD !== $key || ! ( $wc_object instanceof WC_Order ) ) {
		return;
	}
	wcc_record_order_consent( $wc_object, $value ? '1' : '' );
}

/**
 * Report the cart when the Checkout Block saves the shopper's address and phone.
 *
 * @param WC_Customer     $customer The customer the Store API updated.
 * @param WP_REST_Request $request  The request.
 */
function wcc_report_block_customer( $customer, $request ) {
	wcc_send_cart_report(
		array(
			'billing_email'      => $customer->get_billing_email(),
			'billing_phone'      => $customer->get_billing_phone(),
			'billing_first_name' => $customer->get_billing_first_name(),
			'billing_last_name'  => $customer->get_billing_last_name(),
			'billing_country'    => $customer->get_billing_country(),
		),
		false
	);
}

/**
 * Report the cart as completed once the Checkout Block placed the order.
 *
 * @param WC_Order $order The order.
 */
function wcc_report_block_order_placed( $order ) {
	wcc_send_cart_report( wcc_order_fields( $order ), true );
}

/*
 * Cart reports.
 */

add_action( 'woocommerce_checkout_update_order_review', 'wcc_report_checkout_update' );
add_action( 'woocommerce_checkout_order_processed', 'wcc_report_order_placed', 10, 3 );

/**
 * Report the cart when checkout refreshes (the shopper typed an address, phone, ...).
 *
 * @param string $posted_data Serialized checkout form.
 */
function wcc_report_checkout_update( $posted_data ) {
	$fields = array();
	parse_str( (string) $posted_data, $fields );
	wcc_send_cart_report( $fields, false );
}

/**
 * Report the cart as completed once the order exists.
 *
 * @param int      $order_id    Order id.
 * @param array    $posted_data Posted data.
 * @param WC_Order $order       Order.
 */
function wcc_report_order_placed( $order_id, $posted_data, $order ) {
	wcc_send_cart_report( wcc_order_fields( $order ), true );
}

/**
 * The checkout fields of a placed order, as a cart report takes them.
 *
 * @param WC_Order $order The order.
 * @return array
 */
function wcc_order_fields( $order ) {
	return array(
		'billing_email'      => $order->get_billing_email(),
		'billing_phone'      => $order->get_billing_phone(),
		'billing_first_name' => $order->get_billing_first_name(),
		'billing_last_name'  => $order->get_billing_last_name(),
		'billing_country'    => $order->get_billing_country(),
		WCC_FIELD_OPT_IN     => 'yes' === $order->get_meta( WCC_META_OPT_IN ) ? '1' : '',
	);
}

/**
 * Build, sign and send one cart report, without waiting for the answer.
 *
 * @param array $fields    Checkout fields (billing_*, wcc_whatsapp_opt_in).
 * @param bool  $completed Whether the order was placed.
 */
function wcc_send_cart_report( array $fields, $completed ) {
	$settings = wcc_settings();
	if ( '' === $settings['connector_url'] || '' === $settings['shared_secret'] || ! WC()->cart ) {
		return;
	}
	$lines = array();
	$link  = array();
	foreach ( WC()->cart->get_cart() as $item ) {
		$product = $item['data'];
		$lines[] = array(
			'product_id'   => $item['product_id'],
			'variation_id' => $item['variation_id'],
			'quantity'     => $item['quantity'],
			'price'        => $item['quantity'] ? $item['line_subtotal'] / $item['quantity'] : 0,
			'title'        => $product ? $product->get_name() : '',
			'sku'          => $product ? $product->get_sku() : '',
			'image_url'    => $product ? (string) wp_get_attachment_image_url( $product->get_image_id(), 'woocommerce_thumbnail' ) : '',
		);
		$link[]  = ( $item['variation_id'] ? $item['variation_id'] : $item['product_id'] ) . ':' . $item['quantity'];
	}
	$text   = static function ( $name ) use ( $fields ) {
		return isset( $fields[ $name ] ) ? sanitize_text_field( wp_unslash( $fields[ $name ] ) ) : '';
	};
	$report = wcc_build_cart_report(
		array(
			'store'           => $settings['store_key'],
			'cart_token'      => wcc_cart_token(),
			'updated_at'      => time(),
			'currency'        => get_woocommerce_currency(),
			'locale'          => get_locale(),
			'customer_id'     => get_current_user_id(),
			'email'           => $text( 'billing_email' ),
			'phone'           => $text( 'billing_phone' ),
			'first_name'      => $text( 'billing_first_name' ),
			'last_name'       => $text( 'billing_last_name' ),
			'country'         => $text( 'billing_country' ),
			'whatsapp_opt_in' => '' !== $text( WCC_FIELD_OPT_IN ),
			'consent_text'    => wcc_consent_text(),
			'lines'           => $lines,
			'subtotal'        => WC()->cart->get_subtotal(),
			'total'           => WC()->cart->get_total( 'edit' ),
			'recovery_url'    => $lines ? add_query_arg( WCC_CART_PARAM, implode( ',', $link ), home_url( '/' ) ) : '',
			'completed'       => $completed,
			'decimals'        => wc_get_price_decimals(),
		)
	);
	$body   = wcc_encode_report( $report );
	wp_remote_post(
		$settings['connector_url'] . '/storefront/api/cart',
		array(
			'blocking' => false, // never slow the checkout down
			'timeout'  => 2,
			'headers'  => array(
				'Content-Type'    => 'application/json',
				'X-WCC-Signature' => wcc_sign( $body, $settings['shared_secret'] ),
			),
			'body'     => $body,
		)
	);
}

/*
 * Multi-item cart links: /?wcc-cart=ID:QTY,ID:QTY&coupon=CODE
 */

add_action( 'wp_loaded', 'wcc_handle_cart_link', 30 );

/** Fill the cart from the link, apply the coupon and go to checkout. */
function wcc_handle_cart_link() {
	// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- a shareable link, it only fills the shopper's own cart.
	if ( ! isset( $_GET[ WCC_CART_PARAM ] ) || ! function_exists( 'WC' ) || ! WC()->cart ) {
		return;
	}
	$pairs = wcc_parse_cart_param( sanitize_text_field( wp_unslash( $_GET[ WCC_CART_PARAM ] ) ) ); // phpcs:ignore WordPress.Security.NonceVerification.Recommended
	if ( ! $pairs ) {
		return;
	}
	WC()->cart->empty_cart(); // the link describes the whole cart
	foreach ( $pairs as $pair ) {
		$product = wc_get_product( $pair[0] );
		if ( ! $product ) {
			continue;
		}
		if ( $product->is_type( 'variation' ) ) {
			WC()->cart->add_to_cart( $product->get_parent_id(), $pair[1], $product->get_id(), $product->get_variation_attributes() );
		} else {
			WC()->cart->add_to_cart( $product->get_id(), $pair[1] );
		}
	}
	if ( ! empty( $_GET['coupon'] ) ) { // phpcs:ignore WordPress.Security.NonceVerification.Recommended
		WC()->cart->apply_coupon( wc_format_coupon_code( sanitize_text_field( wp_unslash( $_GET['coupon'] ) ) ) ); // phpcs:ignore WordPress.Security.NonceVerification.Recommended
	}
	wp_safe_redirect( wc_get_checkout_url() );
	exit;
}
