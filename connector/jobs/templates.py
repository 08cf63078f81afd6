"""The template sync job: what ``connector templates sync`` does, asked for from the admin's page.

One queued or running sync per shop is enough: a Redis flag (``SET NX``, cleared when the
job ends, expiring with the job's timeout) makes a second press of the button a no-op.
"""

from __future__ import annotations

import logging

from connector.automations.templates import sync_templates
from connector.extensions import db, get_redis
from connector.messaging import shop_catalogue
from connector.models import Shop
from connector.queues import MAINTENANCE, enqueue

log = logging.getLogger(__name__)

#: a sync submits every template in every language, one Graph call each
SYNC_JOB_TIMEOUT = 600


def sync_flag_key(shop_id: int, only: list[str] | None = None) -> str:
    """Set while a sync of the shop (of the templates ``only`` names, or of all) is queued or running."""
    return f"connector:templates:sync:{shop_id}" + (f":{','.join(sorted(only))}" if only else "")


def sync_shop_templates(shop_id: int, only: list[str] | None = None) -> dict:
    """Create or edit the shop's templates at Meta (``sync_templates``; ``only`` those named);
    counts of the outcome."""
    try:
        shop = db.session.get(Shop, shop_id)
        if shop is None:
            return {"shop_id": shop_id, "synced": 0, "failed": 0}
        known = set(shop_catalogue.templates_for(shop_id))
        names = [name for name in only if name in known] if only else None
        if only and not names:  # what it was queued for is gone
            return {"shop_id": shop_id, "synced": 0, "failed": 0}
        results = sync_templates(shop, only=names)
        db.session.commit()
    finally:
        get_redis().delete(sync_flag_key(shop_id, only))
    failed = sum(1 for result in results if result.failed)
    log.info("templates.synced", extra={"shop_id": shop_id, "synced": len(results), "failed": failed})
    return {"shop_id": shop_id, "synced": len(results), "failed": failed}


def enqueue_template_sync(shop_id: int, only: list[str] | None = None) -> bool:
    """Queue the shop's sync (of the templates ``only`` names: a merchant's new version) unless the
    same one is already queued or running; True when this queued it."""
    if not get_redis().set(sync_flag_key(shop_id, only), 1, nx=True, ex=SYNC_JOB_TIMEOUT + 60):
        return False
    enqueue(sync_shop_templates, shop_id, *([sorted(only)] if only else []), queue=MAINTENANCE,
            timeout=SYNC_JOB_TIMEOUT)
    return True
