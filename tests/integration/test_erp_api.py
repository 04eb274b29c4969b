"""The ERP system API over a real Tryton server and a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from litestar.testing import AsyncTestClient

from sandbox.tryton import TrytonServer, ship_order
from system_apis.erp.app import create_app
from system_apis.erp.settings import ErpSettings
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
        read_timeout=20,
    )


@pytest.fixture
async def api(
    tryton_eu: TrytonServer, redis_url: str, token_mint: TokenMint
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_app(erp_settings(tryton_eu, redis_url), auth=token_mint.settings())
    async with AsyncTestClient(app=app, timeout=60) as client:
        client.headers.update(token_mint.headers("erp:read", "erp:write"))
        yield client


def order(ref: str, sku: str = "TOTE-NAT", qty: int = 2, email: str | None = None) -> dict:
    return {
        "external_reference": ref,
        "currency": "EUR",
        "customer": {
            "email": email or f"{ref.replace(':', '-')}@example.com",
            "name": "Test Buyer",
        },
        "lines": [{"sku": sku, "quantity": qty, "unit_price": "12.00"}],
        "shipping_address": {
            "name": "Test Buyer",
            "street": "1 Rue X",
            "city": "Lyon",
            "postal_code": "69001",
            "country": "FR",
        },
    }


def ref() -> str:
    return f"shopify:test:{uuid.uuid4().hex[:12]}"


async def stock_of(api, sku: str) -> Decimal:
    resp = await api.get("/erp/v1/stock", params={"sku": sku, "warehouse": "WH"})
    assert resp.status_code == 200, resp.text
    return Decimal(resp.json()["items"][0]["forecast"])


async def test_same_order_twice_with_one_key_gives_one_sales_order(api) -> None:
    r = ref()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.post("/erp/v1/sales-orders", json=order(r), headers=key)
    second = await api.post("/erp/v1/sales-orders", json=order(r), headers=key)
    assert first.status_code == 201, first.text
    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    # A new key for the same reference finds the order in Tryton instead of creating one.
    third = await api.post(
        "/erp/v1/sales-orders", json=order(r), headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert third.status_code == 200
    assert third.json()["id"] == first.json()["id"]
    found = await api.get(f"/erp/v1/sales-orders/by-reference/{r}")
    assert found.status_code == 200
    assert found.json()["id"] == first.json()["id"]
    assert found.json()["status"] in {"confirmed", "processing"}


async def test_same_key_with_another_payload_is_422(api) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    r = ref()
    assert (await api.post("/erp/v1/sales-orders", json=order(r), headers=key)).status_code == 201
    other = await api.post("/erp/v1/sales-orders", json=order(r, qty=5), headers=key)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")


async def test_no_key_is_400(api) -> None:
    resp = await api.post("/erp/v1/sales-orders", json=order(ref()))
    assert resp.status_code == 400
    assert "Idempotency-Key" in resp.json()["detail"]


async def test_concurrent_duplicates_give_one_order(api) -> None:
    r = ref()
    key = str(uuid.uuid4())
    answers = await asyncio.gather(
        *(
            api.post(
                "/erp/v1/sales-orders",
                json=order(r),
                headers={"Idempotency-Key": key if i % 2 else str(uuid.uuid4())},
            )
            for i in range(6)
        )
    )
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.status_code == 201 for a in answers) >= 1


async def test_stock_falls_after_an_order(api) -> None:
    before = await stock_of(api, "CANDLE-FIG-200")
    resp = await api.post(
        "/erp/v1/sales-orders",
        json=order(ref(), sku="CANDLE-FIG-200", qty=3),
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert resp.status_code == 201, resp.text
    assert await stock_of(api, "CANDLE-FIG-200") == before - 3


async def test_unknown_sku_names_the_field(api) -> None:
    resp = await api.post(
        "/erp/v1/sales-orders",
        json=order(ref(), sku="NO-SUCH-SKU"),
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "lines[0].sku"


async def test_cancel_before_and_after_shipment(api, tryton_eu: TrytonServer) -> None:
    placed = []
    for _ in range(2):
        resp = await api.post(
            "/erp/v1/sales-orders",
            json=order(ref(), sku="BEANIE-CHR", qty=1),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert resp.status_code == 201, resp.text
        placed.append(resp.json()["id"])
    cancelled = await api.post(f"/erp/v1/sales-orders/{placed[0]}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    await asyncio.to_thread(ship_order, tryton_eu, placed[1])
    shipments = await api.get(f"/erp/v1/sales-orders/{placed[1]}/shipments")
    assert [s["state"] for s in shipments.json()["items"]] == ["done"]
    refused = await api.post(f"/erp/v1/sales-orders/{placed[1]}/cancel")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/order-already-shipped")
    invoices = await api.get(f"/erp/v1/sales-orders/{placed[1]}/invoices")
    assert invoices.status_code == 200
    assert len(invoices.json()["items"]) == 1


async def test_reads(api) -> None:
    products = (await api.get("/erp/v1/products", params={"limit": 5})).json()
    assert len(products["items"]) == 5
    assert products["next_offset"] == 5
    product = await api.get("/erp/v1/products/TSHIRT-BLK-M")
    assert product.status_code == 200
    assert any(v["sku"] == "TSHIRT-BLK-M" for v in product.json()["variants"])
    assert (await api.get("/erp/v1/products/NOPE-1")).status_code in (404, 422)
    customers = await api.get("/erp/v1/customers", params={"email": "emma.dejong@example.com"})
    assert [c["email"] for c in customers.json()["items"]] == ["emma.dejong@example.com"]
    missing = await api.get("/erp/v1/sales-orders/999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


async def test_tryton_stopped_gives_503_with_retry_after(
    start_tryton,
    redis_url: str,
    token_mint: TokenMint,
) -> None:
    server = start_tryton("eu")
    app = create_app(erp_settings(server, redis_url), auth=token_mint.settings())
    async with AsyncTestClient(app=app, timeout=60) as api:
        api.headers.update(token_mint.headers("erp:read", "erp:write"))
        assert (await api.get("/erp/v1/stock", params={"sku": "TOTE-NAT"})).status_code == 200
        server.stop()
        down = await api.get("/erp/v1/stock", params={"sku": "TOTE-NAT"})
        assert down.status_code == 503
        assert down.headers["content-type"].startswith("application/problem+json")
        assert int(down.headers["Retry-After"]) > 0
        posted = await api.post(
            "/erp/v1/sales-orders",
            json=order(ref()),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert posted.status_code == 503
        ready = await api.get("/health/ready")
        assert ready.status_code == 503
        server.start()
        assert (await api.get("/erp/v1/stock", params={"sku": "TOTE-NAT"})).status_code == 200


def backend_requests(metrics_text: str) -> dict[str, float]:
    counts = {}
    for line in metrics_text.splitlines():
        if line.startswith("strata_erp_backend_requests_total{"):
            labels, _, value = line.rpartition(" ")
            counts[labels.split('method="', 1)[1].split('"', 1)[0]] = float(value)
    return counts


async def test_metrics_count_the_erp_requests_an_order_costs(api) -> None:
    before = backend_requests((await api.get("/metrics")).text)
    created = await api.post(
        "/erp/v1/sales-orders", json=order(ref()), headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert created.status_code == 201, created.text
    after = backend_requests((await api.get("/metrics")).text)
    spent = {m: after[m] - before.get(m, 0) for m in after if after[m] != before.get(m, 0)}
    assert spent.get("model.sale.sale.create") == 1
    assert spent.get("model.sale.sale.confirm") == 1
    assert sum(spent.values()) >= 3  # at least the lookup by reference, create and confirm
