"""The storefront API over in-memory process APIs: session tokens, tenants, shaping."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from experience_apis.storefront.app import create_app
from experience_apis.storefront.settings import StorefrontSettings
from sandbox.shopify.session_tokens import mint_session_token
from shared.auth import ShopifyAppSettings
from shared.ratelimit import RateLimitSettings
from tests.support.tokens import TokenMint

APP = ShopifyAppSettings(
    client_id="storefront-app",
    client_secret="storefront-secret",
    scopes=frozenset({"storefront:read"}),
)
ACME = "acme.myshopify.com"
GLOBEX = "globex.myshopify.com"


class FakeProcesses:
    """The inventory and orders process APIs, in memory."""

    def __init__(self) -> None:
        self.available = {"MUG": 40, "CAP": 2, "TEE": 0}
        self.complete = True
        self.orders = {
            (ACME, "1001"): {"state": "acknowledged", "fulfillments": []},
            (GLOBEX, "2002"): {
                "state": "acknowledged",
                "erp_instance": "us",
                "erp_order_number": "SO-77",
                "fulfillment_status": "fulfilled",
                "fulfillments": [
                    {
                        "source": "erp",
                        "state": "fulfilled",
                        "erp_instance": "us",
                        "shipment_number": "SH-77",
                        "carrier": "DHL",
                        "tracking": [{"number": "G1", "url": "https://track.example/G1"}],
                        "lines": [{"sku": "MUG", "quantity": 1}],
                    }
                ],
            },
        }
        self.paths: list[str] = []
        self.inventory_status = 200
        self.orders_failure: type[httpx.TransportError] | None = None

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path == "/inventory/v1/availability":
            if self.inventory_status != 200:
                return httpx.Response(self.inventory_status, headers={"Retry-After": "7"})
            skus = request.url.params.get_list("sku")
            items = [
                {
                    "sku": s,
                    "available_to_sell": self.available.get(s, 0),
                    "known": s in self.available,
                }
                for s in skus
            ]
            return httpx.Response(
                200, content=msgspec.json.encode({"items": items, "complete": self.complete})
            )
        if self.orders_failure is not None:
            raise self.orders_failure("orders trouble", request=request)
        _, _, _, _, shop, order_id = request.url.path.split("/")
        found = self.orders.get((shop, order_id))
        if found is None:
            return httpx.Response(404, json={"status": 404})
        body = {"shop": shop, "order_id": order_id, "updated_at": 1.0, "steps": [], **found}
        return httpx.Response(200, json=body)


@pytest.fixture
def processes() -> FakeProcesses:
    return FakeProcesses()


@pytest.fixture
async def client(processes: FakeProcesses, token_mint: TokenMint) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    http = httpx.AsyncClient(
        base_url="http://process.test", transport=httpx.MockTransport(processes.handle)
    )
    app = create_app(
        StorefrontSettings(low_stock_threshold=5),
        auth=token_mint.settings(authenticators=("oauth2", "shopify"), shopify_apps=(APP,)),
        rate_limit=RateLimitSettings(enabled=False),
        inventory_client=http,
        orders_client=http,
    )
    async with AsyncTestClient(app=app) as c:
        yield c
    await http.aclose()


def session(shop: str = ACME, **kw: object) -> dict[str, str]:
    token = mint_session_token(
        shop=shop,
        client_id=APP.client_id,
        client_secret=APP.client_secret,
        **kw,  # type: ignore[arg-type]
    )
    return {"Authorization": f"Bearer {token}"}


async def test_availability_for_a_session_token(client) -> None:
    resp = await client.get(
        "/storefront/v1/availability",
        params={"sku": ["MUG", "CAP", "TEE", "NEW"]},
        headers=session(),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "items": [
            {"sku": "MUG", "in_stock": True, "stock": "in_stock", "quantity": None},
            {"sku": "CAP", "in_stock": True, "stock": "low_stock", "quantity": 2},
            {"sku": "TEE", "in_stock": False, "stock": "out_of_stock", "quantity": None},
            {"sku": "NEW", "in_stock": False, "stock": "out_of_stock", "quantity": None},
        ]
    }


async def test_inventory_trouble_is_503_with_retry_after(client, processes) -> None:
    processes.inventory_status = 503
    resp = await client.get("/storefront/v1/availability", params={"sku": "MUG"}, headers=session())
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "7"
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_orders_trouble_is_504_when_slow_and_503_when_unreachable(client, processes) -> None:
    processes.orders_failure = httpx.ReadTimeout
    slow = await client.get("/storefront/v1/orders/1001/status", headers=session())
    assert slow.status_code == 504
    assert slow.json()["type"].endswith("/upstream-timeout")
    calls = len(processes.paths)
    processes.orders_failure = httpx.ConnectError
    down = await client.get("/storefront/v1/orders/1001/status", headers=session())
    assert down.status_code == 503
    assert down.headers["Retry-After"] == "2"
    assert len(processes.paths) == calls + 2  # a GET that found no one is asked once more


async def test_own_order_status_in_customer_words(client, processes) -> None:
    resp = await client.get("/storefront/v1/orders/1001/status", headers=session())
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "order": "1001",
        "status": "confirmed",
        "message": "Your order is confirmed and is being prepared for shipping.",
        "shipped": False,
        "tracking": [],
        "updated_at": 1.0,
        "fulfillment": "unfulfilled",
    }
    assert processes.paths[-1] == f"/orders/v1/orders/{ACME}/1001"


async def test_another_shops_order_is_404_without_data(client, processes) -> None:
    # The order exists, but in globex: acme's token looks in acme and finds nothing.
    resp = await client.get("/storefront/v1/orders/2002/status", headers=session(ACME))
    assert resp.status_code == 404
    assert "SO-77" not in resp.text
    assert "track.example" not in resp.text
    # Naming the other shop outright is refused before any call goes down.
    calls = len(processes.paths)
    named = await client.get(
        "/storefront/v1/orders/2002/status", params={"shop": GLOBEX}, headers=session(ACME)
    )
    assert named.status_code == 404
    assert "track.example" not in named.text
    assert len(processes.paths) == calls
    own = await client.get("/storefront/v1/orders/2002/status", headers=session(GLOBEX))
    assert own.status_code == 200
    assert own.json()["tracking"] == [
        {"url": "https://track.example/G1", "carrier": "DHL", "number": "G1"}
    ]
    assert (own.json()["status"], own.json()["fulfillment"]) == ("shipped", "shipped")
    assert "SO-77" not in own.text
    assert "SH-77" not in own.text


async def test_forged_session_token_is_401(client) -> None:
    forged = mint_session_token(shop=ACME, client_id=APP.client_id, client_secret="not-the-secret")
    resp = await client.get(
        "/storefront/v1/orders/1001/status", headers={"Authorization": f"Bearer {forged}"}
    )
    assert resp.status_code == 401
    assert "confirmed" not in resp.text


async def test_expired_session_token_is_401(client) -> None:
    resp = await client.get(
        "/storefront/v1/orders/1001/status", headers=session(issued_at=int(time.time()) - 600)
    )
    assert resp.status_code == 401


async def test_session_token_for_another_app_is_401(client) -> None:
    token = mint_session_token(shop=ACME, client_id="other-app", client_secret=APP.client_secret)
    resp = await client.get(
        "/storefront/v1/availability",
        params={"sku": "MUG"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 401


async def test_service_callers_name_the_shop(client, token_mint: TokenMint) -> None:
    headers = token_mint.headers("storefront:read")
    missing = await client.get("/storefront/v1/orders/1001/status", headers=headers)
    assert missing.status_code == 422
    resp = await client.get(
        "/storefront/v1/orders/1001/status", params={"shop": "acme"}, headers=headers
    )
    assert resp.status_code == 200
    assert resp.json()["status"] == "confirmed"


async def test_an_access_token_without_the_scope_is_403(client, token_mint: TokenMint) -> None:
    resp = await client.get(
        "/storefront/v1/availability",
        params={"sku": "MUG"},
        headers=token_mint.headers("orders:read"),
    )
    assert resp.status_code == 403


async def test_bad_order_id_is_400(client) -> None:
    resp = await client.get("/storefront/v1/orders/..%2F..%2Fx/status", headers=session())
    assert resp.status_code in (400, 404)
    resp = await client.get("/storefront/v1/orders/abc/status", headers=session())
    assert resp.status_code == 400


async def test_availability_is_kept_for_a_moment(client, processes) -> None:
    params = {"sku": ["MUG", "CAP"]}
    first = await client.get("/storefront/v1/availability", params=params, headers=session())
    processes.available["CAP"] = 0
    again = await client.get("/storefront/v1/availability", params=params, headers=session())
    assert again.json() == first.json()
    assert processes.paths.count("/inventory/v1/availability") == 1
