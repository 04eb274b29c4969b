"""The catalog's exception queue: products a shop refused or Strata could not map.

One record per (shop, ERP instance, ERP product): a product that fails again adds to its
record's history and opens it again; a later run or a replay that publishes (or archives)
the product resolves it. Keys share one hash tag, so each save is one transaction on Redis
Cluster too::

    <prefix>:{exceptions}:record:<id>    -> CatalogException (JSON)
    <prefix>:{exceptions}:state:<state>  -> sorted set of ids by last change

Listing reads a state's whole index and filters by shop: the queue holds products, not
orders, so it stays in the thousands at most.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import cast

import msgspec

from process_apis.catalog.schemas import (
    CatalogException,
    ExceptionEvent,
    ExceptionKind,
    ExceptionState,
)
from shared.ratelimit.scripts import RedisClient

STATES: tuple[ExceptionState, ...] = ("open", "resolved")
#: Attempts kept in a record's history (the oldest are dropped).
HISTORY_MAX = 20
_DEC = msgspec.json.Decoder(CatalogException)
_ENC = msgspec.json.Encoder()


def exception_id(shop: str, instance: str, erp_product_id: str) -> str:
    return hashlib.sha256(f"{shop}|{instance}|{erp_product_id}".encode()).hexdigest()[:20]


class ExceptionStore:
    """Open, resolve, read and list catalog exceptions in Redis."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis = redis
        self.base = f"{prefix}:{{exceptions}}"

    def _record_key(self, record_id: str) -> str:
        return f"{self.base}:record:{record_id}"

    def _state_key(self, state: ExceptionState) -> str:
        return f"{self.base}:state:{state}"

    async def get(self, record_id: str) -> CatalogException | None:
        raw = await self.redis.get(self._record_key(record_id))
        return None if raw is None else _DEC.decode(raw)

    async def open(
        self,
        *,
        shop: str,
        instance: str,
        erp_product_id: str,
        skus: list[str],
        kind: ExceptionKind,
        error: str,
        field: str | None,
        publication_id: str | None,
    ) -> CatalogException:
        """Record a failure: a new open record, or the product's record opened again."""
        now = dt.datetime.now(dt.UTC).isoformat()
        record_id = exception_id(shop, instance, erp_product_id)
        event = ExceptionEvent(at=now, publication_id=publication_id, outcome="failed", error=error)
        record = await self.get(record_id)
        if record is None:
            record = CatalogException(
                id=record_id,
                shop=shop,
                instance=instance,
                erp_product_id=erp_product_id,
                skus=skus,
                kind=kind,
                field=field,
                error=error,
                state="open",
                created_at=now,
                updated_at=now,
                history=[event],
            )
        else:
            record.skus, record.kind, record.field, record.error = skus, kind, field, error
            record.state, record.updated_at = "open", now
            record.attempts += 1
            record.history = [*record.history, event][-HISTORY_MAX:]
        await self._save(record)
        return record

    async def resolve(
        self, shop: str, instance: str, erp_product_id: str, publication_id: str | None
    ) -> CatalogException | None:
        """Close the product's open record, if it has one (the product went through)."""
        record = await self.get(exception_id(shop, instance, erp_product_id))
        if record is None or record.state == "resolved":
            return record
        now = dt.datetime.now(dt.UTC).isoformat()
        record.state, record.updated_at = "resolved", now
        record.history = [
            *record.history,
            ExceptionEvent(at=now, publication_id=publication_id, outcome="resolved"),
        ][-HISTORY_MAX:]
        await self._save(record)
        return record

    async def page(
        self, *, state: ExceptionState | None, shop: str | None, offset: int, limit: int
    ) -> tuple[list[CatalogException], int]:
        """Records newest change first, filtered by state and shop, and how many match."""
        ids: list[tuple[str, float]] = []
        for one in (state,) if state else STATES:
            scored = await self.redis.zrange(self._state_key(one), 0, -1, withscores=True)
            for member, score in cast("list[tuple[bytes | str, float]]", scored):
                text = member.decode() if isinstance(member, bytes) else str(member)
                ids.append((text, float(score)))
        ids.sort(key=lambda pair: (-pair[1], pair[0]))
        records = [r for r in [await self.get(i) for i, _ in ids] if r is not None]
        if shop is not None:
            records = [r for r in records if r.shop == shop]
        return records[offset : offset + limit], len(records)

    async def _save(self, record: CatalogException) -> None:
        score = dt.datetime.fromisoformat(record.updated_at).timestamp()
        async with self.redis.pipeline(transaction=True) as tx:
            tx.set(self._record_key(record.id), _ENC.encode(record))
            for state in STATES:
                if state == record.state:
                    tx.zadd(self._state_key(state), {record.id: score})
                else:
                    tx.zrem(self._state_key(state), record.id)
            await tx.execute()
