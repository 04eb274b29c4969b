"""Publication to the shops' sales channels: a product Strata creates or adopts is published
to the shop's publications once, a dry run publishes nothing, a refusal is a product's
exception that a later run puts right. The service runs on a real Redis; the ERP feed and
the Shopify system API are in-memory stand-ins (the integration tests use the real ones)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import pytest

from process_apis.catalog.schemas import (
    LiveOption,
    LiveOptionValue,
    LiveProduct,
    LivePublication,
    LivePublished,
    LiveVariant,
    LiveVariantList,
    LiveVariantRef,
)
from process_apis.catalog.service import CatalogService
from process_apis.catalog.settings import CatalogSettings, ShopCatalog
from shared.models import Money, Product, Variant
from shared.sibling import SiblingProblem, SiblingRejected
from shared.telemetry.redis import service_redis

SHOP = "demo-eu.myshopify.com"


def product(erp_id: str, sku: str, price: str = "12.00") -> Product:
    amount = Money(amount=Decimal(price), currency="EUR")
    return Product(
        id=erp_id,
        name=f"Product {erp_id}",
        variants=[Variant(sku=sku, name=sku, price=amount, prices=[amount])],
    )


class Feed:
    def __init__(self, *products: Product) -> None:
        self.products = list(products)

    async def changed_since(self, since: dt.datetime | None) -> AsyncIterator[Product]:
        for item in self.products:
            yield item

    async def by_sku(self, sku: str) -> Product | None:
        return next((p for p in self.products if any(v.sku == sku for v in p.variants)), None)


class Shopify:
    """The Shopify system API's product and publication routes, in memory."""

    def __init__(self) -> None:
        self.ids = itertools.count(8_100)
        self.products: dict[int, LiveProduct] = {}
        self.publications = {"Online Store": 79_001, "Point of Sale": 79_002}
        self.published: dict[int, set[str]] = {}
        self.publish_calls: list[tuple[list[int], list[str]]] = []
        self.refuse: str | None = None

    def add(self, handle: str, sku: str) -> LiveProduct:
        """A product the merchant made before Strata."""
        live = LiveProduct(
            id=next(self.ids),
            handle=handle,
            status="ACTIVE",
            options=[LiveOption(name="Title", values=["Default Title"])],
            variants=[
                LiveVariant(
                    id=next(self.ids),
                    sku=sku,
                    options=[LiveOptionValue(name="Title", value="Default Title")],
                )
            ],
        )
        self.products[live.id] = live
        return live

    async def by_id(self, shop: str, product_id: int) -> LiveProduct | None:
        return self.products.get(product_id)

    async def by_handle(self, shop: str, handle: str) -> LiveProduct | None:
        return next((p for p in self.products.values() if p.handle == handle), None)

    async def variants_by_sku(self, shop: str, sku: str) -> LiveVariantList:
        return LiveVariantList(
            items=[
                LiveVariantRef(id=v.id, sku=v.sku, product_id=p.id, product_handle=p.handle)
                for p in self.products.values()
                for v in p.variants
                if v.sku == sku
            ]
        )

    async def set(self, shop: str, body: dict[str, object], run: str) -> LiveProduct:
        raw = msgspec.json.decode(msgspec.json.encode(body))
        product_id = raw.get("product_id") or next(self.ids)
        variants = [
            LiveVariant(
                id=v.get("id") or next(self.ids),
                sku=v.get("sku"),
                options=[LiveOptionValue(**o) for o in v["options"]],
            )
            for v in raw["variants"]
        ]
        live = LiveProduct(
            id=product_id,
            handle=raw["handle"],
            status="ACTIVE",
            options=[LiveOption(**o) for o in raw["options"]],
            variants=variants,
        )
        self.products[product_id] = live
        return live

    async def archive(self, shop: str, product_id: int, run: str) -> LiveProduct:
        live = msgspec.structs.replace(self.products[product_id], status="ARCHIVED")
        self.products[product_id] = live
        return live

    async def publish(
        self, shop: str, product_ids: list[int], publications: list[str], run: str
    ) -> LivePublished:
        self.publish_calls.append((list(product_ids), list(publications)))
        if self.refuse in publications:
            raise SiblingRejected(
                "shopify",
                "answered 422",
                sibling_status=422,
                problem=SiblingProblem(
                    title="Shopify refused the change",
                    detail=f"the shop has no publication named {self.refuse!r}",
                    errors=[{"field": "publications", "message": "no such publication"}],
                ),
            )
        for product_id in product_ids:
            self.published.setdefault(product_id, set()).update(publications)
        return LivePublished(
            publications=[LivePublication(id=self.publications[n], name=n) for n in publications],
            product_ids=list(product_ids),
        )


class World:
    def __init__(self, redis_url: str) -> None:
        self.redis = service_redis(redis_url)
        self.shopify = Shopify()
        self.feed = Feed(product("1", "TOTE-NAT"), product("2", "MUG-STONE-350"))
        self.prefix = f"test:channels:{uuid.uuid4().hex[:8]}"

    def service(self, publications: list[str] | None = None) -> CatalogService:
        catalog = (
            ShopCatalog(instance="eu", currency="EUR")
            if publications is None
            else ShopCatalog(instance="eu", currency="EUR", publications=publications)
        )
        settings = CatalogSettings(shops={SHOP: catalog}, key_prefix=self.prefix)
        return CatalogService(settings, self.redis, {"eu": self.feed}, self.shopify)  # type: ignore[arg-type]


@pytest.fixture
async def world(redis_url: str) -> AsyncIterator[World]:
    made = World(redis_url)
    try:
        yield made
    finally:
        await made.redis.aclose()


async def test_created_and_adopted_products_are_published_to_the_online_store_once(
    world: World,
) -> None:
    # The shop sold the mug before Strata.
    legacy = world.shopify.add("stone-mug", "MUG-STONE-350")
    service = world.service()
    assert service.settings.shops[SHOP].publications == ["Online Store"]

    run = await service.publish(full=True)

    assert run.status == "succeeded", run.error
    assert (run.summary.created, run.summary.adopted, run.summary.failed) == (1, 1, 0)
    assert run.summary.published == 2
    created = next(p for p in world.shopify.products if p != legacy.id)
    assert world.shopify.published == {
        created: {"Online Store"},
        legacy.id: {"Online Store"},
    }
    calls = len(world.shopify.publish_calls)

    # Nothing changed: nothing published again, even after the merchant took one off.
    world.shopify.published[created].clear()
    again = await service.publish(full=True)
    assert again.summary.unchanged == 2
    assert again.summary.published == 0
    assert len(world.shopify.publish_calls) == calls
    assert world.shopify.published[created] == set()

    # A channel added to the settings reaches every product, and only that channel.
    wider = world.service(["Online Store", "Point of Sale"])
    third = await wider.publish(full=True)
    assert third.summary.published == 2
    later = world.shopify.publish_calls[calls:]
    assert sorted(i for ids, _ in later for i in ids) == sorted([created, legacy.id])
    assert all(names == ["Point of Sale"] for _, names in world.shopify.publish_calls[calls:])
    assert world.shopify.published[legacy.id] == {"Online Store", "Point of Sale"}


async def test_dry_run_and_no_channels_publish_nothing(world: World) -> None:
    dry = await world.service().publish(full=True, dry_run=True)
    assert dry.summary.published == 2
    assert world.shopify.publish_calls == []

    none = await world.service([]).publish(full=True)
    assert none.summary.created == 2
    assert none.summary.published == 0
    assert world.shopify.publish_calls == []


async def test_a_refused_publication_is_an_exception_a_later_run_puts_right(
    world: World,
) -> None:
    world.shopify.refuse = "Online Shop"
    typo = world.service(["Online Shop"])

    run = await typo.publish(full=True)

    assert run.status == "succeeded", run.error
    assert (run.summary.created, run.summary.failed) == (2, 2)
    records, total = await typo.exceptions.page(state="open", shop=SHOP, offset=0, limit=10)
    assert total == 2
    assert {r.kind for r in records} == {"rejected"}
    assert all("no publication named 'Online Shop'" in r.error for r in records)

    # Settings put right: the products (unchanged) are published and the records resolved.
    fixed = world.service()
    again = await fixed.publish(full=True)
    assert (again.summary.unchanged, again.summary.published, again.summary.failed) == (2, 2, 0)
    assert all(names == {"Online Store"} for names in world.shopify.published.values())
    _, still_open = await fixed.exceptions.page(state="open", shop=SHOP, offset=0, limit=10)
    assert still_open == 0
