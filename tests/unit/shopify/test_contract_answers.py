"""What the Shopify system API's document says against what the app does, without upstreams."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from system_apis.shopify.app import create_app
from system_apis.shopify.settings import ShopifySettings

SAMPLES = {
    "shop": "demo-eu.myshopify.com",
    "order_id": "1",
    "product_id": "8100000000001",
    "handle": "tee",
    "operation_id": "1",
    "fulfillment_id": "1",
}


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    # Nothing is called: the Redis and HTTP clients are made but never connect.
    async with AsyncTestClient(create_app(ShopifySettings())) as test_client:
        yield test_client


@pytest.fixture
async def document(client: AsyncTestClient[Litestar]) -> dict[str, Any]:
    answer = await client.get("/schema/openapi.json")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


async def test_options_allows_exactly_the_documented_methods(
    client: AsyncTestClient[Litestar], document: dict[str, Any]
) -> None:
    checked = 0
    for template, operations in document["paths"].items():
        url = re.sub(r"\{(\w+)\}", lambda m: SAMPLES[m.group(1)], template)
        answer = await client.options(url)
        assert answer.status_code == 204, url
        allowed = {m.strip() for m in answer.headers["allow"].split(",")}
        assert allowed == {m.upper() for m in operations} | {"OPTIONS"}, url
        checked += 1
    assert checked >= 9


def test_limits_of_list_items_are_documented(document: dict[str, Any]) -> None:
    tags = document["components"]["schemas"]["TagsAdd"]["properties"]["tags"]
    assert tags["items"] == {"type": "string", "minLength": 1, "maxLength": 255}
    assert (tags["minItems"], tags["maxItems"]) == (1, 250)
