"""Catalog publication: ERP products to every shop, by delta with a content hash.

One run: for each ERP instance feeding the chosen shops, read the products changed since
the instance's watermark less ``overlap_seconds`` (everything for sale with ``full``); for
each product and shop, map it (:mod:`process_apis.catalog.mapping`), skip it when the hash of
what Strata manages equals the one last published, else read the product from Shopify, merge,
and ``productSet`` it; a product no longer for sale is archived, never deleted. The mapping
(:mod:`shared.catalog_map`) is written after Shopify accepted the product.

Delivery: at least once per product and shop. A publisher that dies mid-run leaves the
watermark where it was, so the next run reads the same products again; those already
published are skipped by their hash, and one caught between Shopify's answer and the mapping
write is found again by its handle and updated in place (no second product, the same
variant ids). One run at a time holds the publisher's lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence

import msgspec

from process_apis.catalog.clients import ErpProducts, ShopifyProducts
from process_apis.catalog.mapping import MappingError, desired_product, digest, merge
from process_apis.catalog.schemas import Failure, LiveProduct, Publication
from process_apis.catalog.settings import CatalogSettings, ShopCatalog
from shared.catalog_map import CatalogEntry, CatalogMap, VariantRef
from shared.models import Product
from shared.problems import Conflict
from shared.ratelimit.scripts import RedisClient
from shared.sibling import SiblingError, SiblingRejected

Progress = Callable[[Publication], None]


class PublisherBusy(Conflict):
    slug = "catalog-publisher-busy"
    title = "Another catalog publication is running"


class SkuHeldElsewhere(Exception):
    """A SKU Strata would publish is on a Shopify product Strata does not know."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CatalogService:
    """Publication runs, their records and the watermarks (stores come in here)."""

    def __init__(
        self,
        settings: CatalogSettings,
        redis: RedisClient,
        erps: Mapping[str, ErpProducts],
        shopify: ShopifyProducts,
        catalog_map: CatalogMap | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.erps = erps
        self.shopify = shopify
        self.map = catalog_map or CatalogMap(redis, settings.key_prefix)
        self.prefix = settings.key_prefix
        self._tasks: set[asyncio.Task[Publication]] = set()

    # -- runs -------------------------------------------------------------------------------

    def shops(self, shop: str | None) -> dict[str, ShopCatalog]:
        if shop is None:
            return dict(self.settings.shops)
        if shop not in self.settings.shops:
            raise MappingError("shop", f"{shop} is not a configured shop")
        return {shop: self.settings.shops[shop]}

    async def start(self, shop: str | None, *, full: bool, dry_run: bool) -> Publication:
        """Start a run in the background and return its record (``running``)."""
        self.shops(shop)
        job = Publication(
            id=uuid.uuid4().hex,
            status="running",
            shop=shop,
            full=full,
            dry_run=dry_run,
            started_at=_now().isoformat(),
        )
        token = await self._lock()
        await self._save(job)
        task = asyncio.create_task(self._run_locked(job, token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def publish(
        self,
        shop: str | None = None,
        *,
        full: bool = False,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> Publication:
        """Run a publication now and return its finished record."""
        self.shops(shop)
        job = Publication(
            id=uuid.uuid4().hex,
            status="running",
            shop=shop,
            full=full,
            dry_run=dry_run,
            started_at=_now().isoformat(),
        )
        token = await self._lock()
        return await self._run_locked(job, token, progress)

    async def publication(self, job_id: str) -> Publication | None:
        raw = await self.redis.get(f"{self.prefix}:publication:{job_id}")
        return None if raw is None else msgspec.json.decode(raw, type=Publication)

    async def watermark(self, instance: str) -> dt.datetime | None:
        raw = await self.redis.get(f"{self.prefix}:watermark:{instance}")
        return None if raw is None else dt.datetime.fromisoformat(_text(raw))

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run_locked(
        self, job: Publication, token: str, progress: Progress | None = None
    ) -> Publication:
        try:
            await self._run(job, token, progress)
            job.status = "succeeded"
        except (SiblingError, MappingError, PublisherBusy) as exc:
            job.status, job.error = "failed", str(exc)
        finally:
            job.finished_at = _now().isoformat()
            await self._save(job)
            await self._unlock(token)
        return job

    async def _run(self, job: Publication, token: str, progress: Progress | None) -> None:
        shops = self.shops(job.shop)
        instances = sorted({s.instance for s in shops.values()})
        for instance in instances:
            fed = {name: s for name, s in shops.items() if s.instance == instance}
            started = _now()
            mark = None if job.full else await self.watermark(instance)
            since = (
                None if mark is None else mark - dt.timedelta(seconds=self.settings.overlap_seconds)
            )
            seen: set[str] = set()
            async for product in self.erps[instance].changed_since(since):
                seen.add(product.id)
                for shop, catalog in fed.items():
                    await self._publish_one(job, shop, catalog, instance, product)
                    job.processed += 1
                await self._renew(token)
                await self._save(job)
                if progress is not None:
                    progress(job)
            if job.full:
                for shop in fed:
                    await self._archive_missing(job, shop, instance, seen)
            if not job.dry_run:
                await self.redis.set(f"{self.prefix}:watermark:{instance}", started.isoformat())

    # -- one product in one shop ---------------------------------------------------------------

    async def _publish_one(
        self, job: Publication, shop: str, catalog: ShopCatalog, instance: str, product: Product
    ) -> None:
        summary = job.summary
        try:
            desired = desired_product(
                product,
                instance=instance,
                currency=catalog.currency,
                sku_prefixes=catalog.sku_prefixes,
            )
            entry = await self.map.entry(shop, instance, product.id)
            if desired is None:
                if entry is None or entry.status == "ARCHIVED":
                    summary.unchanged += 1
                    return
                if not job.dry_run:
                    reason = (product.updated_at or _now()).isoformat()
                    await self.shopify.archive(shop, entry.product_id, reason)
                    await self.map.record(msgspec.structs.replace(entry, status="ARCHIVED"), entry)
                summary.archived += 1
                return
            hashed = digest(desired)
            if entry is not None and entry.digest == hashed and entry.status == "ACTIVE":
                summary.unchanged += 1
                return
            live = await self._live(shop, entry, desired.handle)
            if live is None:
                await self._check_skus(shop, [v.sku for v in desired.variants])
            owned = {v.sku for v in entry.variants} if entry else set()
            body = merge(desired, live, owned)
            if live is not None and live.status == "ARCHIVED":
                body["status"] = "ACTIVE"
            if job.dry_run:
                summary.created += live is None
                summary.updated += live is not None
                return
            published = await self.shopify.set(shop, body)
            wanted = {v.sku for v in desired.variants}
            await self.map.record(
                CatalogEntry(
                    shop=shop,
                    instance=instance,
                    erp_product_id=product.id,
                    product_id=published.id,
                    handle=published.handle,
                    status="ACTIVE",
                    digest=hashed,
                    variants=[
                        VariantRef(
                            sku=v.sku,
                            variant_id=v.id,
                            product_id=published.id,
                            inventory_item_id=v.inventory_item_id,
                            instance=instance,
                            erp_product_id=product.id,
                        )
                        for v in published.variants
                        if v.sku in wanted
                    ],
                    published_at=_now().isoformat(),
                ),
                entry,
            )
            if live is None:
                summary.created += 1
            else:
                summary.updated += 1
        except (MappingError, SkuHeldElsewhere, SiblingError) as exc:
            if isinstance(exc, SiblingError) and not _permanent(exc):
                raise
            summary.failed += 1
            summary.failures.append(
                Failure(shop=shop, instance=instance, erp_product_id=product.id, error=str(exc))
            )

    async def _live(self, shop: str, entry: CatalogEntry | None, handle: str) -> LiveProduct | None:
        if entry is not None:
            live = await self.shopify.by_id(shop, entry.product_id)
            if live is not None:
                return live
        return await self.shopify.by_handle(shop, handle)

    async def _check_skus(self, shop: str, skus: Sequence[str]) -> None:
        for sku in skus:
            held = await self.shopify.variants_by_sku(shop, sku)
            if held.items:
                raise SkuHeldElsewhere(
                    f"SKU {sku!r} is already on Shopify product {held.items[0].product_id} "
                    f"({held.items[0].product_handle!r}), which Strata did not publish"
                )

    async def _archive_missing(
        self, job: Publication, shop: str, instance: str, seen: set[str]
    ) -> None:
        for mapped_instance, erp_id in await self.map.products(shop):
            if mapped_instance != instance or erp_id in seen:
                continue
            entry = await self.map.entry(shop, instance, erp_id)
            if entry is None or entry.status == "ARCHIVED":
                continue
            if not job.dry_run:
                await self.shopify.archive(shop, entry.product_id, f"gone-{job.id}")
                await self.map.record(msgspec.structs.replace(entry, status="ARCHIVED"), entry)
            job.summary.archived += 1

    # -- records and the lock -------------------------------------------------------------------

    async def _save(self, job: Publication) -> None:
        await self.redis.set(
            f"{self.prefix}:publication:{job.id}", msgspec.json.encode(job), ex=7 * 86_400
        )

    async def _lock(self) -> str:
        token = uuid.uuid4().hex
        taken = await self.redis.set(
            f"{self.prefix}:lock", token, nx=True, ex=self.settings.lock_seconds
        )
        if not taken:
            raise PublisherBusy("a catalog publication is already running")
        return token

    async def _renew(self, token: str) -> None:
        key = f"{self.prefix}:lock"
        if _text(await self.redis.get(key)) != token:
            raise PublisherBusy("the publisher's lock lapsed and another run took it")
        await self.redis.expire(key, self.settings.lock_seconds)

    async def _unlock(self, token: str) -> None:
        key = f"{self.prefix}:lock"
        if _text(await self.redis.get(key)) == token:
            await self.redis.delete(key)


def _permanent(exc: SiblingError) -> bool:
    """A refusal (Shopify's userErrors, a bad request) fails the product, not the run."""
    return isinstance(exc, SiblingRejected)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
