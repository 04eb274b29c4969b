"""Schemathesis over the committed catalog contract against the running service (real Redis).

The runs it starts fail in the background (no ERP or Shopify system API answers here): the
contract under test is the catalog API's own, whose answers do not wait for a run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_inventory_api import auth_env, serve
from tests.support.processes import RedisServer, free_port
from tests.support.schemathesis import run_schemathesis
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.contract, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def catalog_service(redis_server: RedisServer, token_mint: TokenMint) -> Iterator[str]:
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {
        "STRATA_CATALOG_REDIS_URL": redis_server.url,
        "STRATA_CATALOG_ERP_INSTANCES": json.dumps({"eu": nowhere}),
        "STRATA_CATALOG_SHOPIFY_URL": nowhere,
        "STRATA_CATALOG_SHOPS": json.dumps(
            {"demo-eu.myshopify.com": {"instance": "eu", "currency": "EUR"}}
        ),
        "STRATA_CATALOG_KEY_PREFIX": f"test:catalog:{uuid.uuid4().hex[:8]}",
        "STRATA_CATALOG_TIMEOUT": "1",
        "STRATA_CATALOG_SERVICE_TOKEN": token_mint.token("erp:read", client_id="catalog"),
        "STRATA_CATALOG_RATELIMIT_ENABLED": "false",
        **auth_env(token_mint),
    }
    with serve("process_apis.catalog.app:create_app", env) as catalog:
        yield catalog.url


def test_schemathesis_finds_no_failure(catalog_service: str, token_mint: TokenMint) -> None:
    token = token_mint.token("catalog:read", "catalog:publish", client_id="schemathesis")
    result = run_schemathesis("openapi/process/catalog/v1.yaml", catalog_service, token)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
