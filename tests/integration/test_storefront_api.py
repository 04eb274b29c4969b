"""The storefront over the whole chain: real Tryton, the real ERP API, the inventory and orders
processes (uvicorn), real Redis; callers authenticate with Shopify session tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from experience_apis.storefront.app import create_app
from experience_apis.storefront.settings import StorefrontSettings
from process_apis.orders.fulfillment.records import (
    FulfillmentLine,
    FulfillmentRecord,
    FulfillmentRecords,
    FulfillmentTracking,
    shipment_key,
    shopify_key,
)
from process_apis.orders.pipeline import PipelineStore
from sandbox.shopify.session_tokens import mint_session_token
from sandbox.tryton import DEMO_SKUS, TrytonServer
from shared.auth import ShopifyAppSettings
from shared.ratelimit import RateLimitSettings
from tests.integration.test_inventory_api import auth_env, erp_api, serve
from tests.support.processes import RedisServer
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.integration, pytest.mark.slow]
APP = ShopifyAppSettings(
    client_id="storefront-app",
    client_secret="storefront-secret",
    scopes=frozenset({"storefront:read"}),
)
ACME = "acme-it.myshopify.com"
GLOBEX = "globex-it.myshopify.com"


@pytest.fixture(scope="module")
def process_urls(
    tryton_eu: TrytonServer, redis_server: RedisServer, token_mint: TokenMint
) -> Iterator[dict[str, str]]:
    """The ERP API (eu), and above it the inventory and orders processes."""
    with erp_api(tryton_eu, "eu", redis_server.url, token_mint) as erp:
        inventory_env = {
            "STRATA_INVENTORY_REDIS_URL": redis_server.url,
            "STRATA_INVENTORY_ERP_INSTANCES": f'{{"eu": "{erp.url}"}}',
            "STRATA_INVENTORY_KEY_PREFIX": f"test:sf:{{{uuid.uuid4().hex[:8]}}}",
            "STRATA_INVENTORY_SERVICE_TOKEN": token_mint.token("erp:read", client_id="inventory"),
            "STRATA_INVENTORY_RATELIMIT_ENABLED": "false",
            **auth_env(token_mint),
        }
        orders_env = {
            "STRATA_ORDERS_REDIS_URL": redis_server.url,
            "STRATA_ORDERS_RUN_WORKERS": "false",
            "STRATA_ORDERS_RATELIMIT_ENABLED": "false",
            **auth_env(token_mint),
        }
        with (
            serve("process_apis.inventory.app:create_app", inventory_env) as inventory,
            serve("process_apis.orders.app:create_app", orders_env) as orders,
        ):
            yield {"inventory": inventory.url, "orders": orders.url}


@pytest.fixture
async def storefront(
    process_urls: dict[str, str], redis_url: str, token_mint: TokenMint
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = StorefrontSettings(
        redis_url=redis_url,
        inventory_api_url=process_urls["inventory"],
        orders_api_url=process_urls["orders"],
        service_token=token_mint.token("inventory:read", "orders:read", client_id="storefront"),
    )
    app = create_app(
        settings,
        auth=token_mint.settings(authenticators=("oauth2", "shopify"), shopify_apps=(APP,)),
        rate_limit=RateLimitSettings(enabled=False),
    )
    async with AsyncTestClient(app=app, timeout=60) as client:
        yield client


@pytest.fixture
async def pipeline(redis_url: str) -> AsyncIterator[PipelineStore]:
    redis = Redis.from_url(redis_url)
    yield PipelineStore(redis)
    await redis.aclose()


def session(shop: str, **kw: object) -> dict[str, str]:
    token = mint_session_token(
        shop=shop,
        client_id=APP.client_id,
        client_secret=APP.client_secret,
        **kw,  # type: ignore[arg-type]
    )
    return {"Authorization": f"Bearer {token}"}


def order_id() -> str:
    return str(uuid.uuid4().int % 10**13)


async def test_availability_of_20_demo_skus(storefront) -> None:
    skus = list(DEMO_SKUS[:20])
    resp = await storefront.get(
        "/storefront/v1/availability", params={"sku": skus}, headers=session(ACME)
    )
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert [i["sku"] for i in items] == skus
    assert any(i["stock"] == "in_stock" for i in items)
    # The demo catalogue has a size with no stock at all.
    assert {i["sku"]: i["stock"] for i in items}.get(
        "SNKR-WHT-44", "out_of_stock"
    ) == "out_of_stock"
    for item in items:
        assert item["in_stock"] == (item["stock"] in ("in_stock", "low_stock"))
        assert (item["quantity"] is not None) == (item["stock"] == "low_stock")


async def test_own_order_status_and_cross_shop_attempts(storefront, pipeline) -> None:
    mine, theirs = order_id(), order_id()
    await pipeline.record(ACME, mine, "received", state="received")
    await pipeline.record(
        ACME, mine, "posted", state="posted", erp_instance="eu", erp_order_number="SO-1"
    )
    await pipeline.record(GLOBEX, theirs, "received", state="received")
    await pipeline.record(GLOBEX, theirs, "posted", state="posted", erp_order_number="SO-SECRET")

    own = await storefront.get(f"/storefront/v1/orders/{mine}/status", headers=session(ACME))
    assert own.status_code == 200, own.text
    assert own.json()["status"] == "confirmed"
    assert own.json()["shipped"] is False
    assert "SO-1" not in own.text
    assert "eu" not in own.json().values()

    for attempt in (
        storefront.get(f"/storefront/v1/orders/{theirs}/status", headers=session(ACME)),
        storefront.get(
            f"/storefront/v1/orders/{theirs}/status", params={"shop": GLOBEX}, headers=session(ACME)
        ),
    ):
        resp = await attempt
        assert resp.status_code in (403, 404)
        assert "SO-SECRET" not in resp.text
        assert "confirmed" not in resp.text


async def test_forged_and_expired_session_tokens_are_401(storefront, pipeline) -> None:
    mine = order_id()
    await pipeline.record(ACME, mine, "received", state="received")
    forged = mint_session_token(shop=ACME, client_id=APP.client_id, client_secret="guessed")
    for headers in (
        {"Authorization": f"Bearer {forged}"},
        session(ACME, issued_at=int(time.time()) - 3600),
    ):
        resp = await storefront.get(f"/storefront/v1/orders/{mine}/status", headers=headers)
        assert resp.status_code == 401
        assert "received" not in resp.text


async def test_a_partly_shipped_order_with_a_link_per_parcel(storefront, pipeline) -> None:
    mine = order_id()
    await pipeline.record(ACME, mine, "acknowledged", state="acknowledged", erp_instance="eu")
    await pipeline.record(
        ACME, mine, "fulfillment_status", fulfillment_status="partially_fulfilled"
    )
    records = FulfillmentRecords(pipeline.redis)
    # One parcel the ERP shipped (Shopify has it), one a warehouse fulfilled in Shopify.
    await records.put(
        ACME,
        mine,
        FulfillmentRecord(
            key=shipment_key("eu", "31"),
            source="erp",
            state="fulfilled",
            fulfillment_id=9001,
            erp_instance="eu",
            shipment_number="OUT-31",
            carrier="DHL",
            tracking=[FulfillmentTracking(number="JD31", url="https://dhl.example/JD31")],
            lines=[FulfillmentLine(sku="TOTE-NAT", quantity=1)],
            shipped_at=time.time() - 60,
        ),
    )
    await records.put(
        ACME,
        mine,
        FulfillmentRecord(
            key=shopify_key(9002),
            source="shopify",
            state="fulfilled",
            fulfillment_id=9002,
            carrier="La Poste",
            tracking=[FulfillmentTracking(number="6A1", url="javascript:alert(1)")],
            shipped_at=time.time(),
        ),
    )
    resp = await storefront.get(f"/storefront/v1/orders/{mine}/status", headers=session(ACME))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["status"], body["fulfillment"], body["shipped"]) == (
        "shipped",
        "partially_shipped",
        True,
    )
    assert body["tracking"] == [
        {"url": "https://dhl.example/JD31", "carrier": "DHL", "number": "JD31"}
    ]
    assert "OUT-31" not in resp.text
    assert "javascript" not in resp.text
