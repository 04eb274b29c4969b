"""``products/*`` webhooks from single calls too: productSet (create, then update) and
productChangeStatus (update when the status changes, nothing when it does not)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from sandbox.shopify import SandboxSettings, ShopifySandbox
from sandbox.shopify.app import create_app
from tests.unit.sandbox.conftest import SHOP, AdminClient
from tests.unit.sandbox.test_bulk import Hooks, product_line

SET = """
mutation Set($input: ProductSetInput!, $identifier: ProductSetIdentifiers) {
  productSet(input: $input, identifier: $identifier) {
    product { id status }
    userErrors { code }
  }
}
"""
STATUS = """
mutation Status($id: ID!, $status: ProductStatus!) {
  productChangeStatus(productId: $id, status: $status) { product { status } userErrors { code } }
}
"""


@pytest.fixture
async def admin(hooks: Hooks) -> AsyncIterator[tuple[ShopifySandbox, AdminClient]]:
    sandbox = ShopifySandbox(
        SandboxSettings(), webhook_transport=httpx.MockTransport(hooks.handler)
    )
    for topic in ("products/create", "products/update"):
        sandbox.webhooks.subscribe(SHOP, topic, "https://strata.test/webhooks")
    async with AsyncTestClient(create_app(sandbox=sandbox)) as client:
        yield sandbox, AdminClient(client)


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


async def test_product_set_and_status_send_product_webhooks(
    admin: tuple[ShopifySandbox, AdminClient], hooks: Hooks
) -> None:
    sandbox, client = admin
    line: dict[str, Any] = product_line(5)
    made = await client.run(SET, line)
    product = made["data"]["productSet"]["product"]
    await hooks.received({"products/create": 1})
    await client.run(SET, product_line(5, price="30.00"))
    await hooks.received({"products/update": 1})
    archived = await client.run(STATUS, {"id": product["id"], "status": "ARCHIVED"})
    assert archived["data"]["productChangeStatus"]["product"]["status"] == "ARCHIVED"
    await hooks.received({"products/update": 2})
    await client.run(STATUS, {"id": product["id"], "status": "ARCHIVED"})  # no change

    [created] = hooks.bodies["products/create"]
    first, second = hooks.bodies["products/update"]
    assert created["admin_graphql_api_id"] == product["id"]
    assert (created["handle"], created["status"]) == ("bulk-tee-5", "active")
    assert {v["price"] for v in first["variants"]} == {"30.00"}
    assert second["status"] == "archived"
    assert second["updated_at"] >= first["updated_at"]
    # Deliveries are logged when published: the unchanged status made none.
    assert len(sandbox.webhooks.log(shop=SHOP, topic="products/update")) == 2
