"""Where each order is: every pipeline step with its timestamp, in Redis.

One hash per order (state, ERP instance and reference, correlation id) and one list of steps,
under one hash tag, written together in a transaction.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from redis.asyncio import Redis

from process_apis.orders.schemas import OrderStatus, PipelineStep

_STEP = msgspec.json.Encoder()
_STEP_DECODER = msgspec.json.Decoder(PipelineStep)
KEEP_FOR = 90 * 24 * 3600


class PipelineStore:
    """Pipeline status in Redis (:class:`~process_apis.orders.ports.OrderPipeline`)."""

    def __init__(self, redis: Redis, prefix: str = "strata:orders") -> None:
        self.redis = redis
        self.prefix = prefix

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
        **fields: str,
    ) -> None:
        """Append ``step`` and update the order's summary fields."""
        summary, steps = self._keys(shop, order_id)
        now = time.time()
        mapping: Any = {"shop": shop, "order_id": order_id, "updated_at": now}
        if state is not None:
            mapping["state"] = state
        mapping.update(fields)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(summary, "received_at", now)
            pipe.hset(summary, mapping=mapping)
            pipe.rpush(steps, _STEP.encode(PipelineStep(step=step, at=now, detail=detail)))
            pipe.expire(summary, KEEP_FOR)
            pipe.expire(steps, KEEP_FOR)
            await pipe.execute()

    async def summary(self, shop: str, order_id: str) -> dict[str, str]:
        summary, _ = self._keys(shop, order_id)
        raw = await self.redis.hgetall(summary)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def status(self, shop: str, order_id: str) -> OrderStatus | None:
        summary, steps = self._keys(shop, order_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(summary)
            pipe.lrange(steps, 0, -1)
            raw, raw_steps = await pipe.execute()
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
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
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
