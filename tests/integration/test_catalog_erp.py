"""The ERP read side of catalog publication: variants with ids, barcodes, prices in every
currency the ERP prices (its price lists) and the change feed that also shows what was
deactivated or repriced, against a real Tryton."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from sandbox.tryton import DEMO_PRODUCTS, TrytonConsole, TrytonServer
from sandbox.tryton.master_data import price_list_name
from shared.models import Product
from system_apis.erp.adapters.tryton import TrytonAdapter
from tests.integration.tryton import tryton_eu, tryton_template_dir  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def erp(tryton_eu: TrytonServer) -> AsyncIterator[TrytonAdapter]:  # noqa: F811
    adapter = TrytonAdapter(httpx.AsyncClient(), tryton_eu.settings())
    try:
        yield adapter
    finally:
        await adapter.aclose()


def console(server: TrytonServer) -> TrytonConsole:
    return TrytonConsole(server.url, server.database, server.user, server.password)


async def all_products(erp: TrytonAdapter, since: dt.datetime | None) -> list[Product]:
    found, offset = [], 0
    while True:
        page, more = await erp.list_products(offset=offset, limit=50, updated_since=since)
        found += page
        offset += len(page)
        if not more:
            return found


async def test_variants_carry_ids_prices_and_barcodes(
    erp: TrytonAdapter,
    tryton_eu: TrytonServer,  # noqa: F811
) -> None:
    with console(tryton_eu) as c:
        [mug] = c.execute("product.product", "search", [("code", "=", "MUG-STONE-350")], 0, 1, None)
        c.execute(
            "product.product",
            "write",
            [mug],
            {"identifiers": [("create", [{"type": "ean", "code": "4006381333931"}])]},
        )
    products = await all_products(erp, None)
    variants = {v.sku: v for p in products for v in p.variants}
    mug_variant = variants["MUG-STONE-350"]
    assert mug_variant.barcode == "4006381333931"
    assert mug_variant.id == str(mug)
    # The company's currency first (its list follows the list price), then the USD list's.
    assert [m.currency for m in mug_variant.prices] == ["EUR", "USD"]
    assert mug_variant.prices[0] == mug_variant.price
    demo = {v.sku: p.prices for p in DEMO_PRODUCTS for v in p.variants}
    for sku, variant in variants.items():
        assert {m.currency: m.amount for m in variant.prices} == demo[sku], sku
    assert variants["TSHIRT-BLK-M"].description == "Black / M"
    assert all(p.active for p in products)


async def test_change_feed_shows_products_withdrawn_from_sale(
    erp: TrytonAdapter,
    tryton_eu: TrytonServer,  # noqa: F811
) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    with console(tryton_eu) as c:
        [pot] = c.execute(
            "product.template", "search", [("products.code", "=", "POT-TERRA-M")], 0, 1, None
        )
        # Tryton warns before deactivating a product with stock; withdrawing it from sale is
        # the same for the shops.
        c.execute("product.template", "write", [pot], {"salable": False})
    try:
        changed = {p.id: p for p in await all_products(erp, since)}
        # The window may also hold what the test before changed (the mug), still for sale.
        assert changed[str(pot)].active is False
        assert [v.sku for v in changed[str(pot)].variants] == ["POT-TERRA-M"]
        assert all(p.active for p in changed.values() if p.id != str(pot))
        # A full listing keeps to what is for sale.
        assert str(pot) not in {p.id for p in await all_products(erp, None)}
    finally:
        with console(tryton_eu) as c:
            c.execute("product.template", "write", [pot], {"salable": True})


async def test_usd_list_price_change_is_in_the_change_feed_and_never_estimated(
    erp: TrytonAdapter,
    tryton_eu: TrytonServer,  # noqa: F811
) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    with console(tryton_eu) as c:
        [usd] = c.execute(
            "product.price_list", "search", [("name", "=", price_list_name("USD"))], 0, 1, None
        )
        [candle] = c.execute(
            "product.product", "search", [("code", "=", "CANDLE-FIG-200")], 0, 1, None
        )
        [towel] = c.execute(
            "product.product", "search", [("code", "=", "TOWEL-BATH-WHT")], 0, 1, None
        )
        lines = c.execute(
            "product.price_list.line",
            "search",
            [("price_list", "=", usd), ("product", "in", [candle, towel])],
            0,
            None,
            None,
        )
        rows = c.execute("product.price_list.line", "read", lines, ["product", "formula"])
        formulas = {row["product"]: (row["id"], row["formula"]) for row in rows}
        c.execute("product.price_list.line", "write", [formulas[candle][0]], {"formula": "26.50"})
        # A rate is not a price the business set: the towel has no USD price now.
        c.execute(
            "product.price_list.line",
            "write",
            [formulas[towel][0]],
            {"formula": "list_price * Decimal('1.08')"},
        )
    try:
        changed = {v.sku: v for p in await all_products(erp, since) for v in p.variants}
        assert {m.currency: m.amount for m in changed["CANDLE-FIG-200"].prices} == {
            "EUR": Decimal("22.00"),
            "USD": Decimal("26.50"),
        }
        assert [m.currency for m in changed["TOWEL-BATH-WHT"].prices] == ["EUR"]
        # Only what was repriced (and what the tests before changed) is in the window.
        assert "BEANIE-CHR" not in changed
    finally:
        with console(tryton_eu) as c:
            for line, formula in formulas.values():
                c.execute("product.price_list.line", "write", [line], {"formula": formula})
