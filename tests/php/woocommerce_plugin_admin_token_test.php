<?php
/**
 * Loads the plugin's main file with a minimal stand-in for WordPress's REST API, menus and
 * users, and calls the admin-token route the way WordPress would: the permission callback,
 * then the callback.
 *
 * Run: php tests/php/woocommerce_plugin_admin_token_test.php '<json>' where the JSON may set
 * capability (bool), nonce (string sent as X-WP-Nonce; "good" is the valid one), user_id,
 * now, settings. Prints one JSON object: {routes, status, body, headers, app_url, menu, scripts}.
 */

define( 'ABSPATH', __DIR__ . '/' );

$wcc_case = json_decode( isset( $argv[1] ) ? $argv[1] : '{}', true );
$GLOBALS['wcc_test'] = array(
	'actions'    => array(),
	'routes'     => array(),
	'menu'       => array(),
	'scripts'    => array(),
	'localized'  => array(),
	'capability' => isset( $wcc_case['capability'] ) ? (bool) $wcc_case['capability'] : true,
	'user_id'    => isset( $wcc_case['user_id'] ) ? (int) $wcc_case['user_id'] : 7,
	'settings'   => isset( $wcc_case['settings'] ) ? $wcc_case['settings'] : array(
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
function do_action( $hook ) {
	$args = array_slice( func_get_args(), 1 );
	foreach ( isset( $GLOBALS['wcc_test']['actions'][ $hook ] ) ? $GLOBALS['wcc_test']['actions'][ $hook ] : array() as $callback ) {
		call_user_func_array( $callback, $args );
	}
}
function __( $text, $domain = 'default' ) {
	return $text;
}
function esc_html__( $text, $domain = 'default' ) {
	return htmlspecialchars( $text, ENT_QUOTES, 'UTF-8' );
}
function esc_attr__( $text, $domain = 'default' ) {
	return esc_html__( $text );
}
function esc_html( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8' );
}
function esc_attr( $text ) {
	return esc_html( $text );
}
function esc_url( $url ) {
	return esc_html( $url );
}
function get_option( $name, $default = false ) {
	return 'wcc_settings' === $name ? $GLOBALS['wcc_test']['settings'] : $default;
}
function wp_parse_args( $args, $defaults ) {
	return array_merge( $defaults, $args );
}
function home_url() {
	return 'https://store.example';
}
function admin_url( $path = '' ) {
	return 'https://store.example/wp-admin/' . $path;
}
function rest_url( $path = '' ) {
	return 'https://store.example/wp-json/' . $path;
}
function plugins_url( $path, $file ) {
	return 'https://store.example/wp-content/plugins/whatsapp-commerce-connector/' . $path;
}
function get_user_locale() {
	return 'de_DE';
}
function current_user_can( $capability ) {
	return 'manage_woocommerce' === $capability && $GLOBALS['wcc_test']['capability'];
}
function get_current_user_id() {
	return $GLOBALS['wcc_test']['user_id'];
}
function wp_create_nonce( $action ) {
	return 'wp_rest' === $action ? 'good' : 'other';
}
function wp_verify_nonce( $nonce, $action ) {
	return 'wp_rest' === $action && 'good' === $nonce ? 1 : false;
}
function rest_authorization_required_code() {
	return $GLOBALS['wcc_test']['user_id'] > 0 ? 403 : 401;
}
function register_rest_route( $namespace, $route, $args ) {
	$GLOBALS['wcc_test']['routes'][ $namespace . $route ] = $args;
}
function add_submenu_page( $parent, $page_title, $menu_title, $capability, $slug, $callback ) {
	$GLOBALS['wcc_test']['menu'][] = array( $parent, $capability, $slug );
}
function add_options_page( $page_title, $menu_title, $capability, $slug, $callback ) {
}
function wp_enqueue_script( $handle, $src = '' ) {
	$GLOBALS['wcc_test']['scripts'][ $handle ] = $src;
}
function wp_localize_script( $handle, $name, $data ) {
	$GLOBALS['wcc_test']['localized'][ $name ] = $data;
}

class WP_Error {
	public $code;
	public $data;
	public function __construct( $code, $message, $data ) {
		$this->code = $code;
		$this->data = $data;
	}
}
class WP_REST_Response {
	public $data;
	public $status;
	public $headers = array();
	public function __construct( $data, $status ) {
		$this->data   = $data;
		$this->status = $status;
	}
	public function header( $name, $value ) {
		$this->headers[ $name ] = $value;
	}
}
class WCC_Test_Request {
	private $headers;
	public function __construct( $headers ) {
		$this->headers = $headers;
	}
	public function get_header( $name ) {
		$key = strtolower( str_replace( '-', '_', $name ) );
		return isset( $this->headers[ $key ] ) ? $this->headers[ $key ] : null;
	}
}

require __DIR__ . '/../../integrations/woocommerce/wordpress-plugin/whatsapp-commerce-connector/whatsapp-commerce-connector.php';

do_action( 'admin_menu' );
do_action( 'rest_api_init' );
do_action( 'admin_enqueue_scripts', 'woocommerce_page_wcc-app' );

$route   = $GLOBALS['wcc_test']['routes']['whatsapp-commerce-connector/v1/admin-token'];
$request = new WCC_Test_Request( isset( $wcc_case['nonce'] ) ? array( 'x_wp_nonce' => $wcc_case['nonce'] ) : array() );
$allowed = call_user_func( $route['permission_callback'], $request );
if ( true === $allowed ) {
	$result = call_user_func( $route['callback'], $request );
} else {
	$result = $allowed;
}
$out = $result instanceof WP_REST_Response
	? array( 'status' => $result->status, 'body' => $result->data, 'headers' => $result->headers )
	: array( 'status' => $result->data['status'], 'body' => array( 'code' => $result->code ), 'headers' => array() );

echo json_encode(
	array_merge(
		$out,
		array(
			'methods'   => $route['methods'],
			'app_url'   => wcc_app_url(),
			'menu'      => $GLOBALS['wcc_test']['menu'],
			'scripts'   => $GLOBALS['wcc_test']['scripts'],
			'localized' => $GLOBALS['wcc_test']['localized'],
		)
	),
	JSON_UNESCAPED_SLASHES
);
