"""Schemathesis over the committed orders and Shopify contracts against running services."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from strata.stack import SANDBOX_SECRET, SANDBOX_TOKEN, Part, start_part, stop_part, strata
from tests.support.processes import RedisServer, free_port
from tests.support.schemathesis import run_schemathesis
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint

pytestmark = [pytest.mark.contract, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "var" / "log" / "schemathesis"


def auth_env(mint: TokenMint) -> dict[str, str]:
    return {
        "STRATA_AUTH_ISSUER": ISSUER,
        "STRATA_AUTH_AUDIENCE": AUDIENCE,
        "STRATA_AUTH_JWKS": json.dumps(mint.keys.public_jwks()),
    }


@pytest.fixture(scope="module")
def services(redis_server: RedisServer, token_mint: TokenMint) -> Iterator[dict[str, Part]]:
    LOGS.mkdir(parents=True, exist_ok=True)
    sandbox_port, shopify_port, orders_port = free_port(), free_port(), free_port()
    parts = [
        Part(
            "shopify-sandbox",
            strata("serve", "shopify-sandbox", "--port", str(sandbox_port)),
            sandbox_port,
            ready_path="/_sandbox/health",
        ),
        Part(
            "shopify",
            strata("serve", "shopify", "--port", str(shopify_port)),
            shopify_port,
            env={
                **auth_env(token_mint),
                "STRATA_SHOPIFY_REDIS_URL": redis_server.url,
                "STRATA_SHOPIFY_SHOPS": json.dumps(
                    {
                        "demo-eu.myshopify.com": {
                            "secret": SANDBOX_SECRET,
                            "access_token": SANDBOX_TOKEN,
                        }
                    }
                ),
                "STRATA_SHOPIFY_ADMIN_URL": f"http://127.0.0.1:{sandbox_port}"
                "/shops/{shop}/admin/api/{version}/graphql.json",
            },
        ),
        Part(
            "orders",
            strata("serve", "orders", "--port", str(orders_port)),
            orders_port,
            env={
                **auth_env(token_mint),
                "STRATA_ORDERS_REDIS_URL": redis_server.url,
                "STRATA_ORDERS_RUN_WORKERS": "false",
                "STRATA_ORDERS_STREAM_PREFIX": "strata:schemathesis",
                # Order context reads Shopify (running here) and no ERP: unknown orders are 404.
                "STRATA_ORDERS_ERP_INSTANCES": "{}",
                "STRATA_ORDERS_SHOPIFY_API_URL": f"http://127.0.0.1:{shopify_port}",
                "STRATA_ORDERS_SERVICE_TOKEN": token_mint.token(
                    "shopify:read", client_id="orders", ttl=3600
                ),
            },
        ),
    ]
    started: list[Part] = []
    try:
        for part in parts:
            start_part(part, LOGS)
            started.append(part)
        yield {p.name: p for p in parts}
    finally:
        for part in reversed(started):
            stop_part(part)


def test_orders_contract(services: dict[str, Part], token_mint: TokenMint) -> None:
    token = token_mint.token("orders:read", "orders:write", "orders:replay", client_id="st")
    result = run_schemathesis(
        "openapi/process/orders/v1.yaml", services["orders"].address, token, max_examples=20
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


def test_shopify_contract(services: dict[str, Part], token_mint: TokenMint) -> None:
    token = token_mint.token("shopify:read", "shopify:write", client_id="st")
    result = run_schemathesis("openapi/system/shopify/v1.yaml", services["shopify"].address, token)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
