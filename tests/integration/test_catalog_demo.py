"""The demo's catalog publication end to end: the demo shops seeded as the stack seeds them
(every SKU of the ERPs' catalogue, the variants of one ERP product on one Shopify product),
two real Tryton instances with a price list per shop currency, the real ERP and Shopify
system APIs, the Shopify sandbox and a real Redis.

A third shop sells in USD from the ``eu`` ERP: its prices come from that ERP's USD price
list, never from a rate. A publication adopts every seeded product in place and ends with no
exception; each product then reaches its shop's sales channels, published once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest

from process_apis.catalog.clients import ErpProducts, ShopifyProducts
from process_apis.catalog.service import CatalogService
from process_apis.catalog.settings import CatalogSettings, ShopCatalog
from sandbox.shopify.settings import DEFAULT_SHOPS, LocationSpec, ShopSpec
from sandbox.tryton import TrytonServer
from sandbox.tryton.catalogue import DEMO_PRODUCTS
from sandbox.tryton.master_data import CURRENCIES
from shared.telemetry.redis import service_redis
from strata.stack import demo_products
from system_apis.shopify.app import create_app as create_shopify_app
from system_apis.shopify.settings import ShopConfig, ShopifySettings
from tests.integration.test_catalog_publication import erp_app_url
from tests.support.processes import RedisServer, child_env, free_port, wait_for_port
from tests.support.tokens import TokenMint
from tests.unit.service_desk.stand_ins import serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EU, US = "demo-eu.myshopify.com", "demo-us.myshopify.com"
EU_USD = "demo-eu-usd.myshopify.com"
TOKEN = "shpat_sandbox_token"
VERSION = "2026-10"
EU_USD_SHOP = ShopSpec(
    domain=EU_USD,
    currency="USD",
    country_code="IE",
    locations=(LocationSpec(name="Dublin warehouse", country_code="IE", city="Dublin"),),
)
PRICES = {v.sku: p.prices for p in DEMO_PRODUCTS for v in p.variants}
SHOPS = {
    EU: ShopCatalog(instance="eu", currency="EUR"),
    US: ShopCatalog(instance="us", currency="USD"),
    EU_USD: ShopCatalog(
        instance="eu", currency="USD", publications=["Online Store", "Point of Sale"]
    ),
}
PUBLICATIONS = "{ publications(first: 10) { nodes { id name } } }"
PUBLISHED_ON = """
query On($id: ID!, $pub: ID!) {
  product(id: $id) { publishedOnPublication(publicationId: $pub) }
}
"""


@pytest.fixture(scope="module")
def erp_urls(
    tryton_eu: TrytonServer,
    tryton_us: TrytonServer,
    redis_server: RedisServer,
    token_mint: TokenMint,
) -> Iterator[dict[str, str]]:
    with (
        erp_app_url(tryton_eu, "eu", redis_server.url, token_mint) as eu,
        erp_app_url(tryton_us, "us", redis_server.url, token_mint) as us,
    ):
        yield {"eu": eu, "us": us}


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    port = free_port()
    shops = msgspec.json.encode([*DEFAULT_SHOPS, EU_USD_SHOP]).decode()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "sandbox.shopify.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ],
        env=child_env(
            STRATA_SANDBOX_API_VERSION=VERSION,
            STRATA_SANDBOX_SHOPS=shops,
            # What `strata up` seeds the demo shops with.
            STRATA_SANDBOX_DEMO_PRODUCTS=json.dumps(demo_products()),
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
        shops={shop: ShopConfig(secret="unused", access_token=TOKEN) for shop in SHOPS},
        redis_url=redis_server.url,
        admin_url=sandbox_url + "/shops/{shop}/admin/api/{version}/graphql.json",
    )
    with serving(create_shopify_app(settings, auth=token_mint.settings())) as url:
        yield url


class World:
    def __init__(
        self,
        service: Callable[[dict[str, ShopCatalog]], CatalogService],
        shopify: httpx.AsyncClient,
        sandbox: httpx.AsyncClient,
    ) -> None:
        #: A catalog service for these shops, on the module's one publication history.
        self.service = service
        self.shopify = shopify
        self.sandbox = sandbox

    async def holders(self, shop: str, sku: str) -> list[dict[str, Any]]:
        response = await self.shopify.get(f"/shopify/v1/shops/{shop}/variants", params={"sku": sku})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def product(self, shop: str, product_id: int) -> dict[str, Any]:
        response = await self.shopify.get(f"/shopify/v1/shops/{shop}/products/{product_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def admin(self, shop: str, query: str, **variables: Any) -> dict[str, Any]:
        """Shopify's Admin GraphQL, as the merchant's admin reads it."""
        response = await self.sandbox.post(
            f"/shops/{shop}/admin/api/{VERSION}/graphql.json",
            json={"query": query, "variables": variables},
            headers={"X-Shopify-Access-Token": TOKEN},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def channels(self, shop: str, product_id: int) -> set[str]:
        """The publications the product is on."""
        nodes = (await self.admin(shop, PUBLICATIONS))["publications"]["nodes"]
        on = set()
        for node in nodes:
            data = await self.admin(
                shop, PUBLISHED_ON, id=f"gid://shopify/Product/{product_id}", pub=node["id"]
            )
            if data["product"]["publishedOnPublication"]:
                on.add(node["name"])
        return on


@pytest.fixture(scope="module")
def key_prefix() -> str:
    """One mapping and exception queue for the module's publication history."""
    return f"test:catalog-demo:{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def world(
    erp_urls: dict[str, str],
    shopify_url: str,
    sandbox_url: str,
    redis_server: RedisServer,
    token_mint: TokenMint,
    key_prefix: str,
) -> AsyncIterator[World]:
    token = token_mint.token(
        "erp:read", "shopify:read", "shopify:write", client_id="catalog", ttl=3600
    )
    headers = {"Authorization": f"Bearer {token}"}
    erps = {
        name: httpx.AsyncClient(base_url=url, headers=headers, timeout=30)
        for name, url in erp_urls.items()
    }
    shopify = httpx.AsyncClient(base_url=shopify_url, headers=headers, timeout=30)
    sandbox = httpx.AsyncClient(base_url=sandbox_url, timeout=30)
    redis = service_redis(redis_server.url)
    services: list[CatalogService] = []

    def service(shops: dict[str, ShopCatalog]) -> CatalogService:
        settings = CatalogSettings(
            redis_url=redis_server.url,
            erp_instances=erp_urls,
            shopify_url=shopify_url,
            shops=shops,
            key_prefix=key_prefix,
            service_token=token,
        )
        made = CatalogService(
            settings,
            redis,
            {name: ErpProducts(name, client) for name, client in erps.items()},
            ShopifyProducts(shopify),
        )
        services.append(made)
        return made

    try:
        yield World(service, shopify, sandbox)
    finally:
        for made in services:
            await made.aclose()
        for client in [*erps.values(), shopify, sandbox]:
            await client.aclose()
        await redis.aclose()


async def test_demo_publication_adopts_every_seeded_product_with_no_exception(
    world: World,
) -> None:
    # Before: the demo shops hold each ERP product on one Shopify product.
    for shop in SHOPS:
        for product in DEMO_PRODUCTS:
            held = {
                h["product_id"] for v in product.variants for h in await world.holders(shop, v.sku)
            }
            assert len(held) == 1, (shop, product.title)
    # Sales channels are the next test's: none here.
    service = world.service(
        {shop: msgspec.structs.replace(c, publications=[]) for shop, c in SHOPS.items()}
    )

    run = await service.publish(full=True)

    assert run.status == "succeeded", run.error
    summary = run.summary
    assert summary.failures == []
    assert (summary.failed, summary.created, summary.published) == (0, 0, 0)
    assert summary.adopted == summary.updated == len(SHOPS) * len(DEMO_PRODUCTS)
    records, total = await service.exceptions.page(state="open", shop=None, offset=0, limit=100)
    assert (records, total) == ([], 0)

    rate = CURRENCIES["USD"][2]
    for shop, catalog in SHOPS.items():
        for product in DEMO_PRODUCTS:
            skus = {v.sku for v in product.variants}
            [held] = {h["product_id"] for sku in skus for h in await world.holders(shop, sku)}
            live = await world.product(shop, held)
            assert live["title"] == product.title
            assert {v["sku"] for v in live["variants"]} == skus
            for variant in live["variants"]:
                price = Decimal(variant["price"])
                assert price == PRICES[variant["sku"]][catalog.currency], (shop, variant)
                if shop == EU_USD:
                    # The eu ERP's USD list, not its euro price at the demo's fixed rate.
                    converted = (PRICES[variant["sku"]]["EUR"] * rate).quantize(Decimal("0.01"))
                    assert price != converted


async def test_products_reach_each_shops_sales_channels_once(world: World) -> None:
    """The shops' channels configured after the products were adopted: every product is
    published to them on the next publication, found unchanged, and only once."""
    service = world.service(SHOPS)

    run = await service.publish(full=True)

    assert run.status == "succeeded", run.error
    assert run.summary.unchanged == len(SHOPS) * len(DEMO_PRODUCTS)
    assert (run.summary.failed, run.summary.published) == (0, len(SHOPS) * len(DEMO_PRODUCTS))
    for shop, catalog in SHOPS.items():
        for product in DEMO_PRODUCTS:
            [held] = {
                h["product_id"] for v in product.variants for h in await world.holders(shop, v.sku)
            }
            assert await world.channels(shop, held) == set(catalog.publications), shop

    again = await service.publish(full=True)

    assert again.status == "succeeded", again.error
    assert again.summary.unchanged == len(SHOPS) * len(DEMO_PRODUCTS)
    assert (again.summary.failed, again.summary.published) == (0, 0)
