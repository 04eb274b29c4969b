"""The Shopify sandbox as a real server, checked against Shopify's own ``shopify_app`` library."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from shopify_app import ShopifyApp

from tests.support.processes import free_port, wait_for_port

pytestmark = pytest.mark.integration

CLIENT_ID = "it-client-id"
CLIENT_SECRET = "it-client-secret-at-least-32-bytes-long"
TOKEN = "shpat_it_token"
SHOP = "demo-eu.myshopify.com"


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """``uvicorn --factory sandbox.shopify.app:create_app`` with settings from the environment."""
    port = free_port()
    env = {
        **os.environ,
        "STRATA_SANDBOX_CLIENT_ID": CLIENT_ID,
        "STRATA_SANDBOX_CLIENT_SECRET": CLIENT_SECRET,
        "STRATA_SANDBOX_ACCESS_TOKEN": TOKEN,
        "STRATA_SANDBOX_TIME_SCALE": "50000",
        "STRATA_SANDBOX_WEBHOOK_TIMEOUT": "2",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "sandbox.shopify.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class Recorder:
    """A real webhook receiver: records raw bodies and headers, answers the scripted statuses."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.received.append((headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(recorder, host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield recorder, f"http://127.0.0.1:{port}/webhooks"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for_deliveries(
    client: httpx.AsyncClient, topic: str, done: int, within: float = 10.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        log = (await client.get("/_sandbox/deliveries", params={"topic": topic})).json()
        finished = [d for d in log if d["state"] in ("delivered", "failed")]
        if len(finished) >= done or time.monotonic() > deadline:
            return log
        await asyncio.sleep(0.05)


async def test_orders_create_webhook_verifies_with_shopify_app(
    sandbox_url: str, receiver: tuple[Recorder, str]
) -> None:
    recorder, address = receiver
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        sub = await client.post(
            f"/_sandbox/shops/{SHOP}/webhooks", json={"topic": "orders/create", "address": address}
        )
        assert sub.status_code == 201
        created = await client.post(
            f"/_sandbox/shops/{SHOP}/orders",
            json={
                "line_items": [{"sku": "STR-TEE-BLK-M", "quantity": 1}],
                "shipping_address": {"country_code": "DE", "city": "Berlin", "zip": "10115"},
            },
        )
        assert created.status_code == 201
        order = created.json()
        log = await wait_for_deliveries(client, "orders/create", 1)
        await client.delete(f"/_sandbox/webhooks/{sub.json()['id']}")
    assert log[-1]["state"] == "delivered"
    headers, body = recorder.received[-1]
    app = ShopifyApp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    verdict = app.verify_webhook_req(
        {"method": "POST", "headers": headers, "url": address, "body": body.decode()}
    )
    assert verdict.ok, verdict.log
    assert verdict.shop == "demo-eu"
    assert headers["x-shopify-topic"] == "orders/create"
    assert headers["x-shopify-event-id"] == log[-1]["event_id"]
    assert f'"admin_graphql_api_id":"gid://shopify/Order/{order["id"]}"'.encode() in body
    assert b'"country_code":"DE"' in body


async def test_session_token_verifies_with_shopify_app(sandbox_url: str) -> None:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        minted = await client.post(
            "/_sandbox/session-tokens", json={"shop": "demo-us", "user_id": "7"}
        )
    token = minted.json()["token"]
    app = ShopifyApp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    verdict = app.verify_app_home_req(
        {
            "method": "GET",
            "headers": {"Authorization": f"Bearer {token}"},
            "url": "https://app.example/api/orders",
            "body": "",
        },
        app_home_patch_id_token_path="/patch-id-token",
    )
    assert verdict.ok, verdict.log
    assert verdict.shop == "demo-us"
    assert verdict.user_id == "7"
    claims = verdict.id_token.claims  # type: ignore[union-attr]
    assert claims["iss"] == "https://demo-us.myshopify.com/admin"
    assert claims["dest"] == "https://demo-us.myshopify.com"
    assert claims["exp"] - claims["iat"] == 60
    wrong_app = ShopifyApp(client_id="another-app", client_secret=CLIENT_SECRET)
    assert not wrong_app.verify_app_home_req(
        {
            "method": "GET",
            "headers": {"Authorization": f"Bearer {token}"},
            "url": "https://app.example/",
            "body": "",
        },
        app_home_patch_id_token_path="/patch-id-token",
    ).ok


class ToSandbox(httpx.AsyncBaseTransport):
    """Sends ``https://<shop>.myshopify.com/...`` to the local sandbox, keeping the Host."""

    def __init__(self, sandbox_url: str) -> None:
        self.target = httpx.URL(sandbox_url)
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Host"] = request.url.host
        request.url = request.url.copy_with(
            scheme=self.target.scheme, host=self.target.host, port=self.target.port
        )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_admin_graphql_through_shopify_app_client(sandbox_url: str) -> None:
    app = ShopifyApp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    async with httpx.AsyncClient(transport=ToSandbox(sandbox_url)) as http:
        result = await app.admin_graphql_request_async(
            "{ shop { myshopifyDomain currencyCode } "
            'productVariants(first: 1, query: "sku:STR-CAP-NVY") '
            "{ nodes { sku inventoryItem { id } } } }",
            shop="demo-eu",
            access_token=TOKEN,
            api_version="2026-04",
            http_client=http,
        )
        assert result.ok, result.log
        assert result.data["shop"] == {"myshopifyDomain": SHOP, "currencyCode": "EUR"}
        assert result.data["productVariants"]["nodes"][0]["sku"] == "STR-CAP-NVY"
        assert result.extensions["cost"]["throttleStatus"]["maximumAvailable"] == 2000.0
        assert result.response.headers["x-shopify-api-version"] == "2026-04"
        refused = await app.admin_graphql_request_async(
            "{ shop { name } }",
            shop="demo-eu",
            access_token="nope",
            api_version="2026-04",
            http_client=http,
        )
        assert refused.log.code == "unauthorized"


async def test_webhook_retries_against_real_failing_receiver(
    sandbox_url: str, receiver: tuple[Recorder, str]
) -> None:
    recorder, address = receiver
    recorder.statuses = [500] * 9
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        sub = await client.post(
            f"/_sandbox/shops/{SHOP}/webhooks",
            json={"topic": "orders/cancelled", "address": address},
        )
        order = (
            await client.post(
                f"/_sandbox/shops/{SHOP}/orders", json={"line_items": [{"sku": "STR-BAG-CNV"}]}
            )
        ).json()
        cancelled = await client.post(
            f"/_sandbox/shops/{SHOP}/orders/{order['id']}/cancel", json={"reason": "customer"}
        )
        assert cancelled.status_code == 201
        assert cancelled.json()["cancel_reason"] == "customer"
        log = await wait_for_deliveries(client, "orders/cancelled", 1)
        subs = (await client.get(f"/_sandbox/shops/{SHOP}/webhooks")).json()
    [delivery] = [d for d in log if d["subscription_id"] == sub.json()["id"]]
    assert [a["status"] for a in delivery["attempts"]] == [500] * 9
    assert delivery["state"] == "failed"
    assert len({h["x-shopify-webhook-id"] for h, _ in recorder.received}) == 1
    assert next(s for s in subs if s["id"] == sub.json()["id"])["active"] is False


async def test_control_api_reads_what_graphql_wrote(sandbox_url: str) -> None:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        order = (
            await client.post(
                f"/_sandbox/shops/{SHOP}/orders",
                json={"line_items": [{"sku": "STR-TEE-WHT-L", "quantity": 3}]},
            )
        ).json()
        tagged = await client.post(
            "/admin/api/2026-04/graphql.json",
            json={
                "query": "mutation($id: ID!) "
                '{ tagsAdd(id: $id, tags: ["erp:SO-9"]) { userErrors { message } } }',
                "variables": {"id": order["admin_graphql_api_id"]},
            },
            headers={"Host": SHOP, "X-Shopify-Access-Token": TOKEN},
        )
        assert tagged.json()["data"]["tagsAdd"]["userErrors"] == []
        read = (await client.get(f"/_sandbox/shops/{SHOP}/orders/{order['id']}")).json()
        stock = (
            await client.get(f"/_sandbox/shops/{SHOP}/inventory", params={"sku": "STR-TEE-WHT-L"})
        ).json()
        await client.put(
            f"/_sandbox/shops/{SHOP}/bucket",
            json={"maximum_available": 5, "currently_available": 0, "restore_rate": 0.001},
        )
        throttled = await client.post(
            f"/shops/{SHOP}/admin/api/2026-04/graphql.json",
            json={"query": "{ shop { name } }"},
            headers={"X-Shopify-Access-Token": TOKEN},
        )
        await client.put(
            f"/_sandbox/shops/{SHOP}/bucket",
            json={"maximum_available": 2000, "currently_available": 2000, "restore_rate": 100},
        )
    assert read["tag_list"] == ["erp:SO-9"]
    assert read["tags"] == "erp:SO-9"
    assert stock[0]["committed"] == 3
    assert stock[0]["available"] == 97
    assert throttled.status_code == 200
    assert throttled.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
