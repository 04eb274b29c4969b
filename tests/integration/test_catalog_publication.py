"""Catalog publication end to end: two real Tryton instances behind the real ERP system API,
the real Shopify system API in front of the Shopify sandbox, the catalog service on a real
Redis.

The sandbox's shops start with one product of their own holding ``MUG-STONE-350`` (a shop
that sold before Strata): publication adopts it in place. A third shop sells in GBP, a
currency the ERPs have no price in: every product there is an exception, never a price
converted from EUR.

The tests run in file order on one publication history (each builds on the one before).
"""

from __future__ import annotations

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

from process_apis.catalog.app import create_app as create_catalog_app
from process_apis.catalog.clients import ErpProducts, ShopifyProducts
from process_apis.catalog.service import CatalogService
from process_apis.catalog.settings import CatalogSettings, ShopCatalog
from sandbox.shopify.settings import DEFAULT_SHOPS, LocationSpec, ShopSpec
from sandbox.tryton import TrytonConsole, TrytonServer
from sandbox.tryton.catalogue import DEMO_PRODUCTS
from shared.telemetry.redis import service_redis
from strata import cli
from system_apis.erp.app import create_app as create_erp_app
from system_apis.erp.settings import ErpSettings
from system_apis.shopify.app import create_app as create_shopify_app
from system_apis.shopify.settings import ShopConfig, ShopifySettings
from tests.support.processes import RedisServer, child_env, free_port, wait_for_port
from tests.support.tokens import TokenMint
from tests.unit.service_desk.stand_ins import serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EU, US, GB = "demo-eu.myshopify.com", "demo-us.myshopify.com", "demo-gb.myshopify.com"
TOKEN = "shpat_sandbox_token"
# What the shop held before Strata: the mug, under its own title, handle and price.
LEGACY_MUG = ("MUG-STONE-350", "Stone mug", "11.00")
GB_SHOP = ShopSpec(
    domain=GB,
    currency="GBP",
    country_code="GB",
    locations=(LocationSpec(name="Leeds warehouse", country_code="GB", city="Leeds"),),
)
DEMO_PRICES = {v.sku: p.prices for p in DEMO_PRODUCTS for v in p.variants}
DEMO_TITLES = {p.title for p in DEMO_PRODUCTS}


def console(server: TrytonServer) -> TrytonConsole:
    return TrytonConsole(server.url, server.database, server.user, server.password)


def erp_app_url(server: TrytonServer, instance: str, redis_url: str, mint: TokenMint) -> Any:
    settings = ErpSettings(
        instance=instance,
        redis_url=redis_url,
        tryton_url=server.url,
        tryton_database=server.database,
        tryton_user=server.user,
        tryton_password=server.password,
        read_timeout=20,
    )
    return serving(create_erp_app(settings, auth=mint.settings()))


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
    shops = msgspec.json.encode([*DEFAULT_SHOPS, GB_SHOP]).decode()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "sandbox.shopify.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ],
        env=child_env(
            STRATA_SANDBOX_API_VERSION="2026-10",
            STRATA_SANDBOX_SHOPS=shops,
            STRATA_SANDBOX_DEMO_PRODUCTS=json.dumps([LEGACY_MUG]),
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
        shops={shop: ShopConfig(secret="unused", access_token=TOKEN) for shop in (EU, US, GB)},
        redis_url=redis_server.url,
        admin_url=sandbox_url + "/shops/{shop}/admin/api/{version}/graphql.json",
    )
    with serving(create_shopify_app(settings, auth=token_mint.settings())) as url:
        yield url


class Calls:
    """Every write the catalog service sent to the Shopify system API, in order."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, dict[str, Any]]] = []

    async def hook(self, request: httpx.Request) -> None:
        if request.method == "POST":
            path = request.url.path
            shop = path.split("/shops/")[1].split("/")[0]
            kind = (
                "productSet"
                if path.endswith("/products/set")
                else "publish"
                if path.endswith("/publications/products")
                else "productChangeStatus"
            )
            self.writes.append((shop, kind, json.loads(request.content)))

    def of(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(shop, body) for shop, k, body in self.writes if k == kind]

    def clear(self) -> None:
        self.writes.clear()


class World:
    def __init__(
        self,
        service: CatalogService,
        calls: Calls,
        shopify: httpx.AsyncClient,
        sandbox: httpx.AsyncClient,
    ) -> None:
        self.service = service
        self.calls = calls
        self.shopify = shopify
        self.sandbox = sandbox

    async def on_online_store(self, shop: str, product_id: int) -> bool:
        """Whether the product is published to the shop's Online Store (Shopify's admin)."""
        url = f"/shops/{shop}/admin/api/2026-10/graphql.json"
        headers = {"X-Shopify-Access-Token": TOKEN}
        query = "{ publications(first: 10) { nodes { id name } } }"
        response = await self.sandbox.post(url, json={"query": query}, headers=headers)
        assert response.status_code == 200, response.text
        nodes = response.json()["data"]["publications"]["nodes"]
        [online] = [n["id"] for n in nodes if n["name"] == "Online Store"]
        query = (
            "query On($id: ID!, $pub: ID!) "
            "{ product(id: $id) { publishedOnPublication(publicationId: $pub) } }"
        )
        variables = {"id": f"gid://shopify/Product/{product_id}", "pub": online}
        response = await self.sandbox.post(
            url, json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        return bool(response.json()["data"]["product"]["publishedOnPublication"])

    async def product(self, shop: str, product_id: int) -> dict[str, Any]:
        response = await self.shopify.get(f"/shopify/v1/shops/{shop}/products/{product_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def holders(self, shop: str, sku: str) -> list[dict[str, Any]]:
        response = await self.shopify.get(f"/shopify/v1/shops/{shop}/variants", params={"sku": sku})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def set_product(self, shop: str, body: dict[str, Any]) -> dict[str, Any]:
        """A merchant's edit in Shopify's admin (through the same productSet)."""
        response = await self.shopify.post(
            f"/shopify/v1/shops/{shop}/products/set",
            json=body,
            headers={"Idempotency-Key": f"merchant-{uuid.uuid4()}"},
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture(scope="module")
def catalog_settings(
    erp_urls: dict[str, str], shopify_url: str, redis_server: RedisServer, token_mint: TokenMint
) -> CatalogSettings:
    """One mapping and exception queue for the module's publication history."""
    return CatalogSettings(
        redis_url=redis_server.url,
        erp_instances=erp_urls,
        shopify_url=shopify_url,
        shops={
            EU: ShopCatalog(instance="eu", currency="EUR"),
            US: ShopCatalog(instance="us", currency="USD"),
            GB: ShopCatalog(instance="eu", currency="GBP"),
        },
        key_prefix=f"test:catalog:{uuid.uuid4().hex[:8]}",
        service_token=token_mint.token(
            "erp:read", "shopify:read", "shopify:write", client_id="catalog", ttl=3600
        ),
    )


@pytest.fixture
async def world(
    erp_urls: dict[str, str],
    shopify_url: str,
    sandbox_url: str,
    redis_server: RedisServer,
    catalog_settings: CatalogSettings,
) -> AsyncIterator[World]:
    settings = catalog_settings
    token = settings.service_token
    headers = {"Authorization": f"Bearer {token}"}
    calls = Calls()
    erps = {
        name: httpx.AsyncClient(base_url=url, headers=headers, timeout=30)
        for name, url in erp_urls.items()
    }
    shopify = httpx.AsyncClient(
        base_url=shopify_url,
        headers=headers,
        timeout=30,
        event_hooks={"request": [calls.hook]},
    )
    reader = httpx.AsyncClient(base_url=shopify_url, headers=headers, timeout=30)
    sandbox = httpx.AsyncClient(base_url=sandbox_url, timeout=30)
    redis = service_redis(redis_server.url)
    service = CatalogService(
        settings,
        redis,
        {name: ErpProducts(name, client) for name, client in erps.items()},
        ShopifyProducts(shopify),
    )
    try:
        yield World(service, calls, reader, sandbox)
    finally:
        await service.aclose()
        for client in [*erps.values(), shopify, reader, sandbox]:
            await client.aclose()
        await redis.aclose()


async def test_full_publication_prices_each_shop_in_its_currency(world: World) -> None:
    # The shop's own mug, before Strata.
    [legacy] = await world.holders(EU, "MUG-STONE-350")
    legacy_product = await world.product(EU, legacy["product_id"])

    run = await world.service.publish(full=True)

    assert run.status == "succeeded", run.error
    summary = run.summary
    products = len(DEMO_PRODUCTS)
    # EU and US: every product once (the mug adopted, the rest created); GB: every one failed.
    assert (summary.created, summary.updated, summary.adopted) == (
        2 * (products - 1),
        2,
        2,
    )
    assert summary.failed == products
    for shop, currency in ((EU, "EUR"), (US, "USD")):
        for sku, prices in DEMO_PRICES.items():
            [held] = await world.holders(shop, sku)
            ref = await world.service.map.variant(shop, sku)
            assert ref is not None
            assert ref.variant_id == held["id"]
            product = await world.product(shop, held["product_id"])
            [variant] = [v for v in product["variants"] if v["sku"] == sku]
            assert Decimal(variant["price"]) == prices[currency], (shop, sku)
            assert product["status"] == "ACTIVE"
            assert product["title"] in DEMO_TITLES

    # Created and adopted products are on each shop's Online Store, published once each.
    assert summary.published == 2 * products
    for shop in (EU, US):
        for held_id in {h["product_id"] for s in DEMO_PRICES for h in await world.holders(shop, s)}:
            assert await world.on_online_store(shop, held_id), (shop, held_id)
    publishes = world.calls.of("publish")
    assert sorted(shop for shop, _ in publishes) == sorted([EU, US] * products)
    assert all(body["publications"] == ["Online Store"] for _, body in publishes)

    # Adopted in place: the shop's product and variant ids and handle, Strata's title and price.
    mug = await world.product(EU, legacy["product_id"])
    assert mug["handle"] == legacy_product["handle"]
    assert [v["id"] for v in mug["variants"]] == [legacy["id"]]
    assert (mug["title"], mug["variants"][0]["price"]) == ("Stoneware Mug 350 ml", "14.00")

    # No GBP price in any ERP: nothing published, one open exception per product, never a
    # EUR price converted.
    for sku in DEMO_PRICES:
        assert await world.service.map.variant(GB, sku) is None
        gb_held = await world.holders(GB, sku)
        if sku == LEGACY_MUG[0]:
            [gb_mug] = gb_held
            gb_product = await world.product(GB, gb_mug["product_id"])
            assert gb_product["variants"][0]["price"] == LEGACY_MUG[2]
        else:
            assert gb_held == []
    records, total = await world.service.exceptions.page(state="open", shop=GB, offset=0, limit=100)
    assert total == products
    assert {r.kind for r in records} == {"price-missing-for-currency"}
    assert all(r.field is not None and r.field.endswith(".price") for r in records)
    assert all("no GBP price" in r.error for r in records)
    assert {s for r in records for s in r.skus} == set(DEMO_PRICES)


async def test_nothing_changed_sends_nothing(world: World) -> None:
    world.calls.clear()

    run = await world.service.publish()

    assert run.status == "succeeded", run.error
    assert world.calls.writes == []
    assert run.summary.created == run.summary.updated == run.summary.archived == 0


async def test_price_change_is_one_product_set_and_keeps_what_shopify_owns(
    world: World, tryton_eu: TrytonServer
) -> None:
    ref = await world.service.map.variant(EU, "TSHIRT-BLK-M")
    assert ref is not None
    before = await world.product(EU, ref.product_id)
    # The merchant tags the product, writes its description, sets a vendor and adds a gift-box
    # variant of their own in Shopify's admin.
    merchant_variants: list[dict[str, Any]] = [
        {"id": v["id"], "options": v["options"]} for v in before["variants"]
    ]
    option = before["options"][0]["name"]
    merchant_variants.append(
        {"sku": "GIFTBOX-TSHIRT", "price": "5.00", "options": [{"name": option, "value": "Gift"}]}
    )
    edited = await world.set_product(
        EU,
        {
            "product_id": ref.product_id,
            "handle": before["handle"],
            "tags": ["summer", "organic"],
            "vendor": "Atelier Nord",
            "description_html": "<p>Our bestseller.</p>",
            "options": [
                {"name": option, "values": [*before["options"][0]["values"], "Gift"]},
            ],
            "variants": merchant_variants,
        },
    )
    [gift] = [v for v in edited["variants"] if v["sku"] == "GIFTBOX-TSHIRT"]
    with console(tryton_eu) as c:
        [template] = c.execute(
            "product.template", "search", [("products.code", "=", "TSHIRT-BLK-M")], 0, 1, None
        )
        c.execute("product.template", "write", [template], {"list_price": Decimal("21.50")})
    world.calls.clear()

    run = await world.service.publish()

    assert run.status == "succeeded", run.error
    sets = world.calls.of("productSet")
    assert [shop for shop, _ in sets] == [EU], sets
    assert world.calls.of("productChangeStatus") == []
    assert run.summary.updated == 1
    after = await world.product(EU, ref.product_id)
    prices = {v["sku"]: v["price"] for v in after["variants"]}
    assert {sku: prices[sku] for sku in prices if sku.startswith("TSHIRT-")} == {
        "TSHIRT-BLK-S": "21.50",
        "TSHIRT-BLK-M": "21.50",
        "TSHIRT-BLK-L": "21.50",
        "TSHIRT-WHT-M": "21.50",
        "TSHIRT-WHT-L": "21.50",
    }
    # What Strata does not manage is as the merchant left it.
    assert after["tags"] == ["summer", "organic"]
    assert after["vendor"] == "Atelier Nord"
    assert after["description_html"] == "<p>Our bestseller.</p>"
    assert prices["GIFTBOX-TSHIRT"] == "5.00"
    assert [v["id"] for v in after["variants"]] == [v["id"] for v in edited["variants"]]
    assert gift["id"] in {v["id"] for v in after["variants"]}
    # The US shop's T-shirt is another ERP's product: untouched, in dollars.
    us_ref = await world.service.map.variant(US, "TSHIRT-BLK-M")
    assert us_ref is not None
    us_shirt = await world.product(US, us_ref.product_id)
    assert {v["price"] for v in us_shirt["variants"]} == {"22.00"}


async def test_product_withdrawn_from_sale_is_archived_not_deleted(
    world: World, tryton_eu: TrytonServer
) -> None:
    ref = await world.service.map.variant(EU, "POT-TERRA-M")
    assert ref is not None
    with console(tryton_eu) as c:
        [pot] = c.execute(
            "product.template", "search", [("products.code", "=", "POT-TERRA-M")], 0, 1, None
        )
        c.execute("product.template", "write", [pot], {"salable": False})
    world.calls.clear()
    try:
        run = await world.service.publish(shop=EU)

        assert run.status == "succeeded", run.error
        assert run.summary.archived == 1
        assert world.calls.of("productSet") == []
        assert [shop for shop, _ in world.calls.of("productChangeStatus")] == [EU]
        archived = await world.product(EU, ref.product_id)
        assert archived["status"] == "ARCHIVED"
        assert [v["id"] for v in archived["variants"]] == [ref.variant_id]
        entry = await world.service.map.entry(EU, ref.instance, ref.erp_product_id)
        assert entry is not None
        assert entry.status == "ARCHIVED"
        # Archived once: the next run leaves it.
        world.calls.clear()
        again = await world.service.publish(shop=EU)
        assert again.summary.archived == 0
        assert world.calls.writes == []
    finally:
        with console(tryton_eu) as c:
            c.execute("product.template", "write", [pot], {"salable": True})

    # Back on sale: the same product, active again, same variant.
    world.calls.clear()
    back = await world.service.publish(shop=EU)
    assert back.summary.updated == 1, back.summary
    restored = await world.product(EU, ref.product_id)
    assert restored["status"] == "ACTIVE"
    assert [v["id"] for v in restored["variants"]] == [ref.variant_id]


async def test_shopify_refusal_and_missing_price_are_replayable_exceptions(
    world: World, tryton_eu: TrytonServer
) -> None:
    records, _ = await world.service.exceptions.page(state="open", shop=GB, offset=0, limit=1)
    [gb] = records
    # Still no GBP price: a replay fails again and says so.
    replayed = await world.service.replay(gb.id)
    assert replayed.state == "open"
    assert replayed.attempts == gb.attempts + 1
    assert replayed.history[-1].outcome == "failed"

    # Strata's T-shirt variant renamed "Gift" in the ERP: Shopify already has a "Gift" variant
    # on the product (the merchant's) and refuses the product alone; the rest goes on.
    with console(tryton_eu) as c:
        [white_l] = c.execute(
            "product.product", "search", [("code", "=", "TSHIRT-WHT-L")], 0, 1, None
        )
        c.execute("product.product", "write", [white_l], {"description": "Gift"})
    world.calls.clear()
    try:
        run = await world.service.publish(shop=EU)

        assert run.status == "succeeded", run.error
        assert run.summary.failed == 1, run.summary
        [failure] = run.summary.failures
        assert failure.exception_id is not None
        record = await world.service.exceptions.get(failure.exception_id)
        assert record is not None
        assert (record.state, record.kind, record.shop) == ("open", "rejected", EU)
        assert "already exists" in record.error
        assert "TSHIRT-WHT-L" in record.skus
    finally:
        with console(tryton_eu) as c:
            c.execute("product.product", "write", [white_l], {"description": "White / L"})

    # Put right in the ERP, the operator replays: published, resolved.
    resolved = await world.service.replay(record.id)
    assert resolved.state == "resolved"
    assert [e.outcome for e in resolved.history] == ["failed", "resolved"]
    ref = await world.service.map.variant(EU, "TSHIRT-WHT-L")
    assert ref is not None
    shirt = await world.product(EU, ref.product_id)
    assert {v["sku"] for v in shirt["variants"]} >= {"TSHIRT-WHT-L", "GIFTBOX-TSHIRT"}
    listed, total = await world.service.exceptions.page(state="open", shop=EU, offset=0, limit=50)
    assert (listed, total) == ([], 0)


def test_operator_cli_and_api(
    catalog_settings: CatalogSettings, token_mint: TokenMint, capsys: pytest.CaptureFixture[str]
) -> None:
    """`strata catalog` over the real catalog API: a dry run's summary, the exception queue,
    a replay, and problem+json for what is wrong."""
    with serving(create_catalog_app(catalog_settings, auth=token_mint.settings())) as url:
        token = token_mint.token("catalog:publish", "catalog:read")
        base = ["catalog", "--url", url, "--token", token]

        code = cli.main([*base, "publish", "--full", "--dry-run", "--poll", "0.1"])

        out = capsys.readouterr().out
        products = len(DEMO_PRODUCTS)
        assert code == 3, out
        assert f"unchanged {2 * products}, archived 0, failed {products}" in out
        assert "(dry run)" in out
        assert "no GBP price" in out

        assert cli.main([*base, "exceptions", "--shop", GB]) == 0
        listed = capsys.readouterr().out
        assert f"{products} open" in listed
        first = listed.split()[0]
        assert cli.main([*base, "replay", first]) == 3
        assert f"{first}: open" in capsys.readouterr().out

        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
            page = api.get("/catalog/v1/exceptions", params={"state": "open", "shop": GB})
            assert page.status_code == 200, page.text
            assert page.json()["total"] == products
            missing = api.post(f"/catalog/v1/exceptions/{'0' * 20}/replay")
            assert missing.status_code == 404
            assert missing.headers["content-type"].startswith("application/problem+json")
            unknown = api.post("/catalog/v1/publications", json={"shop": "nowhere.myshopify.com"})
            assert unknown.status_code == 422, unknown.text
            assert unknown.headers["content-type"].startswith("application/problem+json")
            assert "nowhere.myshopify.com" in unknown.json()["detail"]
            bad = api.post("/catalog/v1/publications", json={"fast": True})
            assert bad.status_code == 400, bad.text
            assert bad.headers["content-type"].startswith("application/problem+json")
