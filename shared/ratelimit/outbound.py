"""Outbound limits shared by every replica through Redis: one atomic script call each.

:class:`TokenBucket` keeps calls to an ERP inside its configured throughput;
:class:`CostBucket` keeps Shopify Admin GraphQL calls inside the shop's cost bucket by
following the ``throttleStatus`` Shopify returns. Both book a slot in Redis and then sleep
until it, so waiting callers queue in order without polling Redis.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import msgspec

from shared.problems import ServiceUnavailable
from shared.ratelimit.scripts import COST_OBSERVE, COST_RESERVE, SCHEDULE, LuaScript, RedisClient

_SCHEDULE = LuaScript(SCHEDULE)
_COST_RESERVE = LuaScript(COST_RESERVE)
_COST_OBSERVE = LuaScript(COST_OBSERVE)


class OutboundWaitTooLong(ServiceUnavailable):
    """A call would have to wait longer than allowed for a backend's throughput limit."""

    slug = "outbound-throughput-exhausted"
    title = "A backend system's throughput limit is exhausted"


class TokenBucket:
    """``rate`` calls per second with bursts of ``burst``, shared by every replica.

    A GCRA with reservation, the dual of a token bucket: ``acquire`` books the next free
    slot atomically and sleeps until it, so in any window of ``w`` seconds at most
    ``burst + rate * w`` calls start.
    """

    def __init__(
        self,
        redis: RedisClient,
        name: str,
        *,
        rate: float,
        burst: int = 1,
        max_wait: float = 30.0,
        key_prefix: str = "strata:out",
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.redis = redis
        self.name = name
        self.key = f"{key_prefix}:{{{name}}}"
        self.interval = max(1, round(1_000_000 / rate))
        self.tolerance = self.interval * burst
        self.max_wait = max_wait

    async def acquire(self, cost: int = 1) -> float:
        """Wait until ``cost`` calls' worth of throughput is ours; return the seconds waited.

        Raises :class:`OutboundWaitTooLong` (nothing booked) if that would take longer
        than ``max_wait``.
        """
        booked, wait = await _SCHEDULE(
            self.redis,
            (self.key,),
            self.interval,
            self.tolerance,
            cost,
            round(self.max_wait * 1_000_000),
        )
        seconds = int(wait) / 1_000_000
        if not booked:
            raise OutboundWaitTooLong(
                f"{self.name}: next slot in {seconds:.1f}s, over the {self.max_wait}s limit",
                retry_after=max(1, math.ceil(seconds)),
            )
        if seconds > 0:
            await asyncio.sleep(seconds)
        return seconds


class ThrottleStatus(msgspec.Struct, frozen=True, rename="camel"):
    """Shopify's ``extensions.cost.throttleStatus``."""

    maximum_available: float
    currently_available: float
    restore_rate: float


class Reservation(msgspec.Struct, frozen=True):
    """Points booked by :meth:`CostBucket.reserve`; hand it back to :meth:`CostBucket.observe`."""

    seq: int
    cost: int
    waited: float


class CostBucket:
    """A model of one shop's Shopify GraphQL cost bucket, shared by every replica.

    The model holds Shopify's available points minus what has been booked and not yet
    charged by Shopify. ``reserve`` books the requested cost (waiting for the refill if
    needed); ``observe`` re-syncs with ``currentlyAvailable`` (the truth), counting every
    call still in flight, and every later-booked call already observed, as possibly not
    yet charged, so the model does not run ahead of Shopify. Until the first observation the
    bucket is assumed full at ``maximum_available`` (the keys expire once a bucket would
    have refilled, so an absent key means a full bucket).
    """

    def __init__(
        self,
        redis: RedisClient,
        shop: str,
        *,
        maximum_available: float = 1000.0,
        restore_rate: float = 50.0,
        max_wait: float = 60.0,
        hold: float = 60.0,
        key_prefix: str = "strata:shopify",
    ) -> None:
        self.redis = redis
        self.shop = shop
        tagged = f"{key_prefix}:{{{shop}}}"
        self.keys = (f"{tagged}:bucket", f"{tagged}:inflight", f"{tagged}:observed")
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self.max_wait = max_wait
        self.hold_us = round(hold * 1_000_000)

    async def reserve(self, requested_cost: int) -> Reservation:
        """Book ``requested_cost`` points and wait until the shop's bucket holds them."""
        cost = int(requested_cost)
        status, wait, seq = await _COST_RESERVE(
            self.redis,
            self.keys,
            cost,
            repr(float(self.maximum_available)),
            repr(float(self.restore_rate)),
            self.hold_us,
            round(self.max_wait * 1_000_000),
        )
        seconds = int(wait) / 1_000_000
        if status == -1:
            raise ValueError(f"a query costing {cost} can never fit {self.shop}'s bucket")
        if status == 0:
            raise OutboundWaitTooLong(
                f"{self.shop}: {cost} points free in {seconds:.1f}s, over {self.max_wait}s",
                retry_after=max(1, math.ceil(seconds)),
            )
        if seconds > 0:
            await asyncio.sleep(seconds)
        return Reservation(int(seq), cost, seconds)

    async def observe(
        self,
        throttle_status: ThrottleStatus | Mapping[str, Any],
        actual_cost: int | None,
        requested_cost: int,
        *,
        reservation: Reservation | None = None,
    ) -> float:
        """Re-sync the shared bucket with what Shopify reported after a call.

        ``actual_cost`` None means unknown (taken as the requested cost); a THROTTLED call
        was charged nothing (pass 0). Without ``reservation`` the model only corrects
        downwards. Returns the points the model now holds.
        """
        status = (
            throttle_status
            if isinstance(throttle_status, ThrottleStatus)
            else msgspec.convert(throttle_status, ThrottleStatus, strict=False)
        )
        points = await _COST_OBSERVE(
            self.redis,
            self.keys,
            int(requested_cost),
            repr(float(status.maximum_available)),
            repr(float(status.restore_rate)),
            self.hold_us,
            reservation.seq if reservation is not None else 0,
            -1 if actual_cost is None else int(actual_cost),
            repr(float(status.currently_available)),
        )
        return float(points)
