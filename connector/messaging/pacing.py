"""Pacing of sends for one phone number: never above the Cloud API's throughput.

Meta limits a number to N messages per second (80 by default, up to 1,000) and answers
130429 beyond it: https://developers.facebook.com/documentation/business-messaging/whatsapp/throughput

Two rules together:
- sends are spaced evenly at ``rate * headroom`` (GCRA, no burst), so the rate is smooth;
- a sliding one-second window of actual send times never holds more than ``limit``,
  which keeps us under the limit even when the event loop stalls and spacing catches up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class Pacer:
    """Awaitable permit for each send: ``await pacer.acquire()`` before each request."""

    #: our window is this much longer than Meta's second: arrival times at the Cloud API jitter
    #: by a few milliseconds against our send times, and a window filled to exactly `limit`
    #: would then overflow on their side (130429)
    WINDOW_SECONDS = 1.02

    def __init__(self, limit_per_second: int, *, headroom: float = 0.97, clock=time.monotonic, sleep=asyncio.sleep):
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
        self._recent: deque[float] = deque()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every send for ``seconds`` (the Cloud API said we were too fast)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def acquire(self) -> None:
        while True:
            now = self._clock()
            while self._recent and self._recent[0] <= now - self.WINDOW_SECONDS:
                self._recent.popleft()
            wait = max(self._next_at, self._paused_until) - now
            if len(self._recent) >= self.limit:
                # the oldest of the last `limit` sends must have left the window
                wait = max(wait, self._recent[0] + self.WINDOW_SECONDS - now)
            if wait <= 0:
                break
            await self._sleep(max(wait, self._min_sleep))
        now = self._clock()
        # after an idle spell, restart spacing from now: no saved-up burst beyond the tolerance
        self._next_at = max(self._next_at, now - self._tolerance) + self.interval
        self._recent.append(now)
