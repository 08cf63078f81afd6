"""The store layer: what the connector does with each store platform.

One module per platform (``shopify``, ``woocommerce`` and their companions: connecting,
catch-up, look-ups), what is common to them (``context``, ``lifecycle``, ``cod``,
``shop_cache``), and the registry of what each platform can do (``platforms``). The
automations call this layer; it never calls them: the router (``connector.routing``) applies
the events a store receipt becomes.
"""
