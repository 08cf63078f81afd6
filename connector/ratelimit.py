"""Sliding-window rate limits in Redis, for public endpoints that cost the merchant money.

``POST /storefront/api/opt-in`` sends a paid confirmation template to the number it is given:
without limits it would let anyone spam arbitrary numbers from the merchant's account and
run up its bill. Each limit keeps a counter per (name, subject, window); an attempt is judged
by the current window's count plus the previous window's, weighted by how much of the previous
window still lies inside the last ``seconds`` (the usual sliding-window estimate). So a client
cannot double its allowance by straddling a window boundary, as a plain fixed window lets it.
``hit`` counts one attempt and reports whether the caller is still within every limit.

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


#: One round trip, atomic. Each limit has two keys: its current window's counter, then the
#: previous window's. The per-client counters are incremented unconditionally; only when none of
#: them is over its limit are the pooled ones checked, and only when all of those have room are
#: they incremented. Returns the 1-based index of the first limit that refused, 0 when admitted.
#: ARGV: the number of per-client limits, then (count, seconds, weight of the previous window)
#: per limit.
_HIT_SCRIPT = """
local clients = tonumber(ARGV[1])
local limits = #KEYS / 2
local function over(i, current, inclusive)
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  local estimate = current + previous * tonumber(ARGV[3 * i + 1])
  local allowed = tonumber(ARGV[3 * i - 1])
  if inclusive then return estimate >= allowed end
  return estimate > allowed
end
local function count(i)
  local value = redis.call('INCR', KEYS[2 * i - 1])
  if value == 1 then redis.call('EXPIRE', KEYS[2 * i - 1], 2 * tonumber(ARGV[3 * i]) + 1) end
  return value
end
local refused = 0
for i = 1, clients do
  local value = count(i)
  if refused == 0 and over(i, value, false) then refused = i end
end
if refused > 0 then return refused end
for i = clients + 1, limits do
  if over(i, tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0'), true) then return i end
end
for i = clients + 1, limits do count(i) end
return 0
"""
#: built once (its SHA-1 too); EVALSHA, loaded on first use by each Redis server
_HIT = Script(None, _HIT_SCRIPT.encode())  # type: ignore[arg-type]  # no client of its own: each call passes one


def hit(redis, limits: list[tuple[Limit, str]], *, now: float | None = None) -> Decision:
    """Count one attempt against every (limit, subject); refused if any is over.

    Every per-client counter is incremented even when one refuses, so a client hammering the
    endpoint keeps being refused instead of sliding under a limit by spreading over subjects.
    Pooled counters count only admitted attempts (see the module docstring).
    """
    moment = time.time() if now is None else now
    ordered = [item for item in limits if not item[0].pooled] + [item for item in limits if item[0].pooled]
    keys: list[str] = []
    arguments: list[float] = [len(ordered) - sum(1 for limit, _ in ordered if limit.pooled)]
    for limit, subject in ordered:
        window, into = divmod(moment, limit.seconds)
        keys += [_key(limit, subject, int(window)), _key(limit, subject, int(window) - 1)]
        arguments += [limit.count, limit.seconds, 1.0 - into / limit.seconds]
    refused = int(_HIT(keys=keys, args=arguments, client=redis))
    if refused:
        limit = ordered[refused - 1][0]
        # at the latest when the current window ends the estimate has dropped by its previous part
        return Decision(False, limit, max(1, int(limit.seconds - moment % limit.seconds)))
    return Decision(True, limits[0][0], 0)
