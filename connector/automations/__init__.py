"""The automations: what the connector does for a shop when something happens in its store.

One module per kind of message (``orders``, ``carts``, ``shipping``, ``back_in_stock``,
``templates``) and the helpers they share (``links``, ``discounts``, ``invoices``,
``attribution``, ``common``). Each exposes ``on_<event>(shop_id, event)`` handlers; the router
(``connector.routing``) decides which run for which event. See docs/adding-an-automation.md.
"""
