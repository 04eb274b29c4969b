"""The inventory process over real ERP system APIs (uvicorn) on real Tryton, and real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from process_apis.inventory.app import create_app
from process_apis.inventory.settings import InventorySettings
from sandbox.tryton import TrytonServer
from shared.ratelimit import RateLimitSettings
from tests.support.processes import RedisServer, free_port, wait_for_port
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
# Demo stock: a few units only, so reservations run out within a test.
SCARCE_SKU = "SNKR-WHT-40"


@dataclass
class RunningApp:
    url: str
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def serve(factory: str, env: dict[str, str]) -> Iterator[RunningApp]:
    """Run ``module:factory`` under uvicorn on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, **env},
        cwd=ROOT,
    )
    try:
        wait_for_port(port, timeout=60)
        yield RunningApp(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def auth_env(token_mint: TokenMint) -> dict[str, str]:
    return {
        "STRATA_AUTH_ISSUER": ISSUER,
        "STRATA_AUTH_AUDIENCE": AUDIENCE,
        "STRATA_AUTH_JWKS": json.dumps(token_mint.keys.public_jwks()),
    }


@contextlib.contextmanager
def erp_api(
    server: TrytonServer, instance: str, redis_url: str, token_mint: TokenMint
) -> Iterator[RunningApp]:
    """The real ERP system API for one Tryton instance."""
    env = {
        "STRATA_ERP_INSTANCE": instance,
        "STRATA_ERP_REDIS_URL": redis_url,
        "STRATA_ERP_TRYTON_URL": server.url,
        "STRATA_ERP_TRYTON_DATABASE": server.database,
        "STRATA_ERP_TRYTON_USER": server.user,
        "STRATA_ERP_TRYTON_PASSWORD": server.password,
        "STRATA_ERP_RATELIMIT_ENABLED": "false",
        **auth_env(token_mint),
    }
    with serve("system_apis.erp.app:create_app", env) as running:
        yield running


@pytest.fixture(scope="module")
def erp_urls(
    tryton_eu: TrytonServer,
    tryton_us: TrytonServer,
    redis_server: RedisServer,
    token_mint: TokenMint,
) -> Iterator[dict[str, str]]:
    with (
        erp_api(tryton_eu, "eu", redis_server.url, token_mint) as eu,
        erp_api(tryton_us, "us", redis_server.url, token_mint) as us,
    ):
        yield {"eu": eu.url, "us": us.url}


def inventory_settings(
    erp_urls: dict[str, str], redis_url: str, token_mint: TokenMint
) -> InventorySettings:
    return InventorySettings(
        redis_url=redis_url,
        erp_instances=erp_urls,
        erp_timeout=10.0,
        key_prefix=f"test:inventory:{{{uuid.uuid4().hex[:8]}}}",
        service_token=token_mint.token("erp:read", client_id="inventory"),
    )


@pytest.fixture
async def inventory(
    erp_urls: dict[str, str], redis_url: str, token_mint: TokenMint
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_app(
        inventory_settings(erp_urls, redis_url, token_mint),
        auth=token_mint.settings(),
        rate_limit=RateLimitSettings(enabled=False),
    )
    async with AsyncTestClient(app=app, timeout=60) as client:
        client.headers.update(token_mint.headers("inventory:read", "inventory:reserve"))
        yield client


async def erp_available(url: str, token_mint: TokenMint, sku: str) -> int:
    async with httpx.AsyncClient(base_url=url, headers=token_mint.headers("erp:read")) as erp:
        resp = await erp.get("/erp/v1/stock", params={"sku": sku})
    assert resp.status_code == 200, resp.text
    return sum(int(float(item["available"])) for item in resp.json()["items"])


async def availability(client: AsyncTestClient, *skus: str) -> dict:  # type: ignore[type-arg]
    resp = await client.get("/inventory/v1/availability", params={"sku": list(skus)})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_available_to_sell_is_the_sum_over_both_erps(
    inventory, erp_urls: dict[str, str], token_mint: TokenMint
) -> None:
    from sandbox.tryton import DEMO_SKUS

    skus = list(DEMO_SKUS[:20])
    body = await availability(inventory, *skus)
    assert body["complete"] is True
    assert {s["instance"]: s["state"] for s in body["sources"]} == {"eu": "ok", "us": "ok"}
    for item in body["items"][:5]:
        expected = sum(
            [await erp_available(url, token_mint, item["sku"]) for url in erp_urls.values()]
        )
        assert item["erp_available"] == expected, item
        assert item["available_to_sell"] == expected - item["reserved"]
    assert {loc["instance"] for item in body["items"] for loc in item["locations"]} == {"eu", "us"}
    assert any(item["available_to_sell"] > 0 for item in body["items"])


async def test_concurrent_reservations_never_oversell_real_stock(inventory) -> None:
    before = (await availability(inventory, SCARCE_SKU))["items"][0]
    assert before["available_to_sell"] > 2

    async def reserve() -> int:
        resp = await inventory.post(
            "/inventory/v1/reservations",
            json={"lines": [{"sku": SCARCE_SKU, "quantity": 2}], "ttl_seconds": 60},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert resp.status_code in (201, 409), resp.text
        return 2 if resp.status_code == 201 else 0

    held = sum(await asyncio.gather(*(reserve() for _ in range(before["available_to_sell"]))))
    assert before["available_to_sell"] - 1 <= held <= before["available_to_sell"]
    after = (await availability(inventory, SCARCE_SKU))["items"][0]
    assert after["reserved"] == before["reserved"] + held
    assert after["available_to_sell"] == before["available_to_sell"] - held


async def test_one_erp_down_gives_a_partial_answer(
    erp_urls: dict[str, str], redis_url: str, token_mint: TokenMint
) -> None:
    settings = inventory_settings(
        {**erp_urls, "apac": f"http://127.0.0.1:{free_port()}"}, redis_url, token_mint
    )
    app = create_app(
        settings, auth=token_mint.settings(), rate_limit=RateLimitSettings(enabled=False)
    )
    async with AsyncTestClient(app=app, timeout=60) as client:
        client.headers.update(token_mint.headers("inventory:read"))
        body = await availability(client, "TOTE-NAT", "MUG-WHT")
    assert body["complete"] is False
    states = {s["instance"]: s["state"] for s in body["sources"]}
    assert states == {"eu": "ok", "us": "ok", "apac": "unavailable"}
    tote = body["items"][0]
    assert tote["known"] is True
    assert tote["available_to_sell"] > 0
    assert {loc["instance"] for loc in tote["locations"]} <= {"eu", "us"}


async def test_a_stopped_erp_api_is_reported_and_the_other_served(
    tryton_eu: TrytonServer, erp_urls: dict[str, str], redis_url: str, token_mint: TokenMint
) -> None:
    with erp_api(tryton_eu, "eu", redis_url, token_mint) as doomed:
        settings = inventory_settings(
            {"eu": doomed.url, "us": erp_urls["us"]}, redis_url, token_mint
        )
        settings = msgspec.structs.replace(settings, stock_cache_ttl=0.0, failure_cache_ttl=0.0)
        app = create_app(
            settings, auth=token_mint.settings(), rate_limit=RateLimitSettings(enabled=False)
        )
        async with AsyncTestClient(app=app, timeout=60) as client:
            client.headers.update(token_mint.headers("inventory:read"))
            assert (await availability(client, "TOTE-NAT"))["complete"] is True
            doomed.proc.terminate()
            doomed.proc.wait(timeout=10)
            body = await availability(client, "TOTE-NAT")
    assert body["complete"] is False
    assert {s["instance"]: s["state"] for s in body["sources"]} == {"eu": "unavailable", "us": "ok"}
