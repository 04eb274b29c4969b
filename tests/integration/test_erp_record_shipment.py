"""Recording a shipment that left from elsewhere, over the ERP system API and a real Tryton.

A third-party warehouse fulfils an order in Shopify; the ERP system API records that
shipment in Tryton (``POST /erp/v1/sales-orders/{id}/shipments``) exactly once per reference.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from sandbox.tryton import TrytonServer
from sandbox.tryton.console import TrytonConsole
from system_apis.erp.app import create_app
from system_apis.erp.settings import ErpSettings
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Client = AsyncTestClient  # type: ignore[type-arg]


@pytest.fixture
async def api(
    tryton_eu: TrytonServer, redis_url: str, token_mint: TokenMint
) -> AsyncIterator[Client]:
    settings = ErpSettings(
        instance="eu",
        redis_url=redis_url,
        tryton_url=tryton_eu.url,
        tryton_database=tryton_eu.database,
        tryton_user=tryton_eu.user,
        tryton_password=tryton_eu.password,
        read_timeout=20,
    )
    app = create_app(settings, auth=token_mint.settings())
    async with AsyncTestClient(app=app, timeout=60) as client:
        client.headers.update(token_mint.headers("erp:read", "erp:write"))
        yield client


async def place(api: Client, *lines: tuple[str, int]) -> dict[str, Any]:
    reference = f"shopify:test:{uuid.uuid4().hex[:12]}"
    body = {
        "external_reference": reference,
        "currency": "EUR",
        "customer": {"email": f"{reference.replace(':', '-')}@example.com", "name": "Buyer"},
        "lines": [{"sku": sku, "quantity": qty, "unit_price": "10.00"} for sku, qty in lines],
        "shipping_address": {
            "name": "Buyer",
            "street": "1 Rue X",
            "city": "Lyon",
            "postal_code": "69001",
            "country": "FR",
        },
    }
    resp = await api.post(
        "/erp/v1/sales-orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert resp.status_code == 201, resp.text
    order: dict[str, Any] = resp.json()
    return order


async def record(api: Client, order_id: str, body: dict[str, Any], key: str | None = None) -> Any:
    return await api.post(
        f"/erp/v1/sales-orders/{order_id}/shipments",
        json=body,
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


async def shipments_of(api: Client, order_id: str) -> list[dict[str, Any]]:
    resp = await api.get(f"/erp/v1/sales-orders/{order_id}/shipments")
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return [s for s in items if not s["is_return"]]


def totals(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    for line in lines:
        found[line["sku"]] = found.get(line["sku"], Decimal(0)) + Decimal(line["quantity"])
    return found


def fulfillment() -> str:
    return f"shopify:demo-eu.myshopify.com:fulfillment:{uuid.uuid4().int % 10**13}"


async def test_a_whole_order_recorded_in_two_parcels(api: Client) -> None:
    order = await place(api, ("TOWEL-BATH-SGE", 2), ("THROW-OAT", 1))
    reference = fulfillment()
    body = {
        "reference": reference,
        "lines": [
            {"sku": "TOWEL-BATH-SGE", "quantity": 2},
            {"sku": "THROW-OAT", "quantity": 1},
        ],
        "carrier": "UPS",
        "packages": [
            {
                "tracking_number": "1Z999AA10123456784",
                "lines": [{"sku": "TOWEL-BATH-SGE", "quantity": 2}],
            },
            {"tracking_number": "1Z999AA10123456791"},
        ],
    }
    resp = await record(api, order["id"], body)
    assert resp.status_code == 201, resp.text
    shipment = resp.json()
    assert shipment["state"] == "done"
    assert shipment["reference"] == reference
    assert shipment["order_id"] == order["id"]
    assert shipment["carrier"] == "UPS"
    assert shipment["shipped_at"] is not None
    assert totals(shipment["lines"]) == {"TOWEL-BATH-SGE": 2, "THROW-OAT": 1}
    by_number = {p["tracking_number"]: p for p in shipment["packages"]}
    assert list(by_number) == ["1Z999AA10123456784", "1Z999AA10123456791"]
    assert totals(by_number["1Z999AA10123456784"]["lines"]) == {"TOWEL-BATH-SGE": 2}
    assert totals(by_number["1Z999AA10123456791"]["lines"]) == {"THROW-OAT": 1}
    assert by_number["1Z999AA10123456791"]["tracking_url"] == (
        "https://www.ups.com/track?tracknum=1Z999AA10123456791"
    )
    # Read back through the order's shipments and the change feed, reference included.
    [listed] = await shipments_of(api, order["id"])
    assert listed["id"] == shipment["id"]
    assert listed["reference"] == reference
    resp = await api.get("/erp/v1/shipments/changes", params={"since": shipment["updated_at"]})
    fed = {s["id"]: s for s in resp.json()["items"]}
    assert fed[shipment["id"]]["reference"] == reference
    order_now = (await api.get(f"/erp/v1/sales-orders/{order['id']}")).json()
    assert order_now["shipped"] is True


async def test_a_repeat_with_the_same_reference_changes_nothing(api: Client) -> None:
    order = await place(api, ("TOTE-NAT", 3))
    reference = fulfillment()
    body = {
        "reference": reference,
        "lines": [{"sku": "TOTE-NAT", "quantity": 1}],
        "packages": [{"tracking_number": "JD014600006281230001"}],
    }
    first = await record(api, order["id"], body)
    assert first.status_code == 201, first.text
    before = await shipments_of(api, order["id"])
    assert len(before) == 2

    # Another key (the idempotency store does not know it): the ERP finds the reference.
    again = await record(api, order["id"], body)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["reference"] == reference
    # Even asked for other lines, a recorded reference ships nothing more.
    other = await record(api, order["id"], {**body, "lines": [{"sku": "TOTE-NAT", "quantity": 2}]})
    assert other.status_code == 200, other.text
    assert other.json()["id"] == first.json()["id"]
    assert totals(other.json()["lines"]) == {"TOTE-NAT": 1}
    after = await shipments_of(api, order["id"])
    assert [(s["id"], s["state"], totals(s["lines"])) for s in after] == [
        (s["id"], s["state"], totals(s["lines"])) for s in before
    ]
    assert [s["updated_at"] for s in after] == [s["updated_at"] for s in before]

    # The same key and body replays the first answer.
    key = str(uuid.uuid4())
    body2 = {**body, "reference": fulfillment(), "lines": [{"sku": "TOTE-NAT", "quantity": 2}]}
    made = await record(api, order["id"], body2, key)
    replay = await record(api, order["id"], body2, key)
    assert made.status_code == replay.status_code == 201, made.text
    assert replay.json() == made.json()
    # The rest left whole: no shipment is split off it.
    assert [s["state"] for s in await shipments_of(api, order["id"])] == ["done", "done"]


async def test_part_of_an_order_then_the_rest(api: Client) -> None:
    order = await place(api, ("TOWEL-BATH-WHT", 3), ("MUG-STONE-350", 1))
    resp = await record(
        api,
        order["id"],
        {
            "reference": fulfillment(),
            "lines": [{"sku": "TOWEL-BATH-WHT", "quantity": 1}],
            "carrier": "la poste",
            "packages": [{"tracking_number": "6A12345678901"}],
        },
    )
    assert resp.status_code == 201, resp.text
    first = resp.json()
    assert first["state"] == "done"
    assert first["carrier"] == "La Poste"
    assert totals(first["lines"]) == {"TOWEL-BATH-WHT": 1}
    [package] = first["packages"]
    assert package["tracking_number"] == "6A12345678901"
    assert totals(package["lines"]) == {"TOWEL-BATH-WHT": 1}
    # Tryton planned a shipment for what has not left.
    [rest] = [s for s in await shipments_of(api, order["id"]) if s["id"] != first["id"]]
    assert rest["state"] in ("waiting", "assigned")
    assert rest["reference"] is None
    assert totals(rest["lines"]) == {"TOWEL-BATH-WHT": 2, "MUG-STONE-350": 1}

    resp = await record(
        api,
        order["id"],
        {
            "reference": fulfillment(),
            "lines": [
                {"sku": "MUG-STONE-350", "quantity": 1},
                {"sku": "TOWEL-BATH-WHT", "quantity": 2},
            ],
        },
    )
    assert resp.status_code == 201, resp.text
    second = resp.json()
    assert second["id"] == rest["id"]
    assert second["packages"] == []
    shipments = await shipments_of(api, order["id"])
    assert {s["state"] for s in shipments} == {"done"}
    shipped = totals([line for s in shipments for line in s["lines"]])
    assert shipped == {"TOWEL-BATH-WHT": 3, "MUG-STONE-350": 1}


async def test_stock_that_cannot_be_assigned_is_forced(api: Client) -> None:
    # None in stock: the goods left from a third-party warehouse all the same.
    order = await place(api, ("SNKR-WHT-44", 1))
    resp = await record(
        api,
        order["id"],
        {"reference": fulfillment(), "lines": [{"sku": "SNKR-WHT-44", "quantity": 1}]},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["state"] == "done"


async def test_what_the_open_shipments_do_not_hold_is_refused(api: Client) -> None:
    order = await place(api, ("BEANIE-CHR", 2))
    cases = [
        ([{"sku": "CANDLE-FIG-200", "quantity": 1}], "lines[0].sku"),
        (
            [{"sku": "BEANIE-CHR", "quantity": 1}, {"sku": "BEANIE-CHR", "quantity": 2}],
            "lines[0].quantity",
        ),
    ]
    for lines, field in cases:
        resp = await record(api, order["id"], {"reference": fulfillment(), "lines": lines})
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        problem = resp.json()
        assert problem["type"].endswith("not-on-open-shipments"), problem
        assert [e["field"] for e in problem["errors"]] == [field]
    resp = await record(
        api,
        order["id"],
        {
            "reference": fulfillment(),
            "lines": [{"sku": "BEANIE-CHR", "quantity": 2}],
            "packages": [
                {"tracking_number": "X1", "lines": [{"sku": "BEANIE-CHR", "quantity": 3}]}
            ],
        },
    )
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["packages[0].lines[0]"]
    resp = await record(
        api,
        order["id"],
        {
            "reference": fulfillment(),
            "lines": [{"sku": "BEANIE-CHR", "quantity": 1}],
            "carrier": "Pigeon Post",
        },
    )
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["carrier"]
    # Nothing changed: the order's one shipment is still open with both beanies.
    [shipment] = await shipments_of(api, order["id"])
    assert shipment["state"] in ("waiting", "assigned")
    assert shipment["reference"] is None
    assert totals(shipment["lines"]) == {"BEANIE-CHR": 2}


async def test_an_unknown_order_is_404_and_a_bad_body_400(api: Client) -> None:
    body = {"reference": fulfillment(), "lines": [{"sku": "TOTE-NAT", "quantity": 1}]}
    for order_id in ("999999", "abc"):
        resp = await record(api, order_id, body)
        assert resp.status_code == 404, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
    order = await place(api, ("TOTE-NAT", 1))
    resp = await record(api, order["id"], {**body, "unexpected": True})
    assert resp.status_code == 400, resp.text
    for lines in ([], [{"sku": "TOTE-NAT", "quantity": 0}], [{"sku": "TOTE-NAT", "quantity": 1.5}]):
        resp = await record(api, order["id"], {"reference": fulfillment(), "lines": lines})
        assert resp.status_code == 400, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
    resp = await api.post(f"/erp/v1/sales-orders/{order['id']}/shipments", json=body)
    assert resp.status_code == 400, resp.text  # no Idempotency-Key


def _open_shipment(server: TrytonServer, order_id: str) -> tuple[TrytonConsole, int]:
    console = TrytonConsole(server.url, server.database, server.user, server.password)
    [sale] = console.execute("sale.sale", "read", [int(order_id)], ["shipments"])
    [shipment_id] = sale["shipments"]
    return console, int(shipment_id)


async def test_a_recording_interrupted_after_its_reference_is_finished(
    api: Client, tryton_eu: TrytonServer
) -> None:
    order = await place(api, ("CUSHION-LIN-45", 2))
    reference = fulfillment()
    # As an interrupted call leaves it: the reference written, the shipment still open.
    console, shipment_id = await asyncio.to_thread(_open_shipment, tryton_eu, order["id"])
    with console:
        await asyncio.to_thread(
            console.execute, "stock.shipment.out", "write", [shipment_id], {"reference": reference}
        )
    body = {
        "reference": reference,
        "lines": [{"sku": "CUSHION-LIN-45", "quantity": 2}],
        "packages": [{"tracking_number": "JD014600006281230009"}],
    }
    resp = await record(api, order["id"], body)
    assert resp.status_code == 200, resp.text
    shipment = resp.json()
    assert shipment["id"] == str(shipment_id)
    assert shipment["state"] == "done"
    assert [p["tracking_number"] for p in shipment["packages"]] == ["JD014600006281230009"]
    assert totals(shipment["packages"][0]["lines"]) == {"CUSHION-LIN-45": 2}


async def test_part_of_a_shipment_being_picked_is_refused(
    api: Client, tryton_eu: TrytonServer
) -> None:
    order = await place(api, ("CANDLE-FIG-200", 2))
    console, shipment_id = await asyncio.to_thread(_open_shipment, tryton_eu, order["id"])
    with console:
        await asyncio.to_thread(console.execute, "stock.shipment.out", "assign_try", [shipment_id])
        await asyncio.to_thread(console.execute, "stock.shipment.out", "pick", [shipment_id])
    body = {"reference": fulfillment(), "lines": [{"sku": "CANDLE-FIG-200", "quantity": 1}]}
    resp = await record(api, order["id"], body)
    assert resp.status_code == 409, resp.text
    assert resp.json()["type"].endswith("shipment-not-recordable")
    [shipment] = await shipments_of(api, order["id"])
    assert shipment["state"] == "picked"
    assert shipment["reference"] is None
    # All of it can be recorded: the warehouse's picking is finished as shipped.
    resp = await record(
        api, order["id"], {**body, "lines": [{"sku": "CANDLE-FIG-200", "quantity": 2}]}
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["state"] == "done"
