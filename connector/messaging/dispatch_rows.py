"""The dispatcher's bookkeeping of outbox rows: claiming, judging, recording results and
errors, releasing what waits, and what the governor needs to know about past sends.

``RowBook`` is a mixin of ``connector.messaging.dispatcher.Dispatcher``: the send loop
(pacing, consent checks, yielding the worker) lives there, the rows' state here. Nothing
here talks to the Cloud API.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, cast, overload

from redis import Redis
from sqlalchemy import Table, and_, bindparam, case, func, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from connector import rollups
from connector.dbutil import claim_rows, rowcount
from connector.extensions import db
from connector.messaging import costs
from connector.messaging.governor import DEFER, SEND, SUPPRESS, Candidate, Governor, Policy
from connector.messaging.sequences import cancel_superseded
from connector.messaging.statuses import apply_error_consequences, pause_sending
from connector.models import Contact, Message, MessageStatus, Shop, TemplateApproval, utcnow
from connector.models.messages import MessageKind
from integrations.whatsapp.errors import (
    ERROR_RULES,
    HTTP_5XX_RULE,
    HTTP_429_RULE,
    TRANSPORT_RULE,
    Disposition,
    WhatsAppError,
)

log = logging.getLogger(__name__)

#: sends whose outcome was unknown (in doubt) are tried at most this many times in all
MAX_ATTEMPTS = 12
#: a retryable failure (429, 5xx, no connection) is tried again up to this many times: about
#: an hour and a half once the back-off sits at its cap, so a long Cloud API outage does not
#: fail the messages it holds, and a short one does not hold them for long
MAX_RETRIES = 250
#: the back-off doubles from RETRY_BASE_SECONDS up to this, then stays there (jittered below it)
MAX_BACKOFF_SECONDS = 30.0
M = cast(Table, Message.__table__)
COST_TYPE, CURRENCY_TYPE = M.c.estimated_cost.type, M.c.cost_currency.type
#: a template message whose template is not approved in its language waits with this reason;
#: the approval webhook makes it due at once, this recheck only covers a lost webhook
TEMPLATE_NOT_APPROVED = "template_not_approved"
TEMPLATE_RECHECK = timedelta(hours=1)
#: retry reasons that say "the number could not send just now" (throttled, Graph or the network
#: down) rather than anything about the recipient or a wait Meta imposes: a successful send from
#: the same number proves them over, so their rows become due at once (``Dispatcher._release_waiting``)
RELEASED_BY_SUCCESS = frozenset(
    f"retry:{rule.name}" for rule in (*ERROR_RULES.values(), HTTP_429_RULE, HTTP_5XX_RULE, TRANSPORT_RULE)
    if rule.disposition is Disposition.RETRYABLE and (rule.retry_after_seconds or 0) <= 1
    and rule.name != "pair_rate_limit_hit"
)


#: deferrals the dashboard does not count: seconds of spacing between two messages to one person
UNREPORTED_DEFERRALS = frozenset({"pair_rate"})


def backoff_seconds(attempts: int, *, base: float, retry_after: float | None) -> float:
    """How long a send that failed for the ``attempts``-th time waits before its next try.

    Doubling from ``base``, capped at ``MAX_BACKOFF_SECONDS``, with "equal jitter" (a uniform
    draw in the upper half) so a storm's failures do not all come back in the same second.
    A wait Meta prescribes (``retry_after``, e.g. 60 s for maintenance) is a floor, never cut.
    """
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2 ** min(max(attempts - 1, 0), 30))
    return max(random.uniform(ceiling / 2, ceiling), retry_after or 0.0)


def unsent_key(shop_id: int) -> str:
    """Rows a dispatcher had claimed but not yet sent when the database failed under it."""
    return f"connector:dispatch:unsent:{shop_id}"
#: how long the ids of claimed-but-unsent rows are kept for the next dispatcher (the sweep
#: re-queues such rows anyway once their lease is over)
UNSENT_TTL_SECONDS = 86400


def database_failed(error: BaseException) -> bool:
    return isinstance(error, (OperationalError, InterfaceError, PoolTimeoutError)) or (
        isinstance(error, DBAPIError) and error.connection_invalidated)


@dataclass
class Claimed:
    candidate: Candidate
    phone: str
    kind: str
    template_name: str | None
    language: str | None
    content: dict[str, Any]
    attempts: int
    automation: str = ""
    #: why the row waited before this claim (a deferral for the same reason is not a new one)
    reason: str | None = None
    #: the template's category as recorded from Meta (None: not a template, or not synced)
    template_category: str | None = None

    @property
    def billed_as(self) -> str:
        """What Meta bills it as (``costs.category_of``): marketing, utility, authentication, service."""
        return costs.category_of(self.kind, self.candidate.purpose, self.template_category)




class _Counts(Protocol):
    """What the bookkeeping counts in the dispatcher's ``DispatchReport``."""

    claimed: int
    sent: int
    deferred: int
    suppressed: int
    failed: int
    retried: int
    in_doubt: int
    released: int


class RowBook:
    # what the composing Dispatcher provides (its fields, and what its run() sets up); annotations
    # only, so the dataclass gets no fields from here
    shop_id: int
    lease_seconds: int
    retry_base_seconds: float
    redis: Redis | None
    report: _Counts
    governor: Governor
    _shop: Shop
    _batch: int
    _unsent: set[int]
    _contacts_seen: set[int]
    _results: list[tuple]
    _may_release: bool

    def _claim(self) -> list[Claimed]:
        now = utcnow()
        ready = (
            select(M.c.id)
            .where(M.c.shop_id == self.shop_id, M.c.status == MessageStatus.QUEUED, M.c.due_at <= now)
            .order_by(M.c.priority, M.c.due_at, M.c.id)
            .limit(self._batch)
            .with_for_update(skip_locked=True)
        )
        ids = claim_rows(db.session, M, ready, {"status": MessageStatus.SENDING, "updated_at": now,
                                                "claimed_until": now + timedelta(seconds=self.lease_seconds)},
                         M.c.status == MessageStatus.QUEUED)
        db.session.commit()
        self._unsent.update(ids)
        if not ids:
            return []
        C = Contact.__table__
        rows = db.session.execute(
            select(M.c.id, M.c.contact_id, M.c.purpose, M.c.kind, M.c.template_name, M.c.language, M.c.content,
                   M.c.attempts, M.c.automation, M.c.status_reason, C.c.phone_e164, C.c.time_zone,
                   C.c.marketing_consent, C.c.transactional_consent,
                   C.c.marketing_paused_until, C.c.last_inbound_at)
            .join(C, and_(C.c.id == M.c.contact_id, C.c.shop_id == M.c.shop_id))
            .where(M.c.id.in_(ids))
            .order_by(M.c.priority, M.c.due_at, M.c.id)
        ).all()
        self.report.claimed += len(rows)
        claimed = [
            Claimed(
                candidate=Candidate(
                    message_id=r.id, contact_id=r.contact_id, purpose=r.purpose, kind=r.kind, time_zone=r.time_zone,
                    marketing_consent=r.marketing_consent, transactional_consent=r.transactional_consent,
                    marketing_paused_until=aware(r.marketing_paused_until), last_inbound_at=aware(r.last_inbound_at)),
                phone=r.phone_e164, kind=r.kind, template_name=r.template_name, language=r.language,
                content=r.content or {}, attempts=r.attempts, automation=r.automation, reason=r.status_reason)
            for r in rows
        ]
        self._load_recent_sends({c.candidate.contact_id for c in claimed} - self._contacts_seen, now)
        db.session.commit()
        return claimed

    def _judge(self, claimed: list[Claimed]) -> list[tuple[Claimed, bool]]:
        now = utcnow()
        to_send: list[tuple[Claimed, bool]] = []
        deferred: list[dict] = []
        suppressed: list[dict] = []
        approvals = _template_approvals(self.shop_id)
        moot = cancel_superseded(self.shop_id, [row.candidate for row in claimed], now)  # overtaken steps
        for row in claimed:
            if row.candidate.message_id in moot:
                continue
            approval = approvals.get((row.template_name, row.language)) if approvals is not None else None
            if approval is not None and row.kind == MessageKind.TEMPLATE:
                # judged (and billed) by the category Meta gives the template now, which
                # template_category_update webhooks keep current
                row.template_category = approval[1]
                row.candidate = replace(row.candidate, template_category=approval[1])
            if approvals is not None and row.kind == MessageKind.TEMPLATE and \
                    (approval is None or approval[0] != "APPROVED"):
                # Meta refuses a template not approved in this language (132001): wait for the verdict
                deferred.append({"_id": row.candidate.message_id, "_due": now + TEMPLATE_RECHECK,
                                 "_reason": TEMPLATE_NOT_APPROVED})
                self._count_deferral(row, TEMPLATE_NOT_APPROVED, now)
                continue
            verdict = self.governor.judge(row.candidate, now)
            if verdict.action == SEND:
                self.governor.record_send(row.candidate, now, verdict.counts_toward_tier)
                to_send.append((row, verdict.counts_toward_tier))
            elif verdict.action == DEFER:
                deferred.append({"_id": row.candidate.message_id, "_due": verdict.until, "_reason": verdict.reason})
                self._count_deferral(row, verdict.reason, now)
            elif verdict.action == SUPPRESS:
                suppressed.append({"_id": row.candidate.message_id, "_reason": verdict.reason})
        if deferred:
            db.session.execute(
                update(M).where(M.c.id == bindparam("_id"), M.c.status == MessageStatus.SENDING).values(
                    status=MessageStatus.QUEUED, due_at=bindparam("_due"), status_reason=bindparam("_reason"),
                    claimed_until=None, deferrals=M.c.deferrals + 1, updated_at=now),
                deferred,
            )
            self.report.deferred += len(deferred)
            log.info("dispatch.deferred", extra={"shop_id": self.shop_id, "count": len(deferred),
                                                  "reasons": ",".join(sorted({d["_reason"] for d in deferred}))})
        if suppressed:
            db.session.execute(
                update(M).where(M.c.id == bindparam("_id"), M.c.status == MessageStatus.SENDING).values(
                    status=MessageStatus.SUPPRESSED, status_reason=bindparam("_reason"), claimed_until=None,
                    updated_at=now),
                suppressed,
            )
            self.report.suppressed += len(suppressed)
            log.info("dispatch.suppressed", extra={"shop_id": self.shop_id, "count": len(suppressed),
                                                    "reasons": ",".join(sorted({d["_reason"] for d in suppressed}))})
        db.session.commit()
        return to_send

    def _flush(self) -> None:
        if not self._results:
            return
        results, self._results = self._results, []
        now = utcnow()
        sent_rows = [(row, wamid, counts) for kind, row, wamid, counts in (r for r in results if r[0] == "sent")]
        sent: list[dict] = []
        if sent_rows:
            # a status webhook may have recorded the send first (it finds the row by our id):
            # only the rows still without sent_at are counted (and priced), under their row locks
            first_sent = set(db.session.scalars(
                select(M.c.id).where(M.c.id.in_([row.candidate.message_id for row, _, _ in sent_rows]),
                                     M.c.sent_at.is_(None))
                .order_by(M.c.id).with_for_update()))
            card = costs.load_rate_card()
            services = costs.service_sent_this_month(self.shop_id, now) if any(
                row.billed_as == costs.SERVICE for row, _, _ in sent_rows) else 0
            for row, wamid, counts in sent_rows:
                cost = None
                if row.candidate.message_id in first_sent:
                    rollups.count(db.session, self.shop_id, now, rollups.SENT, automation=row.automation)
                    # counts_toward_tier is "outside the customer-service window" (the governor's verdict)
                    cost = costs.estimate(card, category=row.billed_as, country=costs.country_of(row.phone), at=now,
                                          window_open=not counts, service_sent_this_month=services)
                    services += row.billed_as == costs.SERVICE
                    rollups.count(db.session, self.shop_id, now, rollups.COST, automation=row.automation,
                                  dimension=card.currency, amount=cost)
                sent.append({"_id": row.candidate.message_id, "_wamid": wamid, "_counts": counts, "_cost": cost,
                             "_currency": card.currency if cost is not None else None})
            db.session.execute(
                update(M).where(M.c.id == bindparam("_id")).values(
                    status=case((M.c.status == MessageStatus.SENDING, MessageStatus.SENT), else_=M.c.status),
                    wamid=bindparam("_wamid"), sent_at=func.coalesce(M.c.sent_at, now), claimed_until=None,
                    attempts=M.c.attempts + 1, counts_toward_tier=bindparam("_counts"), status_reason=None,
                    estimated_cost=func.coalesce(M.c.estimated_cost, bindparam("_cost", type_=COST_TYPE)),
                    cost_currency=func.coalesce(M.c.cost_currency, bindparam("_currency", type_=CURRENCY_TYPE)),
                    updated_at=now),
                sent,
            )
            self.report.sent += len(sent)
        for _, row, error, rule in (r for r in results if r[0] == "error"):
            self._record_error(row, error, rule, now)
        if sent and self._may_release:
            self._release_waiting(now)
        db.session.commit()

    def _count_deferral(self, row: Claimed, reason: str | None, now: datetime) -> None:
        """A message starts waiting for ``reason``: one deferral. Waiting again for the same reason
        (a recheck) is the same deferral, and pair-rate spacing is pacing, not a reason to report."""
        if reason and reason != row.reason and reason not in UNREPORTED_DEFERRALS:
            rollups.count(db.session, self.shop_id, now, rollups.DEFERRED, automation=row.automation,
                          dimension=reason)

    def _release_waiting(self, now: datetime) -> None:
        """A send just went through: rows backing off after a failure of the number (429, 5xx,
        network) are due again now instead of at the end of their back-off."""
        self._may_release = False
        released = rowcount(db.session.execute(
            update(M).where(M.c.shop_id == self.shop_id, M.c.status == MessageStatus.QUEUED, M.c.due_at > now,
                            M.c.status_reason.in_(sorted(RELEASED_BY_SUCCESS)))
            .values(due_at=now, updated_at=now)
        ))
        if released:
            self.report.released += released
            log.info("dispatch.released_after_success", extra={"shop_id": self.shop_id, "count": released})

    def _record_error(self, row: Claimed, error: WhatsAppError, rule, now: datetime) -> None:
        message_id = row.candidate.message_id
        code = getattr(error, "code", None)
        attempts = row.attempts + 1
        where = and_(M.c.id == message_id, M.c.status == MessageStatus.SENDING)
        in_doubt = getattr(error, "in_doubt", False)
        if in_doubt and attempts < MAX_ATTEMPTS:
            # Graph may have taken this one (timeout, dropped connection, bare 5xx from an edge).
            # Retrying now could send it twice, so it is treated like a send whose worker died:
            # it stays "sending" under a fresh lease, Meta's status webhook (which echoes the
            # row id) settles it if it went out, and only otherwise does the sweep re-queue it.
            db.session.execute(update(M).where(where).values(
                attempts=attempts, claimed_until=now + timedelta(seconds=self.lease_seconds),
                status_reason=f"in_doubt:{rule.name}", error_code=code, updated_at=now))
            self.report.in_doubt += 1
            log.warning("dispatch.in_doubt", extra={"shop_id": self.shop_id, "message_id": message_id,
                                                     "rule": rule.name, "attempt": attempts})
            return
        if rule.disposition == Disposition.RETRYABLE and attempts < MAX_RETRIES and not in_doubt:
            delay = backoff_seconds(attempts, base=self.retry_base_seconds, retry_after=rule.retry_after_seconds)
            self._may_release = True  # the next success for this number brings it forward
            db.session.execute(update(M).where(where).values(
                status=MessageStatus.QUEUED, attempts=attempts, due_at=now + timedelta(seconds=delay),
                claimed_until=None, status_reason=f"retry:{rule.name}", error_code=code, updated_at=now))
            self.report.retried += 1
            log.info("dispatch.retry_scheduled", extra={"shop_id": self.shop_id, "message_id": message_id,
                                                         "rule": rule.name, "attempt": attempts,
                                                         "delay_s": round(delay, 2)})
            return
        if rule.disposition == Disposition.PAUSE_ACCOUNT:
            # not the message's fault: it waits, unsent, until the account is fixed and resumed
            db.session.execute(update(M).where(where).values(
                status=MessageStatus.QUEUED, claimed_until=None, status_reason=f"paused:{rule.name}",
                error_code=code, updated_at=now))
            pause_sending(self._shop, f"whatsapp_error:{code if code is not None else rule.name}", now)
            return
        reason = "retries_exhausted" if rule.disposition == Disposition.RETRYABLE else f"error:{code or rule.name}"
        failed = rowcount(db.session.execute(update(M).where(where).values(
            status=MessageStatus.FAILED, attempts=attempts, failed_at=now, claimed_until=None, status_reason=reason,
            error_code=code, error_title=(getattr(error, "title", None) or rule.name)[:255], updated_at=now)))
        if failed:  # not settled meanwhile by a status webhook
            rollups.count(db.session, self.shop_id, now, rollups.FAILED, automation=row.automation, dimension=reason)
        self.report.failed += 1
        log.info("dispatch.failed", extra={"shop_id": self.shop_id, "message_id": message_id, "rule": rule.name,
                                            "code": code})
        apply_error_consequences(self._shop, row.candidate.contact_id, rule, now)

    def _give_back_unsent(self) -> None:
        """Re-queue the rows an earlier dispatcher of this shop claimed but never sent (it lost
        the database). Only this shop's dispatcher holds its rows, under the lock we hold."""
        if self.redis is None:
            return
        ids = [int(value) for value in self.redis.smembers(unsent_key(self.shop_id))]
        if not ids:
            return
        given_back = rowcount(db.session.execute(
            update(M).where(M.c.shop_id == self.shop_id, M.c.id.in_(ids), M.c.status == MessageStatus.SENDING,
                            M.c.wamid.is_(None))
            .values(status=MessageStatus.QUEUED, claimed_until=None, updated_at=utcnow())
        ))
        db.session.commit()
        self.redis.delete(unsent_key(self.shop_id))
        log.info("dispatch.unsent_given_back", extra={"shop_id": self.shop_id, "count": given_back})

    def _release(self, rows: list[Claimed]) -> None:
        """Give claimed-but-unsent rows back (the account was paused mid-batch)."""
        if not rows:
            return
        db.session.execute(
            update(M).where(M.c.id.in_([r.candidate.message_id for r in rows]), M.c.status == MessageStatus.SENDING)
            .values(status=MessageStatus.QUEUED, claimed_until=None, updated_at=utcnow()))
        db.session.commit()

    def _load_recent_sends(self, contact_ids: set[int], now: datetime) -> None:
        if not contact_ids:
            return
        spans = ([span for _, span in self.governor.policy.frequency_caps.values()]
                 + [self.governor.policy.pair_interval])
        since = now - max(spans)
        rows = db.session.execute(
            select(M.c.contact_id, M.c.purpose, M.c.sent_at)
            .where(M.c.shop_id == self.shop_id, M.c.contact_id.in_(contact_ids), M.c.sent_at > since)
            .order_by(M.c.sent_at)
        ).all()
        for contact_id, purpose, sent_at in rows:
            sent_at = aware(sent_at)
            self.governor.recent_sends.setdefault(contact_id, {}).setdefault(purpose, deque()).append(sent_at)
            last = self.governor.last_send.get(contact_id)
            self.governor.last_send[contact_id] = max(last, sent_at) if last else sent_at
        self._contacts_seen |= contact_ids

    def _tier_recipients(self, now: datetime, policy: Policy) -> dict[int, datetime]:
        if policy.messaging_limit is None:
            return {}
        rows = db.session.execute(
            select(M.c.contact_id, func.min(M.c.sent_at))
            .where(M.c.shop_id == self.shop_id, M.c.counts_toward_tier.is_(True),
                   M.c.sent_at > now - timedelta(hours=24))
            .group_by(M.c.contact_id)
        ).all()
        return {contact_id: aware(first) for contact_id, first in rows}


def _template_approvals(shop_id: int) -> dict[tuple[str | None, str | None], tuple[str, str]] | None:
    """(template, language) -> (Meta's status, its category), as ``templates sync`` and Meta's
    webhooks recorded them; None for a shop that never synced (its templates are managed at
    Meta directly, so nothing is known here)."""
    rows = db.session.execute(select(TemplateApproval.name, TemplateApproval.language, TemplateApproval.status,
                                     TemplateApproval.category)
                              .where(TemplateApproval.shop_id == shop_id)).all()
    return {(name, language): (status, category) for name, language, status, category in rows} or None


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """UTC-aware, whatever the driver returned (aggregates on SQLite may come back naive)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)
