"""``orders.erp_utilization``, ``orders.ingress_p99_spike_ratio``, ``orders.e2e_p50_ms`` and
``orders.erp_calls_per_order`` (reported).

The whole stack runs as ``strata up`` runs it (:func:`strata.stack.running`): a private Redis,
the Tryton ERPs ``eu`` and ``us``, both ERP system APIs, the Shopify sandbox, the Shopify
system API with its webhook ingress, and the orders process with its stream workers. Only
the configuration differs: the services trust a throwaway key set and the orders process
calls down with a token minted from it (the same small config ``tests/support/stack.py``
builds, copied here so the benchmark does not import the test suite).

1. **Capacity screen**: sales orders posted straight to the ``eu`` ERP system API
   (``POST /erp/v1/sales-orders``, a new reference and idempotency key each) by k concurrent
   posters, k in 1, 2, 4, 8, 10 s each; the best k is the ERP's best concurrency. The orders
   are the spike's: bodies of sandbox orders of the same customers and SKUs, mapped as the
   pipeline maps them.
2. The orders process is restarted with ``STRATA_ORDERS_ERP_MAX_INFLIGHT`` = that best k
   (as many posts in flight as keep the ERP busiest, no more) and 16 handlers
   (``STRATA_ORDERS_WORKER_CONCURRENCY``), so orders always wait at that gate.
3. **Idle**: one ``orders/create`` webhook at a time, the next sent once the previous order
   is acknowledged; gives the idle webhook latency and the end-to-end time (webhook POST
   started to the ``acknowledged`` step: posted in the ERP and tagged in Shopify). Around it,
   ``orders.erp_calls_per_order``: the Tryton requests the ERP system APIs sent (their
   ``strata_erp_backend_requests_total``, counted by the client) over the orders posted, so
   that the cost of a fuller mapping shows; reported only.
4. **Capacity C**: the best k posting for 30 s, right before the spike and again right after
   it (the orders process stopped, so the ERP is the API's alone); C is the mean of the two
   completed-orders-per-second figures, which brackets the spike on a shared machine.
5. **Spike**: 4 x C (the first figure) webhooks a second for 30 s. Utilisation is the orders
   the pipeline posted (its ``posted`` steps) per second from the spike's first webhook
   until the backlog is gone (its last order posted) or 30 s after the spike, whichever
   comes first, over C.

What decides the figures on a shared two-core machine is the CPU share trytond gets: the
ERP's pace follows it, and everything else of the stack uses a few hundredths of a core. So
each capacity run and the spike print the cores each part used and the ERP's orders per
trytond CPU-second: if those agree while utilisation does not, the shortfall was the
machine's, not the pipeline's. Measured ERP concurrency: 1 or 2 in flight are best; 4 and 8
lose a third or more (SQLite serialises Tryton's writes), which is why the pipeline's
in-flight gate matters.

Every order exists in the sandbox (created there with webhook delivery held), so each
acknowledgement tags a real order; the webhooks are those held deliveries (same body, event
and webhook ids), signed with the sandbox app's secret and sent by ``bench.webhooks`` from a
process of its own, which also times each POST. Orders are for ``demo-eu.myshopify.com``
(EUR, French addresses): routed to the ``eu`` ERP only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench.harness import ROOT, free_port, percentile
from bench.ingress import redis_server
from bench.webhooks import Sent, WebhookSender
from process_apis.orders.mapping import to_sales_order
from sandbox.auth.issuer import SigningKeys, mint_token
from sandbox.tryton import DEMO_SKUS, build_template
from sandbox.tryton.server import instance_dir
from shared.auth.clients import ClientRegistration
from strata.stack import SANDBOX_SECRET, Part, StackConfig, running, start_part, stop_part

SHOP = "demo-eu.myshopify.com"
INSTANCE = "eu"
ISSUER = "https://bench.issuer"
AUDIENCE = "strata"
CONCURRENCIES = (1, 2, 4, 8)
SCREEN_SECONDS = 10.0
CAPACITY_SECONDS = 30.0
SPIKE_FACTOR = 4
SPIKE_SECONDS = 30.0
# Measure the backlog this long after the spike at most: enough to see the drain rate.
DRAIN_SECONDS = 30.0
IDLE_ORDERS = 60
# How often the idle phase asks whether its order is acknowledged yet.
POLL = 0.02
WARM_ORDERS = 6
CUSTOMERS = 24
# Handlers per orders process: enough that orders always wait at the ERP's in-flight gate.
WORKER_CONCURRENCY = 16
STACK_PARTS = ("tryton-eu", "tryton-us", "erp-eu", "erp-us", "shopify", "shopify-sandbox", "orders")
SERVICE_SCOPES = ("erp:read", "erp:write", "shopify:read", "shopify:write")
BENCH_SCOPES = ("erp:read", "erp:write", "orders:read")


class OrdersBench:
    """The measurements, against a running stack."""

    def __init__(
        self, parts: dict[str, Part], token: str, log_dir: Path, sender: WebhookSender
    ) -> None:
        self.parts = parts
        self.sender = sender
        self.drafts: list[dict[str, Any]] = []
        # Cores the ERP's trytond got in each watched phase: on a shared machine the ERP's
        # pace follows its CPU share, which says whether a shortfall was the pipeline's.
        self.tryton_cores: list[float] = []
        self.log_dir = log_dir
        self.headers = {"Authorization": f"Bearer {token}"}
        self.sandbox = httpx.Client(
            base_url=parts["shopify-sandbox"].address + "/_sandbox", timeout=30
        )
        self.orders = httpx.Client(
            base_url=parts["orders"].address, headers=self.headers, timeout=30
        )
        self.ingress = parts["shopify"].address + "/shopify/v1/webhooks"
        self.rng = random.Random(20260501)
        self.notes: dict[str, str] = {}

    def close(self) -> None:
        self.sandbox.close()
        self.orders.close()

    # -- orders in the sandbox ---------------------------------------------------------------

    def create_orders(self, count: int) -> list[dict[str, Any]]:
        """``count`` sandbox orders (deliveries held), as their ``orders/create`` deliveries."""
        before = {d["webhook_id"] for d in self._held()}
        for _ in range(count):
            response = self.sandbox.post(f"/shops/{SHOP}/orders", json=self._order_draft())
            response.raise_for_status()
        fresh = [d for d in self._held() if d["webhook_id"] not in before]
        if len(fresh) != count:
            raise RuntimeError(f"created {count} orders but {len(fresh)} deliveries were held")
        return fresh

    def _held(self) -> list[dict[str, Any]]:
        response = self.sandbox.get(
            "/deliveries",
            params={"topic": "orders/create", "delivery_state": "held", "include_body": "true"},
        )
        response.raise_for_status()
        held: list[dict[str, Any]] = response.json()
        return held

    def _order_draft(self) -> dict[str, Any]:
        n = self.rng.randrange(CUSTOMERS)
        skus = self.rng.sample(DEMO_SKUS, self.rng.choice((1, 1, 2, 3)))
        city, zip_code = self.rng.choice(
            [("Lyon", "69007"), ("Paris", "75011"), ("Lille", "59000"), ("Nantes", "44000")]
        )
        return {
            "email": f"buyer{n}@example.com",
            "first_name": "Buyer",
            "last_name": f"No{n}",
            "line_items": [{"sku": s, "quantity": self.rng.choice((1, 1, 2))} for s in skus],
            "shipping_address": {
                "first_name": "Buyer",
                "last_name": f"No{n}",
                "address1": f"{n + 1} rue de la République",
                "city": city,
                "zip": zip_code,
                "country_code": "FR",
            },
        }

    # -- 1. the ERP's capacity ---------------------------------------------------------------

    def prepare_drafts(self) -> None:
        """Sales orders like the spike's, posted once each to warm the ERP API's caches
        (products, every customer) as the spike will find them."""
        bodies = [json.loads(d["body"]) for d in self.create_orders(CUSTOMERS)]
        self.drafts = [msgspec.to_builtins(to_sales_order(SHOP, b)) for b in bodies]
        asyncio.run(self._post_for(4, 0.0, count=len(self.drafts)))

    def screen(self) -> int:
        """The concurrency at which the ERP API posts the most sales orders per second."""
        rates: dict[int, float] = {}
        for k in CONCURRENCIES:
            rate, errors = asyncio.run(self._post_for(k, SCREEN_SECONDS))
            print(f"   capacity screen: {k} in flight: {rate:.2f} orders/s, {errors} errors")
            if errors == 0:
                rates[k] = rate
        if not rates:
            raise RuntimeError("the ERP API failed posts at every concurrency")
        self.notes["capacity_screen"] = json.dumps({str(k): round(v, 2) for k, v in rates.items()})
        return max(rates, key=lambda k: rates[k])

    def capacity(self, concurrency: int) -> float:
        """Sales orders per second the ERP API completes over 30 s at ``concurrency``."""
        with self.cpu_watch("capacity"):
            rate, errors = asyncio.run(self._post_for(concurrency, CAPACITY_SECONDS))
        if errors:
            raise RuntimeError(f"{errors} posts failed at the best concurrency {concurrency}")
        print(f"   capacity: {rate:.2f} orders/s at {concurrency} in flight")
        return rate

    async def _post_for(
        self, concurrency: int, seconds: float, count: int | None = None
    ) -> tuple[float, int]:
        """(sales orders completed per second within ``seconds``, failures); with ``count``,
        post that many and return (0, failures)."""
        completed = failures = posted = 0
        erp = self.parts[f"erp-{INSTANCE}"].address
        async with httpx.AsyncClient(base_url=erp, headers=self.headers, timeout=60) as client:
            deadline = time.perf_counter() + seconds

            async def poster(n: int) -> None:
                nonlocal completed, failures, posted
                i = n
                while True:
                    if count is not None:
                        if posted >= count:
                            return
                        posted += 1
                    elif time.perf_counter() >= deadline:
                        return
                    reference = f"bench:{uuid.uuid4()}"
                    draft = {**self.drafts[i % len(self.drafts)], "external_reference": reference}
                    i += concurrency
                    response = await client.post(
                        "/erp/v1/sales-orders",
                        json=draft,
                        headers={"Idempotency-Key": str(uuid.uuid4())},
                    )
                    if not response.is_success:
                        failures += 1
                    elif time.perf_counter() <= deadline:
                        completed += 1

            await asyncio.gather(*(poster(n) for n in range(concurrency)))
        return (0.0 if count is not None else completed / seconds), failures

    @contextlib.contextmanager
    def cpu_watch(self, phase: str) -> Iterator[None]:
        """Print the CPU each part (and the machine) used per second during the phase."""
        before = {name: group_cpu_seconds(p) for name, p in self.parts.items()}
        machine = machine_cpu_seconds()
        started = time.monotonic()
        yield
        elapsed = time.monotonic() - started
        used = {n: (group_cpu_seconds(p) - before[n]) / elapsed for n, p in self.parts.items()}
        busy = ", ".join(f"{n} {v:.2f}" for n, v in sorted(used.items(), key=lambda i: -i[1]))
        total = (machine_cpu_seconds() - machine) / elapsed
        print(f"   cores busy during {phase}: machine {total:.2f}; {busy}")
        self.tryton_cores.append(used[f"tryton-{INSTANCE}"])

    # -- 2. the orders process tuned to it -----------------------------------------------------

    def tune_orders(self, inflight: int) -> None:
        part = self.parts["orders"]
        stop_part(part)
        part.env["STRATA_ORDERS_ERP_MAX_INFLIGHT"] = str(inflight)
        start_part(part, self.log_dir)

    # -- 3. idle -------------------------------------------------------------------------------

    def idle(self) -> tuple[list[Sent], list[float]]:
        """Idle webhook latencies and end-to-end times (ms), one order in the system at a time."""
        for delivery in self.create_orders(WARM_ORDERS):
            self._send([delivery], 1.0)
            self._wait_acknowledged([json.loads(delivery["body"])["id"]], timeout=60)
        sent: list[Sent] = []
        e2e: list[float] = []
        for delivery in self.create_orders(IDLE_ORDERS):
            [webhook] = self._send([delivery], 1.0)
            [status] = self._wait_acknowledged([json.loads(delivery["body"])["id"]], timeout=60)
            acknowledged = _step_at(status, "acknowledged")
            assert acknowledged is not None
            sent.append(webhook)
            e2e.append((acknowledged - webhook.started_at) * 1000)
        return sent, e2e

    def erp_requests(self) -> float:
        """Requests the ERP system APIs have sent to their Tryton servers so far (all methods)."""
        total = 0.0
        for name, part in self.parts.items():
            if not name.startswith("erp-"):
                continue
            text = httpx.get(part.address + "/metrics", timeout=10).text
            for line in text.splitlines():
                if line.startswith("strata_erp_backend_requests_total{"):
                    total += float(line.rpartition(" ")[2])
        return total

    def _wait_acknowledged(self, ids: list[int], timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            statuses = [self._status(i) for i in ids]
            if all(s and s["state"] == "acknowledged" for s in statuses):
                return [s for s in statuses if s]
            if time.monotonic() > deadline:
                stuck = [s for s in statuses if not s or s["state"] != "acknowledged"]
                raise RuntimeError(f"{len(stuck)} idle orders not acknowledged: {stuck[:2]}")
            time.sleep(POLL)

    def _status(self, order_id: int) -> dict[str, Any] | None:
        response = self.orders.get(f"/orders/v1/orders/{SHOP}/{order_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status

    # -- 4. the spike --------------------------------------------------------------------------

    def spike(self, capacity: float) -> Spike:
        """Send 4 x ``capacity`` webhooks a second for 30 s; wait until the measuring ends."""
        rate = SPIKE_FACTOR * capacity
        deliveries = self.create_orders(round(rate * SPIKE_SECONDS))
        with self.cpu_watch("the spike and its backlog"):
            sent = self._send(deliveries, rate)
            start = min(s.started_at for s in sent)
            end = start + SPIKE_SECONDS + DRAIN_SECONDS
            time.sleep(max(0.0, end - time.time()))
        ids = [json.loads(d["body"])["id"] for d in deliveries]
        return Spike(sent=sent, order_ids=ids, start=start, cap=end)

    def posted_rate(self, spike: Spike) -> tuple[float, dict[str, float]]:
        """Orders posted per second while the spike's backlog existed (up to its cap)."""
        posted = []
        for order_id in spike.order_ids:
            status = self._status(order_id)
            at = _step_at(status, "posted") if status else None
            if at is not None:
                posted.append(at)
        exceptions = self.orders.get("/orders/v1/exceptions", params={"state": "open"})
        exceptions.raise_for_status()
        if exceptions.json()["total"]:
            raise RuntimeError(f"the spike opened exceptions: {exceptions.text[:1000]}")
        # The backlog lasts until the last spike order is posted, if that came before the cap.
        drained = len(posted) == len(spike.order_ids) and max(posted) < spike.cap
        end = max(posted) if drained else spike.cap
        in_window = sum(1 for at in posted if spike.start <= at <= end)
        rate = in_window / (end - spike.start)
        return rate, {"window_s": end - spike.start, "posted_in_window": in_window}

    def _send(self, deliveries: list[dict[str, Any]], rate: float) -> list[Sent]:
        sent = self.sender.send(deliveries, rate=rate)
        refused = [s for s in sent if s.status != 200]
        if refused:
            raise RuntimeError(f"{len(refused)} webhooks were not accepted: {refused[:3]}")
        return sent


class Spike(msgspec.Struct, frozen=True, kw_only=True):
    sent: list[Sent]
    order_ids: list[int]
    start: float
    cap: float


def group_cpu_seconds(part: Part) -> float:
    """CPU seconds used so far by a part's process and its descendants (e.g. trytond)."""
    if part.proc is None:
        return 0.0
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
    family = {part.proc.pid}
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in family} - family
        family |= children
        grew = bool(children)
    return sum(ticks.get(pid, 0) for pid in family) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU seconds every core spent busy so far (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _step_at(status: dict[str, Any], step: str) -> float | None:
    times = [s["at"] for s in status["steps"] if s["step"] == step]
    return times[-1] if times else None


def stack_config(redis_url: str, data_dir: Path, log_dir: Path, keys: SigningKeys) -> StackConfig:
    """The stack trusting ``keys``; the orders process calls down with a token from them."""

    def service_token(service: str) -> dict[str, str]:
        client = ClientRegistration(
            client_id=service, secret_hash="unused", scopes=frozenset(SERVICE_SCOPES)
        )
        token = mint_token(keys, client, SERVICE_SCOPES, AUDIENCE, 3600, issuer=ISSUER)
        return {f"STRATA_{service.upper().replace('-', '_')}_SERVICE_TOKEN": token}

    return StackConfig(
        redis_url=redis_url,
        data_dir=data_dir,
        log_dir=log_dir,
        auth_env={
            "STRATA_AUTH_ISSUER": ISSUER,
            "STRATA_AUTH_AUDIENCE": AUDIENCE,
            "STRATA_AUTH_JWKS": json.dumps(keys.public_jwks()),
        },
        service_auth_env=service_token,
        run_issuer=False,
        part_env={"orders": {"STRATA_ORDERS_WORKER_CONCURRENCY": str(WORKER_CONCURRENCY)}},
        # Not the demo's well-known ports: a stack someone else runs must not answer for ours.
        ports={name: free_port() for name in STACK_PARTS},
    )


def run() -> dict[str, float]:
    data_dir = ROOT / "var" / "bench" / "erp"
    for instance in ("eu", "us"):
        build_template(instance, data_dir)
    log_dir = ROOT / "var" / "log" / "bench-orders"
    keys = SigningKeys.generate()
    client = ClientRegistration(
        client_id="bench", secret_hash="unused", scopes=frozenset(BENCH_SCOPES)
    )
    token = mint_token(keys, client, BENCH_SCOPES, AUDIENCE, 3600, issuer=ISSUER)
    # Redis comes in _measure; the ports are fixed here so the cleanup knows them.
    config = stack_config("", data_dir, log_dir, keys)
    try:
        return _measure(config, token)
    finally:
        for instance in ("eu", "us"):
            # Each run serves a fresh copy of the template under runs/<port>: drop ours.
            port = config.ports[f"tryton-{instance}"]
            shutil.rmtree(instance_dir(instance, data_dir) / "runs" / str(port), ignore_errors=True)


def _measure(config: StackConfig, token: str) -> dict[str, float]:
    log_dir = config.log_dir
    with (
        redis_server() as redis_url,
        running(dataclasses.replace(config, redis_url=redis_url)) as parts,
        WebhookSender(parts["shopify"].address + "/shopify/v1/webhooks", SANDBOX_SECRET) as sender,
    ):
        bench = OrdersBench(parts, token, log_dir, sender)
        try:
            hold = bench.sandbox.put("/webhooks/behaviour", json={"hold": True})
            hold.raise_for_status()
            bench.prepare_drafts()
            best = bench.screen()
            bench.tune_orders(best)
            calls_before = bench.erp_requests()
            idle_sent, e2e = bench.idle()
            calls_per_order = (bench.erp_requests() - calls_before) / (WARM_ORDERS + IDLE_ORDERS)
            before = bench.capacity(best)
            spike = bench.spike(before)
            # Stop the pipeline (the rest of its backlog is not measured): the ERP is the
            # capacity run's alone, as before the spike.
            stop_part(parts["orders"])
            after = bench.capacity(best)
            start_part(parts["orders"], log_dir)
            posted_rate, window = bench.posted_rate(spike)
        finally:
            bench.close()
    capacity = statistics.mean((before, after))
    cores_before, cores_spike, cores_after = bench.tryton_cores
    print(
        "   ERP orders per trytond CPU-second: "
        f"{before / cores_before:.2f} before, {posted_rate / cores_spike:.2f} in the spike, "
        f"{after / cores_after:.2f} after"
    )
    idle_ms = [s.latency_ms for s in idle_sent]
    spike_ms = [s.latency_ms for s in spike.sent]
    print(
        f"   idle: {len(idle_ms)} webhooks, p50 {statistics.median(idle_ms):.1f} ms, p99 "
        f"{percentile(idle_ms, 99):.1f} ms; e2e p50 {statistics.median(e2e):.0f} ms"
    )
    print(
        f"   spike: {len(spike_ms)} webhooks at {SPIKE_FACTOR} x {before:.2f}/s, p50 "
        f"{statistics.median(spike_ms):.1f} ms, p99 {percentile(spike_ms, 99):.1f} ms, sender "
        f"lag max {max(s.lag_ms for s in spike.sent):.1f} ms; {window['posted_in_window']:.0f} "
        f"posted over {window['window_s']:.1f}s = {posted_rate:.2f}/s; C = {capacity:.2f}/s at "
        f"{best} in flight ({before:.2f} before, {after:.2f} after)"
    )
    return {
        "orders.erp_utilization": posted_rate / capacity,
        "orders.ingress_p99_spike_ratio": percentile(spike_ms, 99) / percentile(idle_ms, 99),
        "orders.e2e_p50_ms": statistics.median(e2e),
        "orders.erp_calls_per_order": calls_per_order,
    }


if __name__ == "__main__":
    print(run())
