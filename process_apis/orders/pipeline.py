"""Where each order is: every pipeline step with its timestamp, in Redis.

One hash per order (state, ERP instance and reference, correlation id) and one list of steps,
under one hash tag, written together in a transaction. The order lock's fencing counter sits
under the same hash tag, so a record made under the lock checks its token against the newest
drawn in the same script that writes it (no read-then-write gap).

An order's status carries its fulfillments, read from the
:class:`~process_apis.orders.fulfillment.records.FulfillmentRecords` beside it (same hash
tag), so every reader of the status (the status route, the order context) sees them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, get_args

import msgspec

from process_apis.orders.fulfillment.records import (
    FulfillmentRecords,
    order_fulfillment_status,
)
from process_apis.orders.ports import OrderLockLost
from process_apis.orders.schemas import (
    OrderFulfillment,
    OrderFulfillmentStatus,
    OrderStatus,
    PipelineStep,
)
from shared.events import RedisClient

_STEP = msgspec.json.Encoder()
_STEP_DECODER = msgspec.json.Decoder(PipelineStep)
KEEP_FOR = 90 * 24 * 3600

# KEYS: summary, steps, fencing counter. ARGV: token, now, step, keep_for, field, value, ...
# Returns 0 (and writes nothing) when a newer token was drawn for the order.
_FENCED_RECORD = """
local newest = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[1]) < newest then return 0 end
redis.call('HSETNX', KEYS[1], 'received_at', ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""


def fence_key(prefix: str, shop: str, order_id: str) -> str:
    """The counter the order lock draws fencing tokens from (beside the order's records)."""
    return f"{prefix}:{{{shop}:{order_id}}}:fence"


class PipelineStore:
    """Pipeline status in Redis (:class:`~process_apis.orders.ports.OrderPipeline`)."""

    def __init__(
        self,
        redis: RedisClient,
        prefix: str = "strata:orders",
        *,
        fulfillments: FulfillmentRecords | None = None,
    ) -> None:
        """Records under ``prefix``, which the order locks share (their fencing counters);
        the orders' fulfillments are read from ``fulfillments`` (by default the records
        under the same prefix)."""
        self.redis = redis
        self.prefix = prefix
        self.fulfillments = fulfillments or FulfillmentRecords(redis, prefix)
        self._fenced_record = redis.register_script(_FENCED_RECORD)

    def _keys(self, shop: str, order_id: str) -> tuple[str, str]:
        base = f"{self.prefix}:{{{shop}:{order_id}}}"
        return base, base + ":steps"

    async def record(
        self,
        shop: str,
        order_id: str,
        step: str,
        *,
        state: str | None = None,
        detail: str | None = None,
        fence: int | None = None,
        **fields: str,
    ) -> None:
        """Append ``step`` and update the order's summary fields.

        With ``fence``, raise :class:`~process_apis.orders.ports.OrderLockLost` (recording
        nothing) if a newer fencing token was drawn for the order.
        """
        summary, steps = self._keys(shop, order_id)
        now = time.time()
        mapping: Any = {"shop": shop, "order_id": order_id, "updated_at": now}
        if state is not None:
            mapping["state"] = state
        mapping.update(fields)
        step_json = _STEP.encode(PipelineStep(step=step, at=now, detail=detail))
        if fence is not None:
            pairs = [item for field in mapping.items() for item in field]
            written = await self._fenced_record(
                keys=[summary, steps, fence_key(self.prefix, shop, order_id)],
                args=[fence, now, step_json, KEEP_FOR, *pairs],
            )
            if not written:
                raise OrderLockLost(
                    f"{shop} {order_id}: {step!r} not recorded, the order's lock has a newer "
                    f"holder than token {fence}"
                )
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(summary, "received_at", now)
            pipe.hset(summary, mapping=mapping)
            pipe.rpush(steps, step_json)
            pipe.expire(summary, KEEP_FOR)
            pipe.expire(steps, KEEP_FOR)
            await pipe.execute()

    async def summary(self, shop: str, order_id: str) -> dict[str, str]:
        summary, _ = self._keys(shop, order_id)
        raw = await self.redis.hgetall(summary)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def status(self, shop: str, order_id: str) -> OrderStatus | None:
        summary, steps = self._keys(shop, order_id)

        async def read() -> tuple[Any, Any]:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(summary)
                pipe.lrange(steps, 0, -1)
                raw, raw_steps = await pipe.execute()
            return raw, raw_steps

        (raw, raw_steps), records = await asyncio.gather(
            read(), self.fulfillments.list(shop, order_id)
        )
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        said = fields.get("fulfillment_status")
        fulfillment_status: OrderFulfillmentStatus | None = None
        if said in _FULFILLMENT_STATUSES:
            fulfillment_status = said  # type: ignore[assignment]
        elif records:
            # No order webhook said it yet: what the records show, not knowing the units
            # ordered (partial only while a shipment waits for Shopify).
            fulfillment_status = order_fulfillment_status(records, None)  # type: ignore[assignment]
        return OrderStatus(
            shop=shop,
            order_id=order_id,
            state=fields.get("state", "received"),
            erp_instance=fields.get("erp_instance"),
            erp_order_id=fields.get("erp_order_id"),
            erp_order_number=fields.get("erp_order_number"),
            correlation_id=fields.get("correlation_id"),
            exception_id=fields.get("exception_id"),
            received_at=float(fields.get("received_at", "0")),
            updated_at=float(fields.get("updated_at", "0")),
            steps=[_STEP_DECODER.decode(s) for s in raw_steps],
            fulfillment_status=fulfillment_status,
            fulfillments=[OrderFulfillment.of(r) for r in records],
        )


_FULFILLMENT_STATUSES = frozenset(get_args(OrderFulfillmentStatus))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
