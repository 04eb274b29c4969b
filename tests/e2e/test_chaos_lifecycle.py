"""Chaos over an order's whole life: at least 200 orders, some cancelled, stream in while
stream workers are SIGKILLed, an ERP system API is SIGKILLed and restarted, a Tryton server
is SIGKILLed in the middle of posting and restarted on its own database, Redis (AOF)
restarts, and some posts time out between Tryton's create and its confirm. At the end, for
every Shopify order: exactly one sales order in exactly one ERP, confirmed (or cancelled
where Shopify cancelled it), its total equal to Shopify's; every order that stands is
acknowledged in Shopify."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.tryton import TrytonConsole, admin_credentials
from strata.stack import Part, start_part, strata
from tests.support import chaos as chaos_support
from tests.support.chaos import kill_group
from tests.support.processes import RedisServer, free_port
from tests.support.stack import Sandbox, wait_until, whole_stack
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "var" / "log" / "chaos-lifecycle"
SHOPS = ("demo-eu.myshopify.com", "demo-us.myshopify.com")
ORDERS = int(os.environ.get("STRATA_CHAOS_LIFECYCLE_ORDERS", "200"))
SKUS = ("TOTE-NAT", "MUG-STONE-350", "BEANIE-CHR", "TOWEL-BATH-WHT", "POT-TERRA-M")
CANCEL_EVERY = 9  # every ninth order is cancelled in Shopify, before or after it is posted
EDIT_EVERY = 7  # every seventh order is edited: a quantity raised, or a line removed
# The ERP system API gives up on a Tryton call after this long; a stalled confirm waits more.
ERP_CALL_TIMEOUT = "4"
STALL_SECONDS = "6"


@pytest.fixture(scope="module")
def durable_redis() -> Iterator[RedisServer]:
    """Redis with an append-only file: a restart keeps every stream, key and status."""
    server = RedisServer(extra_args=("--appendonly", "yes", "--appendfsync", "always")).start()
    try:
        yield server
    finally:
        server.stop()


def spawn(argv: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
    return chaos_support.spawn(argv, env, LOGS / log)


def proxy(target: str, log: str, **faults: str) -> tuple[subprocess.Popen[bytes], str]:
    return chaos_support.proxy(target, LOGS / log, **faults)


@pytest.mark.xfail(
    strict=False,
    reason=(
        "known holes, open in issue 12: under this chaos some runs end with (a) an order "
        "edited before its post refused at create because the ERP's total (from the "
        "orders/create lines) is not Shopify's edited total, (b) a cancel of an amended US "
        "sale refused by Tryton ('You can not call cancel'), or (c) orders still retrying "
        "their post when the 420 s settle window ends; 1 run in 3 passed this session"
    ),
)
def test_every_order_once_with_shopifys_total_under_chaos(
    durable_redis: RedisServer, tryton_template_dir: Path, token_mint: TokenMint
) -> None:
    rng = random.Random(20261203)
    tryton_ports = {instance: free_port() for instance in ("eu", "us")}
    # Between each ERP system API and its Tryton: confirms that stall past the API's deadline.
    stallers = {
        instance: proxy(
            f"http://127.0.0.1:{port}",
            f"stall-{instance}.log",
            CHAOS_STALL_METHODS="model.sale.sale.confirm",
            CHAOS_STALL_RATE="0.08",
            CHAOS_STALL_SECONDS=STALL_SECONDS,
            CHAOS_FAIL_RATE="0",
            CHAOS_LOST_RATE="0",
            CHAOS_SEED=str(seed),
        )
        for seed, (instance, port) in enumerate(tryton_ports.items())
    }
    erp_env = {
        f"erp-{instance}": {
            "STRATA_ERP_TRYTON_URL": stallers[instance][1] + "/",
            "STRATA_ERP_READ_TIMEOUT": ERP_CALL_TIMEOUT,
        }
        for instance in ("eu", "us")
    }
    try:
        with whole_stack(
            durable_redis.url,
            tryton_template_dir,
            LOGS,
            token_mint,
            orders_env={"STRATA_ORDERS_RUN_WORKERS": "false"},
            sandbox_env={"STRATA_SANDBOX_TIME_SCALE": "720"},
            part_env=erp_env,
            ports={f"tryton-{i}": p for i, p in tryton_ports.items()},
        ) as parts:
            _run_chaos(parts, rng, durable_redis, tryton_template_dir, token_mint)
    finally:
        for proc, _ in stallers.values():
            proc.terminate()
            proc.wait(timeout=10)


def _run_chaos(
    parts: dict[str, Part],
    rng: random.Random,
    redis: RedisServer,
    data_dir: Path,
    mint: TokenMint,
) -> None:
    # Between the workers and each ERP system API: refused posts, and posts done but unheard.
    api_proxies = {
        instance: proxy(
            parts[f"erp-{instance}"].address,
            f"proxy-erp-{instance}.log",
            CHAOS_FAIL_RATE="0.1",
            CHAOS_LOST_RATE="0.05",
            CHAOS_SEED=str(10 + seed),
        )
        for seed, instance in enumerate(("eu", "us"))
    }
    worker_env = {
        **parts["orders"].env,
        "STRATA_ORDERS_ERP_INSTANCES": json.dumps(
            {instance: address for instance, (_, address) in api_proxies.items()}
        ),
    }
    workers = [spawn(strata("worker", "orders"), worker_env, f"worker-{i}.log") for i in range(2)]
    sandbox = Sandbox(parts["shopify-sandbox"].address)
    created: list[tuple[str, int]] = []
    cancelled: set[tuple[str, int]] = set()
    edited: set[tuple[str, int]] = set()
    chaos_on = threading.Event()
    chaos_on.set()
    done = Counter[str]()
    failures: list[str] = []
    # Each one-off fault fires once the orders created pass its share of the run.
    one_offs: list[tuple[float, str, Callable[[], object]]] = [
        (0.25, "erp-api", lambda: _restart_erp_api(parts["erp-eu"])),
        (0.45, "tryton", lambda: _restart_tryton(parts["tryton-eu"])),
        (0.6, "tryton", lambda: _restart_tryton(parts["tryton-us"])),
        (0.75, "redis", lambda: _restart_redis(redis)),
    ]

    def chaos() -> None:
        try:
            while chaos_on.is_set():
                time.sleep(rng.uniform(1.0, 3.0))
                victim = rng.randrange(len(workers))
                kill_group(workers[victim])
                done["worker"] += 1
                workers[victim] = spawn(
                    strata("worker", "orders"), worker_env, f"worker-{victim}.log"
                )
                while one_offs and len(created) >= one_offs[0][0] * ORDERS:
                    _, kind, fault = one_offs.pop(0)
                    fault()
                    done[kind] += 1
        except Exception as exc:  # the assertion below names it
            failures.append(f"{type(exc).__name__}: {exc}")

    chaos_thread = threading.Thread(target=chaos, daemon=True)
    chaos_thread.start()
    try:
        for n in range(ORDERS):
            shop = SHOPS[n % 2]
            order = sandbox.create_order(
                shop,
                email=f"lifecycle-{n}@example.com",
                line_items=[
                    {"sku": SKUS[n % len(SKUS)], "quantity": 1 + n % 3},
                    {"sku": SKUS[(n + 2) % len(SKUS)], "quantity": 1},
                ],
            )
            created.append((shop, order["id"]))
            if n % CANCEL_EVERY == 4:
                # Some right away (before the post, most likely), some a few orders later.
                target = created[-1] if n % 2 else created[max(0, len(created) - 6)]
                if target not in cancelled:
                    answer = sandbox.post(f"/shops/{target[0]}/orders/{target[1]}/cancel")
                    if answer.is_success:
                        cancelled.add(target)
            if n % EDIT_EVERY == 2:
                # Right away (most likely before the post) or a few orders later (after it).
                target = created[-1] if n % 2 else created[max(0, len(created) - 4)]
                if target not in cancelled and _edit(sandbox, target, n):
                    edited.add(target)
            time.sleep(0.05)
        wait_until(lambda: not one_offs, timeout=300, what="every one-off fault")
        # The one-off faults hold the chaos loop while they restart things: keep killing
        # workers after them too, while the last orders are being posted.
        wait_until(lambda: done["worker"] >= 5, timeout=60, what="five worker kills")
        time.sleep(3)
        chaos_on.clear()
        chaos_thread.join()
        assert not failures, failures

        standing = [o for o in created if o not in cancelled]

        def all_settled() -> bool:
            return all(_tagged(sandbox, shop, oid) for shop, oid in standing) and all(
                _settled_cancel(parts, shop, oid, mint) for shop, oid in cancelled
            )

        try:
            wait_until(all_settled, timeout=420, interval=3, what="every order settled")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_diagnose(parts, sandbox, created, mint)}") from None
    finally:
        chaos_on.clear()
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_group(worker)
        for proc, _ in api_proxies.values():
            proc.terminate()
            proc.wait(timeout=10)

    sales: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for instance in ("eu", "us"):
        for row in _sales(parts[f"tryton-{instance}"], instance, data_dir):
            sales[row["reference"]].append({**row, "instance": instance})
    problems = []
    for shop, oid in created:
        reference = f"shopify:{shop}:{oid}"
        found = sales.get(reference, [])
        if (shop, oid) in cancelled:
            alive = [s for s in found if not _cancelled(s)]
            if alive or len(found) > 1:
                problems.append(f"{reference} cancelled in Shopify but the ERPs hold {found}")
            continue
        if len(found) != 1:
            problems.append(f"{reference}: {len(found)} sales orders {found}")
            continue
        [sale] = found
        if sale["state"] not in {"confirmed", "processing", "done"} or _cancelled(sale):
            problems.append(f"{reference}: left {sale['state']} in {sale['instance']}")
        shopify_total = Decimal(sandbox.order(shop, oid)["current_total_price"])
        erp_total = Decimal(str(sale["total_amount"]))
        if erp_total != shopify_total:
            problems.append(f"{reference}: ERP total {erp_total} != Shopify's {shopify_total}")
    assert not problems, "\n".join(problems[:30])
    assert len(edited) >= ORDERS // (2 * EDIT_EVERY)
    assert done["worker"] >= 5
    assert done["erp-api"] == 1
    assert done["tryton"] == 2
    assert done["redis"] == 1


def _edit(sandbox: Sandbox, order: tuple[str, int], n: int) -> bool:
    """A merchant's order edit: the first line's quantity raised, or the second line removed."""
    shop, order_id = order
    lines = sandbox.order(shop, order_id)["line_items"]
    if n % 3 == 0:
        change = {"line_item_id": lines[1]["id"], "quantity": 0}
    else:
        change = {"line_item_id": lines[0]["id"], "quantity": lines[0]["current_quantity"] + 1}
    answer = sandbox.post(f"/shops/{shop}/orders/{order_id}/edit", {"set_quantities": [change]})
    return answer.is_success


def _restart_erp_api(part: Part) -> None:
    """SIGKILL the ERP system API (its whole process group) and start it again."""
    kill_group(part.proc)
    time.sleep(0.5)
    start_part(part, LOGS)


def _restart_tryton(part: Part) -> None:
    """SIGKILL Tryton while orders are being posted, then serve the same database again."""
    # trytond runs in a session of its own, under the ``strata erp start`` that serves it.
    for pid in _trytond_pids(part.port):
        os.kill(pid, signal.SIGKILL)
    kill_group(part.proc)
    time.sleep(0.5)
    if "--keep" not in part.argv:
        part.argv = [*part.argv, "--keep"]
    start_part(part, LOGS, timeout=120)


def _trytond_pids(port: int) -> list[int]:
    """The trytond processes serving the run database of ``port``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"trytond.cli" in argv and any(f"/runs/{port}/".encode() in a for a in argv):
            pids.append(int(proc.name))
    return pids


def _restart_redis(redis: RedisServer) -> None:
    redis.stop()
    time.sleep(1.0)
    redis.start()


def _tagged(sandbox: Sandbox, shop: str, order_id: int) -> bool:
    try:
        tags = sandbox.order(shop, order_id)["tag_list"]
    except httpx.HTTPError:
        return False
    return any(tag.startswith("erp:") for tag in tags)


def _settled_cancel(parts: dict[str, Part], shop: str, order_id: int, mint: TokenMint) -> bool:
    """The pipeline has taken the cancellation in: the order's status says cancelled."""
    try:
        answer = httpx.get(
            f"{parts['orders'].address}/orders/v1/orders/{shop}/{order_id}",
            headers=mint.headers("orders:read"),
            timeout=10,
        )
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.json().get("state") == "cancelled"


def _sales(tryton: Part, instance: str, data_dir: Path) -> list[dict[str, Any]]:
    creds = admin_credentials(instance, data_dir)
    console = TrytonConsole(tryton.address, f"strata_{instance}", creds.user, creds.password)
    try:
        rows: list[dict[str, Any]] = console.execute(
            "sale.sale",
            "search_read",
            [("reference", "like", "shopify:%")],
            0,
            None,
            None,
            ["reference", "state", "total_amount", "shipment_state", "invoice_state"],
        )
    finally:
        console.close()
    return rows


def _cancelled(sale: dict[str, Any]) -> bool:
    """Cancelled in Tryton: a processing sale cancelled through the ERP API ends ``done`` with
    nothing shipped or invoiced (Tryton cannot cancel it as such)."""
    return sale["state"] == "cancelled" or (
        sale["state"] == "done"
        and sale.get("shipment_state") == "none"
        and sale.get("invoice_state") == "none"
    )


def _diagnose(
    parts: dict[str, Part], sandbox: Sandbox, created: list[tuple[str, int]], mint: TokenMint
) -> str:
    """Where each unsettled order is: its pipeline status."""
    orders = httpx.Client(
        base_url=parts["orders"].address, headers=mint.headers("orders:read"), timeout=10
    )
    lines = []
    for shop, oid in created:
        if _tagged(sandbox, shop, oid):
            continue
        status = orders.get(f"/orders/v1/orders/{shop}/{oid}")
        summary = status.json() if status.status_code == 200 else (status.status_code, status.text)
        lines.append(f"{shop} {oid}: {summary}")
    answer = orders.get("/orders/v1/exceptions", params={"limit": 20})
    if answer.status_code == 200:
        found = [(e["order_id"], e["kind"], e["error"]) for e in answer.json()["items"]]
        lines.append(f"exceptions: {found}")
    return "\n".join(lines[:40])
