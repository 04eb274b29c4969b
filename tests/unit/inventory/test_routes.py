"""The inventory API over in-memory ERP instances and a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from process_apis.inventory.app import create_app
from process_apis.inventory.settings import InventorySettings
from tests.support.tokens import TokenMint
from tests.unit.inventory.fake_erp import FakeErpStock

pytestmark = pytest.mark.integration  # real Redis


@pytest.fixture
def erps() -> dict[str, FakeErpStock]:
    return {
        "eu": FakeErpStock({"MUG": {"WH": "4.5"}, "TEE": {"WH": "3", "WH2": "2"}}),
        "us": FakeErpStock({"MUG": {"WH": "2"}}),
    }


@pytest.fixture
async def client(
    erps: dict[str, FakeErpStock], redis_url: str, token_mint: TokenMint
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = InventorySettings(
        redis_url=redis_url,
        erp_timeout=0.5,
        key_prefix=f"test:inventory:{{{uuid.uuid4().hex[:8]}}}",
    )
    clients = {name: erp.client() for name, erp in erps.items()}
    app = create_app(settings, auth=token_mint.settings(), erp_clients=clients)
    async with AsyncTestClient(app=app) as c:
        c.headers.update(token_mint.headers("inventory:read", "inventory:reserve"))
        yield c
    for http in clients.values():
        await http.aclose()


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def availability(client, *skus: str) -> dict:
    resp = await client.get("/inventory/v1/availability", params={"sku": list(skus)})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_available_to_sell_adds_instances_and_warehouses(client) -> None:
    body = await availability(client, "MUG", "TEE", "NOPE")
    items = {i["sku"]: i for i in body["items"]}
    # 4.5 units on a shelf are 4 sellable units.
    assert items["MUG"]["available_to_sell"] == 6
    assert items["TEE"]["available_to_sell"] == 5
    assert len(items["TEE"]["locations"]) == 2
    assert items["NOPE"] == {
        "sku": "NOPE",
        "available_to_sell": 0,
        "erp_available": 0,
        "reserved": 0,
        "known": False,
        "locations": [],
    }
    assert body["complete"] is True
    assert [s["state"] for s in body["sources"]] == ["ok", "ok"]


async def test_one_erp_down_gives_a_partial_answer(client, erps) -> None:
    erps["us"].status = 503
    body = await availability(client, "MUG")
    assert body["complete"] is False
    assert body["items"][0]["available_to_sell"] == 4
    sources = {s["instance"]: s for s in body["sources"]}
    assert sources["eu"]["state"] == "ok"
    assert sources["us"]["state"] == "unavailable"
    assert "503" in sources["us"]["detail"]


async def test_reservations_are_subtracted_and_released(client) -> None:
    resp = await client.post(
        "/inventory/v1/reservations",
        json={"lines": [{"sku": "MUG", "quantity": 2}], "reference": "cart-1"},
        headers=key(),
    )
    assert resp.status_code == 201, resp.text
    reservation = resp.json()
    assert reservation["reference"] == "cart-1"
    item = (await availability(client, "MUG"))["items"][0]
    assert (item["available_to_sell"], item["reserved"]) == (4, 2)
    gone = await client.delete(f"/inventory/v1/reservations/{reservation['id']}")
    assert gone.status_code == 204
    assert (await availability(client, "MUG"))["items"][0]["available_to_sell"] == 6
    again = await client.delete(f"/inventory/v1/reservations/{reservation['id']}")
    assert again.status_code == 404
    assert again.json()["type"].endswith("/reservation-not-found")


async def test_too_much_is_409_naming_the_line(client) -> None:
    resp = await client.post(
        "/inventory/v1/reservations",
        json={"lines": [{"sku": "TEE", "quantity": 1}, {"sku": "MUG", "quantity": 7}]},
        headers=key(),
    )
    assert resp.status_code == 409
    problem = resp.json()
    assert problem["type"].endswith("/insufficient-stock")
    assert problem["errors"] == [
        {
            "field": "lines[1].quantity",
            "message": "7 requested, 6 available to sell",
            "sku": "MUG",
            "available_to_sell": 6,
        }
    ]
    assert (await availability(client, "TEE"))["items"][0]["reserved"] == 0


async def test_same_key_replays_the_first_reservation(client) -> None:
    headers = key()
    body = {"lines": [{"sku": "TEE", "quantity": 1}]}
    first = await client.post("/inventory/v1/reservations", json=body, headers=headers)
    second = await client.post("/inventory/v1/reservations", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert (await availability(client, "TEE"))["items"][0]["reserved"] == 1
    other = await client.post(
        "/inventory/v1/reservations",
        json={"lines": [{"sku": "TEE", "quantity": 2}]},
        headers=headers,
    )
    assert other.status_code == 422


async def test_no_idempotency_key_is_400(client) -> None:
    resp = await client.post(
        "/inventory/v1/reservations", json={"lines": [{"sku": "TEE", "quantity": 1}]}
    )
    assert resp.status_code == 400


async def test_concurrent_reservations_through_the_api_never_oversell(client) -> None:
    answers = await asyncio.gather(
        *(
            client.post(
                "/inventory/v1/reservations",
                json={"lines": [{"sku": "TEE", "quantity": 1}]},
                headers=key(),
            )
            for _ in range(12)
        )
    )
    assert sorted(a.status_code for a in answers) == [201] * 5 + [409] * 7
    item = (await availability(client, "TEE"))["items"][0]
    assert (item["available_to_sell"], item["reserved"]) == (0, 5)


async def test_all_erps_down_refuses_reservations_with_503(client, erps) -> None:
    for erp in erps.values():
        erp.status = 500
    resp = await client.post(
        "/inventory/v1/reservations", json={"lines": [{"sku": "TEE", "quantity": 1}]}, headers=key()
    )
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "2"


async def test_more_than_100_skus_is_400(client) -> None:
    resp = await client.get(
        "/inventory/v1/availability", params={"sku": [f"S{i}" for i in range(101)]}
    )
    assert resp.status_code == 400


async def test_scopes_are_required(client, token_mint: TokenMint) -> None:
    no_token = await client.get(
        "/inventory/v1/availability", params={"sku": "MUG"}, headers={"Authorization": ""}
    )
    assert no_token.status_code == 401
    read_only = token_mint.headers("inventory:read")
    resp = await client.post(
        "/inventory/v1/reservations",
        json={"lines": [{"sku": "TEE", "quantity": 1}]},
        headers={**read_only, **key()},
    )
    assert resp.status_code == 403
