"""Amendments priced as postings are, without I/O: the plan's unit prices, and the adjustment
an amendment settles (Tryton's arithmetic replayed on the sale as it will be)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest

from shared.models import OrderLine, TaxLine
from system_apis.erp.adapters.tryton.amendments import (
    LineEdit,
    LinePricing,
    SaleAmendments,
    SaleLine,
    plan_amendment,
)
from system_apis.erp.adapters.tryton.catalogue import Catalogue
from system_apis.erp.adapters.tryton.parties import Customers
from system_apis.erp.adapters.tryton.pricing import (
    PricedLine,
    SaleTax,
    fit_line_total,
    tryton_amount,
    tryton_line_taxes,
    tryton_line_total,
)
from system_apis.erp.adapters.tryton.sales import SalesOrders
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.adapters.tryton_settings import TrytonSettings
from system_apis.erp.port import OrderNotAmendable

CENT = Decimal("0.01")
VAT = SaleTax(7, Decimal("0.21"), "VAT 21%")
REDUCED = SaleTax(8, Decimal("0.09"), "VAT 9%")
EU = LinePricing(taxes_included=True, unit=CENT)


def vat_line(sku: str, qty: int, price: str, tax: str, rate: str = "0.21") -> OrderLine:
    return OrderLine(
        sku=sku,
        quantity=qty,
        unit_price=Decimal(price),
        taxes=[TaxLine(rate=Decimal(rate), amount=Decimal(tax), title="VAT")],
    )


def posted(edit: LineEdit, taxes: tuple[SaleTax, ...]) -> tuple[Decimal, Decimal]:
    """What Tryton makes of an edited line: its amount and its taxes."""
    line = PricedLine(
        product=edit.sku,
        quantity=edit.quantity,
        unit_price=edit.unit_price,
        taxes=taxes,
        description="",
    )
    return tryton_amount(line, CENT), sum(tryton_line_taxes(line, CENT), Decimal(0))


def test_a_changed_quantity_is_priced_so_tryton_splits_net_and_tax_as_shopify() -> None:
    current = [SaleLine(id=1, sku="TEE", quantity=2, unit_price=Decimal("15.7025"), taxes=(VAT,))]
    # 3 x 19.00 including 21 % VAT: Shopify's tax 9.89, net 47.11.
    plan = plan_amendment(current, [vat_line("TEE", 3, "19.00", "9.89")], pricing=EU)
    [edit] = plan.edits
    assert (edit.line_id, edit.quantity) == (1, 3)
    assert posted(edit, (VAT,)) == (Decimal("47.11"), Decimal("9.89"))


def test_the_same_lines_and_figures_plan_nothing() -> None:
    wanted = [vat_line("TEE", 2, "19.00", "6.60")]
    first = plan_amendment(
        [SaleLine(id=1, sku="TEE", quantity=2, unit_price=Decimal("1"), taxes=(VAT,))],
        wanted,
        pricing=EU,
    )
    [edit] = first.edits
    again = plan_amendment(
        [SaleLine(id=1, sku="TEE", quantity=2, unit_price=edit.unit_price, taxes=(VAT,))],
        wanted,
        pricing=EU,
    )
    assert (again.edits, again.changes, again.unplaced) == ([], [], [])


def test_a_new_sku_takes_a_freed_line_whose_taxes_have_its_rates() -> None:
    current = [
        SaleLine(id=1, sku="BOOK", quantity=1, unit_price=Decimal("9.1743"), taxes=(REDUCED,)),
        SaleLine(id=2, sku="MUG", quantity=1, unit_price=Decimal("8.2645"), taxes=(VAT,)),
        SaleLine(id=3, sku="TEE", quantity=1, unit_price=Decimal("15.7025"), taxes=(VAT,)),
    ]
    wanted = [vat_line("TEE", 1, "19.00", "3.30"), vat_line("CAP", 2, "12.10", "4.20")]
    plan = plan_amendment(current, wanted, pricing=EU)
    # BOOK (9 %) and MUG (21 %) are freed; CAP (21 %) takes MUG's line, BOOK stays free.
    taken = [e for e in plan.edits if e.replaces]
    assert [(e.line_id, e.sku, e.replaces, e.quantity) for e in taken] == [(2, "CAP", "MUG", 2)]
    assert posted(taken[0], (VAT,)) == (Decimal("20.00"), Decimal("4.20"))
    assert plan.free == [1]
    assert [(c.sku, c.before, c.after) for c in plan.changes] == [
        ("BOOK", 1, 0),
        ("MUG", 1, 0),
        ("CAP", 0, 2),
    ]


def test_a_quantity_spread_over_lines_shares_the_amounts_and_keeps_unchanged_lines() -> None:
    pricing = LinePricing(taxes_included=False, unit=CENT)
    current = [
        SaleLine(id=1, sku="A", quantity=2, unit_price=Decimal("10"), taxes=(VAT,)),
        SaleLine(id=2, sku="A", quantity=2, unit_price=Decimal("10"), taxes=(VAT,)),
        SaleLine(id=3, sku="A", quantity=1, unit_price=Decimal("10"), taxes=(VAT,)),
    ]
    # Two wanted lines for three sale lines: spread, 2 + 1 + 0.
    wanted = [vat_line("A", 2, "10.00", "4.20"), vat_line("A", 1, "10.00", "2.10")]
    plan = plan_amendment(current, wanted, pricing=pricing)
    assert [(e.line_id, e.quantity) for e in plan.edits] == [(2, 1), (3, 0)]
    assert posted(plan.edits[0], (VAT,)) == (Decimal("10.00"), Decimal("2.10"))
    assert plan.free == [3]


def test_a_line_total_is_fitted_with_its_taxes_when_a_price_can_reach_it() -> None:
    assert fit_line_total(Decimal("0"), 1, (VAT,), CENT) == Decimal("0")
    for total in (Decimal("0.01"), Decimal("-0.02"), Decimal("1.00")):
        price = fit_line_total(total, 1, (VAT,), CENT)
        assert price is not None
        line = PricedLine(product="", quantity=1, unit_price=price, taxes=(VAT,), description="")
        assert tryton_line_total(line, CENT) == total
    assert fit_line_total(Decimal("0.03"), 1, (), CENT) == Decimal("0.03")


# -- settling the adjustment ------------------------------------------------------------------


@pytest.fixture
def amendments() -> SaleAmendments:
    settings = TrytonSettings(url="http://erp.invalid", database="db", user="u", password="p")
    rpc = cast(TrytonRpc, object())  # planning makes no call
    catalogue = Catalogue(rpc, settings)
    sales = SalesOrders(rpc, settings, catalogue=catalogue, customers=Customers(rpc, settings))
    return SaleAmendments(rpc, catalogue=catalogue, sales=sales)


def sale_row(*lines: dict[str, Any], total: str) -> dict[str, Any]:
    return {
        "id": 42,
        "reference": "shopify:shop:1",
        "total_amount": Decimal(total),
        "currency.": {"code": "EUR"},
        "lines.": list(lines),
    }


def row_line(line_id: int, code: str, qty: int, price: str, *taxes: SaleTax) -> dict[str, Any]:
    return {
        "id": line_id,
        "type": "line",
        "product.": {"code": code, "type": "service" if code == "ADJUSTMENT" else "goods"},
        "quantity": float(qty),
        "unit_price": Decimal(price),
        "description": code,
        "taxes.": [{"id": t.id, "rate": t.rate, "name": t.name} for t in taxes],
    }


def test_the_adjustment_line_takes_what_replayed_arithmetic_leaves(
    amendments: SaleAmendments,
) -> None:
    row = sale_row(
        row_line(1, "TEE", 2, "10.00", VAT),
        row_line(2, "ADJUSTMENT", 1, "0.01"),
        total="24.21",
    )
    edit = LineEdit(line_id=1, sku="TEE", quantity=3, unit_price=Decimal("10.00"), description="")
    # 3 x 10.00 + 21 % = 36.30, and the adjustment's 0.01: Shopify says 36.29.
    settled = amendments._settle(row, [edit], [], Decimal("36.29"))
    assert settled[0] == edit
    assert (settled[1].line_id, settled[1].unit_price) == (2, Decimal("-0.01"))
    # Already Shopify's: nothing to settle, nothing to edit.
    assert amendments._settle(row, [], [], Decimal("24.21")) == []


def test_a_freed_line_becomes_the_adjustment_when_the_sale_has_none(
    amendments: SaleAmendments,
) -> None:
    row = sale_row(
        row_line(1, "TEE", 2, "10.00", VAT),
        row_line(2, "MUG", 1, "5.00", VAT),
        total="30.25",
    )
    removed = LineEdit(line_id=2, sku="MUG", quantity=0, unit_price=Decimal("5"), description="")
    [adjustment] = amendments._settle(row, [removed], [2], Decimal("24.21"))
    assert (adjustment.line_id, adjustment.sku, adjustment.replaces) == (2, "ADJUSTMENT", "MUG")
    assert adjustment.description == "Rounding adjustment vs Shopify total"
    line = PricedLine(
        product="", quantity=1, unit_price=adjustment.unit_price, taxes=(VAT,), description=""
    )
    assert tryton_line_total(line, CENT) == CENT


def test_no_line_to_carry_it_or_more_than_rounding_is_refused(
    amendments: SaleAmendments,
) -> None:
    row = sale_row(row_line(1, "TEE", 2, "10.00", VAT), total="24.20")
    with pytest.raises(OrderNotAmendable) as nowhere:
        amendments._settle(row, [], [], Decimal("24.21"))
    assert [e["field"] for e in nowhere.value.errors or []] == ["expected_total"]
    with pytest.raises(OrderNotAmendable, match="more than rounding") as beyond:
        amendments._settle(row, [], [], Decimal("30.00"))
    assert [e["field"] for e in beyond.value.errors or []] == ["expected_total"]
