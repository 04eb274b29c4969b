"""The service-desk API over a real Redis (cache, rate limits), with Zendesk signed requests and
OAuth tokens; the orders process API it calls is a recorded stand-in answering in its shapes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from experience_apis.service_desk.app import create_app
from experience_apis.service_desk.settings import ServiceDeskSettings
from process_apis.orders.schemas import FulfillmentTrackingView, OrderFulfillment
from shared.auth import ZendeskAccountSettings
from tests.support.tokens import AUDIENCE, TokenMint
from tests.unit.auth.forgery import hs256, zendesk_claims
from tests.unit.service_desk.samples import customer_page, encode, order_context

pytestmark = pytest.mark.integration  # real Redis

ACME_SECRET = "acme-zendesk-shared-secret-0123456789"
GLOBEX_SECRET = "globex-zendesk-shared-secret-987654321"
ACME_SHOP = "acme.myshopify.com"
GLOBEX_SHOP = "globex.myshopify.com"


class OrdersStandIn:
    """Answers like the orders process API and records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status = 200
        self.shopify_down = False
        self.fulfillments: tuple[OrderFulfillment, ...] = ()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"status": self.status})
        parts = request.url.path.strip("/").split("/")
        if parts[2] == "customers":
            shops = request.url.params.get_list("shop") or [ACME_SHOP, GLOBEX_SHOP]
            return httpx.Response(200, content=encode(customer_page(parts[3], shops)))
        shop, order_id = parts[3], parts[4]
        if order_id != "1001":
            return httpx.Response(404, json={"status": 404, "title": "not found"})
        context = order_context(
            shop, order_id, shopify_down=self.shopify_down, fulfillments=self.fulfillments
        )
        return httpx.Response(200, content=encode(context))


def zendesk_token(subdomain: str, secret: str, **overrides: Any) -> dict[str, str]:
    token = hs256(
        {"alg": "HS256", "typ": "JWT"}, zendesk_claims(subdomain, AUDIENCE, **overrides), secret
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def upstream() -> OrdersStandIn:
    return OrdersStandIn()


@pytest.fixture
async def desk(
    redis_url: str, token_mint: TokenMint, upstream: OrdersStandIn
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    auth = token_mint.settings(
        authenticators=("oauth2", "zendesk"),
        zendesk_accounts=(
            ZendeskAccountSettings(
                subdomain="acme",
                shared_secret=ACME_SECRET,
                shops=(ACME_SHOP,),
                scopes=frozenset({"service-desk:read"}),
            ),
            ZendeskAccountSettings(
                subdomain="globex",
                shared_secret=GLOBEX_SECRET,
                shops=(GLOBEX_SHOP,),
                scopes=frozenset({"service-desk:read"}),
            ),
        ),
    )
    settings = ServiceDeskSettings(
        redis_url=redis_url,
        orders_api_url="http://orders.test",
        cache_prefix=f"t:{uuid.uuid4().hex[:8]}:sd",
        service_token="service-token",
    )
    app = create_app(settings, auth=auth, orders_transport=httpx.MockTransport(upstream))
    async with AsyncTestClient(app=app) as client:
        yield client


CONTEXT = f"/service-desk/v1/orders/{ACME_SHOP}/1001/context"


async def test_signed_request_from_the_zendesk_proxy_is_served(desk, upstream) -> None:
    response = await desk.get(CONTEXT, headers=zendesk_token("acme", ACME_SECRET))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order"]["name"] == "#1001"
    assert body["erp"]["number"] == "SO-0042"
    assert body["complete"] is True
    # The call down carried this service's own token, not the agent's.
    assert upstream.requests[0].headers["Authorization"] == "Bearer service-token"


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(zendesk_token("acme", "not-the-secret"), id="wrong-secret"),
        pytest.param(zendesk_token("acme", GLOBEX_SECRET), id="another-accounts-secret"),
        pytest.param(zendesk_token("acme", ACME_SECRET, exp=int(time.time()) - 600), id="expired"),
        pytest.param(zendesk_token("acme", ACME_SECRET, aud="someone-else"), id="audience"),
        pytest.param(zendesk_token("initech", ACME_SECRET), id="unknown-account"),
        pytest.param({"Authorization": "Bearer a.b.c"}, id="garbage"),
        pytest.param({}, id="missing"),
    ],
)
async def test_forged_or_stale_requests_are_refused(desk, upstream, forged) -> None:
    response = await desk.get(CONTEXT, headers={"Authorization": "", **forged})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert upstream.requests == []


async def test_another_accounts_order_is_not_found_and_not_fetched(desk, upstream) -> None:
    response = await desk.get(CONTEXT, headers=zendesk_token("globex", GLOBEX_SECRET))
    assert response.status_code in (403, 404)
    assert "SO-0042" not in response.text
    assert "#1001" not in response.text
    assert upstream.requests == []


async def test_cross_tenant_cache_is_not_a_side_door(desk, upstream) -> None:
    # Acme's agent warms the cache; Globex's agent still gets nothing.
    assert (await desk.get(CONTEXT, headers=zendesk_token("acme", ACME_SECRET))).status_code == 200
    response = await desk.get(CONTEXT, headers=zendesk_token("globex", GLOBEX_SECRET))
    assert response.status_code in (403, 404)
    assert "SO-0042" not in response.text


async def test_customer_orders_are_limited_to_the_accounts_shops(desk, upstream) -> None:
    response = await desk.get(
        "/service-desk/v1/customers/ada@example.com/orders",
        headers=zendesk_token("globex", GLOBEX_SECRET),
    )
    assert response.status_code == 200, response.text
    shops = {o["shop"] for o in response.json()["items"]}
    assert shops == {GLOBEX_SHOP}
    assert upstream.requests[0].url.params.get_list("shop") == [GLOBEX_SHOP]


async def test_oauth_callers_need_the_service_desk_scope(desk, token_mint, upstream) -> None:
    denied = await desk.get(CONTEXT, headers=token_mint.headers("orders:read"))
    assert denied.status_code == 403
    allowed = await desk.get(CONTEXT, headers=token_mint.headers("service-desk:read"))
    assert allowed.status_code == 200
    assert len(upstream.requests) == 1


async def test_second_call_is_served_from_cache_with_its_age(desk, upstream) -> None:
    headers = zendesk_token("acme", ACME_SECRET)
    first = await desk.get(CONTEXT, headers=headers)
    assert first.json()["age_seconds"] == 0
    assert first.headers["Age"] == "0"
    await asyncio.sleep(1.1)
    second = await desk.get(CONTEXT, headers=headers)
    assert second.status_code == 200
    assert len(upstream.requests) == 1
    assert second.json()["age_seconds"] >= 1.0
    assert second.headers["Age"] == "1"
    assert second.json()["erp"] == first.json()["erp"]
    assert "max-age=13" in second.headers["Cache-Control"]


async def test_customer_orders_are_cached_per_tenant(desk, upstream) -> None:
    path = "/service-desk/v1/customers/ada@example.com/orders"
    await desk.get(path, headers=zendesk_token("acme", ACME_SECRET))
    await desk.get(path, headers=zendesk_token("acme", ACME_SECRET))
    assert len(upstream.requests) == 1
    other = await desk.get(path, headers=zendesk_token("globex", GLOBEX_SECRET))
    assert len(upstream.requests) == 2
    assert {o["shop"] for o in other.json()["items"]} == {GLOBEX_SHOP}


async def test_one_system_down_gives_a_partial_context(desk, upstream) -> None:
    upstream.shopify_down = True
    response = await desk.get(CONTEXT, headers=zendesk_token("acme", ACME_SECRET))
    assert response.status_code == 200
    body = response.json()
    assert body["complete"] is False
    down = {s["name"]: s["reason"] for s in body["sections"] if s["status"] == "unavailable"}
    assert set(down) == {"shopify_order", "refunds"}
    assert body["erp"]["number"] == "SO-0042"
    # A partial answer is kept only briefly.
    assert "max-age=3" in response.headers["Cache-Control"]


async def test_unknown_order_is_a_404_problem(desk) -> None:
    response = await desk.get(
        f"/service-desk/v1/orders/{ACME_SHOP}/999/context",
        headers=zendesk_token("acme", ACME_SECRET),
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/order-not-found")


async def test_orders_service_down_is_a_503_problem(desk, upstream) -> None:
    upstream.status = 502
    response = await desk.get(CONTEXT, headers=zendesk_token("acme", ACME_SECRET))
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Retry-After" in response.headers


async def test_an_erp_shipment_not_yet_in_shopify_is_shown_with_its_tracking(
    desk, upstream
) -> None:
    upstream.fulfillments = (
        OrderFulfillment(
            source="erp",
            state="pending",
            erp_instance="eu",
            shipment_id="11",
            shipment_number="OUT-11",
            carrier="DPD",
            tracking=[FulfillmentTrackingView(number="DP 11")],
        ),
    )
    response = await desk.get(CONTEXT, headers=zendesk_token("acme", ACME_SECRET))
    assert response.status_code == 200, response.text
    shipments = {s["number"]: s for s in response.json()["shipments"]}
    pending = shipments["OUT-11"]
    assert (pending["carrier"], pending["awaiting_shopify"]) == ("DPD", True)
    assert pending["tracking"] == [
        {"number": "DP 11", "url": "https://tracking.dpd.de/status/en_US/parcel/DP%2011"}
    ]
    assert shipments["#1001-F1"]["awaiting_shopify"] is False
    assert shipments["#1001-F1"]["tracking"] == [
        {"number": "1Z999", "url": "https://www.ups.com/track?tracknum=1Z999"}
    ]
