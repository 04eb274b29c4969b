"""Chaos: orders stream in while workers are SIGKILLed at random, the ERP system API answers
503 at random (sometimes after doing the work), and Redis restarts once. At the end each ERP
holds exactly one sales order per Shopify order routed to it, and every order is tagged."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.tryton import TrytonConsole, admin_credentials
from strata.stack import Part, strata
from tests.support.processes import RedisServer, free_port, wait_for_port
from tests.support.stack import Sandbox, wait_until, whole_stack
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "var" / "log" / "chaos"
SHOPS = ("demo-eu.myshopify.com", "demo-us.myshopify.com")
ORDERS = int(os.environ.get("STRATA_CHAOS_ORDERS", "100"))
SKUS = ("TOTE-NAT", "MUG-STONE-350", "BEANIE-CHR", "TOWEL-BATH-WHT", "POT-TERRA-M")


@pytest.fixture(scope="module")
def durable_redis() -> Iterator[RedisServer]:
    """Redis with an append-only file: a restart keeps every stream, key and status."""
    server = RedisServer(extra_args=("--appendonly", "yes", "--appendfsync", "always")).start()
    try:
        yield server
    finally:
        server.stop()


def spawn(argv: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
    LOGS.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        argv,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=(LOGS / log).open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_exactly_one_sales_order_per_shopify_order_under_chaos(
    durable_redis: RedisServer, tryton_template_dir: Path, token_mint: TokenMint
) -> None:
    rng = random.Random(20261122)
    with whole_stack(
        durable_redis.url,
        tryton_template_dir,
        LOGS,
        token_mint,
        orders_env={"STRATA_ORDERS_RUN_WORKERS": "false"},
        sandbox_env={"STRATA_SANDBOX_TIME_SCALE": "720"},
    ) as parts:
        proxies = {
            instance: _start_proxy(parts[f"erp-{instance}"], seed)
            for seed, instance in enumerate(("eu", "us"))
        }
        worker_env = {
            **parts["orders"].env,
            "STRATA_ORDERS_ERP_INSTANCES": json.dumps(
                {"eu": proxies["eu"][1], "us": proxies["us"][1]}
            ),
        }
        workers = [
            spawn(strata("worker", "orders"), worker_env, f"worker-{i}.log") for i in range(2)
        ]
        sandbox = Sandbox(parts["shopify-sandbox"].address)
        created: list[tuple[str, int]] = []
        chaos_on = threading.Event()
        chaos_on.set()
        kills = Counter[str]()

        def chaos() -> None:
            restarted_redis = False
            while chaos_on.is_set():
                time.sleep(rng.uniform(1.0, 3.0))
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                kills["worker"] += 1
                workers[victim] = spawn(
                    strata("worker", "orders"), worker_env, f"worker-{victim}.log"
                )
                if not restarted_redis and len(created) >= ORDERS // 2:
                    durable_redis.stop()
                    time.sleep(1.0)
                    durable_redis.start()
                    restarted_redis = True
                    kills["redis"] += 1

        chaos_thread = threading.Thread(target=chaos, daemon=True)
        chaos_thread.start()
        try:
            for n in range(ORDERS):
                shop = SHOPS[n % 2]
                order = sandbox.create_order(
                    shop,
                    email=f"chaos-{n}@example.com",
                    line_items=[{"sku": SKUS[n % len(SKUS)], "quantity": 1 + n % 3}],
                )
                created.append((shop, order["id"]))
                time.sleep(0.05)
            wait_until(lambda: kills["redis"] == 1, timeout=60, what="the Redis restart")
            time.sleep(3)
            chaos_on.clear()
            chaos_thread.join()

            def all_tagged() -> bool:
                return all(_tagged(sandbox, shop, oid) for shop, oid in created)

            try:
                wait_until(all_tagged, timeout=300, interval=2, what="every order acknowledged")
            except AssertionError as exc:
                raise AssertionError(
                    f"{exc}\n{_diagnose(parts, sandbox, created, token_mint)}"
                ) from None
        finally:
            chaos_on.clear()
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
            for proc, _ in proxies.values():
                proc.terminate()
                proc.wait(timeout=10)

        references = Counter[str]()
        for instance in ("eu", "us"):
            references.update(
                _sales_order_references(parts[f"tryton-{instance}"], instance, tryton_template_dir)
            )
        expected = {f"shopify:{shop}:{oid}" for shop, oid in created}
        twice = {ref: n for ref, n in references.items() if n > 1}
        assert not twice, f"posted more than once: {twice}"
        assert expected <= set(references), f"missing in the ERPs: {expected - set(references)}"
        assert kills["worker"] >= 3
        assert kills["redis"] == 1


def _start_proxy(erp: Part, seed: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = spawn(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.support.chaos_proxy:create_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        {
            "CHAOS_TARGET": erp.address,
            "CHAOS_FAIL_RATE": "0.15",
            "CHAOS_LOST_RATE": "0.1",
            "CHAOS_SEED": str(seed),
        },
        f"proxy-{erp.name}.log",
    )
    wait_for_port(port)
    return proc, f"http://127.0.0.1:{port}"


def _tagged(sandbox: Sandbox, shop: str, order_id: int) -> bool:
    try:
        tags = sandbox.order(shop, order_id)["tag_list"]
    except httpx.HTTPError:
        return False
    return any(tag.startswith("erp:") for tag in tags)


def _sales_order_references(tryton: Part, instance: str, data_dir: Path) -> list[str]:
    creds = admin_credentials(instance, data_dir)
    console = TrytonConsole(tryton.address, f"strata_{instance}", creds.user, creds.password)
    try:
        rows = console.execute(
            "sale.sale",
            "search_read",
            [("reference", "like", "shopify:%")],
            0,
            None,
            None,
            ["reference"],
        )
    finally:
        console.close()
    return [row["reference"] for row in rows]


def _diagnose(
    parts: dict[str, Part], sandbox: Sandbox, created: list[tuple[str, int]], mint: TokenMint
) -> str:
    """Where each unacknowledged order is: pipeline status and webhook deliveries."""
    orders = httpx.Client(
        base_url=parts["orders"].address, headers=mint.headers("orders:read"), timeout=10
    )
    lines = []
    for shop, oid in created:
        if _tagged(sandbox, shop, oid):
            continue
        status = orders.get(f"/orders/v1/orders/{shop}/{oid}")
        summary = status.json() if status.status_code == 200 else status.status_code
        deliveries = [
            (d.get("topic"), d.get("state"), [a.get("status") for a in d.get("attempts", [])])
            for d in sandbox.deliveries(shop=shop, include_body="true")
            if str(oid) in str(d.get("body", ""))
        ]
        lines.append(f"{shop} {oid}: {summary} deliveries={deliveries}")
    answer = orders.get("/orders/v1/exceptions", params={"limit": 20})
    if answer.status_code == 200:
        found = [(e["order_id"], e["kind"], e["error"]) for e in answer.json()["items"]]
        lines.append(f"exceptions: {found}")
    else:
        lines.append(f"exceptions: HTTP {answer.status_code} {answer.text[:300]}")
    return "\n".join(lines[:40])
