"""The Tryton adapter against a real trytond serving a fresh copy of the demo template."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import httpx
import msgspec
import pytest

from sandbox.tryton import (
    DEMO_CUSTOMERS,
    DEMO_PRODUCTS,
    DEMO_SKUS,
    TrytonConsole,
    TrytonServer,
    build_template,
    credit_invoice,
    post_invoices,
    remove_run,
    return_order,
    ship_order,
    start_server,
    template_is_current,
)
from shared.models import (
    Address,
    Customer,
    OrderLine,
    OrderStatus,
    SalesOrderDraft,
)
from shared.problems import UpstreamUnavailable
from system_apis.erp.adapters.tryton import TrytonAdapter
from system_apis.erp.port import ErpRejected, OrderAlreadyShipped, OrderNotFound, UnknownSku

# tryton_template_dir, start_tryton, tryton_eu
pytestmark = [pytest.mark.integration, pytest.mark.slow]

StartTryton = Callable[..., TrytonServer]

PRICES_EUR = {v.sku: p.price("EUR") for p in DEMO_PRODUCTS for v in p.variants}
STOCK = {v.sku: v.stock for p in DEMO_PRODUCTS for v in p.variants}


class CallCounter:
    """Counts JSON-RPC posts made through a client."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, request: httpx.Request) -> None:
        self.calls += 1


@pytest.fixture
async def counter() -> CallCounter:
    return CallCounter()


@pytest.fixture
async def erp(tryton_eu: TrytonServer, counter: CallCounter) -> AsyncIterator[TrytonAdapter]:
    client = httpx.AsyncClient(event_hooks={"request": [counter]})
    adapter = TrytonAdapter(client, tryton_eu.settings())
    try:
        yield adapter
    finally:
        await adapter.aclose()
    assert client.is_closed


def a_draft(*lines: tuple[str, int], email: str | None = None, **extra: object) -> SalesOrderDraft:
    customer = DEMO_CUSTOMERS[0] if email is None else Customer(email=email, name="New Buyer")
    return SalesOrderDraft(
        external_reference=f"SHOP-{uuid.uuid4().hex[:12]}",
        currency="EUR",
        customer=customer,
        lines=[
            OrderLine(sku=sku, quantity=qty, unit_price=PRICES_EUR.get(sku, Decimal("1.00")))
            for sku, qty in lines
        ],
        ordered_at=dt.datetime.now(dt.UTC),
        **extra,  # type: ignore[arg-type]
    )


async def test_products_are_paged_with_prices(erp: TrytonAdapter) -> None:
    seen: dict[str, Decimal] = {}
    offset, pages = 0, 0
    while True:
        products, more = await erp.list_products(offset=offset, limit=5, updated_since=None)
        pages += 1
        for product in products:
            assert product.updated_at is not None
            for variant in product.variants:
                assert variant.price.currency == "EUR"
                seen[variant.sku] = variant.price.amount
        offset += len(products)
        if not more:
            break
    assert pages == 3  # 12 demo products, 5 a page
    assert seen == PRICES_EUR
    tee = await erp.get_variant_product("TSHIRT-BLK-M")
    assert tee.name == "Organic Cotton T-Shirt"
    assert {v.sku for v in tee.variants} >= {"TSHIRT-BLK-M", "TSHIRT-WHT-L"}
    assert next(v for v in tee.variants if v.sku == "TSHIRT-BLK-M").name == "Black / M"


async def test_updated_since_filters_products(erp: TrytonAdapter) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert await erp.list_products(offset=0, limit=50, updated_since=future) == ([], False)
    past = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    products, more = await erp.list_products(offset=0, limit=50, updated_since=past)
    assert len(products) == len(DEMO_PRODUCTS)
    assert not more


async def test_unknown_variant_is_unknown_sku(erp: TrytonAdapter) -> None:
    with pytest.raises(UnknownSku):
        await erp.get_variant_product("NO-SUCH-SKU")


async def test_stock_falls_after_an_order(erp: TrytonAdapter, counter: CallCounter) -> None:
    [before] = await erp.stock_levels(["JEANS-IND-32"], "WH")
    assert before.on_hand == STOCK["JEANS-IND-32"]
    counter.calls = 0
    await erp.stock_levels(["JEANS-IND-32"], "WH")
    assert counter.calls == 1  # ids cached: one read
    await erp.create_sales_order(a_draft(("JEANS-IND-32", 3)))
    [after] = await erp.stock_levels(["JEANS-IND-32"], "WH")
    assert after.on_hand == before.on_hand  # nothing left the shelf yet
    assert after.forecast == before.forecast - 3
    assert after.available == before.available - 3
    assert after.warehouse == "WH"


async def test_stock_of_several_skus_and_every_warehouse(erp: TrytonAdapter) -> None:
    levels = await erp.stock_levels(["SNKR-WHT-44", "NOT-A-SKU", "MUG-STONE-350"], None)
    by_sku = {level.sku: level for level in levels}
    assert set(by_sku) == {"SNKR-WHT-44", "MUG-STONE-350"}  # unknown SKUs are left out
    assert by_sku["SNKR-WHT-44"].available == 0
    assert by_sku["MUG-STONE-350"].on_hand == STOCK["MUG-STONE-350"]
    with pytest.raises(ErpRejected) as caught:
        await erp.stock_levels(["MUG-STONE-350"], "NOWHERE")
    assert caught.value.errors == [{"field": "warehouse", "message": "unknown warehouse 'NOWHERE'"}]


async def test_created_order_is_found_by_reference_and_id(
    erp: TrytonAdapter, counter: CallCounter
) -> None:
    draft = a_draft(("TSHIRT-BLK-M", 2), ("BEANIE-CHR", 1))
    assert await erp.find_sales_order(draft.external_reference) is None
    await erp.stock_levels(["TSHIRT-BLK-M", "BEANIE-CHR"], "WH")  # warms the SKU cache
    counter.calls = 0
    created = await erp.create_sales_order(draft)
    # party lookup, create, quote, confirm and a read overlapping it (warehouse and
    # currency are cached after the first order of a process; allow their one-off lookups)
    assert counter.calls <= 7
    assert created.status is OrderStatus.CONFIRMED
    assert created.number
    assert created.external_reference == draft.external_reference
    assert created.customer_email == DEMO_CUSTOMERS[0].email
    assert created.total.amount == 2 * PRICES_EUR["TSHIRT-BLK-M"] + PRICES_EUR["BEANIE-CHR"]
    assert created.total.currency == "EUR"
    assert sorted((line.sku, line.quantity) for line in created.lines) == [
        ("BEANIE-CHR", 1),
        ("TSHIRT-BLK-M", 2),
    ]
    found = await erp.find_sales_order(draft.external_reference)
    assert found is not None
    assert found.status is OrderStatus.PROCESSING  # Tryton processed it on confirmation
    assert msgspec.structs.replace(found, status=OrderStatus.CONFIRMED) == created
    assert await erp.get_sales_order(created.id) == found
    # a repeat customer with cached SKUs: create, quote, confirm and the overlapping read
    counter.calls = 0
    await erp.create_sales_order(a_draft(("TSHIRT-BLK-M", 1)))
    assert counter.calls == 4


async def test_unknown_sku_names_the_line(erp: TrytonAdapter) -> None:
    draft = a_draft(("TOTE-NAT", 1), ("NOPE-123", 2), ("TOTE-NAT", 1), ("ALSO-NOPE", 1))
    with pytest.raises(UnknownSku) as caught:
        await erp.create_sales_order(draft)
    assert [e["field"] for e in caught.value.errors or []] == ["lines[1].sku", "lines[3].sku"]
    assert "NOPE-123" in str(caught.value.detail)
    assert await erp.find_sales_order(draft.external_reference) is None


async def test_product_withdrawn_from_sale_after_caching_is_refused(
    erp: TrytonAdapter, tryton_eu: TrytonServer
) -> None:
    await erp.stock_levels(["SNKR-WHT-44"], "WH")  # cached while salable
    with TrytonConsole(
        tryton_eu.url, tryton_eu.database, tryton_eu.user, tryton_eu.password
    ) as console:
        [sneakers] = console.execute(
            "product.template", "search", [("products.code", "=", "SNKR-WHT-44")], 0, 1, None
        )
        console.execute("product.template", "write", [sneakers], {"salable": False})
        try:
            # the ERP refuses the sale; the adapter looks the SKUs up again and names the line
            draft = a_draft(("TOTE-NAT", 1), ("SNKR-WHT-44", 1))
            with pytest.raises(UnknownSku) as caught:
                await erp.create_sales_order(draft)
            assert caught.value.errors == [
                {"field": "lines[1].sku", "message": "SKU 'SNKR-WHT-44' is not for sale"}
            ]
            assert await erp.find_sales_order(draft.external_reference) is None
        finally:
            console.execute("product.template", "write", [sneakers], {"salable": True})


async def test_unknown_currency_is_rejected(erp: TrytonAdapter) -> None:
    draft = msgspec_replace(a_draft(("TOTE-NAT", 1)), currency="CHF")
    with pytest.raises(ErpRejected) as caught:
        await erp.create_sales_order(draft)
    assert caught.value.errors == [{"field": "currency", "message": "unknown currency CHF"}]


async def test_order_in_the_other_currency_is_accepted(erp: TrytonAdapter) -> None:
    order = await erp.create_sales_order(msgspec_replace(a_draft(("TOTE-NAT", 2)), currency="USD"))
    assert order.total.currency == "USD"


async def test_new_customer_is_created_once_and_found_by_email(erp: TrytonAdapter) -> None:
    email = f"First_Time.{uuid.uuid4().hex[:6]}@Example.com"
    assert await erp.find_customers(email) == []
    address = Address(
        name="Ada Buyer",
        street="Keizersgracht 1",
        city="Amsterdam",
        postal_code="1015 CJ",
        country="NL",
    )
    first = await erp.create_sales_order(
        a_draft(("CANDLE-FIG-200", 1), email=email, shipping_address=address)
    )
    assert first.customer_email == email
    await erp.create_sales_order(
        a_draft(("CANDLE-FIG-200", 1), email=email.upper(), shipping_address=address)
    )
    [customer] = await erp.find_customers(email.lower())
    assert customer.email == email
    assert customer.name == "New Buyer"
    assert customer.addresses == [address]  # matched, not added twice
    # the underscore in the address is a literal, not a LIKE wildcard
    assert await erp.find_customers(email.replace("_", "X")) == []


async def test_demo_customers_are_found(erp: TrytonAdapter) -> None:
    want = DEMO_CUSTOMERS[1]
    [customer] = await erp.find_customers(want.email.upper())
    assert customer.email == want.email
    assert customer.name == want.name
    assert customer.phone == want.phone
    assert customer.addresses == want.addresses
    assert customer.id


async def test_cancel_before_shipment_releases_stock(erp: TrytonAdapter) -> None:
    [before] = await erp.stock_levels(["HOODIE-GRY-M"], "WH")
    order = await erp.create_sales_order(a_draft(("HOODIE-GRY-M", 2)))
    cancelled = await erp.cancel_sales_order(order.id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert not cancelled.shipped
    [after] = await erp.stock_levels(["HOODIE-GRY-M"], "WH")
    assert after.forecast == before.forecast
    assert (await erp.cancel_sales_order(order.id)).status is OrderStatus.CANCELLED
    assert (await erp.get_sales_order(order.id)).status is OrderStatus.CANCELLED
    assert [s.state for s in await erp.shipments(order.id)] == ["cancelled"]
    assert [i.state for i in await erp.invoices(order.id)] == ["cancelled"]


async def test_cancel_after_shipment_is_refused(
    erp: TrytonAdapter, tryton_eu: TrytonServer
) -> None:
    order = await erp.create_sales_order(a_draft(("POT-TERRA-M", 1)))
    await asyncio.to_thread(ship_order, tryton_eu, order.id)
    with pytest.raises(OrderAlreadyShipped):
        await erp.cancel_sales_order(order.id)
    again = await erp.get_sales_order(order.id)
    assert again.shipped
    assert again.status is OrderStatus.PROCESSING  # the invoice is not paid yet


async def test_shipments_invoices_and_credit_notes(
    erp: TrytonAdapter, tryton_eu: TrytonServer
) -> None:
    order = await erp.create_sales_order(a_draft(("TOWEL-BATH-SGE", 2), ("THROW-OAT", 1)))
    [shipment] = await erp.shipments(order.id)
    assert shipment.state == "waiting"
    assert not shipment.is_return
    assert shipment.shipped_at is None
    assert {(line.sku, line.quantity) for line in shipment.lines} == {
        ("TOWEL-BATH-SGE", Decimal(2)),
        ("THROW-OAT", Decimal(1)),
    }
    [invoice] = await erp.invoices(order.id)
    assert invoice.state == "draft"
    assert invoice.total.amount == order.total.amount
    assert await erp.credit_notes(order.id) == []

    await asyncio.to_thread(ship_order, tryton_eu, order.id)
    [shipment] = await erp.shipments(order.id)
    assert shipment.state == "done"
    assert shipment.shipped_at is not None
    [on_hand] = await erp.stock_levels(["THROW-OAT"], "WH")
    assert on_hand.on_hand == STOCK["THROW-OAT"] - 1

    [invoice_id] = await asyncio.to_thread(post_invoices, tryton_eu, order.id)
    [invoice] = await erp.invoices(order.id)
    assert invoice.state == "posted"
    assert invoice.number
    assert invoice.invoice_date is not None
    assert {(line.sku, line.quantity) for line in invoice.lines} == {
        ("TOWEL-BATH-SGE", Decimal(2)),
        ("THROW-OAT", Decimal(1)),
    }
    credit_id = await asyncio.to_thread(credit_invoice, tryton_eu, invoice_id)
    [credit] = await erp.credit_notes(order.id)
    assert credit.id == str(credit_id)
    assert credit.credited_invoice == invoice.id
    assert credit.total.amount == invoice.total.amount  # reported as a positive amount
    assert [i.id for i in await erp.invoices(order.id)] == [invoice.id]


async def test_a_returned_order_lists_its_return_shipment_and_credit_note(
    erp: TrytonAdapter, tryton_eu: TrytonServer
) -> None:
    order = await erp.create_sales_order(a_draft(("CUSHION-LIN-45", 2)))
    await asyncio.to_thread(ship_order, tryton_eu, order.id)
    await asyncio.to_thread(return_order, tryton_eu, order.id)
    shipments = await erp.shipments(order.id)
    assert [(s.is_return, s.state) for s in shipments] == [(False, "done"), (True, "draft")]
    assert shipments[1].lines[0].sku == "CUSHION-LIN-45"
    assert shipments[1].lines[0].quantity == 2
    [credit] = await erp.credit_notes(order.id)
    assert credit.total.amount == 2 * PRICES_EUR["CUSHION-LIN-45"]
    assert credit.credited_invoice is None  # a return's own invoice, not a credit of one
    # the return sale carries the same reference, but the original is what is found
    found = await erp.find_sales_order(order.external_reference)
    assert found is not None
    assert found.id == order.id


async def test_unknown_orders_are_not_found(erp: TrytonAdapter) -> None:
    for bad in ("abc", "0", "-3", "99999999"):
        with pytest.raises(OrderNotFound):
            await erp.get_sales_order(bad)
    with pytest.raises(OrderNotFound):
        await erp.shipments("99999999")
    with pytest.raises(OrderNotFound):
        await erp.cancel_sales_order("99999999")


async def test_erp_user_errors_become_erp_rejected(erp: TrytonAdapter) -> None:
    order = await erp.create_sales_order(a_draft(("MUG-STONE-350", 1)))
    with pytest.raises(ErpRejected) as caught:
        await erp.rpc.execute("sale.sale", "delete", [int(order.id)])
    assert caught.value.detail
    assert "delete" in caught.value.detail.lower()


async def test_expired_session_logs_in_again(erp: TrytonAdapter) -> None:
    await erp.ping()
    first_user = erp.rpc.user_id
    await erp.rpc.call("common.db.logout")  # the server forgets the session
    [level] = await erp.stock_levels(["TOTE-NAT"], "WH")
    assert level.on_hand > 0
    assert erp.rpc.user_id == first_user


async def test_server_down_is_upstream_unavailable(start_tryton: StartTryton) -> None:
    server = start_tryton("eu")
    async with httpx.AsyncClient() as client:
        erp = TrytonAdapter(client, server.settings(retry_after=7), close_client=False)
        await erp.ping()
        server.stop()
        with pytest.raises(UpstreamUnavailable) as caught:
            await erp.stock_levels(["TOTE-NAT"], "WH")
        assert caught.value.retry_after == 7
        assert caught.value.headers["Retry-After"] == "7"
        await asyncio.to_thread(server.start)
        [level] = await erp.stock_levels(["TOTE-NAT"], "WH")
        assert level.on_hand == STOCK["TOTE-NAT"]
        await erp.aclose()
        assert not client.is_closed


async def test_us_instance_sells_in_dollars(start_tryton: StartTryton) -> None:
    server = start_tryton("us")
    async with httpx.AsyncClient() as client:
        erp = TrytonAdapter(client, server.settings(), close_client=False)
        product = await erp.get_variant_product("HOODIE-NVY-M")
        assert {v.price.currency for v in product.variants} == {"USD"}
        assert product.variants[0].price.amount == Decimal("55.00")
        products, _ = await erp.list_products(offset=0, limit=100, updated_since=None)
        assert {v.sku for p in products for v in p.variants} == set(DEMO_SKUS)
        await erp.aclose()


def msgspec_replace(draft: SalesOrderDraft, **changes: object) -> SalesOrderDraft:
    return msgspec.structs.replace(draft, **changes)


async def test_postgresql_backend_serves_the_same_demo(tryton_template_dir: Path) -> None:
    try:
        psycopg = importlib.import_module("psycopg")
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=2).close()
    except (ImportError, OSError) as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 with psycopg: {exc}")
    # Built once per cache (about a minute), then cloned with CREATE DATABASE ... TEMPLATE.
    await asyncio.to_thread(build_template, "eu", tryton_template_dir, "postgresql")
    server = await asyncio.to_thread(
        start_server, "eu", tryton_template_dir, None, backend="postgresql"
    )
    try:
        async with httpx.AsyncClient() as client:
            erp = TrytonAdapter(client, server.settings(), close_client=False)
            [before] = await erp.stock_levels(["CUSHION-LIN-45"], "WH")
            order = await erp.create_sales_order(a_draft(("CUSHION-LIN-45", 2)))
            [after] = await erp.stock_levels(["CUSHION-LIN-45"], "WH")
            assert after.forecast == before.forecast - 2
            found = await erp.find_sales_order(order.external_reference)
            assert found is not None
            assert found.id == order.id
            await erp.aclose()
    finally:
        await asyncio.to_thread(remove_run, server)


def test_templates_are_reused_until_the_demo_data_changes(
    tryton_template_dir: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    marker = build_template("eu", tryton_template_dir)  # current: reused, not rebuilt
    assert time.monotonic() - started < 2
    assert template_is_current("eu", tryton_template_dir)
    copy = tmp_path / "eu"
    copy.mkdir()
    for name in ("admin.json", "template.json", "template.sqlite"):
        shutil.copyfile(tryton_template_dir / "eu" / name, copy / name)
    assert template_is_current("eu", tmp_path)
    recorded = msgspec.json.decode(marker.read_bytes())
    (copy / "template.json").write_bytes(msgspec.json.encode({**recorded, "data_version": "older"}))
    assert not template_is_current("eu", tmp_path)
    (copy / "template.json").write_bytes(msgspec.json.encode(recorded))
    (copy / "admin.json").write_bytes(b'{"user": "admin", "password": "another"}')
    assert not template_is_current("eu", tmp_path)  # built with a different password
