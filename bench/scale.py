"""``scale.ingress_2w_over_1w`` and ``scale.orders_2w_over_1w``: two processes over one.

**Ingress.** Two ``strata serve shopify`` processes run side by side, one with ``--workers 1``
and one with ``--workers 2``, each against its own redis-server (:func:`bench.ingress.
redis_server`). wrk, in its own process, posts the realistic signed ``orders/create`` bodies
of :mod:`bench.ingress` (a new event id on every delivery) to one, then the other; which
goes first alternates from round to round, and the median of the per-round ratios (2 workers'
webhooks per second over 1 worker's) is reported. Note that ``--workers 1`` is the drained,
heap-settled server of :func:`shared.server.serve` while ``--workers 2`` is uvicorn's own
supervisor with plain children: the figure compares ``strata serve`` as shipped.

**Orders.** An ERP stand-in (:func:`erp_stand_in`, a raw ASGI app on uvicorn in its own
process, several thousand calls a second on one core) answers the two ERP system API calls
the orders worker makes: ``POST /erp/v1/sales-orders`` (201 with a ``SalesOrder``, the same
order again for a repeated reference) and ``GET /erp/v1/sales-orders/by-reference/{ref}``
(404 until created). K ``strata worker orders`` processes (K = 1, then 2, alternating which
comes first) consume a fresh stream with ``STRATA_ORDERS_ACKNOWLEDGE_IN_SHOPIFY=false`` (no
Shopify) and as many ERP posts in flight as handlers (so the per-process in-flight gate does
not hand the two-process side twice the concurrency). Once all K wait in their
``XREADGROUP``, N distinct ``orders/create`` entries are appended in one pipelined burst,
and the time from the burst to the stand-in's N-th create gives orders per second; start-up
is kept out of it. Every order must then show ``posted`` in the pipeline.

For both, the CPU seconds each process group used during each measurement (the server or
workers with their children, wrk or the stand-in, redis-server, and the whole machine) are
turned into cores and reported beside the ratios, so a ratio can be read against what two
shared cores allow: on a two-core machine where the load generator, Redis and (for orders)
the stand-in share the cores with the processes measured, 2.0 is out of reach by design.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import msgspec
import redis

from bench.harness import ROOT, free_port, uvicorn_app, wait_http
from bench.ingress import PATH, SECRET, SHOP, order_payload, redis_server, run_wrk, wrk_script
from bench.orders import machine_cpu_seconds
from shared.streams import ORDERS, WebhookEvent, WebhookStreams, encode_entry

INGRESS_ROUNDS = 4
INGRESS_SECONDS = 4
ORDER_ROUNDS = 3
ORDERS_PER_RUN = 2000
# Handlers per worker process, and as many ERP posts in flight (the gate is not the limit).
WORKER_CONCURRENCY = 16
ORDERS_TIMEOUT = 60.0
PIPELINE_PREFIX = "strata:orders"

Cpu = dict[str, float]


# -- CPU accounting --------------------------------------------------------------------------


def _proc_table() -> tuple[dict[int, int], dict[int, int]]:
    """(parent of each pid, its user + system ticks so far), from ``/proc``."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
    return parents, ticks


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU seconds used so far by the live processes ``roots`` and all their descendants."""
    parents, ticks = _proc_table()
    family = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in family and pid not in family:
                family.add(pid)
                grew = True
    return sum(ticks.get(pid, 0) for pid in family) / os.sysconf("SC_CLK_TCK")


def listener_pid(port: int) -> int:
    """The pid of the (first) process listening on ``port`` on loopback."""
    out = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"pid=(\d+)", out)
    if match is None:
        raise RuntimeError(f"no process listens on port {port}")
    return int(match.group(1))


def _redis_pid(url: str) -> int:
    return listener_pid(int(url.rsplit(":", 1)[1].split("/", 1)[0]))


def _children_cpu_seconds() -> float:
    """CPU seconds of this process's waited-for children (wrk runs here and is reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def cpu_watch(groups: dict[str, Callable[[], float]], into: Cpu) -> Iterator[None]:
    """Fill ``into`` with the cores each group, the machine and everything else (``other``)
    used during the block, and ``elapsed`` with its wall-clock seconds."""
    before = {name: read() for name, read in groups.items()}
    machine = machine_cpu_seconds()
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    for name, read in groups.items():
        into[name] = (read() - before[name]) / elapsed
    into["machine"] = (machine_cpu_seconds() - machine) / elapsed
    # What the machine spent outside the groups watched: other work sharing the cores.
    into["other"] = into["machine"] - sum(into[name] for name in groups)
    into["elapsed"] = elapsed


def _cores(cpu: Cpu) -> str:
    """The cores of one measurement, for the progress line."""
    return ", ".join(f"{name} {value:.2f}" for name, value in cpu.items() if name != "elapsed")


def _strata() -> str:
    beside = Path(sys.executable).with_name("strata")
    exe = str(beside) if beside.exists() else shutil.which("strata")
    if exe is None:
        raise RuntimeError("the strata command is not installed")
    return exe


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process (uvicorn's supervisor ends its children), then kill its group."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


# -- ingress ---------------------------------------------------------------------------------


@contextlib.contextmanager
def shopify_server(workers: int, redis_url: str) -> Iterator[tuple[str, int]]:
    """``strata serve shopify --workers N`` on a free port: (base URL, pid)."""
    port = free_port()
    env = {
        **os.environ,
        "STRATA_SHOPIFY_SHOPS": json.dumps({SHOP: {"secret": SECRET}}),
        "STRATA_SHOPIFY_REDIS_URL": redis_url,
        "STRATA_SHOPIFY_STREAM_PREFIX": "bench:scale",
    }
    argv = [_strata(), "serve", "shopify", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(base + "/health/live")
        except TimeoutError:
            _stop(proc)
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "") from None
        yield base, proc.pid
    finally:
        _stop(proc)


def _ingress_run(base: str, pid: int, redis_url: str, script: Path) -> tuple[float, Cpu]:
    """(webhooks accepted per second, cores each group used) for one wrk run."""
    cpu: Cpu = {}
    redis_pid = _redis_pid(redis_url)
    groups = {
        "server": lambda: tree_cpu_seconds([pid]),
        "wrk": _children_cpu_seconds,
        "redis": lambda: tree_cpu_seconds([redis_pid]),
    }
    with cpu_watch(groups, cpu):
        rps, _ = run_wrk(base + PATH, script, INGRESS_SECONDS)
    return rps, cpu


def measure_ingress() -> dict[str, float]:
    """The ingress ratio (median of per-round 2w / 1w) and each side's rates and cores."""
    rates: dict[int, list[float]] = {1: [], 2: []}
    cores: dict[int, list[Cpu]] = {1: [], 2: []}
    ratios: list[float] = []
    with (
        redis_server() as redis_1,
        redis_server() as redis_2,
        tempfile.TemporaryDirectory() as tmp,
        shopify_server(1, redis_1) as (base_1, pid_1),
        shopify_server(2, redis_2) as (base_2, pid_2),
    ):
        sides = {1: (base_1, pid_1, redis_1), 2: (base_2, pid_2, redis_2)}
        scripts = []
        for n in range(2 * INGRESS_ROUNDS + 2):
            script = Path(tmp) / f"run{n}.lua"
            wrk_script(script, f"{uuid.uuid4().hex[:8]}-{n}")
            scripts.append(script)
        # Warm both (imports, connection pools, every child of the two-worker server).
        run_wrk(base_1 + PATH, scripts[0], 1)
        run_wrk(base_2 + PATH, scripts[1], 1)
        for round_ in range(INGRESS_ROUNDS):
            order = (1, 2) if round_ % 2 == 0 else (2, 1)
            got: dict[int, float] = {}
            for i, workers in enumerate(order):
                base, pid, url = sides[workers]
                rps, cpu = _ingress_run(base, pid, url, scripts[2 + 2 * round_ + i])
                got[workers] = rps
                rates[workers].append(rps)
                cores[workers].append(cpu)
            ratios.append(got[2] / got[1])
            print(
                f"   ingress round {round_}: 1w {got[1]:.0f}/s ({_cores(cores[1][-1])}); "
                f"2w {got[2]:.0f}/s ({_cores(cores[2][-1])}); ratio {ratios[-1]:.2f}",
                flush=True,
            )
    figures = {"scale.ingress_2w_over_1w": statistics.median(ratios)}
    for workers in (1, 2):
        figures[f"scale.ingress_rps_{workers}w"] = statistics.median(rates[workers])
        # CPU per webhook: whether a second process costs per request, whatever the load.
        figures[f"scale.ingress_server_us_per_webhook_{workers}w"] = statistics.median(
            c["server"] / r * 1e6 for c, r in zip(cores[workers], rates[workers], strict=True)
        )
        for group, key in (
            ("server", "ingress_cores"),
            ("wrk", "ingress_wrk_cores"),
            ("redis", "ingress_redis_cores"),
            ("machine", "ingress_machine_cores"),
            ("other", "ingress_other_cores"),
        ):
            value = statistics.median(c[group] for c in cores[workers])
            figures[f"scale.{key}_{workers}w"] = value
    return figures


# -- orders ----------------------------------------------------------------------------------


def erp_stand_in() -> Any:
    """A raw ASGI app answering the orders worker's ERP system API calls, fast.

    ``POST /erp/v1/sales-orders`` creates (or, for a known reference, returns) a confirmed
    order; ``GET /erp/v1/sales-orders/by-reference/{ref}`` finds one or answers 404;
    ``GET /_count`` says how many orders were created.
    """
    orders: dict[str, bytes] = {}
    encoder = msgspec.json.Encoder()
    by_reference = "/erp/v1/sales-orders/by-reference/"
    not_found = encoder.encode(
        {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no such order"}
    )

    async def send_json(send: Any, status: int, body: bytes, problem: bool = False) -> None:
        kind = b"application/problem+json" if problem else b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", kind), (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def created(draft: dict[str, Any]) -> bytes:
        lines = draft["lines"]
        total = sum(float(line["unit_price"]) * line["quantity"] for line in lines)
        number = f"SO{len(orders) + 1:06d}"
        return encoder.encode(
            {
                "id": str(len(orders) + 1),
                "number": number,
                "external_reference": draft["external_reference"],
                "status": "confirmed",
                "currency": draft["currency"],
                "customer_email": (draft.get("customer") or {}).get("email"),
                "lines": lines,
                "total": {"amount": f"{total:.2f}", "currency": draft["currency"]},
            }
        )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path, method = scope["path"], scope["method"]
        if method == "POST" and path == "/erp/v1/sales-orders":
            chunks = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            draft = json.loads(b"".join(chunks))
            reference = draft["external_reference"]
            if reference not in orders:
                orders[reference] = created(draft)
            await send_json(send, 201, orders[reference])
        elif method == "GET" and path.startswith(by_reference):
            found = orders.get(unquote(path.removeprefix(by_reference)))
            if found is None:
                await send_json(send, 404, not_found, problem=True)
            else:
                await send_json(send, 200, found)
        elif method == "GET" and path == "/_count":
            await send_json(send, 200, b"%d" % len(orders))
        elif method == "GET" and path == "/health/live":
            await send_json(send, 200, b"{}")
        else:
            await send_json(send, 404, not_found, problem=True)

    return app


def _worker_env(redis_url: str, erp_url: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "STRATA_ORDERS_REDIS_URL": redis_url,
        "STRATA_ORDERS_ERP_INSTANCES": json.dumps({"eu": erp_url, "us": erp_url}),
        "STRATA_ORDERS_STREAM_PREFIX": prefix,
        "STRATA_ORDERS_ACKNOWLEDGE_IN_SHOPIFY": "false",
        "STRATA_ORDERS_SERVICE_TOKEN": "bench-token",
        "STRATA_ORDERS_WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "STRATA_ORDERS_ERP_MAX_INFLIGHT": str(WORKER_CONCURRENCY),
        "STRATA_TELEMETRY_LOG_LEVEL": "WARNING",
    }


def _entries(first: int, count: int, run: str) -> list[dict[str, str]]:
    """``count`` ``orders/create`` entries for distinct orders ``first``..."""
    entries = []
    for n in range(first, first + count):
        event = WebhookEvent(
            topic="orders/create",
            shop=SHOP,
            body=order_payload(n).decode(),
            event_id=f"{run}-{n}",
            webhook_id=f"wh-{run}-{n}",
            triggered_at="2026-05-01T08:00:00.000Z",
            api_version="2026-10",
            received_at="2026-05-01T08:00:00.100Z",
        )
        entries.append(encode_entry(event))
    return entries


def _created(erp: httpx.Client) -> int:
    return int(erp.get("/_count").text)


def _orders_run(
    workers: int, first: int, client: redis.Redis, redis_url: str, erp_url: str
) -> tuple[float, Cpu]:
    """(orders posted per second, cores each group used) with ``workers`` processes."""
    run = uuid.uuid4().hex[:8]
    prefix = f"bench:scale:{run}"
    stream = WebhookStreams(prefix).stream(ORDERS)
    entries = _entries(first, ORDERS_PER_RUN, run)
    env = _worker_env(redis_url, erp_url, prefix)
    procs = [
        subprocess.Popen(
            [_strata(), "worker", "orders"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    erp = httpx.Client(base_url=erp_url, timeout=10)
    try:
        deadline = time.monotonic() + 60
        while True:
            # Joined: blocked in XREADGROUP (Redis 7.0 lists no consumer before its first read).
            blocked = [
                c for c in client.client_list() if c["cmd"] == "xreadgroup" and "b" in c["flags"]
            ]
            if len(blocked) >= workers:
                break
            for proc in procs:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"an orders worker ended at start-up:\n{err}")
            if time.monotonic() > deadline:
                raise TimeoutError("the orders workers did not join the consumer group")
            time.sleep(0.05)
        start_count = _created(erp)
        redis_pid = _redis_pid(redis_url)
        erp_pid = listener_pid(int(erp_url.rsplit(":", 1)[1]))
        pids = [p.pid for p in procs]
        groups = {
            "workers": lambda: tree_cpu_seconds(pids),
            "erp": lambda: tree_cpu_seconds([erp_pid]),
            "redis": lambda: tree_cpu_seconds([redis_pid]),
        }
        cpu: Cpu = {}
        with cpu_watch(groups, cpu):
            pipe = client.pipeline(transaction=False)
            for fields in entries:
                pipe.xadd(stream, fields)  # type: ignore[arg-type]
            pipe.execute()
            limit = time.monotonic() + ORDERS_TIMEOUT
            while _created(erp) - start_count < ORDERS_PER_RUN:
                if time.monotonic() > limit:
                    done = _created(erp) - start_count
                    raise TimeoutError(f"only {done} of {ORDERS_PER_RUN} orders posted")
                time.sleep(0.01)
        _check_posted(client, first, ORDERS_PER_RUN)
    finally:
        erp.close()
        for proc in procs:
            _stop(proc)
    return ORDERS_PER_RUN / cpu["elapsed"], cpu


def _check_posted(client: redis.Redis, first: int, count: int) -> None:
    """Every order of the run shows ``posted`` in the pipeline (waiting a little for the last)."""
    deadline = time.monotonic() + 10
    while True:
        pipe = client.pipeline(transaction=False)
        for n in range(first, first + count):
            pipe.hget(f"{PIPELINE_PREFIX}:{{{SHOP}:{5_600_000_000_000 + n}}}", "state")
        states = pipe.execute()
        missing = sum(1 for s in states if s != b"posted")
        if missing == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{missing} of {count} orders are not recorded as posted")
        time.sleep(0.1)


def measure_orders() -> dict[str, float]:
    """The orders ratio (median of per-round 2w / 1w) and each side's rates and cores."""
    rates: dict[int, list[float]] = {1: [], 2: []}
    cores: dict[int, list[Cpu]] = {1: [], 2: []}
    ratios: list[float] = []
    first = 0
    with redis_server() as redis_url, uvicorn_app("bench.scale:erp_stand_in", {}) as erp_url:
        client = redis.Redis.from_url(redis_url)
        try:
            for round_ in range(ORDER_ROUNDS):
                order = (1, 2) if round_ % 2 == 0 else (2, 1)
                got: dict[int, float] = {}
                for workers in order:
                    rate, cpu = _orders_run(workers, first, client, redis_url, erp_url)
                    first += ORDERS_PER_RUN
                    got[workers] = rate
                    rates[workers].append(rate)
                    cores[workers].append(cpu)
                ratios.append(got[2] / got[1])
                print(
                    f"   orders round {round_}: 1w {got[1]:.0f}/s ({_cores(cores[1][-1])}); "
                    f"2w {got[2]:.0f}/s ({_cores(cores[2][-1])}); ratio {ratios[-1]:.2f}",
                    flush=True,
                )
        finally:
            client.close()
    figures = {"scale.orders_2w_over_1w": statistics.median(ratios)}
    for workers in (1, 2):
        figures[f"scale.orders_per_s_{workers}w"] = statistics.median(rates[workers])
        figures[f"scale.orders_worker_ms_per_order_{workers}w"] = statistics.median(
            c["workers"] / r * 1e3 for c, r in zip(cores[workers], rates[workers], strict=True)
        )
        for group, key in (
            ("workers", "orders_cores"),
            ("erp", "orders_erp_cores"),
            ("redis", "orders_redis_cores"),
            ("machine", "orders_machine_cores"),
            ("other", "orders_other_cores"),
        ):
            value = statistics.median(c[group] for c in cores[workers])
            figures[f"scale.{key}_{workers}w"] = value
    return figures


def run() -> dict[str, float]:
    """Both ratios, with the rates and cores of each side (reported only)."""
    return {**measure_ingress(), **measure_orders()}


if __name__ == "__main__":
    print(run())
