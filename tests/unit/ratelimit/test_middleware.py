"""The middleware against the in-process limiter: headers, 429 problem, exclusions, plans."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, get
from litestar.testing import TestClient
from prometheus_client import CollectorRegistry

from shared.problems import EXCEPTION_HANDLERS
from shared.ratelimit import InboundLimiter, Policy, RateLimitSettings, rate_limit_middleware


@get("/orders/v1/orders")
async def list_orders() -> dict[str, str]:
    return {"ok": "yes"}


@get("/orders/v1/orders/export", opt={"rate_limit": "exports"})
async def export_orders() -> dict[str, str]:
    return {"ok": "yes"}


@get("/orders/v1/ping", opt={"rate_limit": False})
async def ping() -> dict[str, str]:
    return {"ok": "yes"}


@get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "up"}


def _app(registry: CollectorRegistry) -> Litestar:
    settings = RateLimitSettings(
        policies=(
            Policy(name="orders", limit=3, period=60, paths=("/orders/",)),
            Policy(name="exports", limit=1, period=60, groups=("exports",)),
            Policy(name="gold", limit=10, period=60, paths=("/orders/",), plan="gold"),
        ),
    )
    limiter = InboundLimiter(settings, None, registry=registry)
    return Litestar(
        [list_orders, export_orders, ping, live],
        middleware=[rate_limit_middleware(limiter)],
        exception_handlers=EXCEPTION_HANDLERS,
    )


def test_headers_on_success_and_problem_on_429() -> None:
    registry = CollectorRegistry()
    with TestClient(_app(registry)) as client:
        seen = [client.get("/orders/v1/orders") for _ in range(4)]
    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert seen[0].headers["ratelimit-policy"] == '"orders";q=3;w=60'
    assert seen[0].headers["ratelimit"] == '"orders";r=2;t=20'
    assert seen[2].headers["ratelimit"] == '"orders";r=0;t=60'
    refused = seen[3]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["ratelimit"] == '"orders";r=0;t=60'
    body: dict[str, Any] = msgspec.json.decode(refused.content)
    assert body["type"] == "https://strata.dev/problems/quota-exceeded"
    assert body["status"] == 429
    assert body["retry_after"] == 20
    assert body["instance"] == "/orders/v1/orders"
    value = registry.get_sample_value(
        "strata_ratelimited_requests_total", {"policy": "orders", "client": "ip:testclient"}
    )
    assert value == 1.0


def test_route_group_exempt_routes_and_health_are_handled_apart() -> None:
    with TestClient(_app(CollectorRegistry())) as client:
        exports = [client.get("/orders/v1/orders/export").status_code for _ in range(2)]
        pings = [client.get("/orders/v1/ping") for _ in range(5)]
        probes = [client.get("/health/live") for _ in range(5)]
    assert exports == [200, 429]
    assert all(r.status_code == 200 and "ratelimit" not in r.headers for r in pings + probes)
