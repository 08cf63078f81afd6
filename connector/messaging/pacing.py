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

    def __init__(self, limit_per_second: int, *, headroom: float = 0.98, clock=time.monotonic, sleep=asyncio.sleep):
        if limit_per_second <= 0:
            raise ValueError("limit_per_second must be positive")
        self.limit = int(limit_per_second)
        self.interval = 1.0 / (limit_per_second * headroom)
        self._clock = clock
        self._sleep = sleep
        self._next_at = 0.0
        # after a stall of the event loop, spacing may catch up by this much (never past `limit`)
        self._tolerance = min(0.02, 5 * self.interval)
        self._recent: deque[float] = deque()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every send for ``seconds`` (the Cloud API said we were too fast)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def acquire(self) -> None:
        while True:
            now = self._clock()
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            wait = max(self._next_at, self._paused_until) - now
            if len(self._recent) >= self.limit:
                # the oldest of the last `limit` sends must be a full second old
                wait = max(wait, self._recent[0] + 1.0 - now)
            if wait <= 0:
                break
            await self._sleep(wait)
        now = self._clock()
        # after an idle spell, restart spacing from now: no saved-up burst beyond the tolerance
        self._next_at = max(self._next_at, now - self._tolerance) + self.interval
        self._recent.append(now)
