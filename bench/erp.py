"""``erp.read_overhead_ratio`` and ``erp.post_overhead_ratio``: the ERP system API against
the same work sent straight to Tryton over a reused session, interleaved, in one run."""

from __future__ import annotations

import json
import statistics
import time
import uuid

import httpx

from bench.harness import ROOT, p50, uvicorn_app
from sandbox.auth.issuer import SigningKeys, mint_token
from sandbox.tryton import TrytonConsole, build_template, remove_run, start_server
from shared.auth.clients import ClientRegistration
from strata.stack import redis_for_stack

SKU = "TOTE-NAT"
READ_SAMPLES = 240
POST_PAIRS = 20
ISSUER = "https://bench.issuer"


def run() -> dict[str, float]:
    data_dir = ROOT / "var" / "bench" / "erp"
    build_template("eu", data_dir)
    log_dir = ROOT / "var" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    server = start_server("eu", data_dir)
    keys = SigningKeys.generate()
    client = ClientRegistration(
        client_id="bench", secret_hash="unused", scopes=frozenset({"erp:read", "erp:write"})
    )
    token = mint_token(keys, client, ["erp:read", "erp:write"], "strata", 3600, issuer=ISSUER)
    try:
        with redis_for_stack(log_dir) as (redis_url, _):
            env = {
                "STRATA_ERP_INSTANCE": "eu",
                "STRATA_ERP_REDIS_URL": redis_url,
                "STRATA_ERP_TRYTON_URL": server.url,
                "STRATA_ERP_TRYTON_DATABASE": server.database,
                "STRATA_ERP_TRYTON_USER": server.user,
                "STRATA_ERP_TRYTON_PASSWORD": server.password,
                "STRATA_AUTH_ISSUER": ISSUER,
                "STRATA_AUTH_JWKS": json.dumps(keys.public_jwks()),
                # The benchmark's own traffic must not be limited.
                "STRATA_ERP_RATELIMIT_ENABLED": "false",
            }
            with uvicorn_app("system_apis.erp.app:create_app", env) as base:
                api = httpx.Client(
                    base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}
                )
                console = TrytonConsole(server.url, server.database, server.user, server.password)
                try:
                    read = _read_overhead(api, console)
                    post = _post_overhead(api, console)
                finally:
                    console.close()
                    api.close()
    finally:
        server.stop()
        remove_run(server)
    return {"erp.read_overhead_ratio": read, "erp.post_overhead_ratio": post}


def _read_overhead(api: httpx.Client, console: TrytonConsole) -> float:
    product = console.search_one("product.product", [("code", "=", SKU)])
    warehouse = console.search_one("stock.location", [("code", "=", "WH")])
    fields = ["quantity", "forecast_quantity"]

    def direct() -> None:
        console.execute("product.product", "read", [product], fields, locations=[warehouse])

    def through_api() -> None:
        response = api.get("/erp/v1/stock", params={"sku": SKU, "warehouse": "WH"})
        response.raise_for_status()

    for _ in range(10):  # warm both paths (sessions, caches, connections)
        direct()
        through_api()
    direct_ms: list[float] = []
    api_ms: list[float] = []
    for i in range(READ_SAMPLES):
        order = (direct, through_api) if i % 2 == 0 else (through_api, direct)
        for call in order:
            started = time.perf_counter()
            call()
            elapsed = (time.perf_counter() - started) * 1000
            (direct_ms if call is direct else api_ms).append(elapsed)
    return p50(api_ms) / p50(direct_ms)


def _post_overhead(api: httpx.Client, console: TrytonConsole) -> float:
    """Sequential orders per second straight to Tryton / through the API (median of pairs)."""
    email = "bench.buyer@example.com"
    first = _api_post(api, email)
    sale = console.execute(
        "sale.sale",
        "read",
        [int(first)],
        [
            "party",
            "contact",
            "invoice_address",
            "shipment_address",
            "currency",
            "warehouse",
            "company",
            "lines",
        ],
    )[0]
    line = console.execute("sale.line", "read", sale["lines"][:1], ["product", "unit"])[0]
    values = {
        k: sale[k]
        for k in (
            "party",
            "contact",
            "invoice_address",
            "shipment_address",
            "currency",
            "warehouse",
            "company",
        )
    }

    def direct() -> None:
        sale_values = {
            **values,
            "reference": f"bench:{uuid.uuid4().hex}",
            "lines": [
                [
                    "create",
                    [
                        {
                            "product": line["product"],
                            "unit": line["unit"],
                            "quantity": 1.0,
                            "unit_price": _decimal("12.00"),
                            "type": "line",
                        }
                    ],
                ]
            ],
        }
        [sale_id] = console.execute("sale.sale", "create", [sale_values])
        console.execute("sale.sale", "quote", [sale_id])
        console.execute("sale.sale", "confirm", [sale_id])

    def through_api() -> None:
        _api_post(api, email)

    direct()
    ratios = []
    for i in range(POST_PAIRS):
        timings = {}
        for call in (direct, through_api) if i % 2 == 0 else (through_api, direct):
            started = time.perf_counter()
            call()
            timings[call] = time.perf_counter() - started
        # orders/s direct / orders/s through the API = API time / direct time
        ratios.append(timings[through_api] / timings[direct])
    return statistics.median(ratios)


def _api_post(api: httpx.Client, email: str) -> str:
    body = {
        "external_reference": f"bench:{uuid.uuid4().hex}",
        "currency": "EUR",
        "customer": {"email": email, "name": "Bench Buyer"},
        "lines": [{"sku": SKU, "quantity": 1, "unit_price": "12.00"}],
    }
    response = api.post(
        "/erp/v1/sales-orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    response.raise_for_status()
    order_id: str = response.json()["id"]
    return order_id


def _decimal(value: str) -> dict[str, str]:
    return {"__class__": "Decimal", "decimal": value}
