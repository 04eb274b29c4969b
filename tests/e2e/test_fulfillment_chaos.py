"""Chaos over fulfillment: ERP shipments become Shopify fulfillments while the stream workers
that send them are SIGKILLed every second or two (some between ``fulfillmentCreate`` and
recording it), a proxy between the workers and the Shopify system API refuses calls and
loses answers to calls it forwarded (the fulfillment made, the caller never told), and the
sandbox answers Shopify 5xx at random. At the end every ERP shipment is exactly one Shopify
fulfillment, carrying its units and its tracking numbers; nothing is made twice.

Real Tryton (the EU instance), Redis, system APIs, orders process and sandbox, as in
``tests/e2e/test_fulfillment.py``.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
import types
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.shopify.settings import SandboxSettings
from sandbox.tryton import ship_order
from strata.stack import Part, strata
from tests.support.chaos import kill_group, proxy, spawn
from tests.support.processes import RedisServer
from tests.support.stack import Sandbox, wait_until, whole_stack
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
EU = "demo-eu.myshopify.com"
ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "var" / "log" / "chaos-fulfillment"
ORDERS = 9
SKUS = ("TOTE-NAT", "BEANIE-CHR", "MUG-STONE-350")
TOPICS = list(SandboxSettings().webhook_topics)


@pytest.fixture(scope="module")
def stack(
    redis_server: RedisServer, tryton_template_dir: Path, token_mint: TokenMint
) -> Iterator[dict[str, Part]]:
    with whole_stack(
        redis_server.url,
        tryton_template_dir,
        LOGS,
        token_mint,
        orders_env={"STRATA_ORDERS_RUN_WORKERS": "false"},
        sandbox_env={"STRATA_SANDBOX_WEBHOOK_TOPICS": json.dumps(TOPICS)},
    ) as parts:
        yield parts


def test_every_shipment_is_exactly_one_fulfillment_under_chaos(
    stack: dict[str, Part], token_mint: TokenMint
) -> None:
    rng = random.Random(20261203)
    sandbox = Sandbox(stack["shopify-sandbox"].address)
    orders_api = httpx.Client(
        base_url=stack["orders"].address,
        headers=token_mint.headers("orders:read", client_id="chaos"),
        timeout=30,
    )
    env = stack["erp-eu"].env
    tryton: Any = types.SimpleNamespace(
        url=env["STRATA_ERP_TRYTON_URL"],
        database=env["STRATA_ERP_TRYTON_DATABASE"],
        user=env["STRATA_ERP_TRYTON_USER"],
        password=env["STRATA_ERP_TRYTON_PASSWORD"],
    )
    shopify_proxy, shopify_url = proxy(
        stack["shopify"].address,
        LOGS / "proxy-shopify.log",
        CHAOS_FAIL_RATE="0.08",
        CHAOS_LOST_RATE="0.08",
        CHAOS_SEED="31",
    )
    worker_env = {
        **stack["orders"].env,
        "STRATA_ORDERS_SHOPIFY_API_URL": shopify_url,
        "STRATA_ORDERS_FULFILLMENT_POLL_INTERVAL": "0.5",
        # A killed worker's shipment changes are taken over soon (each claim counts as an
        # attempt, so not sooner than a send can take).
        "STRATA_ORDERS_FULFILLMENT_CLAIM_IDLE": "8",
        # Retries come within seconds (the chaos is frequent; the default waits up to 120 s).
        "STRATA_ORDERS_FULFILLMENT_RETRY_MAX_DELAY": "4",
        "STRATA_ORDERS_FULFILLMENT_MAX_ATTEMPTS": "40",
    }

    def worker(n: int) -> subprocess.Popen[bytes]:
        return spawn(strata("worker", "orders"), worker_env, LOGS / f"worker-{n}.log")

    workers = [worker(0), worker(1)]
    chaos_on = threading.Event()
    chaos_on.set()
    kills = Counter[str]()
    failures: list[str] = []

    def chaos() -> None:
        try:
            while chaos_on.is_set():
                time.sleep(rng.uniform(2.0, 4.0))
                victim = rng.randrange(len(workers))
                kill_group(workers[victim])
                kills["worker"] += 1
                workers[victim] = worker(victim)
                if rng.random() < 0.2:
                    # Shopify itself: the next few Admin calls answer 502/503.
                    sandbox.post(
                        "/faults/graphql",
                        {"count": rng.randint(1, 2), "status": rng.choice([502, 503])},
                    )
                    kills["shopify-5xx"] += 1
        except Exception as exc:  # the assertion below names it
            failures.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=chaos, daemon=True)
    expected: dict[int, list[dict[str, Any]]] = {}
    try:
        created = [
            sandbox.create_order(
                EU,
                email=f"ship-chaos-{n}@example.com",
                line_items=[
                    {"sku": SKUS[n % len(SKUS)], "quantity": 2},
                    {"sku": SKUS[(n + 1) % len(SKUS)], "quantity": 1},
                ],
            )
            for n in range(ORDERS)
        ]
        # The orders are posted first, quietly: the chaos is the shipments'.
        erp_ids = [_posted(orders_api, order["id"]) for order in created]
        thread.start()
        for n, order in enumerate(created):
            erp_id = erp_ids[n]
            first, second = SKUS[n % len(SKUS)], SKUS[(n + 1) % len(SKUS)]
            if n % 3 == 0:  # two parcels, one shipment
                parcels = [
                    {"carrier": "DHL", "tracking": f"JD{n:04d}01", "lines": {first: 2}},
                    {"carrier": "DHL", "tracking": f"JD{n:04d}02", "lines": {second: 1}},
                ]
                ship_order(tryton, erp_id, force=True, packages=parcels)
                expected[order["id"]] = [
                    {"units": {first: 2, second: 1}, "numbers": [f"JD{n:04d}01", f"JD{n:04d}02"]}
                ]
            elif n % 3 == 1:  # a partial shipment, then the rest
                ship_order(
                    tryton,
                    erp_id,
                    force=True,
                    lines={first: 2},
                    packages=[{"carrier": "UPS", "tracking": f"1Z{n:04d}A"}],
                )
                ship_order(
                    tryton,
                    erp_id,
                    force=True,
                    packages=[{"carrier": "UPS", "tracking": f"1Z{n:04d}B"}],
                )
                expected[order["id"]] = [
                    {"units": {first: 2}, "numbers": [f"1Z{n:04d}A"]},
                    {"units": {second: 1}, "numbers": [f"1Z{n:04d}B"]},
                ]
            else:
                ship_order(
                    tryton,
                    erp_id,
                    force=True,
                    packages=[{"carrier": "DHL", "tracking": f"JD{n:04d}99"}],
                )
                expected[order["id"]] = [
                    {"units": {first: 2, second: 1}, "numbers": [f"JD{n:04d}99"]}
                ]
        wait_until(lambda: kills["worker"] >= 6, timeout=60, what="six worker kills")

        def all_fulfilled() -> bool:
            return all(
                len(_fulfillments(sandbox, order_id)) >= len(wanted)
                for order_id, wanted in expected.items()
            )

        try:
            wait_until(all_fulfilled, timeout=240, interval=2, what="every shipment fulfilled")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n{_diagnose(sandbox, orders_api, expected, stack)}"
            ) from None
        chaos_on.clear()
        thread.join()
        assert not failures, failures
        # The chaos has stopped; what is still queued settles, and nothing more is made.
        time.sleep(6)
        for order_id, wanted in expected.items():
            made = _fulfillments(sandbox, order_id)
            everything = sandbox.order(EU, order_id).get("fulfillments", [])
            assert len(everything) == len(wanted), (order_id, everything)
            got = sorted((sorted(_units(f).items()), sorted(f["tracking_numbers"])) for f in made)
            want = sorted((sorted(w["units"].items()), sorted(w["numbers"])) for w in wanted)
            assert got == want, (order_id, got, want)
            assert sandbox.order(EU, order_id)["fulfillment_status"] == "fulfilled"
        assert kills["worker"] >= 6
    finally:
        chaos_on.clear()
        thread.join(timeout=10)
        for proc in workers:
            kill_group(proc)
        kill_group(shopify_proxy)
        sandbox.http.delete("/faults/graphql")


def _diagnose(
    sandbox: Sandbox,
    api: httpx.Client,
    expected: dict[int, list[dict[str, Any]]],
    stack: dict[str, Part],
) -> str:
    """What each order has and lacks, and what the shipments stream holds."""
    from redis import Redis

    from shared.streams import SHIPMENTS_STREAM

    lines = []
    for order_id, wanted in expected.items():
        made = _fulfillments(sandbox, order_id)
        if len(made) >= len(wanted):
            continue
        steps = api.get(f"/orders/v1/orders/{EU}/{order_id}").json().get("steps", [])
        lines.append(
            f"{order_id}: {len(made)}/{len(wanted)} made; steps "
            + ", ".join(f"{s['step']}({s.get('detail') or ''})" for s in steps[-6:])
        )
    redis = Redis.from_url(stack["orders"].env["STRATA_ORDERS_REDIS_URL"])
    for stream in redis.scan_iter(match="strata:webhooks:*", _type="stream"):
        lines.append(f"stream {stream!r}: {redis.xlen(stream)} entries")
        for group in redis.xinfo_groups(stream):
            lines.append(f"  group {group}")
    lines.append(f"stream length {redis.xlen(SHIPMENTS_STREAM)}")
    for group in redis.xinfo_groups(SHIPMENTS_STREAM):
        lines.append(f"  group {group}")
    dead: Any = redis.xrange(SHIPMENTS_STREAM + ":dead")
    for entry_id, fields in dead:
        lines.append(f"  dead {entry_id!r}: {fields!r}"[:600])
    lines.append(f"retry {redis.zrange(SHIPMENTS_STREAM + ':retry', 0, -1, withscores=True)}")
    lines.append(f"pending {redis.zrange(SHIPMENTS_STREAM + ':pending', 0, -1)}")
    for key in redis.scan_iter(match="strata:fulfillment*"):
        lines.append(f"key {key!r} {redis.type(key)!r}")
    return "\n".join(lines)


def _posted(api: httpx.Client, order_id: int) -> str:
    def check() -> str | None:
        response = api.get(f"/orders/v1/orders/{EU}/{order_id}")
        if response.status_code != 200:
            return None
        body = response.json()
        if any(s["step"] == "acknowledged" for s in body["steps"]):
            return str(body["erp_order_id"])
        return None

    found: str = wait_until(check, timeout=120, interval=0.5, what=f"{order_id} posted")
    return found


def _fulfillments(sandbox: Sandbox, order_id: int) -> list[dict[str, Any]]:
    order = sandbox.order(EU, order_id)
    return [f for f in order.get("fulfillments", []) if f.get("status") != "cancelled"]


def _units(fulfillment: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in fulfillment.get("line_items", []):
        out[line["sku"]] = out.get(line["sku"], 0) + int(line["quantity"])
    return out
