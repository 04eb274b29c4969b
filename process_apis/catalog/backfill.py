"""A full back-fill through Shopify's bulk operations: one bulk ``productSet`` per shop.

For each shop the products are sorted first. Not for sale there: archived as on the delta
path. Published before (a mapping entry): skipped by the content hash, or published by the
delta path, which merges with what Shopify holds. Never published, but one of its SKUs is on
a Shopify product already (a shop that sold before Strata, or a back-fill that died between
Shopify's answer and the mapping write): the delta path too, which adopts it in place. The
rest, new to the shop, go into one bulk operation (the system API stages the JSONL, uploads
it and starts it; several, one after the other, past ``bulk_lines_max``).

Completion: Shopify's ``bulk_operations/finish`` webhook, read from the ingress's stream
(:class:`FinishWatch`) when the ingress accepts that topic; the operation's state is read
from Shopify after ``bulk_late_seconds`` without it, and again after each such wait. Then the
result lines: a product Shopify made goes into the mapping (and resolves its exception); a
line Shopify refused becomes an exception with the product and Shopify's words.

Delivery: as the delta path. A back-fill that dies mid-operation leaves the watermark; the
next run finds the products Shopify made by their SKUs and adopts them (no duplicates).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import msgspec

from process_apis.catalog.clients import product_refused
from process_apis.catalog.mapping import (
    DesiredProduct,
    MappingError,
    desired_product,
    digest,
    merge,
)
from process_apis.catalog.schemas import BulkRun, Failure, LiveBulkLine, Publication
from process_apis.catalog.settings import ShopCatalog
from shared.catalog_map import CatalogEntry, VariantRef
from shared.models import Product
from shared.ratelimit.scripts import RedisClient
from shared.sibling import SiblingRejected
from shared.streams import TOPIC_FAMILIES, WebhookStreams, decode_entry

if TYPE_CHECKING:
    from process_apis.catalog.service import CatalogService

BULK_FINISH_TOPIC = "bulk_operations/finish"
FINISHED = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})
RESULTS_PAGE = 1000


def finish_streams(prefix: str, shards: int) -> list[str]:
    """The ingress streams that carry ``bulk_operations/finish``; none while the ingress does
    not accept the topic (the back-fill then polls)."""
    family = TOPIC_FAMILIES.get(BULK_FINISH_TOPIC)
    return WebhookStreams(prefix, shards).streams(family) if family else []


class FinishWatch:
    """Waits for ``bulk_operations/finish`` of one operation on the ingress's streams.

    Read without a consumer group (every waiting publisher sees every entry), from the
    streams' ends as they were before the operation started, so a fast finish is not missed.
    """

    def __init__(self, redis: RedisClient, streams: Sequence[str]) -> None:
        self.redis = redis
        self.streams = list(streams)

    async def position(self) -> dict[str, str]:
        """Where each stream ends now (read from here on)."""
        where: dict[str, str] = {}
        for stream in self.streams:
            last = cast("list[Any]", await self.redis.xrevrange(stream, count=1) or [])
            where[stream] = _text(last[0][0]) if last else "0-0"
        return where

    async def wait(
        self, position: dict[str, str], shop: str, operation_id: int, within: float
    ) -> bool:
        """True once the operation's finish webhook is on a stream (``position`` moves on);
        False after ``within`` seconds without it."""
        if not self.streams:
            await asyncio.sleep(within)
            return False
        wanted = f"gid://shopify/BulkOperation/{operation_id}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (left := deadline - loop.time()) > 0:
            read = await self.redis.xread(
                cast("Any", dict(position)), count=100, block=max(1, int(left * 1000))
            )
            # The RESP2 shape: [[stream, [(id, fields), ...]], ...].
            for stream, entries in cast("list[Any]", read or []):
                for entry_id, fields in entries:
                    position[_text(stream)] = _text(entry_id)
                    if _is_finish(fields, shop, wanted):
                        return True
        return False


def _is_finish(fields: Mapping[Any, Any], shop: str, wanted: str) -> bool:
    text = {_text(k): _text(v) for k, v in fields.items()}
    if text.get("topic") != BULK_FINISH_TOPIC or text.get("shop") != shop:
        return False
    try:
        event = decode_entry(text)
        body = msgspec.json.decode(event.body)
    except (ValueError, msgspec.DecodeError):
        return False
    return isinstance(body, dict) and body.get("admin_graphql_api_id") == wanted


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _New(msgspec.Struct, frozen=True):
    product: Product
    desired: DesiredProduct


class BulkBackfill:
    """The bulk path of a full publication (see the module docstring)."""

    def __init__(self, service: CatalogService, watch: FinishWatch) -> None:
        self.service = service
        self.watch = watch

    async def run(
        self,
        job: Publication,
        token: str,
        instance: str,
        fed: Mapping[str, ShopCatalog],
        products: list[Product],
        progress: Any,
    ) -> None:
        """Back-fill ``products`` of ``instance`` into every shop of ``fed``, the shops at
        once, each with its own bulk operation."""
        await asyncio.gather(
            *(
                self._shop(job, token, shop, catalog, instance, products, progress)
                for shop, catalog in fed.items()
            )
        )

    async def _shop(
        self,
        job: Publication,
        token: str,
        shop: str,
        catalog: ShopCatalog,
        instance: str,
        products: list[Product],
        progress: Any,
    ) -> None:
        service = self.service
        held = await self._held_skus(shop)
        new: list[_New] = []
        for product in products:
            try:
                desired = desired_product(
                    product,
                    instance=instance,
                    currency=catalog.currency,
                    sku_prefixes=catalog.sku_prefixes,
                )
            except MappingError as exc:
                await service.fail(job, shop, instance, product, exc)
                job.processed += 1
                continue
            fresh = desired is not None and await self._new_to_shop(
                shop, instance, product, desired, held
            )
            if desired is not None and fresh:
                new.append(_New(product, desired))
                continue
            await service.publish_one(job, shop, catalog, instance, product)
            job.processed += 1
            await service.renew(token)
        await service.save(job)
        if progress is not None:
            progress(job)
        size = service.settings.bulk_lines_max
        for start in range(0, len(new), size):
            batch = new[start : start + size]
            created = await self._operation(job, token, shop, instance, batch, progress)
            await self._publish_to_channels(job, shop, catalog, instance, created)

    async def _held_skus(self, shop: str) -> set[str]:
        """Every SKU on a Shopify product of the shop (one read of all its variants)."""
        skus: set[str] = set()
        cursor: str | None = None
        while True:
            page = await self.service.shopify.variants_page(shop, cursor)
            skus.update(v.sku for v in page.items if v.sku)
            cursor = page.next_cursor
            if cursor is None:
                return skus

    async def _new_to_shop(
        self, shop: str, instance: str, product: Product, desired: DesiredProduct, held: set[str]
    ) -> bool:
        if await self.service.map.entry(shop, instance, product.id) is not None:
            return False
        for variant in desired.variants:
            if variant.sku in held or await self.service.map.variant(shop, variant.sku):
                return False
        return True

    async def _operation(
        self,
        job: Publication,
        token: str,
        shop: str,
        instance: str,
        batch: list[_New],
        progress: Any,
    ) -> list[tuple[int, Product]]:
        """Run one bulk operation of ``batch``; the products it created (Shopify id, ERP
        product)."""
        service = self.service
        run = BulkRun(shop=shop, lines=len(batch))
        job.bulk.append(run)
        if job.dry_run:
            run.status = "DRY_RUN"
            job.summary.created += len(batch)
            job.processed += len(batch)
            return []
        position = await self.watch.position()
        chunk = len(job.bulk)
        bodies = [merge(n.desired, None, ()) for n in batch]
        operation = await service.shopify.bulk_set(shop, bodies, job.id, chunk)
        while operation is None:
            # Shopify runs as many bulk mutations of this app as it allows: wait, then start.
            run.status = "WAITING"
            await asyncio.sleep(self._late_seconds())
            await service.renew(token)
            operation = await service.shopify.bulk_set(shop, bodies, job.id, chunk)
        run.operation_id, run.status = operation.id, operation.status
        await service.save(job)
        processed = job.processed
        while operation.status not in FINISHED:
            heard = await self.watch.wait(position, shop, operation.id, self._late_seconds())
            await service.renew(token)
            operation = await service.shopify.bulk_operation(shop, operation.id)
            run.status, run.ran = operation.status, operation.object_count
            if operation.status in FINISHED:
                run.finished_by = "webhook" if heard else "poll"
            job.processed = processed + min(operation.object_count, len(batch))
            await service.save(job)
            if progress is not None:
                progress(job)
        if operation.error_code:
            run.error = f"Shopify ended the operation {operation.status}: {operation.error_code}"
        seen: set[int] = set()
        created: list[tuple[int, Product]] = []
        offset = 0
        while True:
            page = await service.shopify.bulk_results(shop, operation.id, offset, RESULTS_PAGE)
            for line in page.items:
                if 0 <= line.line < len(batch) and line.line not in seen:
                    seen.add(line.line)
                    await self._line(job, run, shop, instance, batch[line.line], line)
                    if line.product is not None:
                        created.append((line.product.id, batch[line.line].product))
            offset += len(page.items)
            await service.renew(token)
            if not page.items or offset >= page.total:
                break
        for number, left in enumerate(batch):
            if number not in seen:
                # Shopify never ran the line (a failed or cancelled operation).
                await self._refused(
                    job, run, shop, instance, left.product, run.error or "not run", None
                )
        job.processed = processed + len(batch)
        await service.save(job)
        if progress is not None:
            progress(job)
        return created

    async def _publish_to_channels(
        self,
        job: Publication,
        shop: str,
        catalog: ShopCatalog,
        instance: str,
        created: list[tuple[int, Product]],
    ) -> None:
        """Publish what a bulk operation created to the shop's sales channels, many products
        a call; a refusal becomes each product's exception (a replay publishes it)."""
        try:
            await self.service.publish_to_channels(job, shop, catalog, [i for i, _ in created])
        except SiblingRejected as exc:
            if not product_refused(exc):
                raise
            for _, product in created:
                await self.service.fail(job, shop, instance, product, exc)

    async def _line(
        self,
        job: Publication,
        run: BulkRun,
        shop: str,
        instance: str,
        new: _New,
        line: LiveBulkLine,
    ) -> None:
        service = self.service
        if line.product is None:
            words = "; ".join(
                f"{e.field}: {e.message}" if e.field else e.message for e in line.errors
            )
            field = next((e.field for e in line.errors if e.field), None)
            await self._refused(
                job, run, shop, instance, new.product, f"Shopify refused the product; {words}",
                field,
            )  # fmt: skip
            return
        product = line.product
        wanted = {v.sku for v in new.desired.variants}
        await service.map.record(
            CatalogEntry(
                shop=shop,
                instance=instance,
                erp_product_id=new.product.id,
                product_id=product.id,
                handle=product.handle,
                status="ACTIVE",
                digest=digest(new.desired),
                variants=[
                    VariantRef(
                        sku=v.sku,
                        variant_id=v.id,
                        product_id=product.id,
                        inventory_item_id=v.inventory_item_id,
                        instance=instance,
                        erp_product_id=new.product.id,
                    )
                    for v in product.variants
                    if v.sku in wanted
                ],
                published_at=dt.datetime.now(dt.UTC).isoformat(),
            ),
            None,
        )
        await service.exceptions.resolve(shop, instance, new.product.id, job.id)
        run.published += 1
        job.summary.created += 1

    async def _refused(
        self,
        job: Publication,
        run: BulkRun,
        shop: str,
        instance: str,
        product: Product,
        error: str,
        field: str | None,
    ) -> None:
        record = await self.service.exceptions.open(
            shop=shop,
            instance=instance,
            erp_product_id=product.id,
            skus=[v.sku for v in product.variants],
            kind="rejected",
            error=error,
            field=field,
            publication_id=job.id,
        )
        run.failed += 1
        job.summary.failed += 1
        if len(job.summary.failures) < self.service.failures_listed:
            job.summary.failures.append(
                Failure(
                    shop=shop,
                    instance=instance,
                    erp_product_id=product.id,
                    error=error,
                    exception_id=record.id,
                )
            )

    def _late_seconds(self) -> float:
        # Never so long that the publisher's lock lapses between two renewals.
        settings = self.service.settings
        return min(settings.bulk_late_seconds, settings.lock_seconds / 3)
