"""The order flow on a 3-master Redis Cluster: webhook ingress, orders workers, ERP post and
Shopify acknowledgement, with the webhook stream sharded over three slots.

The Shopify system API, the orders process and both ERP system APIs talk to the cluster
through cluster clients (``..._REDIS_CLUSTER=true``, their rate limiters too); the parts
outside the order flow (inventory, storefront, service desk) keep a single Redis node. Three
shops are configured so that every shard of the orders family carries one of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from sandbox.shopify.settings import DEFAULT_SHOPS
from shared.streams import ORDERS, WebhookStreams
from strata.stack import Part, StackConfig, demo_products, running
from strata.stack.parts import SANDBOX_SECRET, SANDBOX_TOKEN
from tests.support.processes import RedisServer
from tests.support.redis_cluster import RedisCluster, running_redis_cluster
from tests.support.stack import SERVICE_SCOPES, Sandbox, wait_until
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SHARDS = 3
UK = "demo-uk.myshopify.com"
SHOPS = {
    # shop -> (a SKU it sells, the ERP instance its orders go to)
    "demo-eu.myshopify.com": ("TOTE-NAT", "eu"),
    "demo-us.myshopify.com": ("MUG-STONE-350", "us"),
    UK: ("BEANIE-CHR", "eu"),
}


def test_the_three_shops_cover_every_shard() -> None:
    streams = WebhookStreams("strata:webhooks", SHARDS)
    assert {streams.for_shop(ORDERS, shop) for shop in SHOPS} == set(streams.streams(ORDERS))


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with running_redis_cluster() as started:
        yield started


@pytest.fixture(scope="module")
def stack(
    cluster: RedisCluster,
    redis_server: RedisServer,
    tryton_template_dir: Path,
    token_mint: TokenMint,
) -> Iterator[dict[str, Part]]:
    def service_token(service: str) -> dict[str, str]:
        token = mint_token(token_mint, service)
        return {f"STRATA_{service.upper().replace('-', '_')}_SERVICE_TOKEN": token}

    on_cluster = {"REDIS_CLUSTER": "true", "RATELIMIT_CLUSTER": "true"}
    sandbox_shops = [
        *(msgspec.to_builtins(spec) for spec in DEFAULT_SHOPS),
        {"domain": UK, "currency": "EUR", "country_code": "GB"},
    ]
    single_node = {"inventory", "storefront", "service-desk"}
    config = StackConfig(
        redis_url=cluster.url,
        data_dir=tryton_template_dir,
        log_dir=ROOT / "var" / "log" / "e2e-cluster",
        auth_env={
            "STRATA_AUTH_ISSUER": ISSUER,
            "STRATA_AUTH_AUDIENCE": AUDIENCE,
            "STRATA_AUTH_JWKS": json.dumps(token_mint.keys.public_jwks()),
        },
        service_auth_env=service_token,
        run_issuer=False,
        part_env={
            "shopify": {
                **{f"STRATA_SHOPIFY_{k}": v for k, v in on_cluster.items()},
                "STRATA_SHOPIFY_STREAM_SHARDS": str(SHARDS),
                "STRATA_SHOPIFY_SHOPS": json.dumps(
                    {s: {"secret": SANDBOX_SECRET, "access_token": SANDBOX_TOKEN} for s in SHOPS}
                ),
            },
            "orders": {
                **{f"STRATA_ORDERS_{k}": v for k, v in on_cluster.items()},
                "STRATA_ORDERS_STREAM_SHARDS": str(SHARDS),
                "STRATA_ORDERS_RETRY_BASE_DELAY": "0.2",
                "STRATA_ORDERS_RETRY_MAX_DELAY": "1.5",
                "STRATA_ORDERS_MAX_ATTEMPTS": "30",
                "STRATA_ORDERS_CLAIM_IDLE": "5",
            },
            **{
                f"erp-{instance}": {f"STRATA_ERP_{k}": v for k, v in on_cluster.items()}
                for instance in ("eu", "us")
            },
            "shopify-sandbox": {
                "STRATA_SANDBOX_SHOPS": json.dumps(sandbox_shops),
                "STRATA_SANDBOX_DEMO_PRODUCTS": json.dumps(demo_products()),
            },
            # Outside the order flow: one Redis node, as they are built for.
            **{
                name: {f"STRATA_{name.upper().replace('-', '_')}_REDIS_URL": redis_server.url}
                for name in single_node
            },
        },
    )
    with running(config) as parts:
        yield parts


def mint_token(mint: TokenMint, service: str) -> str:
    return mint.token(*SERVICE_SCOPES, client_id=service, ttl=3600)


@pytest.fixture(scope="module")
def api(stack: dict[str, Part], token_mint: TokenMint) -> dict[str, httpx.Client]:
    headers = token_mint.headers("orders:read", "erp:read", client_id="e2e")
    return {
        name: httpx.Client(base_url=stack[name].address, headers=headers, timeout=30)
        for name in ("orders", "erp-eu", "erp-us")
    }


def acknowledged(api: dict[str, httpx.Client], shop: str, order_id: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        response = api["orders"].get(f"/orders/v1/orders/{shop}/{order_id}")
        if response.status_code != 200:
            return None
        current: dict[str, Any] = response.json()
        return current if current["state"] == "acknowledged" else None

    result: dict[str, Any] = wait_until(check, timeout=120, what=f"{shop} {order_id} acknowledged")
    return result


def in_erp(api: dict[str, httpx.Client], instance: str, shop: str, order_id: int) -> bool:
    response = api[f"erp-{instance}"].get(
        f"/erp/v1/sales-orders/by-reference/shopify:{shop}:{order_id}"
    )
    return response.status_code == 200


def test_orders_of_every_shard_land_once_in_the_erp_and_are_acknowledged(
    stack: dict[str, Part], api: dict[str, httpx.Client]
) -> None:
    sandbox = Sandbox(stack["shopify-sandbox"].address)
    placed = [
        (shop, sandbox.create_order(shop, line_items=[{"sku": sku, "quantity": 1}])["id"])
        for _ in range(2)
        for shop, (sku, _instance) in SHOPS.items()
    ]
    for shop, order_id in placed:
        final = acknowledged(api, shop, order_id)
        instance = SHOPS[shop][1]
        assert final["erp_instance"] == instance
        steps = [s["step"] for s in final["steps"]]
        assert steps.count("posted") == 1, steps
        assert in_erp(api, instance, shop, order_id)
        other = "us" if instance == "eu" else "eu"
        assert not in_erp(api, other, shop, order_id)
        tags = sandbox.order(shop, order_id)["tag_list"]
        assert f"erp:{instance}:{final['erp_order_number']}" in tags
