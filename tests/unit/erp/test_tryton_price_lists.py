"""Prices per currency from Tryton price lists: which line decides, and which formulas are
read as a price (a fixed amount, the list price) rather than estimated."""

from __future__ import annotations

from decimal import Decimal

import pytest

from system_apis.erp.adapters.tryton.catalogue import (
    CurrencyPriceList,
    PriceListLine,
    formula_amount,
    list_currency,
)

LIST_PRICE = Decimal("19.00")


def line(
    formula: str,
    *,
    product: int | None = None,
    category: int | None = None,
    quantity: float | None = None,
) -> PriceListLine:
    return PriceListLine(product=product, category=category, quantity=quantity, formula=formula)


@pytest.mark.parametrize(
    ("formula", "on_list_price", "expected"),
    [
        ("22.00", False, Decimal("22.00")),
        (" Decimal('22.5') ", False, Decimal("22.5")),
        ('Decimal("7")', False, Decimal("7")),
        ("list_price", False, LIST_PRICE),
        ("unit_price", True, LIST_PRICE),
        # unit_price of a list priced on nothing (or on the cost price) is no list price.
        ("unit_price", False, None),
        ("list_price * Decimal('1.08')", False, None),
        ("cost_price", True, None),
        ("-3", False, None),
    ],
)
def test_formula_amount(formula: str, on_list_price: bool, expected: Decimal | None) -> None:
    assert formula_amount(formula, on_list_price, LIST_PRICE) == expected


def test_the_first_matching_line_decides_as_in_tryton() -> None:
    usd = CurrencyPriceList(
        currency="USD",
        on_list_price=False,
        lines=(
            line("30.00", quantity=10.0),  # for ten units and more: not one unit's price
            line("25.00", category=4),  # another category
            line("22.00", product=7),
            line("list_price * 2"),  # every other product: not a price the ERP set
            line("99.00", product=8),  # after the catch-all: never reached
        ),
    )
    assert usd.price(7, [3], LIST_PRICE) == Decimal("22.00")
    assert usd.price(7, [4], LIST_PRICE) == Decimal("25.00")
    assert usd.price(8, [3], LIST_PRICE) is None
    assert (
        CurrencyPriceList(currency="USD", on_list_price=False, lines=()).price(7, [], LIST_PRICE)
        is None
    )


def test_a_list_is_named_for_a_currency_the_erp_knows() -> None:
    known = {"EUR", "USD"}
    assert list_currency("Shop prices USD", known) == "USD"
    assert list_currency("EUR", known) == "EUR"
    assert list_currency("Shop prices GBP", known) is None
    assert list_currency("Wholesale", known) is None
    assert list_currency("", known) is None
