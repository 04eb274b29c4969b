"""The ERP read side of catalog publication: variants with ids, barcodes, prices and the
change feed that also shows what was deactivated, against a real Tryton."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox.tryton import TrytonConsole, TrytonServer
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
    assert [m.currency for m in mug_variant.prices] == ["EUR"]
    assert mug_variant.prices[0] == mug_variant.price
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
