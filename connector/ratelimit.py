"""Fixed-window rate limits in Redis, for public endpoints that cost the merchant money.

``POST /storefront/api/opt-in`` sends a paid confirmation template to the number it is given:
without limits it would let anyone spam arbitrary numbers from the merchant's account and
run up its bill. Each limit is a counter per (name, subject, window) that expires with its
window; ``hit`` increments and reports whether the caller is still within the limit.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    count: int
    seconds: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: Limit
    retry_after: int  # seconds until the window that refused ends (0 when allowed)


def _key(limit: Limit, subject: str, window: int) -> str:
    # subjects are phone numbers and IP addresses: hashed, so Redis holds no personal data
    digest = hashlib.sha256(subject.encode()).hexdigest()[:24]
    return f"connector:rate:{limit.name}:{digest}:{window}"


def hit(redis, limits: list[tuple[Limit, str]], *, now: float | None = None) -> Decision:
    """Count one attempt against every (limit, subject); refused if any is over.

    Every counter is incremented even when one refuses, so a client hammering the endpoint
    keeps being refused instead of sliding under a limit by spreading over subjects.
    """
    moment = time.time() if now is None else now
    pipe = redis.pipeline()
    windows = []
    for limit, subject in limits:
        window = int(moment // limit.seconds)
        key = _key(limit, subject, window)
        pipe.incr(key)
        pipe.expire(key, limit.seconds + 1)
        windows.append(window)
    counts = pipe.execute()[0::2]
    for (limit, _), window, count in zip(limits, windows, counts):
        if count > limit.count:
            return Decision(False, limit, max(1, int((window + 1) * limit.seconds - moment)))
    return Decision(True, limits[0][0], 0)
