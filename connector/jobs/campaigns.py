"""The campaign planner's job (``connector.campaigns.planner``), run on the maintenance queue."""

from __future__ import annotations

from connector.campaigns.planner import plan_any


def plan_campaign(campaign_id: int) -> dict[str, int]:
    """Write the campaign's recipients and messages, or after a test phase the rest's (a second
    run writes nothing twice)."""
    return plan_any(campaign_id)
