"""Planning a started campaign: one recipient row and one outbox row per contact of its segment.

The segment's contacts are read by one streaming query on a connection of their own, in id
order, and written in chunks: each chunk is one transaction that first locks the campaign's
row, so a pause or a cancel (which take the same lock) falls between two chunks, never inside
one. A chunk written after a pause holds its messages ``paused``; after a cancel, planning
stops. Every row has a key (``campaign:<id>:<contact>``), so a planner that is killed and
started again (the sweep restarts one whose heartbeat stopped) writes each message once.

Variants: a contact's variant is a hash of the campaign and the contact (stable across runs,
no coin flip per send), mapped onto the holdout share and then the variants' weights.
Local time: "10:00" means the first 10:00 in the recipient's own zone (the shop's when the
contact has none) at or after the moment the campaign was started.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import Table, func, select, update

from connector.automations import links as short_links
from connector.campaigns import segments
from connector.dbutil import copy_rows_ignoring, held_transaction
from connector.extensions import db
from connector.messaging import catalogue, shop_catalogue
from connector.messaging.outbox import planned_row, queue_planned
from connector.models import Campaign, CampaignRecipient, Contact, MessageStatus, Purpose, Shop, utcnow
from connector.models.campaigns import HOLDOUT, REST
from connector.models.contacts import CONSENT_GRANTED
from connector.models.messages import MessageKind
from integrations.whatsapp import payloads

log = logging.getLogger(__name__)

AUTOMATION = "campaign"
CHUNK = 5000
#: a planner that has not written a chunk for this long is taken to be dead (the sweep restarts it)
HEARTBEAT = timedelta(minutes=5)
_SCALE = float(2**64)


class PlanError(ValueError):
    """The campaign cannot be planned as it stands (its template, its variants)."""


def key(campaign_id: int, contact_id: int) -> str:
    return f"campaign:{campaign_id}:{contact_id}"


def share(campaign_id: int, contact_id: int) -> float:
    """A number in [0, 1) fixed for the pair: where the contact falls in the campaign's split."""
    digest = hashlib.blake2b(f"{campaign_id}:{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


@dataclass(frozen=True, slots=True)
class Arm:
    """One variant as sent: its template and variables."""
    name: str
    weight: float
    template: catalogue.TemplateDefinition
    variables: dict[str, Any]


def arms(campaign: Campaign) -> list[Arm]:
    """The campaign's variants (one, itself, when it has none), each with its template loaded."""
    known = shop_catalogue.templates_for(campaign.shop_id)
    specs = campaign.variants or [{"name": "A", "weight": 100}]
    found: list[Arm] = []
    for spec in specs:
        name = spec.get("template") or campaign.template_name
        definition = known.get(name)
        if definition is None:
            raise PlanError(f"no template named {name!r}")
        if definition.purpose != Purpose.MARKETING:
            raise PlanError(f"template {name!r} is not a marketing template")
        variables = {**(campaign.variables or {}), **(spec.get("variables") or {})}
        found.append(Arm(name=str(spec.get("name") or chr(ord("A") + len(found))),
                         weight=float(spec.get("weight", 1)), template=definition, variables=variables))
    return found


class DueTimes:
    """When a recipient's message is due: the campaign's moment, or its local time per zone."""

    def __init__(self, campaign: Campaign, shop: Shop, start: datetime) -> None:
        self.start = max(start, campaign.send_at) if campaign.send_at else start
        self.local = time.fromisoformat(campaign.local_time) if campaign.local_time else None
        self.shop_zone = shop.time_zone or "UTC"
        self._by_zone: dict[str | None, datetime] = {}

    def for_zone(self, zone_name: str | None) -> datetime:
        if self.local is None:
            return self.start
        if zone_name not in self._by_zone:
            self._by_zone[zone_name] = next_local(self.start, self.local, _zone(zone_name, self.shop_zone))
        return self._by_zone[zone_name]


def next_local(start: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first ``at`` on the wall clocks of ``zone`` at or after ``start`` (an aware datetime)."""
    local = start.astimezone(zone)
    day = local.date()
    for offset in range(3):  # a wall time a DST jump skips still exists the next day
        candidate = datetime.combine(day + timedelta(days=offset), at, tzinfo=zone)
        if candidate >= local:
            return candidate.astimezone(start.tzinfo)
    raise AssertionError("unreachable")


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def check(campaign: Campaign, shop: Shop) -> list[Arm]:
    """The campaign's arms, each rendered once in every language, so a campaign that cannot be
    sent fails before anything is written (``PlanError``)."""
    found = arms(campaign)
    for arm in found:
        for language in arm.template.variants:
            try:
                content = _content(arm, language, shop.name or shop.domain, "Maria",
                                   ["Ab3dE9xY.1z.Qx7_a-"] * _url_buttons(arm))
                payloads.message_payload(to="+4915112345678", kind=MessageKind.TEMPLATE, content=content,
                                         template_name=arm.template.name, language=language)
            except (catalogue.RenderError, ValueError) as error:
                raise PlanError(f"{arm.template.name} ({language}): {error}") from None
    return found


def _url_buttons(arm: Arm) -> int:
    return sum(1 for button in arm.template.buttons if button.type == "URL")


def _content(arm: Arm, language: str, shop_name: str, customer: str, codes: list[str]) -> dict[str, Any]:
    wanted = set(arm.template.variant(language).parameters)
    params = {name: value for name, value in
              {**arm.variables, "customer_name": customer, "shop_name": shop_name}.items() if name in wanted}
    return catalogue.render_content(arm.template, language, params, button_suffixes=codes)


@dataclass
class _Plan:
    """What every chunk of one campaign's planning shares."""
    campaign_id: int
    shop_id: int
    shop_name: str
    shop_locale: str | None
    arms: list[Arm]
    weights: list[float]
    holdout: float
    #: with a test phase: the share of the others that tests the variants (the rest waits)
    test: float | None
    due: DueTimes
    #: per arm, the code of the campaign link of each of its URL buttons
    link_codes: list[list[str]]
    languages: dict[tuple[int, str | None], str] = field(default_factory=dict)
    #: rendered content per (arm, language, first name), its URL suffixes still to be filled in
    contents: dict[tuple[int, str, str], dict[str, Any]] = field(default_factory=dict)
    suffix: Callable[[str, int], str] = field(default_factory=short_links.recipient_suffixes)

    def content(self, variant: int, language: str, first: str, contact_id: int) -> dict[str, Any]:
        cached = self.contents.get((variant, language, first))
        if cached is None:
            if len(self.contents) > 50_000:
                self.contents.clear()
            codes = self.link_codes[variant]
            cached = self.contents[(variant, language, first)] = _content(
                self.arms[variant], language, self.shop_name, first, ["suffix"] * len(codes))
        codes = self.link_codes[variant]
        if not codes:
            return cached
        suffixes = iter(codes)
        buttons = [{**button, "url_suffix": self.suffix(next(suffixes), contact_id)}
                   if "url_suffix" in button else button for button in cached["buttons"]]
        return {**cached, "buttons": buttons}


def plan_any(campaign_id: int) -> dict[str, int]:
    """What the planner's job runs: the campaign's plan, or after its test phase the rest's."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is not None and campaign.rest_sent_at is not None:
        return plan_rest(campaign_id)
    return plan(campaign_id)


def plan(campaign_id: int) -> dict[str, int]:
    """Plan the campaign if it is being planned; returns what was written."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status not in (Campaign.PLANNING, Campaign.PAUSED) or campaign.planned_at:
        return {"recipients": 0, "messages": 0}
    shop = db.session.get(Shop, campaign.shop_id)
    assert shop is not None  # a campaign goes with its shop (ON DELETE CASCADE)
    try:
        found = check(campaign, shop)
    except PlanError as error:
        campaign.status, campaign.error = Campaign.FAILED, str(error)[:255]
        db.session.commit()
        log.warning("campaign.plan_failed", extra={"shop_id": shop.id, "campaign_id": campaign_id})
        return {"recipients": 0, "messages": 0}
    conditions = segments.parse(campaign.segment)
    due = DueTimes(campaign, shop, campaign.started_at or utcnow())
    target = short_links.with_utm(short_links.safe_target(shop, campaign.link_url), automation=AUTOMATION,
                                  template=campaign.template_name)
    link_codes = [[short_links.campaign_link(shop=shop, campaign_id=campaign_id, variant=index, button=button,
                                             target=target, template=arm.template.name).code
                   for button in range(_url_buttons(arm))] for index, arm in enumerate(found)]
    context = _Plan(campaign_id=campaign_id, shop_id=shop.id, shop_name=shop.name or shop.domain,
                    shop_locale=shop.locale, arms=found, weights=[arm.weight for arm in found],
                    holdout=(campaign.holdout_percent or 0.0) / 100.0,
                    test=(campaign.test_percent / 100.0) if campaign.test_percent else None,
                    due=due, link_codes=link_codes)
    C = Contact.__table__.c
    query = segments.segment_query(shop.id, conditions, due.start, columns=(C.name, C.locale, C.time_zone))
    written = _run(context, query)
    _finish(campaign_id)
    log.info("campaign.planned", extra={"shop_id": context.shop_id, "campaign_id": campaign_id, **written})
    return written


def _run(context: _Plan, query, fixed: int | None = None) -> dict[str, int]:
    """Build and write the query's contacts in chunks (each contact once, by its key)."""
    written = {"recipients": 0, "messages": 0}
    db.session.commit()
    with closing(_chunks(query)) as chunks:  # an error mid-way closes the reader's cursor at once
        if db.engine.dialect.name == "postgresql":
            _pipelined(context, chunks, written, fixed)
        else:
            for rows in chunks:
                if not _write_chunk(context, _build(context, rows, fixed), written):
                    break
    return written


def plan_rest(campaign_id: int) -> dict[str, int]:
    """After the test phase: the winner (``Campaign.winner``) to every contact who waited for it
    and still has marketing consent, due now (or at the campaign's local time, from now)."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not campaign.winner or campaign.rest_sent_at is None or campaign.planned_at \
            or campaign.status not in (Campaign.PLANNING, Campaign.PAUSED):
        return {"recipients": 0, "messages": 0}
    shop = db.session.get(Shop, campaign.shop_id)
    assert shop is not None  # a campaign goes with its shop (ON DELETE CASCADE)
    found = check(campaign, shop)
    index = next(i for i, arm in enumerate(found) if arm.name == campaign.winner)
    target = short_links.with_utm(short_links.safe_target(shop, campaign.link_url), automation=AUTOMATION,
                                  template=campaign.template_name)
    link_codes = [[short_links.campaign_link(shop=shop, campaign_id=campaign_id, variant=i, button=button,
                                             target=target, template=arm.template.name).code
                   for button in range(_url_buttons(arm))] for i, arm in enumerate(found)]
    due = DueTimes(campaign, shop, max(campaign.rest_sent_at, campaign.send_at or campaign.rest_sent_at))
    context = _Plan(campaign_id=campaign_id, shop_id=shop.id, shop_name=shop.name or shop.domain,
                    shop_locale=shop.locale, arms=found, weights=[arm.weight for arm in found], holdout=0.0,
                    test=None, due=due, link_codes=link_codes)
    C, R = Contact.__table__.c, CampaignRecipient.__table__.c
    query = (select(C.id, C.name, C.locale, C.time_zone)
             .select_from(CampaignRecipient.__table__.join(Contact.__table__, C.id == R.contact_id))
             .where(R.campaign_id == campaign_id, R.variant == REST, C.marketing_consent == CONSENT_GRANTED,
                    C.phone_e164.is_not(None)).order_by(C.id))
    written = _run(context, query, fixed=index)
    _finish(campaign_id)
    log.info("campaign.rest_planned", extra={"shop_id": shop.id, "campaign_id": campaign_id, **written})
    return written


def _chunks(query):
    """The query's rows in chunks: one streaming query on a connection of its own (PostgreSQL),
    or pages by id on SQLite, where an open reader would block the writer's commits."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(stream_results=True, yield_per=CHUNK) as reader:
            result = reader.execute(query)
            try:
                yield from result.partitions(CHUNK)
            finally:
                result.close()
        return
    C = Contact.__table__.c
    last = 0
    while True:
        rows = db.session.execute(query.where(C.id > last).limit(CHUNK)).all()
        db.session.commit()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


@dataclass
class _Batch:
    recipients: list[dict[str, Any]]
    messages: list[dict[str, Any]]


def _build(plan: _Plan, rows, fixed: int | None = None) -> _Batch:
    """One chunk's recipient and outbox rows (queued; the writer holds them if the campaign is paused).
    With ``fixed`` (the rest after a test), every row gets that variant and the recipients exist."""
    now = utcnow()
    campaign_id, shop_id = plan.campaign_id, plan.shop_id
    batch = _Batch([], [])
    for contact_id, name, locale, zone in rows:
        due_at = plan.due.for_zone(zone)
        if fixed is None:
            variant = assign(campaign_id, contact_id, plan.holdout, plan.weights, plan.test)
            batch.recipients.append({"shop_id": shop_id, "campaign_id": campaign_id, "contact_id": contact_id,
                                     "variant": variant, "due_at": due_at})
        else:
            variant = fixed
        if variant in (HOLDOUT, REST):
            continue
        arm = plan.arms[variant]
        language = plan.languages.get((variant, locale))
        if language is None:
            language = plan.languages[(variant, locale)] = catalogue.choose_language(arm.template, locale,
                                                                                    plan.shop_locale)
        content = plan.content(variant, language, first_name_of(name), contact_id)
        batch.messages.append(planned_row(shop_id=shop_id, contact_id=contact_id,
                                          idempotency_key=key(campaign_id, contact_id), automation=AUTOMATION,
                                          purpose=Purpose.MARKETING, template_name=arm.template.name,
                                          language=language, content=content, due_at=due_at, now=now,
                                          campaign_id=campaign_id))
    return batch


def _write_chunk(plan: _Plan, batch: _Batch, written: dict[str, int]) -> bool:
    """Write one chunk in one transaction under the campaign's lock; False once it is cancelled."""
    session = db.session
    status = session.scalar(select(Campaign.status).where(Campaign.id == plan.campaign_id).with_for_update())
    if status in (Campaign.CANCELLED, Campaign.FAILED, None):
        session.rollback()
        return False
    if status == Campaign.PAUSED:
        for row in batch.messages:
            row["status"] = MessageStatus.PAUSED.value
    with held_transaction(session):
        copy_rows_ignoring(session, _table(CampaignRecipient), batch.recipients, ("campaign_id", "contact_id"),
                           ("id",), CHUNK)
        new = queue_planned(batch.messages)
        session.execute(update(Campaign).where(Campaign.id == plan.campaign_id).values(updated_at=utcnow()))
        session.commit()
    written["recipients"] += len(batch.recipients)
    written["messages"] += len(new)
    return True


_DONE = object()


def _pipelined(plan: _Plan, chunks, written: dict[str, int], fixed: int | None) -> None:
    """Build chunks here while a thread writes the previous ones: on PostgreSQL the database's
    work and ours overlap (two cores, half the time). At most two built chunks wait."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    pending: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []
    stopped = threading.Event()

    def write() -> None:
        with app.app_context():
            try:
                while (batch := pending.get()) is not _DONE:
                    if not stopped.is_set() and not _write_chunk(plan, batch, written):
                        stopped.set()
            except BaseException as error:  # handed to the planner's thread, which raises it
                failure.append(error)
                stopped.set()
                while pending.get() is not _DONE:
                    pass
            finally:
                db.session.remove()

    writer = threading.Thread(target=write, name=f"campaign-{plan.campaign_id}-writer", daemon=True)
    writer.start()
    try:
        for rows in chunks:
            if stopped.is_set():
                break
            pending.put(_build(plan, rows, fixed))
    finally:
        pending.put(_DONE)
        writer.join()
    if failure:
        raise failure[0]


def assign(campaign_id: int, contact_id: int, holdout: float, weights: list[float], test: float | None = None) -> int:
    """The contact's variant index, ``HOLDOUT``, or ``REST`` (shares in [0, 1): ``holdout`` of
    everyone, ``test`` of the others; the rest of those waits for the winner)."""
    point = share(campaign_id, contact_id)
    if point < holdout:
        return HOLDOUT
    point = (point - holdout) / (1.0 - holdout)
    if test is not None:
        if point >= test:
            return REST
        point = point / test
    total, running = sum(weights), 0.0
    for index, weight in enumerate(weights):
        running += weight / total
        if point < running:
            return index
    return len(weights) - 1


def first_name_of(name: str | None) -> str:
    return (name or "").split(" ")[0] or "👋"


def _finish(campaign_id: int) -> None:
    """Record the plan's totals; the campaign sends from now (unless it was paused or cancelled)."""
    session = db.session
    campaign = session.scalars(select(Campaign).where(Campaign.id == campaign_id).with_for_update()
                               .execution_options(populate_existing=True)).first()  # as the writer left it
    if campaign is None:
        return
    R = CampaignRecipient.__table__.c
    total, holdout = session.execute(
        select(func.count(), func.count().filter(R.variant == HOLDOUT)).where(R.campaign_id == campaign_id)).one()
    campaign.recipients, campaign.holdout = int(total), int(holdout or 0)
    if campaign.status in (Campaign.PLANNING, Campaign.PAUSED):
        campaign.planned_at = utcnow()
        if campaign.status == Campaign.PLANNING:
            campaign.status = Campaign.SENDING
    session.commit()


def _table(model) -> Table:
    return model.__table__
