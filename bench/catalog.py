"""Catalog publication: a bulk back-fill against what the sandbox allows, and the cost of a
delta.

``catalog.backfill_variants_per_s``: 5,000 variants (500 generated products of ten sizes,
one ERP instance's feed through the catalog service's product feed seam) back-filled into an
empty shop with ``publish(full=True, mode="bulk")``: the catalog service in this process, the
Shopify system API and the Shopify sandbox each in their own uvicorn process, Redis for the
mapping. Timed from the call to the finished run (shop index read, bodies built, staged
upload, the bulk operation, its end noticed, the result file read and every product mapped).

``catalog.backfill_bound_variants_per_s``: what the sandbox's limits allow: the sandbox runs a
bulk mutation at ``bulk_objects_per_second`` (a productSet line writes its variants), its
default here, so no back-fill of these products can beat it. ``catalog.backfill_ratio`` is the
one over the other (target 0.8).

The ingress does not take ``bulk_operations/finish`` yet, so the run notices the end by
polling; ``bulk_late_seconds`` is 1 s here (the default is 10 s), a second at most lost.
A delta run's charge is read from the sandbox's bucket, resized for it (10 million points
refilled at 1 point/s, the refill during the run added back).

``catalog.delta_points_per_change``: then 50 products change price in the ERP and a delta run
publishes them; the Admin API cost points Shopify charged per changed product. Each change
reads the product as Shopify holds it (the merge) and sends one ``productSet``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx

from bench.harness import uvicorn_app
from bench.ingress import redis_server
from shared.models import Money, Product, Variant
from shared.models.catalog import VariantOption

SHOP = "demo-eu.myshopify.com"
TOKEN = "shpat_sandbox_token"  # noqa: S105 - the sandbox's demo token
PRODUCTS = 500
SIZES = ("XXS", "XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL", "5XL")
CHANGED = 50
LATE_SECONDS = 1.0
ISSUER = "https://bench.issuer"
AUDIENCE = "strata"
SCOPES = ("shopify:read", "shopify:write")
# A bucket no delta run can empty, refilled slowly: what it lost (plus its known refill) is
# what Shopify charged.
METERED_BUCKET = 10_000_000.0
METERED_RESTORE = 1.0

TARGETS = {"catalog.backfill_ratio": 0.8}


def _catalogue(changed_at: dt.datetime | None = None) -> list[Product]:
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    products = []
    for n in range(PRODUCTS):
        changed = changed_at is not None and n < CHANGED
        price = Decimal("19.90") + n + (Decimal(5) if changed else 0)
        products.append(
            Product(
                id=str(50_000 + n),
                name=f"Bench tee {n}",
                updated_at=changed_at if changed else base,
                variants=[
                    Variant(
                        sku=f"BENCH-{n:04d}-{size}",
                        name=f"Bench tee {n} {size}",
                        price=Money(amount=price, currency="EUR"),
                        options=[VariantOption(name="Size", value=size)],
                        weight_grams=Decimal(200),
                    )
                    for size in SIZES
                ],
            )
        )
    return products


class GeneratedFeed:
    """One ERP instance's product feed, from generated products."""

    def __init__(self, products: list[Product]) -> None:
        self.products = products

    async def changed_since(self, since: dt.datetime | None) -> AsyncIterator[Product]:
        for product in self.products:
            updated = product.updated_at
            if since is None or updated is None or updated >= since:
                yield product

    async def by_sku(self, sku: str) -> Product | None:
        return None


async def _measure(
    shopify_url: str, sandbox_url: str, redis_url: str, token: str
) -> dict[str, float]:
    from process_apis.catalog.clients import ShopifyProducts
    from process_apis.catalog.service import CatalogService
    from process_apis.catalog.settings import CatalogSettings, ShopCatalog
    from sandbox.shopify.settings import BULK_OBJECTS_PER_SECOND
    from shared.telemetry.redis import service_redis

    settings = CatalogSettings(
        redis_url=redis_url,
        erp_instances={},
        shopify_url=shopify_url,
        shops={SHOP: ShopCatalog(instance="eu", currency="EUR")},
        key_prefix=f"bench:catalog:{uuid.uuid4().hex[:8]}",
        bulk_late_seconds=LATE_SECONDS,
        lock_seconds=60,
    )
    headers = {"Authorization": f"Bearer {token}"}
    shopify = httpx.AsyncClient(base_url=shopify_url, headers=headers, timeout=60)
    control = httpx.AsyncClient(base_url=sandbox_url + "/_sandbox", timeout=30)
    redis = service_redis(redis_url)
    feed = GeneratedFeed(_catalogue())
    service = CatalogService(settings, redis, {"eu": feed}, ShopifyProducts(shopify))
    try:
        variants = PRODUCTS * len(SIZES)
        started = time.monotonic()
        run = await service.publish(shop=SHOP, full=True, mode="bulk")
        elapsed = time.monotonic() - started
        if run.status != "succeeded" or run.summary.created != PRODUCTS:
            raise RuntimeError(f"the back-fill did not publish everything: {run}")
        print(f"   back-fill: {variants} variants in {elapsed:.1f}s ({run.bulk})", flush=True)

        # Below its maximum, so the refill during the run is counted, not lost at the cap.
        start = METERED_BUCKET - 1000
        metering = time.monotonic()
        response = await control.put(
            f"/shops/{SHOP}/bucket",
            json={
                "maximum_available": METERED_BUCKET,
                "restore_rate": METERED_RESTORE,
                "currently_available": start,
            },
        )
        response.raise_for_status()
        changed_at = dt.datetime.now(dt.UTC)
        feed.products = _catalogue(changed_at)
        delta = await service.publish(shop=SHOP)
        if delta.summary.updated != CHANGED:
            raise RuntimeError(f"the delta run did not update {CHANGED} products: {delta}")
        status = (await control.get(f"/shops/{SHOP}/bucket")).json()
        refilled = METERED_RESTORE * (time.monotonic() - metering)
        spent = start + refilled - float(status["currentlyAvailable"])
        bound = BULK_OBJECTS_PER_SECOND
        measured = variants / elapsed
        return {
            "catalog.backfill_variants_per_s": measured,
            "catalog.backfill_bound_variants_per_s": bound,
            "catalog.backfill_ratio": measured / bound,
            "catalog.delta_points_per_change": spent / CHANGED,
        }
    finally:
        await service.aclose()
        await shopify.aclose()
        await control.aclose()
        await redis.aclose()


def run() -> dict[str, float]:
    from sandbox.auth.issuer import SigningKeys, mint_token
    from shared.auth.clients import ClientRegistration

    keys = SigningKeys.generate()
    client = ClientRegistration(client_id="catalog", secret_hash="unused", scopes=frozenset(SCOPES))
    token = mint_token(keys, client, SCOPES, AUDIENCE, 3600, issuer=ISSUER)
    with redis_server() as redis_url:
        sandbox_env = {"STRATA_SANDBOX_DEMO_PRODUCTS": "[]"}
        with uvicorn_app(
            "sandbox.shopify.app:create_app", sandbox_env, ready_path="/_sandbox/health"
        ) as sandbox_url:
            shopify_env = {
                "STRATA_SHOPIFY_SHOPS": json.dumps(
                    {SHOP: {"secret": "unused", "access_token": TOKEN}}
                ),
                "STRATA_SHOPIFY_REDIS_URL": redis_url,
                "STRATA_SHOPIFY_ADMIN_URL": sandbox_url
                + "/shops/{shop}/admin/api/{version}/graphql.json",
                "STRATA_AUTH_ISSUER": ISSUER,
                "STRATA_AUTH_AUDIENCE": AUDIENCE,
                "STRATA_AUTH_JWKS": json.dumps(keys.public_jwks()),
            }
            with uvicorn_app("system_apis.shopify.app:create_app", shopify_env) as shopify_url:
                return asyncio.run(_measure(shopify_url, sandbox_url, redis_url, token))
