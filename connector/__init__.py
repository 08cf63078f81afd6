"""WhatsApp commerce connector for Shopify and WooCommerce.

Importing the package does nothing: ``connector.app.create_app`` builds the Flask app, and
docs/architecture.md says which module may import which.
"""
