/**
 * WooCommerce → WhatsApp: the parent side of the admin app's token hand-off.
 *
 * The connector's app runs in the iframe #wcc-admin-app. It has no cookie of this site, so it
 * asks this page for a bearer token: {type: "wcc:token-request", id}. This page fetches one
 * from the plugin's REST route (cookie + X-WP-Nonce: only a user with manage_woocommerce gets
 * one) and answers {type: "wcc:token", id, token, expires_at} — to the connector's origin
 * only, and only to requests from that frame. See docs/admin-api.md in the connector.
 *
 * window.wccAdminApp = {connectorOrigin, tokenUrl, nonce} comes from wp_localize_script().
 */
(function () {
	'use strict';
	var config = window.wccAdminApp || {};
	var frame = document.getElementById( 'wcc-admin-app' );
	if ( ! frame || ! config.connectorOrigin || ! config.tokenUrl ) {
		return;
	}

	function answer( id, body ) {
		var message = { type: 'wcc:token', id: id };
		Object.keys( body ).forEach( function ( key ) {
			message[ key ] = body[ key ];
		} );
		frame.contentWindow.postMessage( message, config.connectorOrigin );
	}

	window.addEventListener( 'message', function ( event ) {
		var data = event.data;
		if ( event.origin !== config.connectorOrigin || event.source !== frame.contentWindow ) {
			return;
		}
		if ( ! data || data.type !== 'wcc:token-request' ) {
			return;
		}
		window.fetch( config.tokenUrl, {
			credentials: 'same-origin',
			headers: { 'X-WP-Nonce': config.nonce, Accept: 'application/json' },
		} ).then( function ( response ) {
			if ( ! response.ok ) {
				throw new Error( 'HTTP ' + response.status );
			}
			return response.json();
		} ).then( function ( body ) {
			answer( data.id, { token: body.token, expires_at: body.expires_at } );
		} ).catch( function () {
			// the app shows "sign in again"; a reload of this page renews the nonce
			answer( data.id, { error: 'token_unavailable' } );
		} );
	} );
}() );
