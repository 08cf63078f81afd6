"""The campaign planner's job (``connector.campaigns.planner``), run on the maintenance queue."""

from __future__ import annotations

from connector.campaigns.planner import plan


def plan_campaign(campaign_id: int) -> dict[str, int]:
    """Write the campaign's recipients and messages (a second run writes nothing twice)."""
    return plan(campaign_id)
