from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from sandbox.shopify import OrderDraft, OrderLineDraft, SandboxSettings, ShopifySandbox
from sandbox.shopify.app import create_app

TOKEN = "shpat_sandbox_token"
SHOP = "demo-eu.myshopify.com"


class AdminClient:
    """Posts Admin GraphQL to the in-process sandbox the way a Shopify client would."""

    def __init__(self, client: AsyncTestClient[Any], version: str = "2026-04") -> None:
        self.client = client
        self.version = version

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        version: str | None = None,
        token: str = TOKEN,
    ) -> httpx.Response:
        return await self.client.post(
            f"/admin/api/{version or self.version}/graphql.json",
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": token, "Host": SHOP},
        )

    async def run(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        response = await self.post(query, variables, **kw)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def sandbox() -> ShopifySandbox:
    return ShopifySandbox(SandboxSettings(time_scale=1.0))


@pytest.fixture
async def admin(sandbox: ShopifySandbox) -> AsyncIterator[AdminClient]:
    async with AsyncTestClient(create_app(sandbox=sandbox)) as client:
        yield AdminClient(client)


def place_order(sandbox: ShopifySandbox, sku: str = "STR-TEE-BLK-M", quantity: int = 2) -> int:
    order = sandbox.create_order(
        SHOP, OrderDraft(line_items=[OrderLineDraft(sku=sku, quantity=quantity)])
    )
    return order.id
