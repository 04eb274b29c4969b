"""``shopify.bucket_utilization``: how much of a shop's cost bucket the Admin client uses.

The sandbox (one uvicorn process) serves a shop whose bucket is resized to 200 points
restored at 1,000 points/s: Shopify's Standard bucket run ten times faster, which is the time
scaling the figure allows. Eight workers push ``inventorySetQuantities`` calls through one
:class:`AdminGraphQL` (one shared Redis bucket model) for a fixed time; the figure is
(points spent - the bucket's starting size) / (restore rate x elapsed). Any THROTTLED answer
fails the run.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import httpx
from redis.asyncio import Redis

from bench.harness import ROOT, free_port, wait_http
from bench.ingress import redis_server

SHOP = "demo-eu.myshopify.com"
TOKEN = "shpat_sandbox_token"  # noqa: S105 - the sandbox's demo token
BUCKET = 200.0
RESTORE = 1000.0
SECONDS = 8.0
WORKERS = 8


async def _push(sandbox: str, redis_url: str) -> dict[str, float]:
    from shared.http import make_client
    from system_apis.shopify.admin import AdminGraphQL
    from system_apis.shopify.schemas import InventoryQuantitySet, InventorySet
    from system_apis.shopify.service import ShopifyService
    from system_apis.shopify.settings import ShopConfig, ShopifySettings

    settings = ShopifySettings(
        shops={SHOP: ShopConfig(secret="unused", access_token=TOKEN)},
        redis_url=redis_url,
        admin_url=sandbox + "/shops/{shop}/admin/api/{version}/graphql.json",
    )
    async with httpx.AsyncClient(base_url=sandbox + "/_sandbox", timeout=10) as control:
        levels = (await control.get(f"/shops/{SHOP}/inventory")).json()
        status = await control.put(
            f"/shops/{SHOP}/bucket",
            json={"maximum_available": BUCKET, "restore_rate": RESTORE,
                  "currently_available": BUCKET},
        )  # fmt: skip
        status.raise_for_status()
    redis = Redis.from_url(redis_url)
    http = make_client()
    admin = AdminGraphQL(settings, http, redis)
    service = ShopifyService(admin)
    deadline = 0.0

    async def worker(n: int) -> None:
        level = levels[n % len(levels)]
        quantity = 0
        while time.monotonic() < deadline:
            quantity = (quantity + 1) % 1000
            request = InventorySet(
                quantities=[
                    InventoryQuantitySet(
                        inventory_item_id=level["inventory_item_id"],
                        location_id=level["location_id"],
                        quantity=quantity,
                        change_from_quantity=None,
                    )
                ]
            )
            await service.set_inventory(SHOP, request, f"bench-{uuid.uuid4()}")

    try:
        started = time.monotonic()
        deadline = started + SECONDS
        await asyncio.gather(*(worker(n) for n in range(WORKERS)))
        elapsed = time.monotonic() - started
    finally:
        await http.aclose()
        await redis.aclose()
    if admin.stats.throttled:
        raise RuntimeError(f"{admin.stats.throttled} THROTTLED answers: {admin.stats}")
    spent = admin.stats.points_spent
    print(f"   {admin.stats.calls} calls, {spent} points in {elapsed:.2f}s")
    return {"shopify.bucket_utilization": (spent - BUCKET) / (RESTORE * elapsed)}


def run() -> dict[str, float]:
    """Start a sandbox and a private Redis, push inventory updates, return the figure."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "sandbox.shopify.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "STRATA_SANDBOX_API_VERSION": "2026-10"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sandbox = f"http://127.0.0.1:{port}"
    try:
        wait_http(sandbox + "/_sandbox/health")
        with redis_server() as redis_url:
            return asyncio.run(_push(sandbox, redis_url))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    print(run())
