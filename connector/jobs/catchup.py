"""WooCommerce store jobs: the set-up after a connection, and the periodic catch-up.

WooCommerce never retries a failed delivery and disables a webhook after about five
failures in a row, so each store is visited every few minutes (``schedule_catchups``,
called by the sweep): its webhooks are repaired and what changed since the last visit is
fed into the same receipt pipeline as the webhooks. The set-up after a wc-auth connection
is the same job run at once (``connector.stores.woocommerce.enqueue_setup``) (the callback has checked the keys already; a store added by
hand is checked by its first run).

A store that does not answer is not a failed job: the run records it on the shop
(``sync_state.last_error``, ``failing_since``, ``next_try_at`` with back-off up to an hour)
and ends; ``schedule_catchups`` waits for the next try. Only faults of ours fail the job.
"""

from __future__ import annotations

from connector.stores.woocommerce import catch_up


def catch_up_woocommerce_store(shop_id: int) -> dict:
    """Verify the keys (first run), repair the webhooks, feed orders and products changed
    since the cursor. Idempotent: a repeated run finds nothing to repair and nothing new."""
    return catch_up(shop_id)
