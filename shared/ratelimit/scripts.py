"""Lua scripts run atomically in Redis, and the one-call EVALSHA runner for them.

Every script reads Redis' own clock (``TIME``), so all replicas share one time base, and
works in integer microseconds (exact in Lua's doubles up to 2^53). Numbers are written with
``string.format`` because Lua's default conversion keeps only 14 significant digits.
"""

from __future__ import annotations

import hashlib
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import NoScriptError

RedisClient = Redis | RedisCluster

#: Inbound GCRA. KEYS[1]: the TAT. ARGV: interval µs, tolerance µs (interval * burst), cost.
#: Returns {allowed 0/1, remaining, reset µs, retry-after µs}.
GCRA = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval * cost
local wait = new_tat - tolerance - now
if wait > 0 then
  return {0, math.floor((now + tolerance - tat) / interval), tat - now, wait}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat),
  'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now + tolerance - new_tat) / interval), new_tat - now, 0}
"""

#: Outbound GCRA with reservation: admits now or books the next free slot and says how long
#: to wait for it, unless that wait exceeds the caller's maximum (then nothing is booked).
#: KEYS[1]: the TAT. ARGV: interval µs, tolerance µs, cost, max wait µs.
#: Returns {booked 0/1, wait µs}.
SCHEDULE = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval * cost
local wait = new_tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, wait} end
redis.call('SET', KEYS[1], string.format('%d', new_tat),
  'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, wait}
"""

# Shared by the two cost-bucket scripts: the model's points now, and what is in flight.
# KEYS[1] state hash: avail (points; negative while booked calls wait), ts (µs), max, rate
# (points/s), seq (last booking). KEYS[2] in-flight zset: "seq:cost" members scored by the
# time after which a booking is presumed finished. KEYS[3] observed zset: "seq:actual"
# members scored by seq, kept while an older booking is still in flight.
_COST_PRELUDE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local st = redis.call('HMGET', KEYS[1], 'avail', 'ts', 'max', 'rate', 'seq')
local max = tonumber(st[3]) or tonumber(ARGV[2])
local rate = tonumber(st[4]) or tonumber(ARGV[3])
-- A bucket reported as not refilling (never Shopify's, but a sandbox can say it) refills
-- at a thousandth of a point a second: no division by zero, and waits stay finite.
local function positive(r) if r == nil or r <= 0 then return 0.001 end return r end
rate = positive(rate)
local seq = tonumber(st[5]) or 0
local function inflight()
  local sum, oldest = 0, nil
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local s, c = string.match(m, '^(%d+):(.*)$')
    sum = sum + tonumber(c)
    if oldest == nil or tonumber(s) < oldest then oldest = tonumber(s) end
  end
  return sum, oldest
end
local avail = max
if st[1] then
  avail = tonumber(st[1]) + (now - tonumber(st[2])) * rate / 1000000
end
local function save(points)
  redis.call('HSET', KEYS[1], 'avail', string.format('%.6f', points), 'ts',
    string.format('%d', now), 'max', string.format('%.6f', max),
    'rate', string.format('%.6f', rate), 'seq', string.format('%d', seq))
  local ttl = math.ceil((max - points) / rate * 1000) + 60000
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl + math.ceil(tonumber(ARGV[4]) / 1000))
  redis.call('PEXPIRE', KEYS[3], ttl + math.ceil(tonumber(ARGV[4]) / 1000))
end
"""

#: Shopify cost bucket, before a call. ARGV: cost, default max, default rate, hold µs (how
#: long a booking counts as in flight), max wait µs.
#: Returns {booked 1 / refused 0 / never -1, wait µs, seq}.
COST_RESERVE = (
    _COST_PRELUDE
    + """
local cost = tonumber(ARGV[1])
if cost > max then return {-1, 0, 0} end
local cap = max - inflight()
if avail > cap then avail = cap end
local after = avail - cost
local wait = 0
if after < 0 then wait = math.ceil(-after * 1000000 / rate) end
if wait > tonumber(ARGV[5]) then return {0, wait, 0} end
seq = seq + 1
redis.call('ZADD', KEYS[2], now + wait + tonumber(ARGV[4]), seq .. ':' .. ARGV[1])
save(after)
return {1, wait, seq}
"""
)

#: Shopify cost bucket, after a call: re-sync with ``throttleStatus``.
#: ARGV: requested cost, reported max, reported rate, hold µs, seq (0: unknown),
#: actual cost (-1: unknown), currentlyAvailable.
#: Returns the model's points after the sync (string).
COST_OBSERVE = (
    _COST_PRELUDE
    + """
local requested = ARGV[1]
local own = tonumber(ARGV[5])
local actual = tonumber(ARGV[6])
local reported = tonumber(ARGV[7])
max = tonumber(ARGV[2])
rate = positive(tonumber(ARGV[3]))
if actual < 0 then actual = tonumber(requested) end
if own > 0 then
  redis.call('ZREM', KEYS[2], own .. ':' .. requested)
else
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if string.match(m, ':(.*)$') == requested then
      redis.call('ZREM', KEYS[2], m)
      break
    end
  end
end
local others, oldest = inflight()
local points
if own > 0 then
  -- Shopify's figure may lack calls booked after this one and already observed; calls
  -- still in flight are all taken as not yet charged.
  local later = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. own, '+inf')) do
    later = later + tonumber(string.match(m, ':(.*)$'))
  end
  points = reported - others - later
  redis.call('ZADD', KEYS[3], own, own .. ':' .. string.format('%d', actual))
else
  points = math.min(avail + tonumber(requested) - actual, reported - others)
end
if points > max - others then points = max - others end
if oldest == nil then
  redis.call('DEL', KEYS[3])
else
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. oldest)
end
save(points)
return string.format('%.6f', points)
"""
)


class LuaScript:
    """One script called with EVALSHA, loaded with EVAL on NOSCRIPT: one round trip normally.

    Works with ``redis.asyncio.Redis`` and ``RedisCluster`` (the cluster client routes the
    call by its keys, so the fallback EVAL also caches the script on the right node).
    """

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, client: RedisClient, keys: tuple[str, ...], *args: Any) -> Any:
        """Run the script on ``keys`` (all sharing one hash tag) with ``args``."""
        try:
            return await client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            # A restarted or new node has an empty script cache; EVAL runs and caches it.
            return await client.execute_command("EVAL", self.source, len(keys), *keys, *args)
