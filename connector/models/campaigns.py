"""Campaigns: a marketing template sent once to the contacts of a segment.

A ``Segment`` is a saved condition over contacts (connector/campaigns/segments.py says what
its JSON may hold). A ``Campaign`` names the template, its variables, the segment, when to send
(a moment, or a local time in each recipient's own zone) and optionally variants and a holdout
share. Starting it plans one ``CampaignRecipient`` per contact of the segment — the variant the
contact is assigned to, or the holdout, which gets nothing — and one outbox row per recipient
who gets a message (``Message.campaign_id``), so the outbox and the governor send it as they
send everything else: once, with consent, outside quiet hours, within caps, tier and pacing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.models.base import Base, BigId, Timestamps, UTCDateTime


class Segment(Timestamps, Base):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    definition: Mapped[dict] = mapped_column(JSON, default=dict)


class Campaign(Timestamps, Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_shop", "shop_id", "id"),)

    DRAFT = "draft"  # created; preview it, then start it
    PLANNING = "planning"  # started: recipients and their messages are being written
    SENDING = "sending"  # planned: the outbox sends it (status "completed" once nothing is open)
    PAUSED = "paused"  # nothing more goes out until it is resumed
    CANCELLED = "cancelled"  # what was not sent never will be
    COMPLETED = "completed"  # planned and nothing of it is left to send
    FAILED = "failed"  # planning failed (``error`` says why); nothing was queued

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    template_name: Mapped[str] = mapped_column(String(512))
    #: the template's variables, as named in it; customer_name and shop_name are filled per recipient
    variables: Mapped[dict] = mapped_column(JSON, default=dict)
    #: the segment's definition, copied when the campaign is made (a saved segment may change later)
    segment: Mapped[dict] = mapped_column(JSON, default=dict)
    #: where the template's URL button leads (a tracked short link per recipient)
    link_url: Mapped[str | None] = mapped_column(String(2000))
    #: when to send: a moment (``send_at``), or "HH:MM" in each recipient's zone (``local_time``),
    #: or neither (as soon as it is started)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    local_time: Mapped[str | None] = mapped_column(String(5))
    #: [{"name", "weight", "template"?, "variables"?}]: empty means one variant, the campaign itself
    variants: Mapped[list] = mapped_column(JSON, default=list)
    #: the share of the segment (percent) that gets nothing, to compare against
    holdout_percent: Mapped[float] = mapped_column(Float, default=0.0)
    #: with variants: the share (percent, of those not in the holdout) that tests them; the rest
    #: waits ``winner_after_hours`` and then gets the winner (``winner``: its name; "" when the
    #: test found none, and the rest waits for the merchant's choice)
    test_percent: Mapped[float | None] = mapped_column(Float)
    winner_after_hours: Mapped[int | None] = mapped_column(Integer)
    winner: Mapped[str | None] = mapped_column(String(40))
    rest_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    error: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: written by the planner: contacts planned (holdout included), and of them in the holdout
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    holdout: Mapped[int] = mapped_column(Integer, default=0)


#: ``CampaignRecipient.variant`` of a contact in the holdout
HOLDOUT = -1
#: ``CampaignRecipient.variant`` of a contact who waits for the test's winner
REST = -2


class CampaignRecipient(Base):
    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_recipients_variant", "campaign_id", "variant"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    #: index into the campaign's variants (0 when it has none), or ``HOLDOUT``
    variant: Mapped[int] = mapped_column(SmallInteger)
    #: when its message is (or, for the holdout, would have been) due
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
