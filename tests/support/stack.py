"""The whole stack for end-to-end tests: the same launcher as ``strata up``, test-configured.

Services trust a throwaway key set (``TokenMint``); the process layer calls down with a token
minted from it; Redis is the test session's private server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from strata.stack import Part, StackConfig, demo_products, running
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint

SANDBOX_CONTROL = "/_sandbox"
SERVICE_SCOPES = (
    "erp:read",
    "erp:write",
    "shopify:read",
    "shopify:write",
    "orders:read",
    "inventory:read",
)


@contextmanager
def whole_stack(
    redis_url: str,
    data_dir: Path,
    log_dir: Path,
    mint: TokenMint,
    *,
    orders_env: dict[str, str] | None = None,
    sandbox_env: dict[str, str] | None = None,
    part_env: dict[str, dict[str, str]] | None = None,
    ports: dict[str, int] | None = None,
) -> Iterator[dict[str, Part]]:
    """The whole stack on ``redis_url``; ``part_env`` adds environment to parts by name and
    ``ports`` pins parts' ports (for a proxy put in front of one)."""

    def service_token(service: str) -> dict[str, str]:
        token = mint.token(*SERVICE_SCOPES, client_id=service, ttl=3600)
        return {f"STRATA_{service.upper().replace('-', '_')}_SERVICE_TOKEN": token}

    config = StackConfig(
        redis_url=redis_url,
        data_dir=data_dir,
        log_dir=log_dir,
        auth_env={
            "STRATA_AUTH_ISSUER": ISSUER,
            "STRATA_AUTH_AUDIENCE": AUDIENCE,
            "STRATA_AUTH_JWKS": json.dumps(mint.keys.public_jwks()),
        },
        service_auth_env=service_token,
        run_issuer=False,
        part_env={
            "orders": {
                "STRATA_ORDERS_RETRY_BASE_DELAY": "0.2",
                "STRATA_ORDERS_RETRY_MAX_DELAY": "1.5",
                "STRATA_ORDERS_MAX_ATTEMPTS": "30",
                "STRATA_ORDERS_CLAIM_IDLE": "5",
                **(orders_env or {}),
            },
            "shopify-sandbox": {
                # One SKU the shop sells but no ERP knows: a permanent mapping failure on demand.
                "STRATA_SANDBOX_DEMO_PRODUCTS": json.dumps(
                    [*demo_products(), ("GIFT-WRAP", "Gift wrap", "3.00")]
                ),
                **(sandbox_env or {}),
            },
            **(part_env or {}),
        },
        ports=ports or {},
    )
    with running(config) as parts:
        yield parts


def wait_until(
    check: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.25, what: str = ""
) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Sandbox:
    """The Shopify sandbox's control API."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base + SANDBOX_CONTROL, timeout=30)

    def create_order(self, shop: str, **draft: Any) -> dict[str, Any]:
        response = self.http.post(f"/shops/{shop}/orders", json=draft)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def order(self, shop: str, order_id: int) -> dict[str, Any]:
        response = self.http.get(f"/shops/{shop}/orders/{order_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def deliveries(self, **query: str) -> list[dict[str, Any]]:
        response = self.http.get("/deliveries", params=query)
        response.raise_for_status()
        body: Any = response.json()
        return body if isinstance(body, list) else body.get("items", body.get("deliveries", []))

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(path, json=body or {})

    def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.put(path, json=body)
