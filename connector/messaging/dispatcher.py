"""The dispatcher: drains one shop's due outbox rows through the governor to the Cloud API.

Exactly one dispatcher runs per shop (its WhatsApp number) at a time, under a Redis lock,
so the throughput pacer and the pair-rate memory are exact without coordination.

How a row travels, and why nothing is sent twice:

1. *claim*: due ``queued`` rows become ``sending`` with a lease, in one UPDATE, committed
   before any request leaves. A row can only be claimed from ``queued``.
2. *judge*: the governor sends, defers (new ``due_at`` + reason) or suppresses each row.
3. *send*: paced requests carry ``biz_opaque_callback_data`` = the row id.
4. *record*: results are written in bulk; a row still ``sending`` whose answer was lost
   (worker killed) stays ``sending``. Meta's ``sent`` webhook, which echoes the row id,
   settles it. Only when its lease has expired without any such webhook does the sweep
   put it back to ``queued``. The Cloud API has no idempotency key; this is the closest
   we can get: see docs/adr/0003-exactly-once-sending.md.

Wake-ups use a "kick" flag next to the lock (see ``dispatch_shop``) so that a message
queued while a dispatcher is finishing is never left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable

from redis import Redis
from redis.exceptions import LockError
from sqlalchemy import bindparam, func, select, update

from connector import consent_signal, shop_settings
from connector.extensions import db, settings
from connector.messaging import costs
from connector.messaging.dispatch_rows import (
    UNSENT_TTL_SECONDS,
    Claimed,
    M,
    RowBook,
    aware,
    database_failed,
    unsent_key,
)
from connector.messaging.governor import Governor, Policy
from connector.messaging.pacing import Pacer, Permit
from connector.models import Contact, MessageStatus, Shop, WhatsAppAccount, utcnow
from connector.models.messages import MessageKind
from connector.wakeups import KICK_TTL_SECONDS, kick_key
from integrations.whatsapp import payloads
from integrations.whatsapp.errors import (
    Disposition,
    WhatsAppError,
    classify,
)
from integrations.whatsapp.sender import AsyncSender

log = logging.getLogger(__name__)

#: a dispatcher hands the worker back after this long and re-kicks itself
TIME_BUDGET_SECONDS = 240.0
FLUSH_EVERY = 200
#: a dispatcher with nothing due waits this long for the next row instead of exiting
LINGER_SECONDS = 2.0
#: a dispatcher keeps its worker at least this long before stepping aside for other shops
MIN_SLICE_SECONDS = 2.0
#: how often, at most, a dispatcher past its minimum slice asks whether others are queued
YIELD_CHECK_SECONDS = 0.5


def lock_key(shop_id: int) -> str:
    return f"connector:dispatch:lock:{shop_id}"


def pacer_key(phone_number_id: str) -> str:
    """The pacer's last window of sends for one number, carried from one dispatcher run to the next."""
    return f"connector:pacer:{phone_number_id}"


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    suppressed: int = 0
    failed: int = 0
    retried: int = 0
    in_doubt: int = 0
    #: rows backing off after a failure of the number, made due at once by a later success
    released: int = 0
    paused: bool = False
    #: the shop cannot send at all (inactive, no WhatsApp number): nothing to reschedule
    idle: bool = False
    out_of_time: bool = False

    def add(self, other: "DispatchReport") -> None:
        for name in ("claimed", "sent", "deferred", "suppressed", "failed", "retried", "in_doubt", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.paused |= other.paused
        self.idle |= other.idle
        self.out_of_time |= other.out_of_time


def dispatch_shop(shop_id: int, *, redis: Redis, lease_seconds: int, retry_base_seconds: float,
                  lock_seconds: int = 15, time_budget: float = TIME_BUDGET_SECONDS,
                  others_waiting: Callable[[], bool] | None = None) -> DispatchReport:
    """Run the shop's dispatcher unless one is already running; it will see our work.

    The protocol: a caller marks work pending (the kick flag) before trying the lock. The
    lock holder clears the flag before each drain and looks at it again after releasing
    the lock, so work flagged while it was busy is always picked up by someone.
    """
    total = DispatchReport()
    redis.set(kick_key(shop_id), 1, ex=KICK_TTL_SECONDS)
    while True:
        lock = redis.lock(lock_key(shop_id), timeout=lock_seconds)
        if not lock.acquire(blocking=False):
            return total
        try:
            redis.delete(kick_key(shop_id))
            report = Dispatcher(shop_id, lease_seconds=lease_seconds, retry_base_seconds=retry_base_seconds,
                                time_budget=time_budget, keep_lock=_keeper(lock, lock_seconds), redis=redis,
                                others_waiting=others_waiting or (lambda: False)).run()
            total.add(report)
        finally:
            try:
                lock.release()
            except LockError:
                log.warning("dispatch.lock_lost", extra={"shop_id": shop_id})
        if report.out_of_time:
            redis.set(kick_key(shop_id), 1, ex=KICK_TTL_SECONDS)
            return total
        if not redis.exists(kick_key(shop_id)):
            return total


def _keeper(lock, seconds: int) -> Callable[[], None]:
    """Renews the lock at most every third of its TTL (cheap enough to call per send)."""
    renewed = [time.monotonic()]

    def keep() -> None:
        now = time.monotonic()
        if now - renewed[0] < seconds / 3:
            return
        renewed[0] = now
        try:
            lock.extend(seconds, replace_ttl=True)
        except LockError:
            log.warning("dispatch.lock_extend_failed")

    return keep


@dataclass
class Dispatcher(RowBook):
    shop_id: int
    lease_seconds: int
    retry_base_seconds: float
    time_budget: float = TIME_BUDGET_SECONDS
    keep_lock: Callable[[], None] = lambda: None
    batch_size: int | None = None
    #: watched for consent withdrawals while a batch is paced out (connector.consent_signal)
    redis: Redis | None = None
    #: other shops' dispatchers wait for a worker: after a minimum slice, this one hands it over
    others_waiting: Callable[[], bool] = lambda: False
    report: DispatchReport = field(default_factory=DispatchReport)

    def run(self) -> DispatchReport:
        shop = db.session.get(Shop, self.shop_id)
        account = db.session.scalars(select(WhatsAppAccount).where(WhatsAppAccount.shop_id == self.shop_id)).first()
        if shop is None or not shop.is_active or account is None:
            log.info("dispatch.skipped", extra={"shop_id": self.shop_id, "reason": "no_active_shop_or_number"})
            self.report.idle = True
            return self.report
        if shop.is_sending_paused:
            log.info("dispatch.skipped", extra={"shop_id": self.shop_id, "reason": "sending_paused"})
            self.report.paused = True
            return self.report
        now = utcnow()
        policy = Policy.from_settings(shop_settings.effective(shop)["governor"], shop_time_zone=shop.time_zone or "UTC",
                                      messaging_limit=account.messaging_limit)
        self.governor = Governor(policy, tier_recipients=self._tier_recipients(now, policy))
        self._contacts_seen: set[int] = set()
        self._results: list[tuple] = []
        self._may_release = True  # rows may still back off from an earlier run's failures
        self._shop, self._account = shop, account
        self._started = time.monotonic()
        self._yield_checked = self._started
        # about two seconds of sending per claim: claims, judging and flushes are shared by
        # enough rows to stay cheap, and a claimed row waits at most ~2 s for its turn
        self._batch = self.batch_size or max(20, min(1000, account.throughput_per_second * 2))
        db.session.commit()  # end the read transaction: the drain commits in small steps
        self._unsent: set[int] = set()
        self._give_back_unsent()
        try:
            asyncio.run(self._drain(settings().whatsapp_api_base_url))
        except Exception as error:
            if database_failed(error) and self._unsent and self.redis is not None:
                # nothing can be written now; these rows never left, so the next dispatcher may
                # put them back at once instead of waiting for their lease and the sweep
                self.redis.sadd(unsent_key(self.shop_id), *sorted(self._unsent))
                self.redis.expire(unsent_key(self.shop_id), UNSENT_TTL_SECONDS)
                log.warning("dispatch.database_lost", extra={"shop_id": self.shop_id, "unsent": len(self._unsent)})
            raise
        log.info("dispatch.finished", extra={"shop_id": self.shop_id, **{k: v for k, v in vars(self.report).items()}})
        return self.report

    async def _drain(self, base_url: str) -> None:
        account = self._account
        # onboarded to the Marketing Messages API: MARKETING templates go to /marketing_messages
        # (routed by the template's current category, as Meta asks), everything else to /messages
        marketing_api = account.marketing_messages_onboarded
        pacer = Pacer(account.throughput_per_second, recent=self._previous_sends())
        inflight: set[asyncio.Task] = set()
        async with AsyncSender(access_token=account.access_token, phone_number_id=account.phone_number_id,
                               base_url=base_url,
                               max_connections=max(32, account.throughput_per_second // 4)) as sender:
            while not self.report.paused:
                if time.monotonic() - self._started > self.time_budget or self._should_yield():
                    self.report.out_of_time = True
                    break
                self._consent_version = self._consent_now()  # before the claim reads consent
                self._consent_checked = time.monotonic()
                claimed = self._claim()
                if not claimed:
                    if inflight:
                        await asyncio.wait(inflight)
                        self._flush()
                        continue
                    soon = self._seconds_until_next_due()
                    if soon is not None and soon <= LINGER_SECONDS and not self.others_waiting():
                        # due in a moment: waiting here beats a scheduled wake-up (whole seconds,
                        # polled each second: up to 2 s late)
                        await asyncio.sleep(max(soon, 0.01))
                        continue
                    break
                self.keep_lock()
                to_send = self._judge(claimed)
                withdrawn: set[int] = set()
                for position, (row, counts) in enumerate(to_send):
                    if self.report.paused:
                        self._release([r for r, _ in to_send[position:]])
                        break
                    permit = await pacer.acquire()
                    self.keep_lock()
                    if self._consent_moved():
                        withdrawn = self._recheck_consent(to_send[position:])
                    if row.candidate.message_id in withdrawn:
                        permit.release()
                        continue
                    body = json.dumps(payloads.message_payload(
                        to=row.phone, kind=row.kind, content=row.content, template_name=row.template_name,
                        language=row.language, callback_data=str(row.candidate.message_id))).encode()
                    self._unsent.discard(row.candidate.message_id)  # from here on it may reach Meta
                    marketing = marketing_api and row.kind == MessageKind.TEMPLATE and row.billed_as == costs.MARKETING
                    task = asyncio.create_task(self._send_one(sender, pacer, permit, row, body, counts, marketing))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                    if len(self._results) >= FLUSH_EVERY:
                        self._flush()
            if inflight:
                await asyncio.wait(inflight)
        self._keep_sends(pacer)
        self._flush()

    def _previous_sends(self) -> list[float]:
        """The last second of sends of this number's previous run (any worker process), on our clock."""
        if self.redis is None:
            return []
        raw = self.redis.get(pacer_key(self._account.phone_number_id))
        if not raw:
            return []
        offset = time.monotonic() - time.time()  # Redis keeps wall-clock times: workers' monotonic clocks differ
        return [stamp + offset for stamp in json.loads(raw)]

    def _keep_sends(self, pacer: Pacer) -> None:
        """Hand this run's last second of sends to the next run of the number's dispatcher."""
        if self.redis is None:
            return
        offset = time.time() - time.monotonic()
        stamps = [round(stamp + offset, 4) for stamp in pacer.snapshot()]
        if stamps:
            self.redis.set(pacer_key(self._account.phone_number_id), json.dumps(stamps),
                           px=int(Pacer.WINDOW_SECONDS * 1000) + 500)

    async def _send_one(self, sender: AsyncSender, pacer: Pacer, permit: Permit, row: Claimed, body: bytes,
                        counts: bool, marketing: bool = False) -> None:
        try:
            result = await sender.send(body, on_wire=permit.on_wire, marketing=marketing)
        except WhatsAppError as error:
            rule = getattr(error, "rule", None) or classify(None, None)
            if rule.disposition == Disposition.RETRYABLE and rule.name in ("rate_limit_hit", "http_429"):
                pacer.pause(rule.retry_after_seconds or 1.0)  # we were too fast: everyone waits
            if rule.disposition == Disposition.PAUSE_ACCOUNT:
                self.report.paused = True
            self._results.append(("error", row, error, rule))
        else:
            self._results.append(("sent", row, result.wamid, counts))
        finally:
            permit.release()  # a request that never reached the wire does not count

    def _should_yield(self) -> bool:
        """Share the worker: after MIN_SLICE_SECONDS, step aside when other dispatchers are queued
        (checked at most twice a second); the job re-queues itself behind them."""
        now = time.monotonic()
        if now - self._started < MIN_SLICE_SECONDS or now - self._yield_checked < YIELD_CHECK_SECONDS:
            return False
        self._yield_checked = now
        return self.others_waiting()

    def _seconds_until_next_due(self) -> float | None:
        if time.monotonic() - self._started > self.time_budget - LINGER_SECONDS:
            return None
        due = next_due_at(self.shop_id)
        db.session.commit()
        return None if due is None else (due - utcnow()).total_seconds()

    # -- consent withdrawn mid-batch (a STOP while the batch is paced out) ------------------------

    def _consent_now(self) -> int:
        return consent_signal.current(self.redis, self.shop_id) if self.redis is not None else 0

    def _consent_moved(self) -> bool:
        """At most one Redis GET per CHECK_INTERVAL_SECONDS, whatever the send rate."""
        now = time.monotonic()
        if self.redis is None or now - self._consent_checked < consent_signal.CHECK_INTERVAL_SECONDS:
            return False
        self._consent_checked = now
        version = self._consent_now()
        if version == self._consent_version:
            return False
        self._consent_version = version
        return True

    def _recheck_consent(self, waiting: list[tuple[Claimed, bool]]) -> set[int]:
        """Re-read the consent of the contacts of rows not yet sent; suppress the withdrawn ones."""
        rows = {row.candidate.message_id: row for row, _ in waiting}
        contact_ids = {row.candidate.contact_id for row in rows.values()}
        C = Contact.__table__
        fresh = {r.id: r for r in db.session.execute(
            select(C.c.id, C.c.marketing_consent, C.c.transactional_consent)
            .where(C.c.shop_id == self.shop_id, C.c.id.in_(contact_ids))).all()}
        db.session.commit()
        now = utcnow()
        withdrawn: list[dict] = []
        for message_id, row in rows.items():
            consent = fresh.get(row.candidate.contact_id)
            if consent is None:
                continue
            candidate = replace(row.candidate, marketing_consent=consent.marketing_consent,
                                transactional_consent=consent.transactional_consent)
            verdict = self.governor.recheck_consent(candidate, now)
            if verdict is not None:
                withdrawn.append({"_id": message_id, "_reason": verdict.reason})
        if withdrawn:
            db.session.execute(
                update(M).where(M.c.id == bindparam("_id"), M.c.status == MessageStatus.SENDING).values(
                    status=MessageStatus.SUPPRESSED, status_reason=bindparam("_reason"), claimed_until=None,
                    updated_at=now),
                withdrawn,
            )
            db.session.commit()
            self.report.suppressed += len(withdrawn)
            log.info("dispatch.consent_withdrawn_mid_batch", extra={"shop_id": self.shop_id, "count": len(withdrawn)})
        return {item["_id"] for item in withdrawn}

    # -- database steps -----------------------------------------------------------------------


def next_due_at(shop_id: int) -> datetime | None:
    """When the shop's earliest waiting message becomes due (to schedule the next wake-up)."""
    return aware(db.session.execute(
        select(func.min(M.c.due_at)).where(M.c.shop_id == shop_id, M.c.status == MessageStatus.QUEUED)
    ).scalar())

