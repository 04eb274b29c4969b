"""Schemathesis over the committed service-desk contract against the running service, which
calls a running orders process API (real Redis; its Shopify system API is a stand-in)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import RedisServer, free_port, wait_for_port
from tests.support.schemathesis import run_schemathesis
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint
from tests.unit.service_desk.stand_ins import ShopifyStandIn, serving

pytestmark = [pytest.mark.contract, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _serve(factory: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **env},
        cwd=ROOT,
    )  # fmt: skip
    return proc, port


@pytest.fixture(scope="module")
def service_desk(redis_server: RedisServer, token_mint: TokenMint) -> Iterator[str]:
    auth = {
        "STRATA_AUTH_ISSUER": ISSUER,
        "STRATA_AUTH_AUDIENCE": AUDIENCE,
        "STRATA_AUTH_JWKS": json.dumps(token_mint.keys.public_jwks()),
    }
    started: list[subprocess.Popen[bytes]] = []
    with serving(ShopifyStandIn().app()) as shopify_url:
        try:
            orders, orders_port = _serve(
                "process_apis.orders.app:create_app",
                {
                    **auth,
                    "STRATA_ORDERS_REDIS_URL": redis_server.url,
                    "STRATA_ORDERS_ERP_INSTANCES": "{}",
                    "STRATA_ORDERS_SHOPIFY_API_URL": shopify_url,
                    "STRATA_ORDERS_RUN_WORKERS": "false",
                },
            )
            started.append(orders)
            desk, desk_port = _serve(
                "experience_apis.service_desk.app:create_app",
                {
                    **auth,
                    "STRATA_SERVICE_DESK_REDIS_URL": redis_server.url,
                    "STRATA_SERVICE_DESK_ORDERS_API_URL": f"http://127.0.0.1:{orders_port}",
                    "STRATA_SERVICE_DESK_SERVICE_TOKEN": token_mint.token(
                        "orders:read", client_id="service-desk", ttl=3600
                    ),
                    "STRATA_SERVICE_DESK_CACHE_PREFIX": "schemathesis:sd",
                },
            )
            started.append(desk)
            wait_for_port(orders_port, timeout=30)
            wait_for_port(desk_port, timeout=30)
            yield f"http://127.0.0.1:{desk_port}"
        finally:
            for proc in started:
                proc.terminate()
                proc.wait(timeout=10)


def test_schemathesis_finds_no_failure(service_desk: str, token_mint: TokenMint) -> None:
    token = token_mint.token("service-desk:read", client_id="schemathesis")
    result = run_schemathesis(
        "openapi/experience/service-desk/v1.yaml", service_desk, token, max_examples=40
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
