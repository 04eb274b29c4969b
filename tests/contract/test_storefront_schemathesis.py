"""Schemathesis over the committed storefront contract against the running service, with the
inventory and orders processes, the ERP system API and Tryton behind it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from sandbox.tryton import TrytonServer
from tests.integration.test_inventory_api import auth_env, erp_api, serve
from tests.support.processes import RedisServer
from tests.support.schemathesis import run_schemathesis
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.contract, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def storefront_service(
    tryton_eu: TrytonServer, redis_server: RedisServer, token_mint: TokenMint
) -> Iterator[str]:
    redis_url = redis_server.url
    with erp_api(tryton_eu, "eu", redis_url, token_mint) as erp:
        inventory_env = {
            "STRATA_INVENTORY_REDIS_URL": redis_url,
            "STRATA_INVENTORY_ERP_INSTANCES": f'{{"eu": "{erp.url}"}}',
            "STRATA_INVENTORY_KEY_PREFIX": f"test:st:{{{uuid.uuid4().hex[:8]}}}",
            "STRATA_INVENTORY_SERVICE_TOKEN": token_mint.token("erp:read", client_id="inventory"),
            "STRATA_INVENTORY_RATELIMIT_ENABLED": "false",
            **auth_env(token_mint),
        }
        orders_env = {
            "STRATA_ORDERS_REDIS_URL": redis_url,
            "STRATA_ORDERS_RUN_WORKERS": "false",
            "STRATA_ORDERS_RATELIMIT_ENABLED": "false",
            **auth_env(token_mint),
        }
        with (
            serve("process_apis.inventory.app:create_app", inventory_env) as inventory,
            serve("process_apis.orders.app:create_app", orders_env) as orders,
        ):
            storefront_env = {
                "STRATA_STOREFRONT_REDIS_URL": redis_url,
                "STRATA_STOREFRONT_INVENTORY_API_URL": inventory.url,
                "STRATA_STOREFRONT_ORDERS_API_URL": orders.url,
                "STRATA_STOREFRONT_SERVICE_TOKEN": token_mint.token(
                    "inventory:read", "orders:read", client_id="storefront"
                ),
                "STRATA_STOREFRONT_RATELIMIT_ENABLED": "false",
                "STRATA_AUTH_AUTHENTICATORS": '["oauth2", "shopify"]',
                "STRATA_AUTH_SHOPIFY_APPS": json.dumps(
                    [
                        {
                            "client_id": "storefront-app",
                            "client_secret": "storefront-secret",
                            "scopes": ["storefront:read"],
                        }
                    ]
                ),
                **auth_env(token_mint),
            }
            with serve("experience_apis.storefront.app:create_app", storefront_env) as storefront:
                yield storefront.url


def test_schemathesis_finds_no_failure(storefront_service: str, token_mint: TokenMint) -> None:
    token = token_mint.token("storefront:read", client_id="schemathesis")
    result = run_schemathesis("openapi/experience/storefront/v1.yaml", storefront_service, token)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
