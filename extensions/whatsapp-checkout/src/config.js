// The connector's public URL (APP_URL). Set it before `shopify app deploy`, as in
// integrations/shopify/shopify.app.toml; extensions cannot read the app's configuration.
export const CONNECTOR_URL = 'https://app.example.com';
