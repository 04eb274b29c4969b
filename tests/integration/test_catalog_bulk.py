"""A full back-fill through Shopify's bulk operations: the catalog service's bulk path, the
real Shopify system API (staged upload, bulk run, result file), the Shopify sandbox running
the JSONL line by line, and a real Redis for the mapping and the exception queue.

The ERP side is not the point here: the catalog is generated canonical products fed through
the service's product feed seam (:class:`process_apis.catalog.clients.ProductFeed`); the
Tryton path is covered by ``test_catalog_publication``. Three products are ones Shopify
refuses (two option names that differ only in case), so their lines fail in the result file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest

from process_apis.catalog.backfill import FinishWatch
from process_apis.catalog.clients import ShopifyProducts
from process_apis.catalog.service import CatalogService
from process_apis.catalog.settings import CatalogSettings, ShopCatalog
from sandbox.shopify.settings import DEFAULT_SHOPS
from shared.models import Money, Product, Variant
from shared.models.catalog import VariantOption
from shared.streams import WebhookEvent, WebhookStreams, encode_entry
from shared.telemetry.redis import service_redis
from system_apis.shopify.app import create_app as create_shopify_app
from system_apis.shopify.settings import ShopConfig, ShopifySettings
from tests.support.processes import RedisServer, child_env, free_port, wait_for_port
from tests.support.tokens import TokenMint
from tests.unit.service_desk.stand_ins import serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EU = "demo-eu.myshopify.com"
TOKEN = "shpat_sandbox_token"
VARIANTS = 1000
BAD = {17, 480, 999}


def generated_product(n: int) -> Product:
    """One single-variant product; a bad one names its options ``Size`` and ``size``."""
    options = [VariantOption(name="Size", value="M")]
    if n in BAD:
        options.append(VariantOption(name="size", value="M"))
    return Product(
        id=str(10_000 + n),
        name=f"Generated tee {n}",
        updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        variants=[
            Variant(
                sku=f"GEN-{n:05d}",
                name=f"Generated tee {n} M",
                price=Money(amount=Decimal("12.50") + n, currency="EUR"),
                options=options,
                weight_grams=Decimal(180),
            )
        ],
    )


class GeneratedCatalogue:
    """The product feed of one ERP instance, from generated products."""

    def __init__(self, products: list[Product]) -> None:
        self.products = products

    async def changed_since(self, since: dt.datetime | None) -> AsyncIterator[Product]:
        for product in self.products:
            yield product

    async def by_sku(self, sku: str) -> Product | None:
        return next((p for p in self.products if any(v.sku == sku for v in p.variants)), None)


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "sandbox.shopify.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ],
        env=child_env(
            STRATA_SANDBOX_SHOPS=msgspec.json.encode(DEFAULT_SHOPS).decode(),
            STRATA_SANDBOX_DEMO_PRODUCTS="[]",
            # Ten times the default pace: the 1,000 lines take about a second.
            STRATA_SANDBOX_BULK_OBJECTS_PER_SECOND="1000",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def shopify_url(sandbox_url: str, redis_server: RedisServer, token_mint: TokenMint) -> Any:
    settings = ShopifySettings(
        shops={EU: ShopConfig(secret="unused", access_token=TOKEN)},
        redis_url=redis_server.url,
        admin_url=sandbox_url + "/shops/{shop}/admin/api/{version}/graphql.json",
    )
    with serving(create_shopify_app(settings, auth=token_mint.settings())) as url:
        yield url


class World:
    def __init__(
        self, service: CatalogService, shopify: httpx.AsyncClient, sandbox: httpx.AsyncClient
    ) -> None:
        self.service = service
        self.shopify = shopify
        self.sandbox = sandbox


@pytest.fixture
async def world(
    shopify_url: str, sandbox_url: str, redis_server: RedisServer, token_mint: TokenMint
) -> AsyncIterator[World]:
    settings = CatalogSettings(
        redis_url=redis_server.url,
        erp_instances={},
        shopify_url=shopify_url,
        shops={EU: ShopCatalog(instance="eu", currency="EUR")},
        key_prefix=f"test:catalog-bulk:{uuid.uuid4().hex[:8]}",
        bulk_late_seconds=0.5,
    )
    token = token_mint.token("shopify:read", "shopify:write", client_id="catalog", ttl=3600)
    headers = {"Authorization": f"Bearer {token}"}
    shopify = httpx.AsyncClient(base_url=shopify_url, headers=headers, timeout=30)
    sandbox = httpx.AsyncClient(base_url=sandbox_url + "/_sandbox", timeout=30)
    redis = service_redis(redis_server.url)
    feed = GeneratedCatalogue([generated_product(n) for n in range(VARIANTS)])
    service = CatalogService(settings, redis, {"eu": feed}, ShopifyProducts(shopify))
    try:
        yield World(service, shopify, sandbox)
    finally:
        await service.aclose()
        await shopify.aclose()
        await sandbox.aclose()
        await redis.aclose()


async def test_backfill_of_1000_variants_with_3_bad_lines(world: World) -> None:
    run = await world.service.publish(shop=EU, full=True, mode="bulk")

    assert run.status == "succeeded", run.error
    assert (run.summary.created, run.summary.failed) == (VARIANTS - len(BAD), len(BAD))
    assert (run.summary.updated, run.summary.unchanged) == (0, 0)
    assert run.processed == run.total == VARIANTS
    [bulk] = run.bulk
    assert (bulk.shop, bulk.status, bulk.lines) == (EU, "COMPLETED", VARIANTS)
    assert (bulk.published, bulk.failed) == (VARIANTS - len(BAD), len(BAD))
    assert bulk.finished_by == "poll"  # the ingress does not take bulk_operations/finish yet

    # One bulk operation on the shop, no productSet call of its own.
    operations = (await world.sandbox.get(f"/shops/{EU}/bulk-operations")).json()
    assert [(op["status"], op["lines"], op["objectCount"]) for op in operations] == [
        ("COMPLETED", VARIANTS, str(VARIANTS))
    ]

    # Every good product is mapped to what Shopify made, by SKU.
    for n in (0, 16, 18, 998):
        entry = await world.service.map.entry(EU, "eu", str(10_000 + n))
        assert entry is not None
        assert entry.status == "ACTIVE"
        [ref] = entry.variants
        assert ref.sku == f"GEN-{n:05d}"
        assert ref.inventory_item_id
        product = (
            await world.shopify.get(f"/shopify/v1/shops/{EU}/products/{entry.product_id}")
        ).json()
        assert [(v["id"], v["sku"], v["price"]) for v in product["variants"]] == [
            (ref.variant_id, f"GEN-{n:05d}", f"{Decimal('12.50') + n:.2f}")
        ]
    # The bad ones are exceptions with the product and Shopify's words; nothing in Shopify.
    records, total = await world.service.exceptions.page(state="open", shop=EU, offset=0, limit=10)
    assert total == len(BAD)
    assert sorted(r.erp_product_id for r in records) == sorted(str(10_000 + n) for n in BAD)
    for record in records:
        assert record.kind == "rejected"
        assert record.field == "input.productOptions.1.name"
        assert "Duplicated option name 'size'" in record.error
        assert await world.service.map.entry(EU, "eu", record.erp_product_id) is None
        assert record.skus == [f"GEN-{int(record.erp_product_id) - 10_000:05d}"]
    held = await world.shopify.get(f"/shopify/v1/shops/{EU}/variants", params={"sku": "GEN-00017"})
    assert held.json()["items"] == []

    # Again: the published ones are mapped and unchanged (skipped by their hash); only the
    # three bad ones, still new to the shop, make a bulk operation (refused again, and their
    # exceptions record a second attempt).
    again = await world.service.publish(shop=EU, full=True, mode="bulk")
    assert (again.summary.unchanged, again.summary.failed) == (VARIANTS - len(BAD), len(BAD))
    [rerun] = again.bulk
    assert (rerun.lines, rerun.published, rerun.failed) == (len(BAD), 0, len(BAD))
    assert len((await world.sandbox.get(f"/shops/{EU}/bulk-operations")).json()) == 2
    records, _ = await world.service.exceptions.page(state="open", shop=EU, offset=0, limit=10)
    assert {r.attempts for r in records} == {2}


async def test_bulk_needs_a_full_run(world: World) -> None:
    from process_apis.catalog.mapping import MappingError

    with pytest.raises(MappingError) as refused:
        await world.service.publish(shop=EU, mode="bulk")
    assert refused.value.field == "mode"


async def test_finish_watch_sees_the_operation_finish_on_the_stream(
    redis_server: RedisServer,
) -> None:
    redis = service_redis(redis_server.url)
    stream = WebhookStreams(f"test:webhooks:{uuid.uuid4().hex[:8]}").stream("catalog")
    watch = FinishWatch(redis, [stream])
    try:
        position = await watch.position()

        def finish(shop: str, operation: int) -> dict[str, str]:
            body = {
                "admin_graphql_api_id": f"gid://shopify/BulkOperation/{operation}",
                "status": "completed",
                "type": "mutation",
            }
            return encode_entry(
                WebhookEvent(topic="bulk_operations/finish", shop=shop, body=json.dumps(body))
            )

        async def later() -> None:
            await asyncio.sleep(0.1)
            await redis.xadd(stream, finish("other.myshopify.com", 7))  # another shop
            await redis.xadd(stream, finish(EU, 6))  # another operation
            await redis.xadd(stream, finish(EU, 7))

        writer = asyncio.create_task(later())
        assert await watch.wait(position, EU, 7, within=5.0)
        await writer
        assert not await watch.wait(position, EU, 8, within=0.2)
    finally:
        await redis.aclose()


async def test_system_api_answers_409_past_shopifys_bulk_limit(world: World) -> None:
    """Shopify (2026-01 on) runs five bulk mutations of an app on a shop at once: the sixth
    is a 409 naming Shopify's refusal; the result lines of a running one are a 409 too."""
    inputs = [
        {
            "handle": f"limit-tee-{n}",
            "title": f"Limit tee {n}",
            "options": [{"name": "Size", "values": ["M"]}],
            "variants": [{"sku": f"LIMIT-{n:05d}", "options": [{"name": "Size", "value": "M"}]}],
        }
        for n in range(1500)
    ]
    started = []
    for attempt in range(6):
        answer = await world.shopify.post(
            f"/shopify/v1/shops/{EU}/bulk/product-sets",
            json={"inputs": inputs},
            headers={"Idempotency-Key": f"limit-{uuid.uuid4()}"},
        )
        started.append(answer)
        if attempt < 5:
            assert answer.status_code == 202, answer.text
            assert answer.json()["status"] == "CREATED"
    refused = started[-1]
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/bulk-operation-running")
    assert problem["errors"][0]["code"] == "LIMIT_REACHED"

    first = started[0].json()["id"]
    running = await world.shopify.get(
        f"/shopify/v1/shops/{EU}/bulk/operations/{first}/product-sets"
    )
    assert running.status_code == 409
    assert running.json()["type"].endswith("/bulk-operation-not-finished")
    state = await world.shopify.get(f"/shopify/v1/shops/{EU}/bulk/operations/{first}")
    assert state.json()["status"] in ("CREATED", "RUNNING")
    missing = await world.shopify.get(f"/shopify/v1/shops/{EU}/bulk/operations/12345")
    assert missing.status_code == 404
