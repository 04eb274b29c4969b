"""The ERP system API's HTTP behaviour over an in-memory ERP and a real Redis."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from litestar.testing import AsyncTestClient

from system_apis.erp.app import create_app
from system_apis.erp.settings import ErpSettings
from tests.support.tokens import TokenMint
from tests.unit.erp.fake_port import InMemoryErp

pytestmark = pytest.mark.integration  # real Redis


def draft(ref: str, sku: str = "TSHIRT-BLK-M", qty: int = 1) -> dict[str, object]:
    return {
        "external_reference": ref,
        "currency": "EUR",
        "customer": {"email": "ada@example.com", "name": "Ada"},
        "lines": [{"sku": sku, "quantity": qty, "unit_price": "19.90"}],
    }


@pytest.fixture
def erp() -> InMemoryErp:
    return InMemoryErp({"TSHIRT-BLK-M": Decimal("19.90"), "MUG-WHT": Decimal("9.50")})


@pytest.fixture
async def client(
    erp: InMemoryErp, redis_url: str, token_mint: TokenMint
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = ErpSettings(instance=f"t{uuid.uuid4().hex[:8]}", redis_url=redis_url)
    app = create_app(settings, port=erp, auth=token_mint.settings())
    async with AsyncTestClient(app=app) as c:
        c.headers.update(token_mint.headers("erp:read", "erp:write"))
        yield c


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_same_key_twice_gives_one_order_and_replays(client, erp) -> None:
    headers = key()
    first = await client.post("/erp/v1/sales-orders", json=draft("shop#1"), headers=headers)
    second = await client.post("/erp/v1/sales-orders", json=draft("shop#1"), headers=headers)
    assert first.status_code == 201, first.text
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert erp.create_calls == 1


async def test_same_key_other_payload_is_422(client) -> None:
    headers = key()
    assert (
        await client.post("/erp/v1/sales-orders", json=draft("r1"), headers=headers)
    ).status_code == 201
    other = await client.post("/erp/v1/sales-orders", json=draft("r1", qty=2), headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["type"].endswith("/idempotency-key-reused")


async def test_missing_key_is_400_problem(client, erp) -> None:
    resp = await client.post("/erp/v1/sales-orders", json=draft("r2"))
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in resp.text
    assert erp.create_calls == 0


async def test_new_key_same_reference_returns_existing_with_200(client, erp) -> None:
    assert (
        await client.post("/erp/v1/sales-orders", json=draft("r3"), headers=key())
    ).status_code == 201
    again = await client.post("/erp/v1/sales-orders", json=draft("r3"), headers=key())
    assert again.status_code == 200
    assert erp.create_calls == 1


async def test_concurrent_duplicates_create_one_order(client, erp) -> None:
    erp.create_delay = 0.2
    headers = key()
    results = await asyncio.gather(
        *(client.post("/erp/v1/sales-orders", json=draft("r4"), headers=headers) for _ in range(5)),
        *(client.post("/erp/v1/sales-orders", json=draft("r4"), headers=key()) for _ in range(5)),
    )
    assert {r.status_code for r in results} <= {200, 201}
    assert erp.create_calls == 1
    assert len({r.json()["id"] for r in results}) == 1


async def test_failed_post_releases_the_key(client, erp) -> None:
    headers = key()
    bad = await client.post("/erp/v1/sales-orders", json=draft("r5", sku="NOPE"), headers=headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "lines[0].sku"
    erp.prices["NOPE"] = Decimal(1)
    erp.stock["NOPE"] = Decimal(5)
    ok = await client.post("/erp/v1/sales-orders", json=draft("r5", sku="NOPE"), headers=headers)
    assert ok.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "EUR"}, "external_reference"),
        ({**draft("x"), "currency": "euro"}, "currency"),
        ({**draft("x"), "lines": []}, "lines"),
        ({**draft("x"), "lines": [{"sku": "A", "quantity": 0, "unit_price": "1"}]}, "quantity"),
        ({**draft("x"), "lines": [{"sku": "A", "quantity": 1, "unit_price": "-1"}]}, "unit_price"),
        ({**draft("x"), "surprise": 1}, "surprise"),
    ],
)
async def test_bad_bodies_get_a_problem_naming_the_field(client, body, field) -> None:
    resp = await client.post("/erp/v1/sales-orders", json=body, headers=key())
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert field in resp.text


async def test_not_json_is_400(client) -> None:
    resp = await client.post(
        "/erp/v1/sales-orders",
        content=b"{not json",
        headers={**key(), "content-type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_unknown_route_is_404_problem(client) -> None:
    resp = await client.get("/erp/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.json()["status"] == 404


async def test_stock_and_cancel(client, erp) -> None:
    created = (
        await client.post("/erp/v1/sales-orders", json=draft("r6", qty=3), headers=key())
    ).json()
    stock = (await client.get("/erp/v1/stock", params={"sku": "TSHIRT-BLK-M"})).json()
    assert stock["items"][0]["on_hand"] == "97"
    cancelled = await client.post(f"/erp/v1/sales-orders/{created['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    erp.shipped.add(created["id"])
    conflict = await client.post(f"/erp/v1/sales-orders/{created['id']}/cancel")
    assert conflict.status_code == 409
    assert conflict.json()["type"].endswith("/order-already-shipped")


async def test_by_reference_and_missing(client) -> None:
    await client.post("/erp/v1/sales-orders", json=draft("shop-a#77"), headers=key())
    found = await client.get("/erp/v1/sales-orders/by-reference/shop-a%2377")
    assert found.status_code == 200
    assert found.json()["external_reference"] == "shop-a#77"
    missing = await client.get("/erp/v1/sales-orders/by-reference/none")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


async def test_health(client) -> None:
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"erp": "ok", "redis": "ok"}
    metrics = await client.get("/metrics")
    assert "strata_http_requests_total" in metrics.text


async def test_scopes_are_enforced(client, token_mint) -> None:
    read_only = token_mint.headers("erp:read")
    denied = await client.post(
        "/erp/v1/sales-orders", json=draft("r7"), headers={**key(), **read_only}
    )
    assert denied.status_code == 403
    assert "insufficient_scope" in denied.headers["www-authenticate"]
    anonymous = await client.get(
        "/erp/v1/stock", params={"sku": "MUG-WHT"}, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")


async def test_responses_carry_rate_limit_headers(client) -> None:
    resp = await client.get("/erp/v1/stock", params={"sku": "MUG-WHT"})
    assert resp.status_code == 200
    assert resp.headers["RateLimit-Policy"].startswith('"default";q=200')
    assert resp.headers["RateLimit"].startswith('"default";r=')


async def test_a_deprecated_version_says_so(erp, redis_url, token_mint) -> None:
    from shared.deprecation import DeprecatedPrefix, DeprecationSettings

    settings = ErpSettings(instance=f"t{uuid.uuid4().hex[:8]}", redis_url=redis_url)
    deprecated = DeprecationSettings(
        deprecations=[
            DeprecatedPrefix(
                prefix="/erp/v1",
                deprecated_at=datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC),
                sunset=datetime.datetime(2027, 5, 1, tzinfo=datetime.UTC),
                successor="/erp/v2",
            )
        ]
    )
    app = create_app(settings, port=erp, auth=token_mint.settings(), deprecations=deprecated)
    async with AsyncTestClient(app=app) as c:
        resp = await c.get(
            "/erp/v1/stock", params={"sku": "MUG-WHT"}, headers=token_mint.headers("erp:read")
        )
    assert resp.status_code == 200
    assert resp.headers["Deprecation"].startswith("@")
    assert resp.headers["Sunset"] == "Sat, 01 May 2027 00:00:00 GMT"
    assert 'rel="successor-version"' in resp.headers["Link"]
