"""Fixed-window rate limits in Redis, for public endpoints that cost the merchant money.

``POST /storefront/api/opt-in`` sends a paid confirmation template to the number it is given:
without limits it would let anyone spam arbitrary numbers from the merchant's account and
run up its bill. Each limit is a counter per (name, subject, window) that expires with its
window; ``hit`` counts one attempt and reports whether the caller is still within every limit.

Two kinds of limit: a per-client one (an address, a phone number) counts every attempt of its
client, refused ones included; a *pooled* one (``Limit(pooled=True)``: the shop's, shared by
all its visitors) counts only the attempts that every per-client limit admitted, so a single
client hammering the endpoint is stopped by its own limit and never drains the pool for
everyone else.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from redis.commands.core import Script


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    count: int
    seconds: int
    #: shared by many clients: counted only for attempts the per-client limits admitted
    pooled: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: Limit
    retry_after: int  # seconds until the window that refused ends (0 when allowed)


def _key(limit: Limit, subject: str, window: int) -> str:
    # subjects are phone numbers and IP addresses: hashed, so Redis holds no personal data
    digest = hashlib.sha256(subject.encode()).hexdigest()[:24]
    return f"connector:rate:{limit.name}:{digest}:{window}"


#: One round trip, atomic: the per-client counters (the first ARGV[1] keys) are incremented
#: unconditionally; only when none is over its limit are the pooled counters checked, and only
#: when all of those have room are they incremented. Returns the 1-based index of the first
#: key that refused, 0 when admitted. ARGV: per-client count, then (limit, seconds) per key.
_HIT_SCRIPT = """
local clients = tonumber(ARGV[1])
local refused = 0
for i = 1, clients do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1]) + 1) end
  if refused == 0 and count > tonumber(ARGV[2 * i]) then refused = i end
end
if refused > 0 then return refused end
for i = clients + 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[2 * i]) then return i end
end
for i = clients + 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1]) + 1) end
end
return 0
"""
#: built once (its SHA-1 too); EVALSHA, loaded on first use by each Redis server
_HIT = Script(None, _HIT_SCRIPT.encode())


def hit(redis, limits: list[tuple[Limit, str]], *, now: float | None = None) -> Decision:
    """Count one attempt against every (limit, subject); refused if any is over.

    Every per-client counter is incremented even when one refuses, so a client hammering the
    endpoint keeps being refused instead of sliding under a limit by spreading over subjects.
    Pooled counters count only admitted attempts (see the module docstring).
    """
    moment = time.time() if now is None else now
    ordered = [item for item in limits if not item[0].pooled] + [item for item in limits if item[0].pooled]
    windows = [int(moment // limit.seconds) for limit, _ in ordered]
    keys = [_key(limit, subject, window) for (limit, subject), window in zip(ordered, windows)]
    arguments: list[int] = [len(ordered) - sum(1 for limit, _ in ordered if limit.pooled)]
    for limit, _ in ordered:
        arguments += [limit.count, limit.seconds]
    refused = int(_HIT(keys=keys, args=arguments, client=redis))
    if refused:
        limit, window = ordered[refused - 1][0], windows[refused - 1]
        return Decision(False, limit, max(1, int((window + 1) * limit.seconds - moment)))
    return Decision(True, limits[0][0], 0)
