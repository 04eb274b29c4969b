"""``storefront.availability_rps_ratio``: storefront availability for 20 SKUs against a bare
Litestar route, in one run; beside it ``storefront.availability_uncached_rps_ratio``, the
same with the storefront keeping nothing, so that every answer goes down the whole chain.

The chain is real: the storefront (JWT auth, rate limit off) calls the inventory process,
which subtracts reservations in Redis (one script call) from ERP stock it keeps for a few
seconds, read from Tryton through the ERP system API. The storefront keeps each SKU's
answer for its default ``availability_cache_ttl`` (one second), so most answers of the
first figure come from it and the chain is asked about once a second; the second storefront
runs with the cache off (``STRATA_STOREFRONT_AVAILABILITY_CACHE_TTL=0``). Caches are warmed
before measuring. Both storefronts and the bare route (a Litestar GET answering a fixed
20-item body) each run in one uvicorn worker pinned to the same core; the inventory, ERP
API, Tryton and wrk share the other. Runs are interleaved (the order reverses every round)
and the median of the per-round ratios is reported.
"""

from __future__ import annotations

import json
import statistics
from typing import Any
from urllib.parse import urlencode

import httpx

from bench.harness import ROOT, uvicorn_app, wrk_rps
from bench.ingress import server_cpu_seconds
from sandbox.auth.issuer import SigningKeys, mint_token
from sandbox.tryton import DEMO_SKUS, build_template, remove_run, start_server
from shared.auth.clients import ClientRegistration
from strata.stack import redis_for_stack

PATH = "/storefront/v1/availability"
#: The storefront's route at half a bare route's rate or better (it makes one call to the
#: inventory process, which answers from its own cache and one Redis script call).
TARGETS = {"storefront.availability_rps_ratio": 0.5}
SKUS = list(DEMO_SKUS[:20])
ROUNDS = 5
SECONDS = 5
CONNECTIONS = 32
ISSUER = "https://bench.issuer"


def bare_app() -> Any:
    """The baseline: a Litestar GET that answers a fixed availability body for 20 SKUs."""
    from litestar import Litestar, get

    body = {
        "items": [
            {"sku": sku, "in_stock": True, "stock": "in_stock", "quantity": None} for sku in SKUS
        ]
    }

    @get(PATH, sync_to_thread=False)
    def availability() -> dict[str, Any]:
        return body

    @get("/health/live", sync_to_thread=False)
    def live() -> None:
        return None

    return Litestar([availability, live], logging_config=None)


def run() -> dict[str, float]:
    data_dir = ROOT / "var" / "bench" / "erp"
    build_template("eu", data_dir)
    log_dir = ROOT / "var" / "log"
    server = start_server("eu", data_dir)
    keys = SigningKeys.generate()
    scopes = ["erp:read", "inventory:read", "orders:read", "storefront:read"]
    client = ClientRegistration(client_id="bench", secret_hash="unused", scopes=frozenset(scopes))
    token = mint_token(keys, client, scopes, "strata", 3600, issuer=ISSUER)
    auth = {"STRATA_AUTH_ISSUER": ISSUER, "STRATA_AUTH_JWKS": json.dumps(keys.public_jwks())}
    query = urlencode([("sku", sku) for sku in SKUS])
    try:
        with redis_for_stack(log_dir) as (redis_url, _):
            erp_env = {
                "STRATA_ERP_INSTANCE": "eu",
                "STRATA_ERP_REDIS_URL": redis_url,
                "STRATA_ERP_TRYTON_URL": server.url,
                "STRATA_ERP_TRYTON_DATABASE": server.database,
                "STRATA_ERP_TRYTON_USER": server.user,
                "STRATA_ERP_TRYTON_PASSWORD": server.password,
                "STRATA_ERP_RATELIMIT_ENABLED": "false",
                **auth,
            }
            with uvicorn_app("system_apis.erp.app:create_app", erp_env, cpu=1) as erp:
                inventory_env = {
                    "STRATA_INVENTORY_REDIS_URL": redis_url,
                    "STRATA_INVENTORY_ERP_INSTANCES": json.dumps({"eu": erp}),
                    "STRATA_INVENTORY_KEY_PREFIX": "bench:inventory:{inventory}",
                    "STRATA_INVENTORY_SERVICE_TOKEN": token,
                    "STRATA_INVENTORY_RATELIMIT_ENABLED": "false",
                    **auth,
                }
                with uvicorn_app(
                    "process_apis.inventory.app:create_app", inventory_env, cpu=1
                ) as inventory:
                    storefront_env = {
                        "STRATA_STOREFRONT_REDIS_URL": redis_url,
                        "STRATA_STOREFRONT_INVENTORY_API_URL": inventory,
                        "STRATA_STOREFRONT_SERVICE_TOKEN": token,
                        # The benchmark's own traffic must not be limited.
                        "STRATA_STOREFRONT_RATELIMIT_ENABLED": "false",
                        **auth,
                    }
                    uncached_env = {
                        **storefront_env,
                        "STRATA_STOREFRONT_AVAILABILITY_CACHE_TTL": "0",
                    }
                    with (
                        uvicorn_app(
                            "experience_apis.storefront.app:create_app", storefront_env, cpu=0
                        ) as storefront,
                        uvicorn_app(
                            "experience_apis.storefront.app:create_app", uncached_env, cpu=0
                        ) as uncached,
                        uvicorn_app("bench.storefront:bare_app", {}, cpu=0) as bare,
                    ):
                        return _ratios(
                            {"cached": storefront, "uncached": uncached, "bare": bare},
                            f"{PATH}?{query}",
                            token,
                            {"inventory": inventory, "erp": erp},
                        )
    finally:
        server.stop()
        remove_run(server)


#: Each figure: the requests per second of one side over the bare route's, same round.
FIGURES = {
    "storefront.availability_rps_ratio": "cached",
    "storefront.availability_uncached_rps_ratio": "uncached",
}


def _ratios(
    sides: dict[str, str], target: str, token: str, chain: dict[str, str]
) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    for side in ("cached", "uncached"):
        warm = httpx.get(sides[side] + target, headers=headers, timeout=60)
        warm.raise_for_status()
        if len(warm.json()["items"]) != len(SKUS):
            raise RuntimeError(f"the storefront answered {warm.text[:500]}")
    ratios: dict[str, list[float]] = {name: [] for name in FIGURES}
    order = list(sides)
    for round_ in range(ROUNDS):
        rates: dict[str, float] = {}
        spent: dict[str, str] = {}
        for side in order if round_ % 2 == 0 else reversed(order):
            # What each process spent per answer: the one that spends most, on its core,
            # bounds the side's rate.
            processes = {side: sides[side], **chain} if side != "bare" else {side: sides[side]}
            cpu = {name: server_cpu_seconds(base) for name, base in processes.items()}
            rates[side] = wrk_rps(
                sides[side] + target, seconds=SECONDS, connections=CONNECTIONS, headers=headers
            )
            served = rates[side] * SECONDS
            spent[side] = ", ".join(
                f"{name} {(server_cpu_seconds(base) - cpu[name]) / served * 1e6:.0f} us"
                for name, base in processes.items()
            )
        for name, side in FIGURES.items():
            ratios[name].append(rates[side] / rates["bare"])
        print(
            f"   round {round_}: "
            + "; ".join(f"{side} {rates[side]:.0f}/s (CPU each: {spent[side]})" for side in sides),
            flush=True,
        )
    return {name: statistics.median(values) for name, values in ratios.items()}
