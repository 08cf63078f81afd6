"""Pacing of sends for one phone number: never above the Cloud API's throughput.

Meta limits a number to N messages per second (80 by default, up to 1,000) and answers
130429 beyond it: https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput

Two rules together:
- sends are spaced evenly at ``rate * headroom`` (GCRA, no burst), so the rate is smooth;
- a sliding window never holds more than ``limit`` sends, counted by the time each request
  actually went onto the wire (``Permit.on_wire``), not the time its permit was granted, and
  with every granted permit not yet on the wire counted as if it left now.

Why wire times: between a grant and the request's bytes there is a task switch, a synchronous
database flush in the same event loop, or a wait for a pooled connection; on a loaded machine
that gap varies by tens of milliseconds. Grants spread over 1.02 s then reach Meta within one
second, and a window of grant times (the old rule) was over the limit there (issue 14, 18).
Counting pending permits makes the rule exact: for any one-second span of wire times, the
last permit granted among them saw every other one either on the wire in its last second or
pending. The window can be carried from one dispatcher run to the next (``snapshot`` /
``recent``), so a run that takes over does not forget the previous run's last second.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable


class Permit:
    """One granted send: call ``on_wire()`` when its request is written, ``release()`` after."""

    __slots__ = ("_pacer", "_state")

    def __init__(self, pacer: "Pacer"):
        self._pacer = pacer
        self._state = 0  # 0 pending, 1 on the wire, 2 released without reaching it

    def on_wire(self) -> None:
        if self._state == 0:
            self._state = 1
            self._pacer._wired()

    def release(self) -> None:
        """The send is over; if it never reached the wire, it does not count."""
        if self._state == 0:
            self._state = 2
            self._pacer._pending -= 1


class Pacer:
    """Awaitable permit for each send: ``permit = await pacer.acquire()`` before each request."""

    #: our window is this much longer than Meta's second: their arrival stamps jitter by a few
    #: milliseconds against the moment our request was written
    WINDOW_SECONDS = 1.02

    def __init__(self, limit_per_second: int, *, headroom: float = 0.97, clock=time.monotonic, sleep=asyncio.sleep,
                 recent: Iterable[float] = ()):
        if limit_per_second < 1:
            raise ValueError("limit_per_second must be at least 1")
        self.limit = int(limit_per_second)
        self.interval = 1.0 / (limit_per_second * headroom)
        self._clock = clock
        self._sleep = sleep
        self._next_at = 0.0
        # Each wake-up of the event loop costs about as much CPU as a send itself, so one
        # wake-up releases a small group: a few sends (at most ~40 ms' worth) leave together.
        # At 1,000 msg/s that is 4 sends every 4 ms, at 80 msg/s 3 sends every ~38 ms.
        self._min_sleep = min(0.06, max(0.003, 4 * self.interval))
        # After a sleep (or a stall of the loop in a database step) spacing may catch up by this
        # much, so a group's sends are not lost time; the sliding window still never lets a
        # second hold more than `limit`.
        self._tolerance = max(self._min_sleep + self.interval, min(0.02, 20 * self.interval))
        #: wire times (this pacer's clock) of the sends of the last window, oldest first
        self._recent: deque[float] = deque(sorted(recent))
        self._pending = 0
        self._paused_until = 0.0
        if self._recent:
            # a run taking over continues the previous run's spacing rather than bursting
            self._next_at = self._recent[-1] + self.interval

    def pause(self, seconds: float) -> None:
        """Hold every send for ``seconds`` (the Cloud API said we were too fast)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def snapshot(self) -> list[float]:
        """Wire times of the last window (pending permits as now), for the next run's ``recent``."""
        now = self._clock()
        self._trim(now)
        return list(self._recent) + [now] * self._pending

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - self.WINDOW_SECONDS:
            self._recent.popleft()

    def _wired(self) -> None:
        self._pending -= 1
        now = self._clock()
        if self._recent and now < self._recent[-1]:  # a clock that is not ours never goes back
            now = self._recent[-1]
        self._recent.append(now)

    async def acquire(self) -> Permit:
        while True:
            now = self._clock()
            self._trim(now)
            wait = max(self._next_at, self._paused_until) - now
            if len(self._recent) + self._pending >= self.limit:
                if self._recent:
                    # the oldest send on the wire must leave the window first
                    wait = max(wait, self._recent[0] + self.WINDOW_SECONDS - now, 0.001)
                else:
                    wait = max(wait, self._min_sleep)  # all pending: their requests are being written
            if wait <= 0:
                break
            await self._sleep(max(wait, self._min_sleep))
        now = self._clock()
        # after an idle spell, restart spacing from now: no saved-up burst beyond the tolerance
        self._next_at = max(self._next_at, now - self._tolerance) + self.interval
        self._pending += 1
        return Permit(self)
