"""Stock reservations in Redis: checked and held atomically, so they never oversell.

Per SKU, a sorted set of reservation ids scored by expiry (ms), a hash of their quantities and
a running total. Every script first drops expired holds (Redis's own clock, so replicas agree),
then reads or changes the totals: reserving checks every line against available-to-sell and
holds all of them or none, in one script call. All keys share one hash tag (Redis Cluster
safe), which is what lets one script touch several SKUs.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

import msgspec
from redis.asyncio import Redis

from process_apis.inventory.schemas import Reservation, ReservationLine

_PURGE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function purge(held, qty, total, now)
  local gone = redis.call('ZRANGEBYSCORE', held, '-inf', now)
  if #gone > 0 then
    local sum = 0
    for _, id in ipairs(gone) do
      local q = redis.call('HGET', qty, id)
      if q then
        sum = sum + tonumber(q)
        redis.call('HDEL', qty, id)
      end
    end
    redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
    if sum > 0 then redis.call('DECRBY', total, sum) end
  end
  local left = tonumber(redis.call('GET', total) or '0')
  if left <= 0 then
    redis.call('DEL', total)
    return 0
  end
  return left
end
"""

# KEYS: held, qty, total per SKU. Returns the reserved total of each SKU.
_HELD = (
    _PURGE
    + """
local now = now_ms()
local out = {}
for i = 1, #KEYS, 3 do
  out[#out + 1] = purge(KEYS[i], KEYS[i + 1], KEYS[i + 2], now)
end
return out
"""
)

# KEYS: record, then held, qty, total per SKU. ARGV: id, ttl_ms, body, then quantity and
# available-to-sell per SKU. Returns {'held', created_ms, expires_ms}, {'exists'} or
# {'short', index, left, index, left, ...} for the lines that do not fit.
_RESERVE = (
    _PURGE
    + """
local now = now_ms()
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local n = (#KEYS - 1) / 3
local short = {}
for i = 0, n - 1 do
  local reserved = purge(KEYS[2 + 3 * i], KEYS[3 + 3 * i], KEYS[4 + 3 * i], now)
  local want = tonumber(ARGV[4 + 2 * i])
  local ats = tonumber(ARGV[5 + 2 * i])
  if reserved + want > ats then
    short[#short + 1] = tostring(i)
    short[#short + 1] = tostring(math.max(ats - reserved, 0))
  end
end
if #short > 0 then
  table.insert(short, 1, 'short')
  return short
end
local expires = now + tonumber(ARGV[2])
for i = 0, n - 1 do
  local want = tonumber(ARGV[4 + 2 * i])
  redis.call('ZADD', KEYS[2 + 3 * i], expires, ARGV[1])
  redis.call('HSET', KEYS[3 + 3 * i], ARGV[1], want)
  redis.call('INCRBY', KEYS[4 + 3 * i], want)
end
redis.call('HSET', KEYS[1], 'body', ARGV[3], 'created', now, 'expires', expires)
redis.call('PEXPIREAT', KEYS[1], expires)
return {'held', tostring(now), tostring(expires)}
"""
)

# KEYS: record, then held, qty, total per SKU. ARGV: id. Returns 1 if released, 0 if gone.
_RELEASE = (
    _PURGE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local now = now_ms()
for i = 2, #KEYS, 3 do
  purge(KEYS[i], KEYS[i + 1], KEYS[i + 2], now)
  local q = redis.call('HGET', KEYS[i + 1], ARGV[1])
  if q then
    redis.call('HDEL', KEYS[i + 1], ARGV[1])
    redis.call('ZREM', KEYS[i], ARGV[1])
    local left = redis.call('DECRBY', KEYS[i + 2], tonumber(q))
    if left <= 0 then redis.call('DEL', KEYS[i + 2]) end
  end
end
redis.call('DEL', KEYS[1])
return 1
"""
)


class _Body(msgspec.Struct, frozen=True, kw_only=True):
    lines: list[ReservationLine]
    reference: str | None = None
    shop: str | None = None


_BODY = msgspec.json.Decoder(_Body)
_ENC = msgspec.json.Encoder()


class Shortfall(msgspec.Struct, frozen=True, kw_only=True):
    """A line that does not fit: ``left`` is what could still be reserved of its SKU."""

    index: int
    sku: str
    requested: int
    left: int


class ReservationOutcome(msgspec.Struct, frozen=True, kw_only=True):
    reservation: Reservation | None = None
    shortfalls: list[Shortfall] = []


class ReservationStore:
    """Reservations of one inventory deployment, under ``prefix`` in Redis."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._held = redis.register_script(_HELD)
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    def _sku_keys(self, sku: str) -> list[str]:
        return [
            f"{self.prefix}:held:{sku}",
            f"{self.prefix}:qty:{sku}",
            f"{self.prefix}:total:{sku}",
        ]

    def _record_key(self, reservation_id: str) -> str:
        return f"{self.prefix}:reservation:{reservation_id}"

    async def held(self, skus: Sequence[str]) -> dict[str, int]:
        """Units held by active reservations, per SKU (one script call)."""
        if not skus:
            return {}
        keys = [key for sku in skus for key in self._sku_keys(sku)]
        totals = await self._held(keys=keys)
        return {sku: int(total) for sku, total in zip(skus, totals, strict=True)}

    async def reserve(
        self,
        lines: Sequence[ReservationLine],
        available_to_sell: Mapping[str, int],
        ttl_seconds: int,
        *,
        reference: str | None = None,
        shop: str | None = None,
    ) -> ReservationOutcome:
        """Hold every line, or none if any line's SKU lacks available-to-sell.

        ``lines`` name each SKU once; ``available_to_sell`` is the ERPs' figure before
        reservations.
        """
        reservation_id = secrets.token_hex(12)
        keys = [self._record_key(reservation_id)]
        args: list[str | int] = [
            reservation_id,
            ttl_seconds * 1000,
            _ENC.encode(_Body(lines=list(lines), reference=reference, shop=shop)).decode(),
        ]
        for line in lines:
            keys += self._sku_keys(line.sku)
            args += [line.quantity, max(available_to_sell.get(line.sku, 0), 0)]
        result = [_text(part) for part in await self._reserve(keys=keys, args=args)]
        if result[0] == "short":
            pairs = zip(result[1::2], result[2::2], strict=True)
            return ReservationOutcome(
                shortfalls=[
                    Shortfall(
                        index=int(i),
                        sku=lines[int(i)].sku,
                        requested=lines[int(i)].quantity,
                        left=int(left),
                    )
                    for i, left in pairs
                ]
            )
        if result[0] != "held":  # a 96-bit random id already taken: astronomically unlikely
            raise RuntimeError("reservation id collision")
        return ReservationOutcome(
            reservation=Reservation(
                id=reservation_id,
                lines=list(lines),
                created_at=int(result[1]) / 1000,
                expires_at=int(result[2]) / 1000,
                reference=reference,
                shop=shop,
            )
        )

    async def get(self, reservation_id: str) -> Reservation | None:
        """The active reservation with this id, or None once released or expired."""
        raw = await self.redis.hgetall(self._record_key(reservation_id))
        if not raw:
            return None
        fields = {_text(k): v for k, v in raw.items()}
        body = _BODY.decode(fields["body"])
        return Reservation(
            id=reservation_id,
            lines=body.lines,
            created_at=int(_text(fields["created"])) / 1000,
            expires_at=int(_text(fields["expires"])) / 1000,
            reference=body.reference,
            shop=body.shop,
        )

    async def release(self, reservation_id: str) -> bool:
        """Give the held stock back; False when there was no such active reservation."""
        reservation = await self.get(reservation_id)
        if reservation is None:
            return False
        keys = [self._record_key(reservation_id)]
        for line in reservation.lines:
            keys += self._sku_keys(line.sku)
        return bool(await self._release(keys=keys, args=[reservation_id]))


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
