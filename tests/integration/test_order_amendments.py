"""Orders that change after posting, on a real Tryton (``sale_amendment``) and a real Redis.

Each test posts a sale through the ERP system API, changes it through the amendment and
return routes, and reads Tryton back: lines, moves of the waiting shipment, return sales.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from sandbox.tryton import TrytonConsole, TrytonServer, ship_order
from system_apis.erp.adapters.tryton.amendments import SaleLine, plan_amendment
from system_apis.erp.app import create_app
from system_apis.erp.settings import ErpSettings
from tests.integration.tryton import tryton_eu, tryton_template_dir  # noqa: F401
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def erp_settings(server: TrytonServer, redis_url: str) -> ErpSettings:
    return ErpSettings(
        instance="eu",
        redis_url=redis_url,
        tryton_url=server.url,
        tryton_database=server.database,
        tryton_user=server.user,
        tryton_password=server.password,
        read_timeout=30,
    )


@pytest.fixture
async def api(
    tryton_eu: TrytonServer,  # noqa: F811
    redis_url: str,
    token_mint: TokenMint,
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_app(erp_settings(tryton_eu, redis_url), auth=token_mint.settings())
    async with AsyncTestClient(app=app, timeout=60) as client:
        client.headers.update(token_mint.headers("erp:read", "erp:write"))
        yield client


def line(sku: str, qty: int, price: str = "12.00") -> dict[str, Any]:
    return {"sku": sku, "quantity": qty, "unit_price": price}


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def post_order(api: AsyncTestClient, *lines: dict[str, Any]) -> dict[str, Any]:  # type: ignore[type-arg]
    reference = f"shopify:test:{uuid.uuid4().hex[:12]}"
    body = {
        "external_reference": reference,
        "currency": "EUR",
        "customer": {"email": f"{reference.replace(':', '-')}@example.com", "name": "Buyer"},
        "lines": list(lines),
        "shipping_address": {
            "name": "Buyer",
            "street": "1 Rue X",
            "city": "Lyon",
            "postal_code": "69001",
            "country": "FR",
        },
    }
    created = await api.post("/erp/v1/sales-orders", json=body, headers=key())
    assert created.status_code == 201, created.text
    order: dict[str, Any] = created.json()
    return order


async def amend(api, order_id: str, *lines: dict[str, Any], headers=None):  # type: ignore[no-untyped-def]
    return await api.post(
        f"/erp/v1/sales-orders/{order_id}/amendments",
        json={"lines": list(lines), "note": "test edit"},
        headers=headers or key(),
    )


def quantities(order: dict[str, Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for item in order["lines"]:
        found[item["sku"]] = found.get(item["sku"], 0) + item["quantity"]
    return found


def tryton(server: TrytonServer) -> TrytonConsole:
    return TrytonConsole(server.url, server.database, server.user, server.password)


def planned_moves(server: TrytonServer, order_id: str) -> dict[str, float]:
    """What Tryton's open shipments of the sale will send, by SKU."""
    with tryton(server) as c:
        [sale] = c.execute("sale.sale", "read", [int(order_id)], ["shipments"])
        rows = c.execute(
            "stock.shipment.out",
            "read",
            sale["shipments"],
            ["state", "outgoing_moves.product.code", "outgoing_moves.quantity"],
        )
    moves: dict[str, float] = {}
    for row in rows:
        if row["state"] in ("cancelled", "done"):
            continue
        for move in row["outgoing_moves."]:
            sku = move["product."]["code"]
            moves[sku] = moves.get(sku, 0) + move["quantity"]
    return moves


def amendments_of(server: TrytonServer, order_id: str) -> int:
    with tryton(server) as c:
        return int(c.execute("sale.amendment", "search_count", [("sale", "=", int(order_id))]))


async def test_quantity_up_then_down_amends_the_sale_and_its_shipment(
    api,
    tryton_eu: TrytonServer,  # noqa: F811
) -> None:
    order = await post_order(api, line("TOTE-NAT", 2), line("BEANIE-CHR", 1, "15.00"))

    up = await amend(api, order["id"], line("TOTE-NAT", 3), line("BEANIE-CHR", 1, "15.00"))
    assert up.status_code == 200, up.text
    assert up.json()["changes"] == [{"sku": "TOTE-NAT", "before": 2, "after": 3}]
    assert quantities(up.json()["order"]) == {"TOTE-NAT": 3, "BEANIE-CHR": 1}
    assert Decimal(up.json()["order"]["total"]["amount"]) == Decimal("51.00")
    assert planned_moves(tryton_eu, order["id"]) == {"TOTE-NAT": 3.0, "BEANIE-CHR": 1.0}

    down = await amend(api, order["id"], line("TOTE-NAT", 1), line("BEANIE-CHR", 1, "15.00"))
    assert down.status_code == 200, down.text
    assert down.json()["changes"] == [{"sku": "TOTE-NAT", "before": 3, "after": 1}]
    assert Decimal(down.json()["order"]["total"]["amount"]) == Decimal("27.00")
    assert planned_moves(tryton_eu, order["id"]) == {"TOTE-NAT": 1.0, "BEANIE-CHR": 1.0}
    read = (await api.get(f"/erp/v1/sales-orders/{order['id']}")).json()
    assert quantities(read) == {"TOTE-NAT": 1, "BEANIE-CHR": 1}


async def test_a_line_removed_and_another_added(api, tryton_eu: TrytonServer) -> None:  # noqa: F811
    order = await post_order(api, line("TOTE-NAT", 2), line("BEANIE-CHR", 1, "15.00"))

    removed = await amend(api, order["id"], line("TOTE-NAT", 2))
    assert removed.status_code == 200, removed.text
    assert removed.json()["changes"] == [{"sku": "BEANIE-CHR", "before": 1, "after": 0}]
    # The removed line stays in Tryton at quantity 0; the API's order leaves it out.
    assert quantities(removed.json()["order"]) == {"TOTE-NAT": 2}
    assert planned_moves(tryton_eu, order["id"]) == {"TOTE-NAT": 2.0}

    # A new SKU takes over the line left without quantity, at the channel's price.
    added = await amend(api, order["id"], line("TOTE-NAT", 2), line("POT-TERRA-M", 2, "9.50"))
    assert added.status_code == 200, added.text
    assert added.json()["changes"] == [{"sku": "POT-TERRA-M", "before": 0, "after": 2}]
    assert quantities(added.json()["order"]) == {"TOTE-NAT": 2, "POT-TERRA-M": 2}
    assert Decimal(added.json()["order"]["total"]["amount"]) == Decimal("43.00")
    assert planned_moves(tryton_eu, order["id"]) == {"TOTE-NAT": 2.0, "POT-TERRA-M": 2.0}


async def test_a_new_sku_with_no_free_line_is_refused_with_the_difference(api) -> None:
    order = await post_order(api, line("TOTE-NAT", 1))

    refused = await amend(api, order["id"], line("TOTE-NAT", 1), line("BEANIE-CHR", 1))
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/order-not-amendable")
    assert problem["errors"] == [
        {"field": "lines[1].sku", "message": "'BEANIE-CHR' is new to the order"}
    ]
    assert quantities((await api.get(f"/erp/v1/sales-orders/{order['id']}")).json()) == {
        "TOTE-NAT": 1
    }


async def test_amending_to_the_lines_it_has_is_a_no_op(api, tryton_eu: TrytonServer) -> None:  # noqa: F811
    order = await post_order(api, line("TOTE-NAT", 2))
    first = await amend(api, order["id"], line("TOTE-NAT", 4))
    assert first.status_code == 200, first.text
    made = amendments_of(tryton_eu, order["id"])
    assert made == 1

    # Asked again (a replayed webhook, under another key): nothing more is made.
    again = await amend(api, order["id"], line("TOTE-NAT", 4))
    assert again.status_code == 200, again.text
    assert again.json()["changes"] == []
    assert again.json()["amendment_id"] is None
    # The same key and body: the first answer, replayed by the route.
    headers = key()
    once = await amend(api, order["id"], line("TOTE-NAT", 4), headers=headers)
    twice = await amend(api, order["id"], line("TOTE-NAT", 4), headers=headers)
    assert twice.headers["Idempotent-Replayed"] == "true"
    assert twice.json() == once.json()
    # Concurrent asks for the same lines make one amendment between them.
    answers = await asyncio.gather(
        *(amend(api, order["id"], line("TOTE-NAT", 5)) for _ in range(3))
    )
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert sum(1 for a in answers if a.json()["changes"]) == 1
    assert amendments_of(tryton_eu, order["id"]) == made + 1


async def test_amending_after_shipment_is_refused_with_a_409_problem(
    api,
    tryton_eu: TrytonServer,  # noqa: F811
) -> None:
    order = await post_order(api, line("TOTE-NAT", 2))
    await asyncio.to_thread(ship_order, tryton_eu, order["id"], force=True)

    refused = await amend(api, order["id"], line("TOTE-NAT", 1))
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/order-not-amendable")
    assert "done" in problem["detail"]
    assert problem["errors"] == [{"field": "lines", "message": "TOTE-NAT: 2 -> 1"}]
    # Asking for what it has is still fine: nothing to change.
    same = await amend(api, order["id"], line("TOTE-NAT", 2))
    assert same.status_code == 200
    assert amendments_of(tryton_eu, order["id"]) == 0


async def test_unknown_order_and_bad_bodies_are_problems(api) -> None:
    missing = await amend(api, "999999", line("TOTE-NAT", 1))
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/order-not-found")
    empty = await api.post("/erp/v1/sales-orders/1/amendments", json={"lines": []}, headers=key())
    assert empty.status_code == 400
    assert empty.headers["content-type"].startswith("application/problem+json")
    no_key = await api.post("/erp/v1/sales-orders/1/amendments", json={"lines": [line("X", 1)]})
    assert no_key.status_code == 400


async def test_return_after_shipment_is_made_once_only(api, tryton_eu: TrytonServer) -> None:  # noqa: F811
    order = await post_order(api, line("TOTE-NAT", 2), line("BEANIE-CHR", 1, "15.00"))
    # Nothing shipped yet: there is nothing to return.
    early = await api.post(f"/erp/v1/sales-orders/{order['id']}/return-shipped", headers=key())
    assert early.status_code == 409, early.text
    assert early.json()["type"].endswith("/nothing-shipped")
    await asyncio.to_thread(ship_order, tryton_eu, order["id"], force=True)

    first = await api.post(f"/erp/v1/sales-orders/{order['id']}/return-shipped", headers=key())
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["created"] is True
    assert made["reference"] == order["external_reference"] + ":cancel"
    assert made["status"] in ("processing", "confirmed")
    assert sorted((r["sku"], r["quantity"]) for r in made["lines"]) == [
        ("BEANIE-CHR", 1),
        ("TOTE-NAT", 2),
    ]
    assert Decimal(made["total"]["amount"]) == Decimal("39.00")

    # Retried under a new key, and concurrently: the same return, never a second.
    again = await asyncio.gather(
        *(
            api.post(f"/erp/v1/sales-orders/{order['id']}/return-shipped", headers=key())
            for _ in range(3)
        )
    )
    assert [r.status_code for r in again] == [200, 200, 200]
    assert {r.json()["return_order_id"] for r in again} == {made["return_order_id"]}
    with tryton(tryton_eu) as c:
        returns = c.execute(
            "sale.sale", "search_read", [("origin", "=", f"sale.sale,{order['id']}")], 0, None,
            None, ["state", "reference", "lines.quantity"],
        )  # fmt: skip
        [sale] = c.execute("sale.sale", "read", [int(order["id"])], ["shipment_returns"])
    assert len(returns) == 1
    assert sorted(ln["quantity"] for ln in returns[0]["lines."]) == [-2.0, -1.0]
    # The return sale brings the goods back through a customer return shipment.
    shipments = (await api.get(f"/erp/v1/sales-orders/{order['id']}/shipments")).json()["items"]
    assert any(s["is_return"] for s in shipments)
    # The original is no order awaiting more shipment.
    assert not sale["shipment_returns"]


async def test_return_after_a_partial_shipment_cancels_what_did_not_ship(
    api,
    tryton_eu: TrytonServer,  # noqa: F811
) -> None:
    order = await post_order(api, line("TOTE-NAT", 2), line("BEANIE-CHR", 1, "15.00"))
    # Ship the totes only: the beanie's move is taken out of the shipment before it leaves.
    with tryton(tryton_eu) as c:
        [sale] = c.execute("sale.sale", "read", [int(order["id"])], ["shipments"])
        [shipment] = c.execute(
            "stock.shipment.out", "read", sale["shipments"],
            ["outgoing_moves.product.code", "outgoing_moves.id"],
        )  # fmt: skip
        beanie = [
            m["id"] for m in shipment["outgoing_moves."] if m["product."]["code"] == "BEANIE-CHR"
        ]
        c.execute("stock.shipment.out", "draft", sale["shipments"])
        c.execute(
            "stock.shipment.out", "write", sale["shipments"],
            {"outgoing_moves": [["remove", beanie]]},
        )  # fmt: skip
        c.execute("stock.shipment.out", "wait", sale["shipments"])
    await asyncio.to_thread(ship_order, tryton_eu, order["id"], force=True)

    made = await api.post(f"/erp/v1/sales-orders/{order['id']}/return-shipped", headers=key())
    assert made.status_code == 201, made.text
    assert [(r["sku"], r["quantity"]) for r in made.json()["lines"]] == [("TOTE-NAT", 2)]
    assert quantities(made.json()["order"]) == {"TOTE-NAT": 2}
    assert planned_moves(tryton_eu, order["id"]) == {}


def test_plan_keeps_prices_and_reuses_freed_lines() -> None:
    from shared.models import OrderLine

    current = [
        SaleLine(id=1, sku="A", quantity=2, unit_price=Decimal("10")),
        SaleLine(id=2, sku="B", quantity=1, unit_price=Decimal("5")),
    ]
    wanted = [
        OrderLine(sku="A", quantity=3, unit_price=Decimal("9")),
        OrderLine(sku="C", quantity=1, unit_price=Decimal("7")),
    ]
    plan = plan_amendment(current, wanted)
    assert [(e.line_id, e.sku, e.quantity, e.unit_price, e.replaces) for e in plan.edits] == [
        (1, "A", 3, Decimal("10"), None),
        (2, "C", 1, Decimal("7"), "B"),
    ]
    assert plan.unplaced == []
