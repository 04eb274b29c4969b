"""The exception queue: orders that need a person, with a snapshot to replay them from.

One record per (shop, order, topic): an order that fails again after a replay reopens its
record and adds to its history instead of opening a second one.

An order changed in Shopify that the ERP can't follow (an edit after shipment, a SKU Tryton
can't add) opens a record whose error shows the difference, line by line
(:func:`process_apis.orders.changes.describe_changes`), as the ERP holds the order and as
Shopify has it now.

A record and the state indexes are in different hash slots under Redis Cluster, so there a
save writes the record first and then the indexes (each command on its own slot) instead of
in one transaction: a crash in between leaves the indexes one state behind until the next
save of that record.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import msgspec
from redis.asyncio import RedisCluster

from process_apis.orders.schemas import ExceptionState, OrderException
from shared.events import RedisClient

_ENC = msgspec.json.Encoder()
_DEC = msgspec.json.Decoder(OrderException)
STATES: tuple[ExceptionState, ...] = ("open", "replayed", "resolved")
EXCEPTIONS_PREFIX = "strata:orders:exceptions"


def exception_id(shop: str, order_id: str, topic: str) -> str:
    return hashlib.sha256(f"{shop}|{order_id}|{topic}".encode()).hexdigest()[:20]


def index_key(state: ExceptionState, prefix: str = EXCEPTIONS_PREFIX) -> str:
    """The sorted set of the records in ``state`` (by creation time)."""
    return f"{prefix}:index:{state}"


class ExceptionStore:
    """The exception queue in Redis (:class:`~process_apis.orders.ports.ExceptionQueue`)."""

    def __init__(self, redis: RedisClient, prefix: str = EXCEPTIONS_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix
        self._cluster = isinstance(redis, RedisCluster)

    def _doc(self, ex_id: str) -> str:
        return f"{self.prefix}:doc:{ex_id}"

    def _index(self, state: ExceptionState) -> str:
        return index_key(state, self.prefix)

    async def get(self, ex_id: str) -> OrderException | None:
        raw = await self.redis.get(self._doc(ex_id))
        return _DEC.decode(raw) if raw else None

    async def save(self, record: OrderException) -> None:
        # One node: one transaction. A cluster: record, then indexes (see the module's docstring).
        async with self.redis.pipeline(transaction=not self._cluster) as pipe:
            pipe.set(self._doc(record.id), _ENC.encode(record))
            for state in STATES:
                if state == record.state:
                    pipe.zadd(self._index(state), {record.id: record.created_at})
                else:
                    pipe.zrem(self._index(state), record.id)
            await pipe.execute()

    async def open(self, record: OrderException) -> OrderException:
        """Open (or reopen) the record for this order and topic, keeping earlier history."""
        previous = await self.get(record.id)
        if previous is not None:
            record = msgspec.structs.replace(
                record,
                created_at=previous.created_at,
                retry_history=[*previous.retry_history, *record.retry_history],
                replays=previous.replays,
            )
        await self.save(record)
        return record

    async def mark(self, ex_id: str, state: ExceptionState) -> OrderException | None:
        record = await self.get(ex_id)
        if record is None:
            return None
        replays = record.replays + (1 if state == "replayed" else 0)
        record = msgspec.structs.replace(
            record, state=state, updated_at=time.time(), replays=replays
        )
        await self.save(record)
        return record

    async def count(self, state: ExceptionState) -> int:
        return int(await self.redis.zcard(self._index(state)))

    async def page(
        self,
        *,
        state: ExceptionState | None,
        shop: str | None,
        kind: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[OrderException], int]:
        """Newest first; filters on state, shop and kind."""
        ids: list[Any] = []
        for s in (state,) if state else STATES:
            ids.extend(await self.redis.zrevrange(self._index(s), 0, -1))
        if not ids:
            return [], 0
        keys = [self._doc(i.decode()) for i in ids]
        # The records are spread over slots under Redis Cluster: read them slot by slot there.
        docs = await (
            self.redis.mget_nonatomic(keys)
            if isinstance(self.redis, RedisCluster)
            else self.redis.mget(keys)
        )
        records = [_DEC.decode(d) for d in docs if d]
        records = [
            r
            for r in records
            if (shop is None or r.shop == shop) and (kind is None or r.kind == kind)
        ]
        records.sort(key=lambda r: r.created_at, reverse=True)
        return records[offset : offset + limit], len(records)
