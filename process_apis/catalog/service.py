"""Catalog publication: ERP products to every shop, by delta with a content hash.

One run: for each ERP instance feeding the chosen shops, read the products changed since
the earliest watermark of those shops less ``overlap_seconds`` (everything for sale with
``full``); for each product and shop, map it (:mod:`process_apis.catalog.mapping`), skip it
when the hash of what Strata manages equals the one last published, else read the product
from Shopify, merge, and ``productSet`` it; a product no longer for sale is archived, never
deleted. The mapping (:mod:`shared.catalog_map`) is written after Shopify accepted the
product.

A product Shopify already holds by SKU but Strata never published (a shop that sold before
Strata) is adopted: its ids go into the mapping and it is updated in place, keeping its
handle and whatever Strata does not manage. SKUs spread over several Shopify products are
an exception for a person to settle. A product that fails alone (a price missing in the
shop's currency, Shopify's ``userErrors``) becomes an exception record
(:mod:`process_apis.catalog.exceptions`) and the run goes on; a later run or a replay that
publishes it resolves the record.

A product Strata creates or adopts is published to the shop's sales channels (the shop's
``publications`` setting, the Online Store unless told otherwise), each channel once: what was
published is recorded per shop and product (``<prefix>:channels:<shop>``), so a merchant who
takes a product off a channel is not overruled, and a channel added to the settings reaches
every product the next time it is published or found unchanged.

A full run with ``mode="bulk"`` back-fills through one Shopify bulk operation per shop
instead (:mod:`process_apis.catalog.backfill`); what Shopify already holds still goes the
delta way.

Delivery: at least once per product and shop. A publisher that dies mid-run leaves the
watermark where it was, so the next run reads the same products again; those already
published are skipped by their hash, and one caught between Shopify's answer and the mapping
write is found again by its handle (or, adopted, by its SKUs) and updated in place (no
second product, the same variant ids). One run at a time holds the publisher's lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable, Mapping

import msgspec

from process_apis.catalog.backfill import BulkBackfill, FinishWatch, finish_streams
from process_apis.catalog.clients import ProductFeed, ShopifyProducts
from process_apis.catalog.clients import product_refused as _product_refused
from process_apis.catalog.exceptions import ExceptionStore
from process_apis.catalog.mapping import (
    DesiredProduct,
    MappingError,
    PriceMissing,
    desired_product,
    digest,
    merge,
)
from process_apis.catalog.schemas import (
    CatalogException,
    ExceptionKind,
    Failure,
    LiveProduct,
    Publication,
    PublicationMode,
)
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
    """A SKU Strata would publish is Strata's for another ERP product, or the product's SKUs
    are on several Shopify products."""


class NotReplayable(Exception):
    """The exception's shop or ERP instance is no longer configured as it was."""


#: Failures listed in a run's summary; every one of them is in the exception queue.
FAILURES_LISTED = 100
#: Products per call publishing them to sales channels (Shopify's array input limit).
PUBLISH_BATCH = 250


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CatalogService:
    """Publication runs, their records and the watermarks (stores come in here)."""

    def __init__(
        self,
        settings: CatalogSettings,
        redis: RedisClient,
        erps: Mapping[str, ProductFeed],
        shopify: ShopifyProducts,
        catalog_map: CatalogMap | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.erps = erps
        self.shopify = shopify
        self.map = catalog_map or CatalogMap(redis, settings.key_prefix)
        self.prefix = settings.key_prefix
        self.exceptions = ExceptionStore(redis, settings.key_prefix)
        self.failures_listed = FAILURES_LISTED
        self.backfill = BulkBackfill(
            self,
            FinishWatch(
                redis,
                finish_streams(settings.webhook_stream_prefix, settings.webhook_stream_shards),
            ),
        )
        self._tasks: set[asyncio.Task[Publication]] = set()

    # -- runs -------------------------------------------------------------------------------

    def shops(self, shop: str | None) -> dict[str, ShopCatalog]:
        if shop is None:
            return dict(self.settings.shops)
        if shop not in self.settings.shops:
            raise MappingError("shop", f"{shop} is not a configured shop")
        return {shop: self.settings.shops[shop]}

    async def start(
        self, shop: str | None, *, full: bool, dry_run: bool, mode: PublicationMode = "delta"
    ) -> Publication:
        """Start a run in the background and return its record (``running``)."""
        self.shops(shop)
        _check_mode(mode, full)
        job = Publication(
            id=uuid.uuid4().hex,
            status="running",
            shop=shop,
            full=full,
            dry_run=dry_run,
            started_at=_now().isoformat(),
            mode=mode,
        )
        token = await self._lock()
        await self.save(job)
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
        mode: PublicationMode = "delta",
    ) -> Publication:
        """Run a publication now and return its finished record."""
        self.shops(shop)
        _check_mode(mode, full)
        job = Publication(
            id=uuid.uuid4().hex,
            status="running",
            shop=shop,
            full=full,
            dry_run=dry_run,
            started_at=_now().isoformat(),
            mode=mode,
        )
        token = await self._lock()
        return await self._run_locked(job, token, progress)

    async def publication(self, job_id: str) -> Publication | None:
        raw = await self.redis.get(f"{self.prefix}:publication:{job_id}")
        return None if raw is None else msgspec.json.decode(raw, type=Publication)

    async def watermark(self, instance: str, shop: str) -> dt.datetime | None:
        """When the last run that published ``instance``'s products to ``shop`` started."""
        raw = await self.redis.get(self._watermark_key(instance, shop))
        return None if raw is None else dt.datetime.fromisoformat(_text(raw))

    def _watermark_key(self, instance: str, shop: str) -> str:
        # Per shop: a run for one shop must not move on the others fed by the same instance.
        return f"{self.prefix}:watermark:{instance}:{shop}"

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
            await self.save(job)
            await self._unlock(token)
        return job

    async def _run(self, job: Publication, token: str, progress: Progress | None) -> None:
        shops = self.shops(job.shop)
        feeds: list[tuple[str, dict[str, ShopCatalog], dt.datetime, list[Product]]] = []
        # Each instance's change feed is read whole first: the run then knows its size (the
        # progress bar's total) and publishes from one reading of the ERP.
        for instance in sorted({s.instance for s in shops.values()}):
            fed = {name: s for name, s in shops.items() if s.instance == instance}
            started = _now()
            since = None if job.full else await self._since(instance, fed)
            products: list[Product] = []
            async for product in self.erps[instance].changed_since(since):
                products.append(product)
                if len(products) % 50 == 0:
                    await self.renew(token)
            job.total += len(products) * len(fed)
            feeds.append((instance, fed, started, products))
        await self.save(job)
        if progress is not None:
            progress(job)
        for instance, fed, started, products in feeds:
            if job.mode == "bulk":
                await self.backfill.run(job, token, instance, fed, products, progress)
            for product in products if job.mode == "delta" else ():
                for shop, catalog in fed.items():
                    await self.publish_one(job, shop, catalog, instance, product)
                    job.processed += 1
                await self.renew(token)
                await self.save(job)
                if progress is not None:
                    progress(job)
            if job.full:
                seen = {p.id for p in products}
                for shop in fed:
                    await self._archive_missing(job, shop, instance, seen)
            if not job.dry_run:
                for shop in fed:
                    await self.redis.set(self._watermark_key(instance, shop), started.isoformat())

    async def _since(self, instance: str, fed: Mapping[str, ShopCatalog]) -> dt.datetime | None:
        """Where a delta run reads the instance from: the earliest watermark of the shops it
        feeds, less the overlap; None (everything) while one of them has none."""
        marks = [await self.watermark(instance, shop) for shop in fed]
        if not marks or any(m is None for m in marks):
            return None
        earliest = min(m for m in marks if m is not None)
        return earliest - dt.timedelta(seconds=self.settings.overlap_seconds)

    # -- one product in one shop ---------------------------------------------------------------

    async def publish_one(
        self, job: Publication, shop: str, catalog: ShopCatalog, instance: str, product: Product
    ) -> None:
        """Publish, archive or skip ``product`` in ``shop``; a failure of this product alone
        (mapping, Shopify's refusal) becomes an exception record and the run goes on."""
        try:
            await self._publish(job, shop, catalog, instance, product)
        except (MappingError, SkuHeldElsewhere, SiblingRejected) as exc:
            if isinstance(exc, SiblingRejected) and not _product_refused(exc):
                raise
            await self.fail(job, shop, instance, product, exc)
            return
        if not job.dry_run:
            await self.exceptions.resolve(shop, instance, product.id, job.id)

    async def _publish(
        self, job: Publication, shop: str, catalog: ShopCatalog, instance: str, product: Product
    ) -> None:
        summary = job.summary
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
                await self.shopify.archive(shop, entry.product_id, job.id)
                await self.map.record(msgspec.structs.replace(entry, status="ARCHIVED"), entry)
            summary.archived += 1
            return
        hashed = digest(desired)
        if entry is not None and entry.digest == hashed and entry.status == "ACTIVE":
            summary.unchanged += 1
            # A run that died between productSet and the publication publishes it now.
            await self.publish_to_channels(job, shop, catalog, [entry.product_id])
            return
        live = await self._live(shop, entry, desired.handle)
        adopted = False
        if live is None:
            live = await self._adoptable(shop, instance, product.id, desired)
            adopted = live is not None
        owned = {v.sku for v in entry.variants} if entry else set()
        body = merge(desired, live, owned)
        if live is not None and live.status == "ARCHIVED":
            body["status"] = "ACTIVE"
        if job.dry_run:
            summary.created += live is None
            summary.updated += live is not None
            summary.adopted += adopted
            summary.published += bool(catalog.publications) and (live is None or adopted)
            return
        published = await self.shopify.set(shop, body, job.id)
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
        summary.created += live is None
        summary.updated += live is not None
        summary.adopted += adopted
        await self.publish_to_channels(job, shop, catalog, [published.id])

    async def publish_to_channels(
        self, job: Publication, shop: str, catalog: ShopCatalog, product_ids: list[int]
    ) -> None:
        """Publish Strata's products to the shop's sales channels (``catalog.publications``),
        each product to each publication once: what was published is recorded per shop and
        product, so a merchant who later takes a product off a channel is not overruled, and
        a publication added to the settings reaches every product on its next publication.
        SiblingRejected as the Shopify system API refuses (a publication the shop lacks)."""
        if not catalog.publications or not product_ids or job.dry_run:
            return
        key = self._channels_key(shop)
        recorded = await self.redis.hmget(key, [str(p) for p in product_ids])
        missing: dict[tuple[str, ...], list[int]] = {}
        for product_id, raw in zip(product_ids, recorded, strict=True):
            wanted = tuple(p for p in catalog.publications if p not in _names(raw))
            if wanted:
                missing.setdefault(wanted, []).append(product_id)
        for names, ids in missing.items():
            for start in range(0, len(ids), PUBLISH_BATCH):
                batch = ids[start : start + PUBLISH_BATCH]
                await self.shopify.publish(shop, batch, list(names), job.id)
                # Read again: only this run writes here (it holds the publisher's lock).
                current = await self.redis.hmget(key, [str(p) for p in batch])
                await self.redis.hset(
                    key,
                    mapping={
                        str(product_id): msgspec.json.encode(sorted(_names(raw) | set(names)))
                        for product_id, raw in zip(batch, current, strict=True)
                    },
                )
                job.summary.published += len(batch)

    def _channels_key(self, shop: str) -> str:
        return f"{self.prefix}:channels:{shop}"

    async def fail(
        self,
        job: Publication,
        shop: str,
        instance: str,
        product: Product,
        exc: MappingError | SkuHeldElsewhere | SiblingRejected,
    ) -> None:
        kind: ExceptionKind
        field: str | None = None
        if isinstance(exc, PriceMissing):
            kind, field, error = "price-missing-for-currency", exc.field, str(exc)
        elif isinstance(exc, MappingError):
            kind, field, error = "mapping", exc.field, str(exc)
        elif isinstance(exc, SkuHeldElsewhere):
            kind, error = "sku-held-elsewhere", str(exc)
        else:
            kind, error = "rejected", _refusal(exc)
            field = _refused_field(exc)
        record_id = None
        if not job.dry_run:
            record = await self.exceptions.open(
                shop=shop,
                instance=instance,
                erp_product_id=product.id,
                skus=[v.sku for v in product.variants],
                kind=kind,
                error=error,
                field=field,
                publication_id=job.id,
            )
            record_id = record.id
        job.summary.failed += 1
        if len(job.summary.failures) < FAILURES_LISTED:
            job.summary.failures.append(
                Failure(
                    shop=shop,
                    instance=instance,
                    erp_product_id=product.id,
                    error=error,
                    exception_id=record_id,
                )
            )

    async def _live(self, shop: str, entry: CatalogEntry | None, handle: str) -> LiveProduct | None:
        if entry is not None:
            live = await self.shopify.by_id(shop, entry.product_id)
            if live is not None:
                return live
        return await self.shopify.by_handle(shop, handle)

    async def _adoptable(
        self, shop: str, instance: str, erp_product_id: str, desired: DesiredProduct
    ) -> LiveProduct | None:
        """The one Shopify product already holding this product's SKUs, to take over in
        place (a shop that sold these SKUs before Strata); None when no product holds any.

        SkuHeldElsewhere when a SKU is Strata's for another ERP product, or when the SKUs
        are spread over several Shopify products (a person decides which one stays).
        """
        holders: dict[int, str] = {}
        for variant in desired.variants:
            mapped = await self.map.variant(shop, variant.sku)
            if mapped is not None and (mapped.instance, mapped.erp_product_id) != (
                instance,
                erp_product_id,
            ):
                raise SkuHeldElsewhere(
                    f"SKU {variant.sku!r} is published for ERP product "
                    f"{mapped.instance}:{mapped.erp_product_id} (Shopify product "
                    f"{mapped.product_id})"
                )
            held = await self.shopify.variants_by_sku(shop, variant.sku)
            for ref in held.items:
                holders[ref.product_id] = ref.product_handle
        if not holders:
            return None
        if len(holders) > 1:
            found = ", ".join(f"{pid} ({handle!r})" for pid, handle in sorted(holders.items()))
            raise SkuHeldElsewhere(
                f"the product's SKUs are on {len(holders)} Shopify products ({found}); "
                "Strata adopts one Shopify product per ERP product: merge them in Shopify, "
                "then replay"
            )
        [product_id] = holders
        return await self.shopify.by_id(shop, product_id)

    # -- replay --------------------------------------------------------------------------------

    async def replay(self, exception_id: str) -> CatalogException:
        """Publish the exception's product to its shop again, now, and return the record:
        ``resolved`` if it went through (or was archived), else open with one more attempt.

        LookupError if there is no such record; NotReplayable if its shop is no longer fed
        from its ERP instance; PublisherBusy while a run holds the lock.
        """
        record = await self.exceptions.get(exception_id)
        if record is None:
            raise LookupError(exception_id)
        catalog = self.settings.shops.get(record.shop)
        if catalog is None or catalog.instance != record.instance:
            raise NotReplayable(
                f"{record.shop} is no longer fed from ERP instance {record.instance}"
            )
        erp = self.erps.get(record.instance)
        if erp is None:
            raise NotReplayable(f"ERP instance {record.instance} is no longer configured")
        job = Publication(
            id=uuid.uuid4().hex,
            status="running",
            shop=record.shop,
            full=False,
            dry_run=False,
            started_at=_now().isoformat(),
            replay_of=record.id,
        )
        token = await self._lock()
        try:
            await self.save(job)
            product = await self._erp_product(erp, record)
            await self.publish_one(job, record.shop, catalog, record.instance, product)
            job.processed = 1
            job.status = "succeeded"
        except SiblingError as exc:
            job.status, job.error = "failed", str(exc)
            raise
        finally:
            job.finished_at = _now().isoformat()
            await self.save(job)
            await self._unlock(token)
        after = await self.exceptions.get(record.id)
        return after or record

    async def _erp_product(self, erp: ProductFeed, record: CatalogException) -> Product:
        """The ERP product as it is now; one no longer for sale comes back inactive (so a
        published one is archived)."""
        for sku in record.skus:
            product = await erp.by_sku(sku)
            if product is not None and product.id == record.erp_product_id:
                return product
        return Product(id=record.erp_product_id, name="", variants=[], active=False)

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
                await self.shopify.archive(shop, entry.product_id, job.id)
                await self.map.record(msgspec.structs.replace(entry, status="ARCHIVED"), entry)
            job.summary.archived += 1

    # -- records and the lock -------------------------------------------------------------------

    async def save(self, job: Publication) -> None:
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

    async def renew(self, token: str) -> None:
        key = f"{self.prefix}:lock"
        holder = await self.redis.get(key)
        if holder is None:
            # Lapsed (a product slower than the lock) and nobody took it: take it again.
            if await self.redis.set(key, token, nx=True, ex=self.settings.lock_seconds):
                return
            holder = await self.redis.get(key)
        if _text(holder) != token:
            raise PublisherBusy("the publisher's lock lapsed and another run took it")
        await self.redis.expire(key, self.settings.lock_seconds)

    async def _unlock(self, token: str) -> None:
        key = f"{self.prefix}:lock"
        if _text(await self.redis.get(key)) == token:
            await self.redis.delete(key)


def _check_mode(mode: PublicationMode, full: bool) -> None:
    if mode == "bulk" and not full:
        raise MappingError("mode", "a bulk publication is a full back-fill: ask for full too")


def _refusal(exc: SiblingRejected) -> str:
    """Shopify's words: the problem's detail and each error's field and message."""
    problem = exc.problem
    parts = [problem.detail or problem.title or str(exc)]
    for error in problem.errors or []:
        where = _field_path(error.get("field") or error.get("pointer"))
        message = error.get("message") or error.get("detail") or ""
        parts.append(f"{where}: {message}" if where else str(message))
    return "; ".join(p for p in parts if p)


def _refused_field(exc: SiblingRejected) -> str | None:
    for error in exc.problem.errors or []:
        where = _field_path(error.get("field"))
        if where:
            return where
    return None


def _field_path(where: object) -> str | None:
    """Shopify's field path (``["input", "variants", "4"]``) as ``input.variants.4``."""
    if not where:
        return None
    return ".".join(str(p) for p in where) if isinstance(where, list) else str(where)


def _names(raw: bytes | str | None) -> set[str]:
    """The publications a product was published to, as recorded (none when unrecorded)."""
    return set() if raw is None else set(msgspec.json.decode(raw, type=list[str]))


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
