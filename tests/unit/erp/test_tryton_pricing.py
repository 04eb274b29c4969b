"""Pricing a canonical order as Tryton sale lines: Tryton's arithmetic replayed, no I/O."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from shared.models import (
    ChargeKind,
    Customer,
    DiscountAllocation,
    LineKind,
    OrderCharge,
    OrderLine,
    SalesOrderDraft,
    TaxLine,
)
from system_apis.erp.adapters.tryton.catalogue import CachedProduct
from system_apis.erp.adapters.tryton.pricing import (
    ChargeProducts,
    PricedLine,
    SaleTax,
    check_products,
    fit_unit_price,
    price_sale,
    sale_line,
    sale_products,
    settled_adjustment,
    tax_rates,
    tryton_line_taxes,
)
from system_apis.erp.port import ErpRejected, UnknownSku

VAT21 = SaleTax(1, Decimal("0.21"), "VAT 21%")
OHIO = (
    SaleTax(10, Decimal("0.0575"), "Ohio State Tax 5.75%"),
    SaleTax(11, Decimal("0.0125"), "Franklin County Tax 1.25%"),
    SaleTax(12, Decimal("0.005"), "COTA Transit Tax 0.5%"),
)
TAXES = {t.rate.normalize(): [t] for t in (VAT21, *OHIO)}
CENT = Decimal("0.01")


def draft(*lines: OrderLine, **extra: object) -> SalesOrderDraft:
    values: dict[str, object] = {
        "external_reference": "shopify:s:1",
        "currency": "EUR",
        "customer": Customer(email="a@example.com"),
        "lines": list(lines),
        **extra,
    }
    return SalesOrderDraft(**values)  # type: ignore[arg-type]


def vat(amount: str) -> TaxLine:
    return TaxLine(rate=Decimal("0.21"), amount=Decimal(amount), title="BTW 21%")


def test_tax_included_prices_are_posted_net_and_hit_shopifys_tax() -> None:
    # 10.00 including 21 %: Shopify's tax is 1.74, net 8.26; Tryton on 8.26 would say 1.73.
    line = OrderLine(sku="A", quantity=1, unit_price=Decimal("10.00"), taxes=[vat("1.74")])
    priced = price_sale(
        draft(line, taxes_included=True, expected_total=Decimal("10.00")), TAXES, ChargeProducts()
    )
    [posted] = priced.lines
    assert posted.unit_price == Decimal("8.2620")  # amount 8.26, tax 1.73502 -> 1.74
    assert (priced.untaxed, priced.tax, priced.adjustment) == (
        Decimal("8.26"),
        Decimal("1.74"),
        Decimal("0"),
    )


def test_discounts_fold_into_the_net_unit_price() -> None:
    line = OrderLine(
        sku="A",
        quantity=3,
        unit_price=Decimal("19.00"),
        discounts=[DiscountAllocation(amount=Decimal("9.99"), title="3 for 2")],
        taxes=[vat("9.87")],
    )
    priced = price_sale(draft(line, expected_total=Decimal("56.88")), TAXES, ChargeProducts())
    [posted] = priced.lines
    assert posted.quantity == 3
    assert (Decimal(3) * posted.unit_price).quantize(CENT) == Decimal("47.01")
    assert "less 9.99 3 for 2" in posted.description
    assert priced.total == Decimal("56.88")
    assert priced.adjustment == 0


def test_tryton_rounds_a_lines_taxes_together() -> None:
    # 9.95 at 5.75 + 1.25 + 0.5 %: each rounded gives 0.74, Tryton gives the remainder back.
    line = PricedLine(
        product="SHIPPING", quantity=1, unit_price=Decimal("9.95"), taxes=OHIO, description=""
    )
    assert tryton_line_taxes(line, CENT) == [Decimal("0.58"), Decimal("0.12"), Decimal("0.05")]


def test_a_difference_tryton_cant_express_is_one_named_adjustment_line() -> None:
    shipping = OrderCharge(
        kind=ChargeKind.SHIPPING,
        amount=Decimal("9.95"),
        taxes=[
            TaxLine(rate=Decimal("0.0575"), amount=Decimal("0.57")),
            TaxLine(rate=Decimal("0.0125"), amount=Decimal("0.12")),
            TaxLine(rate=Decimal("0.005"), amount=Decimal("0.05")),
        ],
    )
    line = OrderLine(sku="A", quantity=1, unit_price=Decimal("5.00"))
    priced = price_sale(
        draft(line, currency="USD", charges=[shipping], expected_total=Decimal("15.69")),
        TAXES,
        ChargeProducts(),
    )
    assert priced.adjustment == Decimal("-0.01")
    adjustment = priced.lines[-1]
    assert (adjustment.product, adjustment.unit_price, adjustment.taxes) == (
        "ADJUSTMENT",
        Decimal("-0.01"),
        (),
    )
    assert adjustment.description == "Rounding adjustment vs Shopify total"
    assert priced.total == Decimal("15.69")


def test_more_than_rounding_is_refused_not_adjusted() -> None:
    line = OrderLine(sku="A", quantity=1, unit_price=Decimal("5.00"))
    with pytest.raises(ErpRejected) as info:
        price_sale(
            draft(line, expected_total=Decimal("15.00")),
            TAXES,
            ChargeProducts(),
            max_adjustment=Decimal("1.00"),
        )
    assert [e["field"] for e in info.value.errors or []] == ["expected_total"]
    assert "10.00" in str(info.value)


def test_a_rate_the_erp_lacks_is_refused_by_name() -> None:
    line = OrderLine(
        sku="A",
        quantity=1,
        unit_price=Decimal("5.00"),
        taxes=[TaxLine(rate=Decimal("0.0825"), amount=Decimal("0.41"), title="Alameda")],
    )
    with pytest.raises(ErpRejected) as info:
        price_sale(draft(line), TAXES, ChargeProducts())
    assert info.value.errors == [
        {
            "field": "lines[0].taxes[0].rate",
            "message": "the ERP has no sales tax at rate 0.0825 (8.25 %, Alameda)",
        }
    ]


def test_gift_cards_post_untaxed_on_the_gift_card_product() -> None:
    card = OrderLine(sku="GC-50", quantity=1, unit_price=Decimal("50.00"), kind=LineKind.GIFT_CARD)
    [posted] = price_sale(draft(card), TAXES, ChargeProducts()).lines
    assert (posted.product, posted.taxes, posted.unit_price) == ("GIFT-CARD", (), Decimal("50"))


def test_an_unallocated_order_discount_is_a_negative_line_with_its_taxes() -> None:
    line = OrderLine(sku="A", quantity=2, unit_price=Decimal("50.00"), taxes=[vat("21.00")])
    discount = OrderCharge(
        kind=ChargeKind.DISCOUNT, amount=Decimal("10.00"), title="Opening", taxes=[vat("2.10")]
    )
    priced = price_sale(
        draft(line, charges=[discount], expected_total=Decimal("108.90")), TAXES, ChargeProducts()
    )
    posted = priced.lines[1]
    assert (posted.product, posted.unit_price, posted.taxes) == (
        "DISCOUNT",
        Decimal("-10.0000"),
        (VAT21,),
    )
    assert (priced.untaxed, priced.tax, priced.adjustment) == (
        Decimal("90.00"),
        Decimal("18.90"),
        Decimal("0"),
    )


def test_yen_have_no_minor_unit() -> None:
    tax = TaxLine(rate=Decimal("0.1"), amount=Decimal("809"))
    line = OrderLine(sku="A", quantity=1, unit_price=Decimal("8900"), taxes=[tax])
    ten = {Decimal("0.1"): [SaleTax(5, Decimal("0.1"), "JCT 10%")]}
    priced = price_sale(
        draft(line, currency="JPY", taxes_included=True, expected_total=Decimal("8900")),
        ten,
        ChargeProducts(),
    )
    assert (priced.untaxed, priced.tax, priced.adjustment) == (
        Decimal("8091"),
        Decimal("809"),
        Decimal("0"),
    )


def test_fit_falls_back_to_the_nearest_price() -> None:
    # No price makes 0.01 at 21 % carry 0.05 of tax: the nearest is posted.
    assert fit_unit_price(CENT, 1, (VAT21,), Decimal("0.05"), CENT) == Decimal("0.0100")


def test_a_difference_left_after_quoting_settles_on_the_adjustment_line() -> None:
    line = OrderLine(sku="A", quantity=1, unit_price=Decimal("5.00"))
    order = draft(line, expected_total=Decimal("15.69"))
    # The ERP totals 15.71 with an adjustment of -0.01 on it: the line must hold -0.03.
    settled = settled_adjustment(
        order, Decimal("15.71"), Decimal("-0.01"), max_adjustment=Decimal("1.00")
    )
    assert settled == Decimal("-0.03")
    assert settled_adjustment(order, Decimal("15.69"), Decimal("-0.01")) == Decimal("-0.01")


def test_without_an_expected_total_the_adjustment_stays_as_it_is() -> None:
    line = OrderLine(sku="A", quantity=1, unit_price=Decimal("5.00"))
    assert settled_adjustment(draft(line), Decimal("99.00"), Decimal("0.02")) == Decimal("0.02")


def test_a_sale_made_otherwise_than_the_order_is_refused_not_adjusted() -> None:
    # A half-made sale of other lines: 25.00 where the channel says 15.00.
    line = OrderLine(sku="A", quantity=1, unit_price=Decimal("15.00"))
    order = draft(line, expected_total=Decimal("15.00"))
    with pytest.raises(ErpRejected) as info:
        settled_adjustment(order, Decimal("25.00"), Decimal(0), max_adjustment=Decimal("1.00"))
    assert [e["field"] for e in info.value.errors or []] == ["expected_total"]
    assert "-10.00" in str(info.value)


def test_the_adjustment_limit_counts_what_the_line_holds_already() -> None:
    line = OrderLine(sku="A", quantity=1, unit_price=Decimal("5.00"))
    order = draft(line, expected_total=Decimal("5.00"))
    with pytest.raises(ErpRejected):
        settled_adjustment(order, Decimal("4.50"), Decimal("0.80"), max_adjustment=Decimal("1.00"))


def test_a_priced_line_becomes_tryton_values_on_its_product() -> None:
    product = CachedProduct(id=7, unit=1, name="Tote", salable=True, expires=0.0)
    taxed = PricedLine(
        product="A", quantity=2, unit_price=Decimal("8.2620"), taxes=(VAT21,), description=""
    )
    assert sale_line(taxed, product) == {
        "type": "line",
        "product": 7,
        "quantity": 2.0,
        "unit": 1,
        "unit_price": Decimal("8.2620"),
        "description": "Tote",
        "taxes": [["add", [1]]],
    }
    untaxed = msgspec.structs.replace(taxed, taxes=(), description="Rounding adjustment")
    assert "taxes" not in sale_line(untaxed, product)
    assert sale_line(untaxed, product)["description"] == "Rounding adjustment"


def test_a_sale_needs_its_skus_then_its_charge_products() -> None:
    card = OrderLine(sku="GC-50", quantity=1, unit_price=Decimal("50.00"), kind=LineKind.GIFT_CARD)
    line = OrderLine(sku="A", quantity=1, unit_price=Decimal("5.00"), taxes=[vat("1.05")])
    shipping = OrderCharge(kind=ChargeKind.SHIPPING, amount=Decimal("4.95"))
    order = draft(line, card, charges=[shipping], expected_total=Decimal("61.00"))
    assert sale_products(order, ChargeProducts()) == ["A", "ADJUSTMENT", "GIFT-CARD", "SHIPPING"]
    assert sale_products(draft(line), ChargeProducts()) == ["A"]
    assert tax_rates(order) == {Decimal("0.21")}


def test_products_the_erp_lacks_or_does_not_sell_are_named() -> None:
    sold = CachedProduct(id=1, unit=1, name="A", salable=True, expires=0.0)
    unsold = msgspec.structs.replace(sold, salable=False)
    lines = [OrderLine(sku=sku, quantity=1, unit_price=Decimal("1.00")) for sku in "ABC"]
    with pytest.raises(UnknownSku) as unknown:
        check_products(draft(*lines), {"A": sold, "B": unsold}, ChargeProducts())
    assert unknown.value.errors == [
        {"field": "lines[1].sku", "message": "SKU 'B' is not for sale"},
        {"field": "lines[2].sku", "message": "unknown SKU 'C'"},
    ]
    with pytest.raises(ErpRejected) as charges:
        check_products(
            draft(lines[0], expected_total=Decimal("1.00")), {"A": sold}, ChargeProducts()
        )
    assert charges.value.errors == [
        {"field": "charges", "message": "no salable charge product 'ADJUSTMENT'"}
    ]
