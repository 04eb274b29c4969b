"""``service_desk.context_fanout_ratio``: order-context latency over the slowest upstream's.

The orders process serves ``/orders/v1/orders/{shop}/{id}/context`` (real app, real Redis for
the pipeline status and exceptions) in front of stand-in system APIs that answer after fixed
delays: the four ERP reads after 40 ms, Shopify's refunds after 80 ms, Shopify's order after
120 ms. Stand-ins are right here: this measures our fan-out, not the ERP or Shopify. A
sequential fan-out would cost about 360 ms; a parallel one costs the slowest call, 120 ms.

The slowest upstream's latency is measured the same way, straight from the benchmark's client
to the stand-in, interleaved with the context reads; each round gives p50(context) /
p50(slowest upstream) and the figure is the median of the rounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time

import httpx
from litestar import Litestar, Response, get
from litestar.params import FromPath

from bench.harness import ROOT, p50, uvicorn_app
from sandbox.auth.issuer import SigningKeys, mint_token
from shared.auth.clients import ClientRegistration
from strata.stack import redis_for_stack

ISSUER = "https://bench.issuer"
SHOP = "bench-eu.myshopify.com"
ORDER_ID = "4242"
DELAYS_MS = {"erp": 40, "refunds": 80, "shopify_order": 120}
ROUNDS = 5
SAMPLES = 30


def upstreams() -> Litestar:
    """Stand-in ERP and Shopify system APIs answering after ``STRATA_BENCH_DELAYS_MS``."""
    delays = json.loads(os.environ.get("STRATA_BENCH_DELAYS_MS", json.dumps(DELAYS_MS)))
    erp_delay, refunds_delay = delays["erp"] / 1000, delays["refunds"] / 1000
    order_delay = delays["shopify_order"] / 1000
    sales_order = {
        "id": "77", "number": "SO-77", "external_reference": f"shopify:{SHOP}:{ORDER_ID}",
        "status": "processing", "currency": "EUR", "customer_email": "ada@example.com",
        "lines": [{"sku": "TOTE-NAT", "quantity": 2, "unit_price": "12.00"}],
        "total": {"amount": "24.00", "currency": "EUR"}, "created_at": "2026-03-01T09:00:00Z",
    }  # fmt: skip
    shopify_order = {
        "id": int(ORDER_ID), "name": "#4242", "email": "ada@example.com",
        "created_at": "2026-03-01T08:59:00Z", "financial_status": "PAID",
        "fulfillment_status": "FULFILLED", "currency": "EUR",
        "total": {"amount": "24.00", "currency": "EUR"}, "lines": [],
    }  # fmt: skip

    async def after(delay: float, body: object) -> Response[object]:
        await asyncio.sleep(delay)
        return Response(body)

    @get("/erp/v1/sales-orders/{order_id:str}")
    async def erp_order(order_id: FromPath[str]) -> Response[object]:
        return await after(erp_delay, sales_order)

    @get("/erp/v1/sales-orders/{order_id:str}/{kind:str}")
    async def erp_list(order_id: FromPath[str], kind: FromPath[str]) -> Response[object]:
        return await after(erp_delay, {"items": []})

    @get("/shopify/v1/shops/{shop:str}/orders/{order_id:int}")
    async def order(shop: FromPath[str], order_id: FromPath[int]) -> Response[object]:
        return await after(order_delay, shopify_order)

    @get("/shopify/v1/shops/{shop:str}/orders/{order_id:int}/refunds")
    async def refunds(shop: FromPath[str], order_id: FromPath[int]) -> Response[object]:
        return await after(refunds_delay, {"items": []})

    @get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([erp_order, erp_list, order, refunds, live], logging_config=None)


async def _seed(redis_url: str) -> None:
    from redis.asyncio import Redis

    from process_apis.orders.pipeline import PipelineStore

    redis = Redis.from_url(redis_url)
    try:
        await PipelineStore(redis).record(
            SHOP, ORDER_ID, "posted", state="posted", erp_instance="eu",
            erp_order_id="77", erp_order_number="SO-77",
        )  # fmt: skip
    finally:
        await redis.aclose()


def _timed(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def run() -> dict[str, float]:
    keys = SigningKeys.generate()
    reader = ClientRegistration(
        client_id="bench", secret_hash="unused", scopes=frozenset({"orders:read"})
    )
    token = mint_token(keys, reader, ["orders:read"], "strata", 3600, issuer=ISSUER)
    with redis_for_stack(ROOT / "var" / "log") as (redis_url, _):
        asyncio.run(_seed(redis_url))
        stand_in_env = {"STRATA_BENCH_DELAYS_MS": json.dumps(DELAYS_MS)}
        with uvicorn_app("bench.service_desk:upstreams", stand_in_env, cpu=1) as upstream:
            env = {
                "STRATA_ORDERS_REDIS_URL": redis_url,
                "STRATA_ORDERS_ERP_INSTANCES": json.dumps({"eu": upstream}),
                "STRATA_ORDERS_SHOPIFY_API_URL": upstream,
                "STRATA_ORDERS_RUN_WORKERS": "false",
                "STRATA_ORDERS_SERVICE_TOKEN": "bench",
                "STRATA_ORDERS_RATELIMIT_ENABLED": "false",
                "STRATA_AUTH_ISSUER": ISSUER,
                "STRATA_AUTH_JWKS": json.dumps(keys.public_jwks()),
            }
            with uvicorn_app("process_apis.orders.app:create_app", env, cpu=0) as orders:
                context_url = f"{orders}/orders/v1/orders/{SHOP}/{ORDER_ID}/context"
                slowest_url = f"{upstream}/shopify/v1/shops/{SHOP}/orders/{ORDER_ID}"
                with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {token}"}) as c:
                    first = c.get(context_url)
                    first.raise_for_status()
                    if not first.json()["complete"]:
                        raise RuntimeError(f"the context is not complete: {first.text[:500]}")
                    for _ in range(5):  # warm connections on both paths
                        _timed(c, context_url)
                        _timed(c, slowest_url)
                    ratios = []
                    for _ in range(ROUNDS):
                        context, slowest = [], []
                        for _ in range(SAMPLES):
                            context.append(_timed(c, context_url))
                            slowest.append(_timed(c, slowest_url))
                        ratios.append(p50(context) / p50(slowest))
    return {"service_desk.context_fanout_ratio": statistics.median(ratios)}


if __name__ == "__main__":
    print(run())
