"""RQ job bodies: module-level functions, ids in, idempotent, run inside the worker's app context.

This is the top of the worker's side: ``ingest`` (webhook receipts), ``send`` (one shop's
dispatcher), ``sweep`` (the safety net, as named steps), ``inventory`` (Shopify look-ups),
``catchup`` (WooCommerce catch-up). Lower layers never import these modules: they ask for a
job through ``connector.wakeups``, which names it by its dotted path.

Each job re-reads its state from the database and does nothing when the work is already
done, so running it twice (a lost acknowledgement, the sweep re-enqueueing) is harmless.
Failures are not swallowed: a job that cannot finish raises and RQ records it; the sweep
brings unfinished work back.
"""
