"""Every recorded Shopify order, posted to a real Tryton: the ERP's total is Shopify's, to the cent.

Each fixture in ``tests/fixtures/shopify_orders`` is mapped as the orders process maps it,
routed as its default rules route it (USD and the US to the ``us`` ERP, the rest to ``eu``)
and posted through the ERP system API's Tryton adapter. The sale Tryton then holds is read
back and compared with Shopify's ``current_total_price`` (shop money).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from process_apis.orders.mapping import to_sales_order
from process_apis.orders.routing import choose_instance
from process_apis.orders.settings import OrdersSettings
from sandbox.tryton import TrytonServer
from shared.models import ChargeKind, OrderStatus, TaxLine
from system_apis.erp.adapters.tryton import TrytonAdapter
from system_apis.erp.port import ErpRejected

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify_orders"
ORDERS = sorted(FIXTURES.glob("*.json"))
PAYLOADS: dict[str, dict[str, Any]] = {path.stem: json.loads(path.read_text()) for path in ORDERS}
SHOP = "strata-demo.myshopify.com"
CUSTOM_ITEM_SKU = "CUSTOM-ITEM"
# Orders whose total Tryton's tax arithmetic can't reach: several US jurisdictions on one
# line (Tryton rounds a line's taxes together, Shopify each tax), and an order on which
# Shopify put an order-level rounding cent on one line. Each carries one adjustment line.
ADJUSTED = {
    "04_us_sales_tax_ohio",
    "05_us_sales_tax_nyc_discount_code",
    "14_guest_checkout",
    "18_edited_quantity",
    "19_order_level_tax_rounding",
}


def shop_money(payload: dict[str, Any], key: str) -> Decimal:
    return Decimal(payload[key]["shop_money"]["amount"])


def test_the_fixture_set_covers_the_cases() -> None:
    assert len(ORDERS) >= 15
    payloads = PAYLOADS
    assert any(len(p["line_items"]) >= 100 for p in payloads.values())
    assert {p["currency"] for p in payloads.values()} >= {"EUR", "USD", "JPY", "KWD"}
    assert any(p["presentment_currency"] != p["currency"] for p in payloads.values())
    assert any(p["customer"] is None for p in payloads.values())
    assert any(p["shipping_address"] is None for p in payloads.values())
    assert any(line["gift_card"] for p in payloads.values() for line in p["line_items"])
    assert any("gift_card" in p["payment_gateway_names"] for p in payloads.values())
    assert any(
        line["sku"] is None and line["product_id"] is None
        for p in payloads.values()
        for line in p["line_items"]
    )
    assert {p["taxes_included"] for p in payloads.values()} == {True, False}


@pytest.mark.parametrize("path", ORDERS, ids=[p.stem for p in ORDERS])
async def test_the_erp_total_is_shopifys_to_the_cent(
    path: Path, erps: dict[str, TrytonAdapter]
) -> None:
    payload = PAYLOADS[path.stem]
    draft = to_sales_order(SHOP, payload, custom_item_sku=CUSTOM_ITEM_SKU)
    expected = shop_money(payload, "current_total_price_set")
    assert draft.expected_total == expected
    settings = OrdersSettings()
    erp = erps[
        choose_instance(
            draft, SHOP, settings.routes, settings.default_instance, set(settings.erp_instances)
        )
    ]

    posted = await erp.create_sales_order(draft)

    assert posted.status == OrderStatus.CONFIRMED
    assert posted.total.amount == expected
    assert posted.total.currency == payload["currency"]
    stored = await erp.get_sales_order(posted.id)
    assert stored.status in (OrderStatus.CONFIRMED, OrderStatus.PROCESSING)
    assert stored.total.amount == expected
    assert stored.untaxed is not None
    assert stored.tax is not None
    assert stored.untaxed.amount + stored.tax.amount == expected
    # Every charge Shopify made is a line of its own in the ERP.
    assert sorted(c.kind for c in stored.charges) == sorted(c.kind for c in draft.charges)
    assert sum(line.quantity for line in stored.lines) == sum(line.quantity for line in draft.lines)
    adjustments = await erp.rpc.execute(
        "sale.line",
        "search_read",
        [("sale", "=", int(posted.id)), ("product.code", "=", "ADJUSTMENT")],
        0,
        None,
        None,
        ["description", "unit_price", "taxes"],
    )
    if path.stem in ADJUSTED:
        [adjustment] = adjustments
        assert adjustment["description"] == "Rounding adjustment vs Shopify total"
        assert adjustment["taxes"] == []
        assert stored.adjustment is not None
        assert stored.adjustment.amount == adjustment["unit_price"]
        assert abs(stored.adjustment.amount) <= Decimal("0.02")
    else:
        assert adjustments == []
        assert stored.adjustment is None
        # Without an adjustment the ERP's taxes are Shopify's too.
        assert stored.tax.amount == shop_money(payload, "current_total_tax_set")


async def test_charges_and_special_lines_post_on_their_products(
    erps: dict[str, TrytonAdapter],
) -> None:
    payload = PAYLOADS["17_duties_and_tip"]
    draft = to_sales_order(SHOP, payload, custom_item_sku=CUSTOM_ITEM_SKU)
    posted = await erps["eu"].create_sales_order(draft)
    rows = await erps["eu"].rpc.execute(
        "sale.line",
        "search_read",
        [("sale", "=", int(posted.id))],
        0,
        None,
        [("id", "ASC")],
        ["product.code", "product.type", "amount"],
    )
    by_code = {row["product."]["code"]: row for row in rows}
    assert by_code["JEANS-IND-30"]["product."]["type"] == "goods"
    assert by_code["DUTY"]["amount"] == Decimal("7.70")
    assert by_code["TIP"]["amount"] == Decimal("3.00")
    assert by_code["SHIPPING"]["amount"] == Decimal("19.90")
    assert {by_code[c]["product."]["type"] for c in ("DUTY", "TIP", "SHIPPING")} == {"service"}
    assert {c.kind for c in (await erps["eu"].get_sales_order(posted.id)).charges} == {
        ChargeKind.DUTY,
        ChargeKind.TIP,
        ChargeKind.SHIPPING,
    }


async def test_a_tax_rate_the_erp_lacks_is_refused_by_name(
    erps: dict[str, TrytonAdapter],
) -> None:
    payload = PAYLOADS["14_guest_checkout"]
    draft = to_sales_order(SHOP, payload)
    odd = msgspec.structs.replace(
        draft.lines[0],
        taxes=[TaxLine(title="Alameda County Tax", rate=Decimal("0.0825"), amount=Decimal("6.52"))],
    )
    # A reference of its own: the fixture itself is posted by the tests above.
    draft = msgspec.structs.replace(
        draft, lines=[odd, *draft.lines[1:]], external_reference=f"shopify:{SHOP}:odd-tax-rate"
    )
    with pytest.raises(ErpRejected) as info:
        await erps["us"].create_sales_order(draft)
    assert info.value.errors == [
        {
            "field": "lines[0].taxes[0].rate",
            "message": "the ERP has no sales tax at rate 0.0825 (8.25 %, Alameda County Tax)",
        }
    ]
    assert await erps["us"].find_sales_order(draft.external_reference) is None


async def test_a_repeat_order_costs_four_erp_calls(tryton_eu: TrytonServer) -> None:
    calls = 0

    async def count(request: httpx.Request) -> None:
        nonlocal calls
        calls += 1

    erp = TrytonAdapter(httpx.AsyncClient(event_hooks={"request": [count]}), tryton_eu.settings())
    try:
        payload = dict(PAYLOADS["02_discount_code_order_level"])
        first = to_sales_order(SHOP, payload)
        await erp.create_sales_order(first)
        payload["id"] += 1
        again = to_sales_order(SHOP, payload)
        calls = 0
        posted = await erp.create_sales_order(again)
        # create, quote, read (number and totals), confirm: taxes, charge products, SKUs and
        # the customer come from the adapter's caches.
        assert calls == 4
        assert posted.total.amount == shop_money(payload, "current_total_price_set")
    finally:
        await erp.aclose()
