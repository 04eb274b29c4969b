"""Availability as product pages show it, each SKU's answer kept for a moment.

Product pages ask for the same popular SKUs over and over; each answer goes down two layers
(the inventory process, one Redis script call, its cached ERP stock). So each SKU's shelf
word is kept for ``ttl`` seconds, and concurrent requests for SKUs already being read wait
for that read instead of sending their own: a burst of page views costs the inventory
process one call per SKU and period. Once half of ``ttl`` has passed, the next request for
the SKU starts a new read in the background and is answered from what is kept, so steady
traffic never stops to wait for the inventory process. A shown figure may be up to ``ttl``
older than the reservations, which a product page can accept: whether stock can really be
held is decided when it is reserved, atomically, by the inventory process.

Only answers from every ERP instance are kept: once what is kept has expired, while an ERP
is silent, requests ask again (one read of a SKU at a time), so a recovered ERP shows at
once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from experience_apis.storefront.clients import InventoryClient
from experience_apis.storefront.schemas import ShelfStock, StorefrontAvailability
from experience_apis.storefront.service import shelf_stock

_Read = dict[str, ShelfStock]
#: SKUs kept at most; past it expired entries are dropped (and all, if none has expired).
MAX_ENTRIES = 50_000
#: Whole answers (SKU lists asked again) kept at most; past it they start afresh.
MAX_ANSWERS = 10_000


class Shelf:
    """What product pages show for SKUs: from the inventory process, kept ``ttl`` seconds
    (0 keeps nothing and asks every time)."""

    def __init__(
        self,
        inventory: InventoryClient,
        *,
        low_stock_threshold: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inventory = inventory
        self.low_stock_threshold = low_stock_threshold
        self.ttl = ttl
        self._clock = clock
        #: SKU -> (its shelf word, when to read it again, when it expires).
        self._kept: dict[str, tuple[ShelfStock, float, float]] = {}
        # Answers to SKU lists asked again (a product page's), until one of their SKUs is to
        # be read again.
        self._answers: dict[tuple[str, ...], tuple[StorefrontAvailability, float]] = {}
        self._inflight: dict[str, asyncio.Future[_Read]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def availability(self, skus: list[str]) -> StorefrontAvailability:
        """The shelf word of each of ``skus`` (distinct, at most 100), in their order.

        Raises the inventory client's :class:`~shared.sibling.SiblingError` when the
        inventory process gives no answer for SKUs not kept.
        """
        if self.ttl <= 0:
            return await self._ask(skus)
        now = self._clock()
        asked = tuple(skus)
        answer = self._answers.get(asked)
        if answer is not None and answer[1] > now:
            return answer[0]
        kept = self._kept
        found: dict[str, ShelfStock] = {}
        missing: list[str] = []
        due: list[str] = []
        soonest = now + self.ttl
        for sku in skus:
            entry = kept.get(sku)
            if entry is None or entry[2] <= now:
                missing.append(sku)
                continue
            found[sku] = entry[0]
            if entry[1] > now:
                soonest = min(soonest, entry[1])
            else:
                due.append(sku)
        if due:
            # Read again in the background; this request is answered from what is kept.
            refresh = [sku for sku in due if sku not in self._inflight]
            if refresh:
                self._start_read(refresh)
        if not missing:
            shown = StorefrontAvailability(items=[found[sku] for sku in skus])
            if not due:
                if len(self._answers) >= MAX_ANSWERS:
                    self._answers.clear()
                self._answers[asked] = (shown, soonest)
            return shown
        waits: dict[int, asyncio.Future[_Read]] = {}
        unread: list[str] = []
        for sku in missing:
            future = self._inflight.get(sku)
            if future is None:
                unread.append(sku)
            else:
                waits[id(future)] = future
        if unread:
            future = self._start_read(unread)
            waits[id(future)] = future
        for future in waits.values():
            found.update(await asyncio.shield(future))
        return StorefrontAvailability(items=[found[sku] for sku in skus])

    async def _ask(self, skus: list[str]) -> StorefrontAvailability:
        answer = await self.inventory.availability(skus)
        return shelf_stock(answer, self.low_stock_threshold)

    def _start_read(self, skus: list[str]) -> asyncio.Future[_Read]:
        future: asyncio.Future[_Read] = asyncio.get_running_loop().create_future()
        for sku in skus:
            self._inflight[sku] = future
        # A task of its own, so a caller that goes away never leaves the others waiting.
        task = asyncio.create_task(self._read(skus, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return future

    async def _read(self, skus: list[str], future: asyncio.Future[_Read]) -> None:
        try:
            answer = await self.inventory.availability(skus)
        except Exception as exc:
            self._hold_off(skus)
            future.set_exception(exc)
            future.exception()  # every waiter reads it; this keeps asyncio quiet when none is left
            return
        except BaseException:
            future.cancel()
            raise
        finally:
            for sku in skus:
                if self._inflight.get(sku) is future:
                    del self._inflight[sku]
        shown = shelf_stock(answer, self.low_stock_threshold)
        read = {item.sku: item for item in shown.items}
        if answer.complete:
            self._keep(read)
        else:
            self._hold_off(skus)
        # SKUs the inventory left out of its answer are not kept and show as unknown stock.
        for sku in skus:
            read.setdefault(sku, ShelfStock(sku=sku, in_stock=False, stock="unknown"))
        future.set_result(read)

    def _hold_off(self, skus: list[str]) -> None:
        """After a failed or partial read, what is kept of ``skus`` is not read again in the
        background before it expires (a silent ERP would otherwise be asked on every hit)."""
        kept = self._kept
        for sku in skus:
            entry = kept.get(sku)
            if entry is not None:
                kept[sku] = (entry[0], entry[2], entry[2])

    def _keep(self, read: _Read) -> None:
        kept = self._kept
        if len(kept) + len(read) > MAX_ENTRIES:
            now = self._clock()
            self._kept = kept = {k: v for k, v in kept.items() if v[2] > now}
            if len(kept) + len(read) > MAX_ENTRIES:
                kept.clear()
        now = self._clock()
        again, expires = now + self.ttl / 2, now + self.ttl
        for sku, item in read.items():
            kept[sku] = (item, again, expires)

    async def aclose(self) -> None:
        """Wait for reads still running (their callers may be gone)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
