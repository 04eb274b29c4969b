"""Resuming a half-made sale checks its total against the channel's, against a real Tryton.

A posting interrupted between Tryton's create and confirm leaves a draft or a quotation. The
next posting of the same order (through the ERP system API's service) compares the ERP's
total with the order's ``expected_total`` before it confirms, as creating does: a rounding
difference goes to the one adjustment line, a larger one (a sale of other lines) is refused
and the half-made sale discarded, so that posting again creates the order afresh.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis

from process_apis.orders.mapping import to_sales_order
from shared.idempotency import IdempotencyStore
from shared.models import OrderStatus, SalesOrderDraft
from shared.problems import UpstreamTimeout
from system_apis.erp.adapters.tryton import TrytonAdapter
from system_apis.erp.port import ErpRejected
from system_apis.erp.service import ErpService

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify_orders"
SHOP = "strata-demo.myshopify.com"
POSTED = frozenset({OrderStatus.CONFIRMED, OrderStatus.PROCESSING})
# Two orders of the recorded set: one whose total Tryton reaches without an adjustment line
# (EUR, the ``eu`` ERP), one that needs one (USD, the ``us`` ERP).
WITHOUT_ADJUSTMENT = "01_eu_vat_multi_line_tax_included"
WITH_ADJUSTMENT = "19_order_level_tax_rounding"
INSTANCE = {WITHOUT_ADJUSTMENT: "eu", WITH_ADJUSTMENT: "us"}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def fixture_draft(name: str) -> SalesOrderDraft:
    """The recorded order ``name`` as the orders process maps it, under a reference of its
    own (other tests post the fixtures as they are)."""
    payload = json.loads((FIXTURES / f"{name}.json").read_text())
    draft = to_sales_order(SHOP, payload)
    expected = Decimal(payload["current_total_price_set"]["shop_money"]["amount"])
    assert draft.expected_total == expected
    return msgspec.structs.replace(
        draft, external_reference=f"shopify:{SHOP}:resume-{uuid.uuid4().int % 10**12}"
    )


def service_for(erp: TrytonAdapter, redis: Redis) -> ErpService:
    return ErpService(erp, IdempotencyStore(redis, f"resume-{uuid.uuid4().hex}"), "test")


def interrupt_at(
    erp: TrytonAdapter, monkeypatch: pytest.MonkeyPatch, method: str
) -> list[tuple[str, str]]:
    """Make ``sale.sale.<method>`` time out before it reaches Tryton; the calls made are listed."""
    real = erp.rpc.execute
    calls: list[tuple[str, str]] = []

    async def execute(model: str, name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((model, name))
        if (model, name) == ("sale.sale", method):
            raise UpstreamTimeout(f"{model}.{name}: no answer")
        return await real(model, name, *args, **kwargs)

    monkeypatch.setattr(erp.rpc, "execute", execute)
    return calls


async def leave_half_made(
    erp: TrytonAdapter, draft: SalesOrderDraft, stopped_at: str
) -> dict[str, Any]:
    """Post ``draft`` through the adapter until ``sale.sale.<stopped_at>`` times out; the sale
    left behind."""
    with pytest.MonkeyPatch.context() as patch:
        interrupt_at(erp, patch, stopped_at)
        with pytest.raises(UpstreamTimeout):
            await erp.create_sales_order(draft)
    [sale] = await sales_with(erp, draft.external_reference)
    assert sale["state"] == {"quote": "draft", "confirm": "quotation"}[stopped_at]
    return sale


async def sales_with(erp: TrytonAdapter, reference: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await erp.rpc.execute(
        "sale.sale",
        "search_read",
        [("reference", "=", reference)],
        0,
        None,
        [("id", "ASC")],
        ["state", "total_amount"],
    )
    return rows


async def adjustment_lines(erp: TrytonAdapter, sale_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await erp.rpc.execute(
        "sale.line",
        "search_read",
        [("sale", "=", sale_id), ("product.code", "=", "ADJUSTMENT")],
        0,
        None,
        None,
        ["unit_price", "quantity", "description", "taxes"],
    )
    return rows


async def first_product_line(erp: TrytonAdapter, sale_id: int, sku: str) -> dict[str, Any]:
    [line] = await erp.rpc.execute(
        "sale.line",
        "search_read",
        [("sale", "=", sale_id), ("product.code", "=", sku)],
        0,
        1,
        [("id", "ASC")],
        ["unit_price", "quantity"],
    )
    row: dict[str, Any] = line
    return row


async def drift(erp: TrytonAdapter, sale: dict[str, Any], sku: str, **values: Any) -> Decimal:
    """Change a line of the half-made sale in Tryton (left in the state it was in), as if the
    ERP had computed it otherwise than the adapter predicted; the sale's total after."""
    sale_id = sale["id"]
    line = await first_product_line(erp, sale_id, sku)
    if sale["state"] == "quotation":
        await erp.rpc.execute("sale.sale", "draft", [sale_id])
    await erp.rpc.execute("sale.line", "write", [line["id"]], values)
    if sale["state"] == "quotation":
        await erp.rpc.execute("sale.sale", "quote", [sale_id])
    [row] = await erp.rpc.execute("sale.sale", "read", [sale_id], ["total_amount", "state"])
    assert row["state"] == sale["state"]
    total: Decimal = row["total_amount"]
    return total


@pytest.mark.parametrize("stopped_at", ["quote", "confirm"], ids=["draft", "quotation"])
@pytest.mark.parametrize("name", [WITHOUT_ADJUSTMENT, WITH_ADJUSTMENT])
async def test_a_resumed_sale_is_confirmed_at_the_channels_total(
    erps: dict[str, TrytonAdapter],
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    stopped_at: str,
) -> None:
    erp = erps[INSTANCE[name]]
    draft = fixture_draft(name)
    left = await leave_half_made(erp, draft, stopped_at)
    held = await adjustment_lines(erp, left["id"])
    calls = interrupt_at(erp, monkeypatch, "no-such-method")

    posted = await service_for(erp, redis).post_sales_order(draft)

    assert posted.created
    assert posted.order.id == str(left["id"])
    assert posted.order.status in POSTED
    assert posted.order.total.amount == draft.expected_total
    [sale] = await sales_with(erp, draft.external_reference)
    assert sale["state"] in ("confirmed", "processing")
    assert sale["total_amount"] == draft.expected_total
    # The sale as created already came to the channel's total: nothing was rewritten.
    assert ("sale.sale", "write") not in calls
    assert await adjustment_lines(erp, left["id"]) == held
    assert (name == WITH_ADJUSTMENT) == bool(held)


@pytest.mark.parametrize(
    ("name", "stopped_at", "step"),
    [
        (WITHOUT_ADJUSTMENT, "quote", "0.0100"),
        (WITHOUT_ADJUSTMENT, "confirm", "-0.0100"),
        (WITH_ADJUSTMENT, "quote", "0.0100"),
        (WITH_ADJUSTMENT, "quote", "-0.0100"),
        (WITH_ADJUSTMENT, "confirm", "0.0100"),
        (WITH_ADJUSTMENT, "confirm", "-0.0100"),
    ],
    ids=lambda value: str(value).split("_")[0],
)
async def test_a_resumed_sale_whose_total_drifted_is_settled_on_the_adjustment_line(
    erps: dict[str, TrytonAdapter], redis: Redis, name: str, stopped_at: str, step: str
) -> None:
    erp = erps[INSTANCE[name]]
    draft = fixture_draft(name)
    assert draft.expected_total is not None
    left = await leave_half_made(erp, draft, stopped_at)
    before = sum(
        (line["unit_price"] for line in await adjustment_lines(erp, left["id"])), Decimal(0)
    )
    sku = draft.lines[0].sku
    line = await first_product_line(erp, left["id"], sku)
    drifted = await drift(erp, left, sku, unit_price=line["unit_price"] + Decimal(step))
    assert drifted != draft.expected_total
    settled = before + draft.expected_total - drifted

    posted = await service_for(erp, redis).post_sales_order(draft)

    assert posted.order.id == str(left["id"])
    assert posted.order.status in POSTED
    assert posted.order.total.amount == draft.expected_total
    [sale] = await sales_with(erp, draft.external_reference)
    assert sale["state"] in ("confirmed", "processing")
    assert sale["total_amount"] == draft.expected_total
    adjustments = await adjustment_lines(erp, left["id"])
    if not settled:
        # The drift undid the adjustment the sale was created with: no line is left.
        assert adjustments == []
        assert posted.order.adjustment is None
        return
    [adjustment] = adjustments
    assert adjustment["unit_price"] == settled
    assert adjustment["quantity"] == 1
    assert adjustment["taxes"] == []
    assert adjustment["description"] == "Rounding adjustment vs Shopify total"
    assert posted.order.adjustment is not None
    assert posted.order.adjustment.amount == settled


async def test_a_half_made_sale_of_other_lines_is_refused_then_posted_afresh(
    erps: dict[str, TrytonAdapter], redis: Redis
) -> None:
    erp = erps["eu"]
    draft = fixture_draft(WITHOUT_ADJUSTMENT)
    left = await leave_half_made(erp, draft, "quote")
    sku = draft.lines[0].sku
    line = await first_product_line(erp, left["id"], sku)
    # The sale holds a line the order no longer has: more than any rounding.
    await drift(erp, left, sku, quantity=line["quantity"] + 1)
    service = service_for(erp, redis)

    with pytest.raises(ErpRejected) as refused:
        await service.post_sales_order(draft)

    assert [e["field"] for e in refused.value.errors or []] == ["expected_total"]
    assert await sales_with(erp, draft.external_reference) == []
    posted = await service.post_sales_order(draft)
    assert posted.created
    assert posted.order.id != str(left["id"])
    assert posted.order.total.amount == draft.expected_total
    [sale] = await sales_with(erp, draft.external_reference)
    assert sale["id"] == int(posted.order.id)
    assert sale["state"] in ("confirmed", "processing")
    assert sale["total_amount"] == draft.expected_total
