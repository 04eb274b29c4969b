"""Schemathesis over the committed inventory contract against the running service (real
Tryton behind the real ERP system API, real Redis)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.tryton import TrytonServer
from tests.integration.test_inventory_api import auth_env, erp_api, serve
from tests.support.processes import RedisServer
from tests.support.schemathesis import run_schemathesis
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.contract, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def inventory_service(
    tryton_eu: TrytonServer, redis_server: RedisServer, token_mint: TokenMint
) -> Iterator[str]:
    with erp_api(tryton_eu, "eu", redis_server.url, token_mint) as erp:
        env = {
            "STRATA_INVENTORY_REDIS_URL": redis_server.url,
            "STRATA_INVENTORY_ERP_INSTANCES": f'{{"eu": "{erp.url}"}}',
            "STRATA_INVENTORY_KEY_PREFIX": f"test:st:{{{uuid.uuid4().hex[:8]}}}",
            "STRATA_INVENTORY_SERVICE_TOKEN": token_mint.token("erp:read", client_id="inventory"),
            "STRATA_INVENTORY_RATELIMIT_ENABLED": "false",
            **auth_env(token_mint),
        }
        with serve("process_apis.inventory.app:create_app", env) as inventory:
            yield inventory.url


def test_schemathesis_finds_no_failure(inventory_service: str, token_mint: TokenMint) -> None:
    token = token_mint.token("inventory:read", "inventory:reserve", client_id="schemathesis")
    result = run_schemathesis("openapi/process/inventory/v1.yaml", inventory_service, token)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
