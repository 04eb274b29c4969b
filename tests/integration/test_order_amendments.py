"""Orders that change after posting, on a real Tryton (``sale_amendment``) and a real Redis.

Each test posts a sale through the ERP system API, changes it through the amendment and
return routes, and reads Tryton back: lines, moves of the waiting shipment, return sales.
Recorded Shopify orders (``tests/fixtures/shopify_orders``) are edited as Shopify edits an
order, mapped as the orders process maps them and amended priced: the ERP's total is
Shopify's ``current_total_price`` to the cent after every edit.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from process_apis.orders.mapping import to_sales_order
from sandbox.tryton import TrytonConsole, TrytonServer, ship_order
from shared.models import LineKind, SalesOrderDraft
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


# -- priced amendments of recorded Shopify orders ---------------------------------------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify_orders"
EU_VAT = "01_eu_vat_multi_line_tax_included"
US_TAX = "04_us_sales_tax_ohio"
SHOP = "strata-demo.myshopify.com"
CENT = Decimal("0.01")
_LINE_IDS = itertools.count(13_700_000_000_001)


def fixture(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return payload


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    bag = {"amount": f"{amount:.2f}", "currency_code": currency}
    return {"shop_money": bag, "presentment_money": dict(bag)}


def _tax(amount: Decimal, rate: Decimal, included: bool) -> Decimal:
    raw = amount * rate / (1 + rate) if included else amount * rate
    return raw.quantize(CENT, ROUND_HALF_UP)


def _set_taxes(item: dict[str, Any], quantity: int, included: bool, currency: str) -> None:
    for tax in item["tax_lines"]:
        amount = _tax(Decimal(item["price"]) * quantity, Decimal(str(tax["rate"])), included)
        tax["price"] = f"{amount:.2f}"
        tax["price_set"] = _money(amount, currency)


def shopify_edit(
    payload: dict[str, Any],
    quantities: dict[str, int] | None = None,
    add: tuple[tuple[str, int, str], ...] = (),
) -> dict[str, Any]:
    """The order after a Shopify order edit, as Shopify sends it: units removed drop
    ``current_quantity`` (the line's tax lines stay those of what was ordered), units added
    grow ``quantity`` and its tax lines, a new variant is a new line item; Shopify's
    ``current_total_price`` counts each line's tax on what it now holds."""
    order = copy.deepcopy(payload)
    included, currency = bool(order["taxes_included"]), order["currency"]
    total = Decimal(order["current_total_price"])

    def line_total(item: dict[str, Any], quantity: int, taxes: list[Decimal]) -> Decimal:
        return Decimal(item["price"]) * quantity + (0 if included else sum(taxes, Decimal(0)))

    for item in order["line_items"]:
        if item["sku"] not in (quantities or {}):
            continue
        assert not item["discount_allocations"], "edits of discounted lines are not modelled"
        new = (quantities or {})[item["sku"]]
        current = item.get("current_quantity", item["quantity"])
        total -= line_total(item, current, [Decimal(t["price"]) for t in item["tax_lines"]])
        price = Decimal(item["price"])
        rates = [Decimal(str(t["rate"])) for t in item["tax_lines"]]
        total += line_total(item, new, [_tax(price * new, r, included) for r in rates])
        if new > item["quantity"]:
            item["quantity"] = new
            _set_taxes(item, new, included, currency)
        item["current_quantity"] = new
    for sku, quantity, price in add:
        item = copy.deepcopy(order["line_items"][0])
        item.update(
            id=next(_LINE_IDS),
            sku=sku,
            title=sku,
            name=sku,
            quantity=quantity,
            current_quantity=quantity,
            price=price,
            price_set=_money(Decimal(price), currency),
            discount_allocations=[],
            duties=[],
        )
        _set_taxes(item, quantity, included, currency)
        order["line_items"].append(item)
        total += line_total(item, quantity, [Decimal(t["price"]) for t in item["tax_lines"]])
    order["current_total_price"] = f"{total:.2f}"
    order["current_total_price_set"] = _money(total, currency)
    return order


def mapped(payload: dict[str, Any], reference: str) -> SalesOrderDraft:
    draft = to_sales_order(SHOP, payload)
    assert draft.expected_total == Decimal(payload["current_total_price"])
    return msgspec.structs.replace(draft, external_reference=reference)


async def post_draft(api: AsyncTestClient, draft: SalesOrderDraft) -> dict[str, Any]:  # type: ignore[type-arg]
    created = await api.post("/erp/v1/sales-orders", json=msgspec.to_builtins(draft), headers=key())
    assert created.status_code == 201, created.text
    order: dict[str, Any] = created.json()
    assert Decimal(order["total"]["amount"]) == draft.expected_total
    return order


async def amend_priced(  # type: ignore[no-untyped-def]
    api, order_id: str, draft: SalesOrderDraft, expected_total: Decimal | None = None
):
    """Amend as the orders process does after an edit: Shopify's product lines, taxes
    included or not, and its current total."""
    body = {
        "lines": [
            msgspec.to_builtins(line) for line in draft.lines if line.kind == LineKind.PRODUCT
        ],
        "note": "Shopify orders/updated",
        "taxes_included": draft.taxes_included,
        "expected_total": str(
            expected_total if expected_total is not None else draft.expected_total
        ),
    }
    return await api.post(f"/erp/v1/sales-orders/{order_id}/amendments", json=body, headers=key())


def sale_total(server: TrytonServer, order_id: str) -> Decimal:
    with tryton(server) as c:
        [sale] = c.execute("sale.sale", "read", [int(order_id)], ["total_amount"])
    return Decimal(sale["total_amount"])


def adjustment_lines(server: TrytonServer, order_id: str) -> list[dict[str, Any]]:
    with tryton(server) as c:
        rows: list[dict[str, Any]] = c.execute(
            "sale.line", "search_read",
            [("sale", "=", int(order_id)), ("product.code", "=", "ADJUSTMENT")], 0, None, None,
            ["description", "unit_price", "quantity", "taxes"],
        )  # fmt: skip
    return rows


async def edit_and_check(  # type: ignore[no-untyped-def]
    api, server: TrytonServer, order_id: str, payload: dict[str, Any], reference: str
) -> dict[str, Any]:
    """Amend the ERP order to ``payload`` and check its total is Shopify's, then that the
    same amendment again changes nothing."""
    draft = mapped(payload, reference)
    made = amendments_of(server, order_id)
    amended = await amend_priced(api, order_id, draft)
    assert amended.status_code == 200, amended.text
    assert Decimal(amended.json()["order"]["total"]["amount"]) == draft.expected_total
    assert sale_total(server, order_id) == draft.expected_total
    assert amendments_of(server, order_id) > made
    made = amendments_of(server, order_id)
    again = await amend_priced(api, order_id, draft)
    assert again.status_code == 200, again.text
    assert again.json()["changes"] == []
    assert again.json()["amendment_id"] is None
    assert amendments_of(server, order_id) == made
    body: dict[str, Any] = amended.json()
    return body


@pytest.fixture
async def api_us(
    tryton_us: TrytonServer, redis_url: str, token_mint: TokenMint
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = msgspec.structs.replace(erp_settings(tryton_us, redis_url), instance="us")
    app = create_app(settings, auth=token_mint.settings())
    async with AsyncTestClient(app=app, timeout=60) as client:
        client.headers.update(token_mint.headers("erp:read", "erp:write"))
        yield client


def reference() -> str:
    return f"shopify:{SHOP}:{uuid.uuid4().int % 10**12}"


async def test_tax_included_quantities_amended_keep_shopifys_total(
    api,
    tryton_eu: TrytonServer,  # noqa: F811
) -> None:
    ref = reference()
    original = fixture(EU_VAT)
    order = await post_draft(api, mapped(original, ref))

    more = shopify_edit(original, {"TSHIRT-BLK-M": 3})
    up = await edit_and_check(api, tryton_eu, order["id"], more, ref)
    assert up["changes"] == [{"sku": "TSHIRT-BLK-M", "before": 2, "after": 3}]
    fewer = shopify_edit(more, {"MUG-STONE-350": 1})
    down = await edit_and_check(api, tryton_eu, order["id"], fewer, ref)
    assert down["changes"] == [{"sku": "MUG-STONE-350", "before": 3, "after": 1}]
    assert Decimal(down["order"]["total"]["amount"]) == Decimal("133.95") + 19 - 28
    # Net and tax split as Shopify's: no adjustment was needed.
    assert adjustment_lines(tryton_eu, order["id"]) == []
    assert planned_moves(tryton_eu, order["id"]) == {
        "TSHIRT-BLK-M": 3.0,
        "HOODIE-GRY-L": 1.0,
        "MUG-STONE-350": 1.0,
    }


async def test_us_sales_tax_quantities_amended_settle_the_adjustment_line(
    api_us,
    tryton_us: TrytonServer,
) -> None:
    ref = reference()
    original = fixture(US_TAX)
    order = await post_draft(api_us, mapped(original, ref))
    [posted_adjustment] = adjustment_lines(tryton_us, order["id"])

    more = shopify_edit(original, {"CUSHION-LIN-45": 3})
    await edit_and_check(api_us, tryton_us, order["id"], more, ref)
    fewer = shopify_edit(more, {"POT-TERRA-M": 1, "THROW-OAT": 2})
    body = await edit_and_check(api_us, tryton_us, order["id"], fewer, ref)
    assert sorted((c["sku"], c["after"]) for c in body["changes"]) == [
        ("POT-TERRA-M", 1),
        ("THROW-OAT", 2),
    ]
    # Still the one adjustment line, holding a rounding difference only.
    [adjustment] = adjustment_lines(tryton_us, order["id"])
    assert adjustment["id"] == posted_adjustment["id"]
    assert adjustment["description"] == "Rounding adjustment vs Shopify total"
    assert abs(Decimal(adjustment["unit_price"])) <= Decimal("0.05")


async def test_a_line_removed_and_one_added_keep_shopifys_total(
    api,
    tryton_eu: TrytonServer,  # noqa: F811
) -> None:
    ref = reference()
    original = fixture(EU_VAT)
    order = await post_draft(api, mapped(original, ref))

    removed = shopify_edit(original, {"HOODIE-GRY-L": 0})
    body = await edit_and_check(api, tryton_eu, order["id"], removed, ref)
    assert body["changes"] == [{"sku": "HOODIE-GRY-L", "before": 1, "after": 0}]
    assert quantities(body["order"]) == {"TSHIRT-BLK-M": 2, "MUG-STONE-350": 3}

    # The new SKU takes the hoodie's line: priced net of its 21 % VAT, as Shopify has it.
    added = shopify_edit(removed, add=(("BEANIE-CHR", 2, "15.00"),))
    body = await edit_and_check(api, tryton_eu, order["id"], added, ref)
    assert body["changes"] == [{"sku": "BEANIE-CHR", "before": 0, "after": 2}]
    assert Decimal(body["order"]["total"]["amount"]) == Decimal("133.95") - 49 + 30
    assert planned_moves(tryton_eu, order["id"]) == {
        "TSHIRT-BLK-M": 2.0,
        "MUG-STONE-350": 3.0,
        "BEANIE-CHR": 2.0,
    }


async def test_a_us_line_swapped_for_another_in_one_edit(
    api_us,
    tryton_us: TrytonServer,
) -> None:
    ref = reference()
    original = fixture(US_TAX)
    order = await post_draft(api_us, mapped(original, ref))

    swapped = shopify_edit(original, {"THROW-OAT": 0}, add=(("BEANIE-CHR", 1, "18.00"),))
    body = await edit_and_check(api_us, tryton_us, order["id"], swapped, ref)
    assert quantities(body["order"]) == {"CUSHION-LIN-45": 2, "POT-TERRA-M": 3, "BEANIE-CHR": 1}


async def test_a_rounding_difference_with_no_adjustment_line_goes_to_a_freed_line(
    api,
    tryton_eu: TrytonServer,  # noqa: F811
) -> None:
    ref = reference()
    original = fixture(EU_VAT)
    order = await post_draft(api, mapped(original, ref))
    removed = shopify_edit(original, {"HOODIE-GRY-L": 0})
    draft = mapped(removed, ref)
    assert draft.expected_total is not None

    amended = await amend_priced(api, order["id"], draft, draft.expected_total + CENT)
    assert amended.status_code == 200, amended.text
    assert sale_total(tryton_eu, order["id"]) == draft.expected_total + CENT
    [adjustment] = adjustment_lines(tryton_eu, order["id"])
    assert adjustment["description"] == "Rounding adjustment vs Shopify total"
    assert Decimal(adjustment["unit_price"]) * Decimal(adjustment["quantity"]) <= CENT
    assert amended.json()["order"]["adjustment"] is not None
    # Back to Shopify's total: the line that now carries the adjustment takes it back.
    again = await amend_priced(api, order["id"], draft)
    assert again.status_code == 200, again.text
    assert sale_total(tryton_eu, order["id"]) == draft.expected_total


async def test_a_difference_nothing_can_carry_or_beyond_rounding_is_refused_untouched(
    api,
    tryton_eu: TrytonServer,  # noqa: F811
) -> None:
    ref = reference()
    original = fixture(EU_VAT)
    order = await post_draft(api, mapped(original, ref))
    draft = mapped(shopify_edit(original, {"TSHIRT-BLK-M": 3}), ref)
    assert draft.expected_total is not None

    # A cent off, and no adjustment line nor freed line to carry it.
    cent = await amend_priced(api, order["id"], draft, draft.expected_total + CENT)
    # More than rounding: a part of the order the ERP does not hold.
    euros = await amend_priced(api, order["id"], draft, draft.expected_total + 5)

    for refused in (cent, euros):
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["type"].endswith("/order-not-amendable")
        assert [e["field"] for e in problem["errors"]] == ["expected_total"]
    assert "more than rounding" in euros.json()["detail"]
    assert amendments_of(tryton_eu, order["id"]) == 0
    assert sale_total(tryton_eu, order["id"]) == Decimal("133.95")
    assert (
        quantities((await api.get(f"/erp/v1/sales-orders/{order['id']}")).json())["TSHIRT-BLK-M"]
        == 2
    )


async def test_an_expected_total_finer_than_the_currency_is_a_422(api) -> None:
    ref = reference()
    original = fixture(EU_VAT)
    order = await post_draft(api, mapped(original, ref))
    draft = mapped(original, ref)
    refused = await amend_priced(api, order["id"], draft, Decimal("133.951"))
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "expected_total"
    negative = await amend_priced(api, order["id"], draft, Decimal("-1"))
    assert negative.status_code == 400, negative.text
