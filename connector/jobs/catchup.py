"""The WooCommerce catch-up job (``connector.stores.woocommerce_catchup`` says what it does).

The store layer queues it by dotted name (``CATCHUP_JOB``): every few minutes per store
from the sweep (``schedule_catchups``), and once right after a wc-auth connection
(``enqueue_setup``). A store that does not answer is recorded on the shop, not failed here;
only faults of ours fail the job.
"""

from __future__ import annotations

from connector.stores.woocommerce_catchup import catch_up


def catch_up_woocommerce_store(shop_id: int) -> dict:
    """Verify the keys (first run), repair the webhooks, feed orders and products changed
    since the cursor. Idempotent: a repeated run finds nothing to repair and nothing new."""
    return catch_up(shop_id)
