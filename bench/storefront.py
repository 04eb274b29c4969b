"""``storefront.availability_rps_ratio``: storefront availability for 20 SKUs against a bare
Litestar route, in one run.

The chain is real: the storefront (JWT auth, rate limit off) calls the inventory process,
which subtracts reservations in Redis (one script call) from ERP stock it keeps for a few
seconds, read from Tryton through the ERP system API; the cache is warmed before measuring.
The storefront and the bare route (a Litestar GET answering a fixed 20-item body) each run
in one uvicorn worker pinned to the same core; the inventory, ERP API, Tryton and wrk share
the other. Runs are interleaved and the median of the per-pair ratios is reported.
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
PAIRS = 3
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
                    with (
                        uvicorn_app(
                            "experience_apis.storefront.app:create_app", storefront_env, cpu=0
                        ) as storefront,
                        uvicorn_app("bench.storefront:bare_app", {}, cpu=0) as bare,
                    ):
                        return {
                            "storefront.availability_rps_ratio": _ratio(
                                f"{storefront}{PATH}?{query}",
                                f"{bare}{PATH}?{query}",
                                token,
                                {"storefront": storefront, "inventory": inventory, "erp": erp},
                            )
                        }
    finally:
        server.stop()
        remove_run(server)


def _ratio(storefront_url: str, bare_url: str, token: str, chain: dict[str, str]) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    warm = httpx.get(storefront_url, headers=headers, timeout=60)
    warm.raise_for_status()
    if len(warm.json()["items"]) != len(SKUS):
        raise RuntimeError(f"the storefront answered {warm.text[:500]}")
    ratios = []
    for i in range(PAIRS):
        order = ("storefront", "bare") if i % 2 == 0 else ("bare", "storefront")
        rates = {}
        cpu: dict[str, float] = {}
        for side in order:
            url = storefront_url if side == "storefront" else bare_url
            if side == "storefront":
                cpu = {name: server_cpu_seconds(base) for name, base in chain.items()}
            rates[side] = wrk_rps(url, seconds=SECONDS, connections=CONNECTIONS, headers=headers)
            if side == "storefront":
                served = rates[side] * SECONDS
                cpu = {
                    name: (server_cpu_seconds(base) - cpu[name]) / served * 1e6
                    for name, base in chain.items()
                }
        ratios.append(rates["storefront"] / rates["bare"])
        # What each process of the chain spent per availability answer: the process that
        # spends most, on its core, bounds the storefront's rate.
        spent = ", ".join(f"{name} {us:.0f} us" for name, us in cpu.items())
        print(
            f"   pair {i}: storefront {rates['storefront']:.0f}/s, bare {rates['bare']:.0f}/s;"
            f" CPU per answer: {spent}"
        )
    return statistics.median(ratios)
