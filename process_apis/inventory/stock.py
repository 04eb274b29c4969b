"""Stock of every ERP instance, read in parallel, kept in memory for a few seconds.

One read per instance at a time for a given SKU: concurrent requests for SKUs already being
read wait for that read instead of sending their own (so a burst of storefront traffic
costs the ERP one call per SKU and cache period). An instance that fails or times out is
reported unavailable and is not asked again for ``failure_ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

import msgspec

from process_apis.inventory.clients import ErpStock
from shared.models import StockLevel
from shared.sibling import SiblingError


class InstanceStock(msgspec.Struct, frozen=True, kw_only=True):
    """One instance's answer: stock by SKU (absent SKUs are unknown there), or why none."""

    instance: str
    ok: bool
    levels: dict[str, tuple[StockLevel, ...]] = {}
    as_of: float | None = None
    detail: str | None = None


class _Entry(msgspec.Struct, frozen=True):
    levels: tuple[StockLevel, ...]
    fetched_at: float
    expires: float


_Read = dict[str, _Entry]


class _ReadFailed(Exception):
    """Why an instance gave no reading; every waiter on that read gets it."""


class _Instance:
    __slots__ = ("cache", "failed_until", "failure", "inflight", "source")

    def __init__(self, source: ErpStock) -> None:
        self.source = source
        self.cache: dict[str, _Entry] = {}
        self.inflight: dict[str, asyncio.Future[_Read]] = {}
        self.failed_until = 0.0
        self.failure = ""


class StockBoard:
    """Fan-out stock reads over ERP instances with a short cache and a per-instance timeout."""

    def __init__(
        self,
        sources: Iterable[ErpStock],
        *,
        timeout: float,
        ttl: float,
        failure_ttl: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._instances = [_Instance(source) for source in sources]
        self.timeout = timeout
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self._clock = clock
        self._wall = wall_clock
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def instances(self) -> list[str]:
        return [i.source.instance for i in self._instances]

    async def read(self, skus: list[str]) -> list[InstanceStock]:
        """Every instance's stock of ``skus``, in parallel; failed instances say why."""
        if len(self._instances) == 1:
            return [await self._read(self._instances[0], skus)]
        return list(await asyncio.gather(*(self._read(i, skus) for i in self._instances)))

    async def _read(self, instance: _Instance, skus: list[str]) -> InstanceStock:
        name = instance.source.instance
        now = self._clock()
        if instance.failed_until > now:
            return InstanceStock(instance=name, ok=False, detail=instance.failure)
        found: dict[str, _Entry] = {}
        waits: dict[str, asyncio.Future[_Read]] = {}
        missing: list[str] = []
        for sku in skus:
            entry = instance.cache.get(sku)
            if entry is not None and entry.expires > now:
                found[sku] = entry
            elif sku in instance.inflight:
                waits[sku] = instance.inflight[sku]
            else:
                missing.append(sku)
        if missing:
            future = self._start_read(instance, missing)
            for sku in missing:
                waits[sku] = future
        try:
            for future in {id(f): f for f in waits.values()}.values():
                found.update(await asyncio.shield(future))
        except _ReadFailed as exc:
            return InstanceStock(instance=name, ok=False, detail=str(exc))
        return InstanceStock(
            instance=name,
            ok=True,
            levels={sku: found[sku].levels for sku in skus if sku in found and found[sku].levels},
            as_of=min((found[sku].fetched_at for sku in skus if sku in found), default=None),
        )

    def _start_read(self, instance: _Instance, skus: list[str]) -> asyncio.Future[_Read]:
        future: asyncio.Future[_Read] = asyncio.get_running_loop().create_future()
        for sku in skus:
            instance.inflight[sku] = future
        # A task of its own, so a caller that goes away never leaves the others waiting.
        task = asyncio.create_task(self._fetch(instance, skus, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return future

    async def _fetch(
        self, instance: _Instance, skus: list[str], future: asyncio.Future[_Read]
    ) -> None:
        try:
            levels = await asyncio.wait_for(instance.source.levels(skus), self.timeout)
        except SiblingError as exc:
            self._fail(instance, future, exc.reason)
            return
        except TimeoutError:
            self._fail(instance, future, f"no answer within {self.timeout:g}s")
            return
        except BaseException as exc:
            # Never leave waiters hanging on a read that died another way; then let it rise.
            self._fail(instance, future, f"read failed ({type(exc).__name__})")
            raise
        finally:
            for sku in skus:
                if instance.inflight.get(sku) is future:
                    del instance.inflight[sku]
        fetched_at = self._wall()
        expires = self._clock() + self.ttl
        by_sku: dict[str, list[StockLevel]] = {sku: [] for sku in skus}
        for level in levels:
            if level.sku in by_sku:
                by_sku[level.sku].append(level)
        read = {sku: _Entry(tuple(found), fetched_at, expires) for sku, found in by_sku.items()}
        instance.cache.update(read)
        if len(instance.cache) > 50_000:  # bound memory: drop what has expired
            now = self._clock()
            instance.cache = {k: v for k, v in instance.cache.items() if v.expires > now}
        future.set_result(read)

    def _fail(self, instance: _Instance, future: asyncio.Future[_Read], reason: str) -> None:
        instance.failed_until = self._clock() + self.failure_ttl
        instance.failure = reason
        future.set_exception(_ReadFailed(reason))
        # Every waiter reads the outcome; this keeps asyncio quiet when none is left.
        future.exception()

    async def aclose(self) -> None:
        """Wait for reads still running (their callers may be gone)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
