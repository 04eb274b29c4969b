"""``fulfillment.lag_p50_s`` and ``fulfillment.shopify_points_per_shipment`` (reported), and
``fulfillment.lag_p99_spike_ratio`` (target <= 3).

The whole stack runs as ``strata up`` runs it (:func:`strata.stack.running`, configured as
``bench.orders`` configures it): the Tryton ERPs, their system APIs, the Shopify sandbox and
system API, and the orders process, whose in-process workers follow the ``eu`` ERP's shipment
change feed every ``STRATA_ORDERS_FULFILLMENT_POLL_INTERVAL`` seconds (set to the setting's
default, 2 s, and stated beside the figures: it is the lag's floor) and send each shipment to
Shopify as a fulfillment.

1. Sandbox orders of ``demo-eu.myshopify.com`` (one line each, webhooks delivered live) are
   posted to the ``eu`` ERP by the pipeline and acknowledged, all of them before anything is
   shipped, so the ERP does nothing but ship while lags are measured (two posts in flight,
   the ERP's best on SQLite: that only shortens the setting up, which is most of the run:
   the ERP posts a few orders a second at best, and one or less on a busy machine).
2. Every order's shipment is then carried up to ``packed`` in Tryton, in batches: carrier
   DHL, stock forced, one parcel with a tracking number holding every line, packed. This is
   what ``sandbox.tryton.ship_sale`` does for one sale, short of its last step; what is left
   is that step, ``do`` (the shipment done, the goods gone), which is what the change feed
   follows. Preparing ahead keeps the warehouse's paperwork out of the spike, so the spike
   is what the ERP reports, not how fast a script packs.
3. **Idle**: one shipment at a time is done, and the next only once its fulfillment exists
   in the sandbox. Each starts after a random pause of up to one polling interval, so
   shipments land at every phase of the poll rather than right after one. Half the idle
   shipments run before the spike and half after it (once the feed's overlap window has
   passed the spike's last shipment), bracketing it on a shared machine.
4. **Spike**: 200 shipments are done as fast as Tryton does them: two threads with a
   Tryton session each, ten shipments a ``do`` call (trytond, on SQLite, is what limits the
   pace; the printout gives it, and the cores each part used).
   ``fulfillment.lag_p99_spike_ratio`` is the lag p99 of those 200 over the lag p99 of the
   idle shipments of the same run. Every shipment must end as exactly one fulfillment in
   the sandbox carrying its tracking number, or the run fails.

**The lag** is measured on the two systems' own clocks (one machine, one wall clock):

- *start*: the shipment's ``updated_at`` from the ERP system API's change feed
  (``GET /erp/v1/shipments/changes``): Tryton's ``write_date`` of the shipment's last change
  (its ``done``), to the microsecond. This is the instant the orders process's own
  ``strata_fulfillment_lag_seconds`` starts from. The ``do`` call returns a little later
  (Tryton stamps a change when it writes it and commits at the end of the call); the
  idle lag from the call's return is printed too.
- *end*: the sandbox stamps a fulfillment's ``created_at`` to the whole second, as Shopify
  does, which is too coarse for a lag of about a second. The sandbox also stamps the
  ``fulfillments/create`` webhook it triggers in the same call (``triggered_at`` in its
  delivery log, to the microsecond); that is the end used. Each one is checked against the
  fulfillment's ``created_at`` (same second, or the next when the call straddled one).

**Points per shipment**: the shop's cost bucket is resized for the whole run to 10 million
points refilling at 0.001 point a second, so it never throttles (in the idle phases or the
spike), and it is set to a whole number of points as each measured phase starts: over a
phase (well under 1,000 s) it refills less than one point, so the whole points the sandbox
reports (``GET /_sandbox/shops/{shop}/bucket``) once the phase's last fulfillment and the
webhooks it triggered are handled are exactly the start less what Shopify charged. (A rate
of zero would need no argument, but the Shopify system API's bucket model divides by it.)
A quiet period first checks that nothing else draws on the bucket. The spike's points per
shipment are printed beside the idle figure. Shopify's Standard plan refills 100 points a
second: the printout also says how long that plan would need to pay for the spike, since
with real buckets that, not the pipeline, would bound a spike's lag.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import queue
import random
import shutil
import statistics
import threading
import time
from typing import Any

import httpx

from bench.harness import ROOT, percentile
from bench.ingress import redis_server
from bench.orders import (
    AUDIENCE,
    ISSUER,
    group_cpu_seconds,
    machine_cpu_seconds,
    stack_config,
)
from process_apis.orders.fulfillment.settings import FulfillmentSettings
from sandbox.auth.issuer import SigningKeys, mint_token
from sandbox.tryton import DEMO_SKUS, TrytonConsole, build_template
from sandbox.tryton.server import instance_dir
from shared.auth.clients import ClientRegistration
from strata.stack import Part, StackConfig, running

SHOP = "demo-eu.myshopify.com"
INSTANCE = "eu"
BENCH_SCOPES = ("erp:read", "orders:read")
# The change feed's polling interval: the setting's default, set explicitly and stated.
POLL_INTERVAL = FulfillmentSettings().poll_interval
# The feed asks again from this long before its newest change: until it has passed, polls
# still read the spike's shipments.
FEED_OVERLAP = FulfillmentSettings().overlap
WARM_SHIPMENTS = 2
IDLE_SHIPMENTS = 12  # per half: before and after the spike
SPIKE_SHIPMENTS = 200
# Threads shipping the spike, each with its own Tryton session, and the shipments each
# ``do`` call of the spike makes leave (a load of parcels closed at once).
SHIPPERS = 2
SPIKE_CHUNK = 10
# Sales packed per Tryton call while preparing.
PACK_CHUNK = 50
OUT = "stock.shipment.out"
# A bucket no run can empty, refilled so slowly that its whole points are exact (a zero
# rate is refused by the Shopify system API's bucket model, which divides by it).
METERED_BUCKET = 10_000_000.0
METERED_RESTORE = 0.001
METERED_SECONDS = 1 / METERED_RESTORE
# Shopify's Standard plan: the refill a real shop would pay the spike from.
STANDARD_RESTORE_RATE = 100.0
# Long enough for the webhooks a fulfillment triggers to be handled.
SETTLE = 2.0
# How often a wait asks whether its fulfillment exists yet.
POLL = 0.05

TARGETS = {"fulfillment.lag_p99_spike_ratio": 3.0}


@dataclasses.dataclass
class Parcel:
    """One order's shipment, packed; ``returned_at``: when its ``do`` call returned."""

    order_id: int
    erp_order_id: str
    shipment_id: int
    returned_at: float = 0.0


class FulfillmentBench:
    """The measurements, against a running stack."""

    def __init__(self, parts: dict[str, Part], token: str) -> None:
        self.parts = parts
        headers = {"Authorization": f"Bearer {token}"}
        self.sandbox = httpx.Client(
            base_url=parts["shopify-sandbox"].address + "/_sandbox", timeout=30
        )
        self.orders = httpx.Client(base_url=parts["orders"].address, headers=headers, timeout=30)
        self.erp = httpx.Client(
            base_url=parts[f"erp-{INSTANCE}"].address, headers=headers, timeout=60
        )
        env = parts[f"erp-{INSTANCE}"].env
        self.tryton = (
            env["STRATA_ERP_TRYTON_URL"],
            env["STRATA_ERP_TRYTON_DATABASE"],
            env["STRATA_ERP_TRYTON_USER"],
            env["STRATA_ERP_TRYTON_PASSWORD"],
        )
        self.rng = random.Random(20261203)
        self.started = dt.datetime.now(dt.UTC)
        self.metered_at = time.monotonic()

    def close(self) -> None:
        self.sandbox.close()
        self.orders.close()
        self.erp.close()

    def console(self) -> TrytonConsole:
        return TrytonConsole(*self.tryton)

    # -- orders to ship ----------------------------------------------------------------------

    def meter_bucket(self) -> int:
        """Fill the metered bucket to a whole number of points; returns that number.

        It refills at ``METERED_RESTORE``: less than a point in ``METERED_SECONDS``, so within
        a phase that long its whole points (what the sandbox reports) are exactly the start
        less what was charged."""
        start = METERED_BUCKET - 1000
        response = self.sandbox.put(
            f"/shops/{SHOP}/bucket",
            json={
                "maximum_available": METERED_BUCKET,
                "restore_rate": METERED_RESTORE,
                "currently_available": start,
            },
        )
        response.raise_for_status()
        self.metered_at = time.monotonic()
        return int(start)

    def charged(self, start: int) -> int:
        """Points charged since :meth:`meter_bucket` returned ``start``."""
        if time.monotonic() - self.metered_at >= METERED_SECONDS:
            raise RuntimeError("the phase outlasted the metered bucket's exact window")
        response = self.sandbox.get(f"/shops/{SHOP}/bucket")
        response.raise_for_status()
        return start - int(response.json()["currentlyAvailable"])

    def acknowledged_orders(self, count: int) -> list[tuple[int, str]]:
        """``count`` sandbox orders posted to the ERP and acknowledged: (order id, ERP id)."""
        ids = []
        for _ in range(count):
            draft = {
                "email": f"buyer{self.rng.randrange(24)}@example.com",
                "line_items": [{"sku": self.rng.choice(DEMO_SKUS), "quantity": 1}],
            }
            response = self.sandbox.post(f"/shops/{SHOP}/orders", json=draft)
            response.raise_for_status()
            ids.append(int(response.json()["id"]))
        erp_ids: dict[int, str] = {}
        # The ERP posts a few orders a second at best, fewer on a busy machine.
        deadline = time.monotonic() + 120 + 3 * count
        pending = ids
        while pending:
            # Orders are posted about in turn: ask after the first few waiting only, so
            # that asking does not take CPU from the ERP.
            waiting: list[int] = []
            for n, order_id in enumerate(pending):
                erp_order_id = self._acknowledged(order_id)
                if erp_order_id is not None:
                    erp_ids[order_id] = erp_order_id
                    continue
                waiting.append(order_id)
                if len(waiting) == 4:
                    waiting += pending[n + 1 :]
                    break
            pending = waiting
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} orders not acknowledged in time")
            time.sleep(1.0)
        return [(i, erp_ids[i]) for i in ids]

    def _acknowledged(self, order_id: int) -> str | None:
        """The order's ERP id once the pipeline has acknowledged it."""
        response = self.orders.get(f"/orders/v1/orders/{SHOP}/{order_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        status = response.json()
        if status["state"] == "exception":
            raise RuntimeError(f"order {order_id} failed: {status}")
        if any(s["step"] == "acknowledged" for s in status["steps"]):
            return str(status["erp_order_id"])
        return None

    # -- shipping ----------------------------------------------------------------------------

    def pack(self, orders: list[tuple[int, str]]) -> list[Parcel]:
        """Carry each order's shipment up to ``packed``, in one parcel with a DHL tracking
        number, stock forced: what ``sandbox.tryton.ship_sale`` does short of ``do``, for
        many sales per Tryton call."""
        parcels = []
        with self.console() as c:
            [carrier] = c.execute("carrier", "search", [("party.name", "ilike", "DHL")], 0, 1, None)
            box = c.search_one("stock.package.type", [("name", "=", "Box")])
            for first in range(0, len(orders), PACK_CHUNK):
                chunk = orders[first : first + PACK_CHUNK]
                sales = c.execute("sale.sale", "read", [int(e) for _, e in chunk], ["shipments"])
                shipment_of = {str(sale["id"]): sale["shipments"] for sale in sales}
                ids = []
                for order_id, erp_order_id in chunk:
                    if len(shipment_of[erp_order_id]) != 1:
                        raise RuntimeError(f"sale {erp_order_id} has not exactly one shipment")
                    ids.append(int(shipment_of[erp_order_id][0]))
                    parcels.append(Parcel(order_id, erp_order_id, ids[-1]))
                c.execute(OUT, "write", ids, {"carrier": carrier})
                c.execute(OUT, "assign_force", ids)
                c.execute(OUT, "pick", ids)
                rows = c.execute(OUT, "read", ids, ["outgoing_moves"])
                c.execute(
                    "stock.package",
                    "create",
                    [
                        {
                            "shipment": f"{OUT},{row['id']}",
                            "type": box,
                            "shipping_reference": tracking_number(row["id"]),
                            "moves": [("add", row["outgoing_moves"])],
                        }
                        for row in rows
                    ],
                )
                c.execute(OUT, "pack", ids)
        return parcels

    @staticmethod
    def ship(console: TrytonConsole, parcels: list[Parcel]) -> None:
        """The parcels leave: their shipments' ``do`` (one transaction), the ERP's shipments
        done."""
        console.execute(OUT, "do", [p.shipment_id for p in parcels])
        returned = time.time()
        for parcel in parcels:
            parcel.returned_at = returned

    def fulfilled(self, order_id: int) -> bool:
        response = self.sandbox.get(f"/shops/{SHOP}/orders/{order_id}")
        response.raise_for_status()
        return bool(response.json().get("fulfillments"))

    def idle(self, parcels: list[Parcel]) -> int:
        """Ship one parcel at a time; the Shopify points they cost."""
        start = self.meter_bucket()
        with self.console() as console:
            for parcel in parcels:
                time.sleep(self.rng.uniform(0, POLL_INTERVAL))
                self.ship(console, [parcel])
                self.wait_fulfilled([parcel.order_id], timeout=60)
        return self.settled_charge(start)

    def settled_charge(self, start: int) -> int:
        """Points charged, once the webhooks the last fulfillments triggered are handled."""
        time.sleep(SETTLE)
        return self.charged(start)

    def quiet_drift(self) -> int:
        """Points charged over two polling intervals with nothing shipped (should be 0)."""
        start = self.meter_bucket()
        time.sleep(2 * POLL_INTERVAL)
        return self.charged(start)

    def spike(self, parcels: list[Parcel]) -> tuple[int, float]:
        """Ship every parcel at once; (the points they cost, seconds shipping took)."""
        work: queue.SimpleQueue[list[Parcel]] = queue.SimpleQueue()
        for first in range(0, len(parcels), SPIKE_CHUNK):
            work.put(parcels[first : first + SPIKE_CHUNK])
        errors: list[BaseException] = []

        def shipper() -> None:
            try:
                with self.console() as console:
                    while True:
                        try:
                            chunk = work.get_nowait()
                        except queue.Empty:
                            return
                        self.ship(console, chunk)
            except BaseException as exc:  # reported to the main thread
                errors.append(exc)

        start = self.meter_bucket()
        cpu_before = {n: group_cpu_seconds(p) for n, p in self.parts.items()}
        machine = machine_cpu_seconds()
        started = time.monotonic()
        threads = [threading.Thread(target=shipper) for _ in range(SHIPPERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        shipping = time.monotonic() - started
        if errors:
            raise RuntimeError(f"{len(errors)} shippers failed: {errors[0]!r}") from errors[0]
        self.wait_fulfilled([p.order_id for p in parcels], timeout=180)
        elapsed = time.monotonic() - started
        used = {n: (group_cpu_seconds(p) - cpu_before[n]) / elapsed for n, p in self.parts.items()}
        busy = ", ".join(
            f"{n} {v:.2f}" for n, v in sorted(used.items(), key=lambda i: -i[1]) if v >= 0.01
        )
        total = (machine_cpu_seconds() - machine) / elapsed
        print(
            f"   cores busy from the spike's start to its last fulfillment ({elapsed:.1f}s): "
            f"machine {total:.2f}; {busy}",
            flush=True,
        )
        return self.settled_charge(start), shipping

    def wait_fulfilled(self, order_ids: list[int], timeout: float) -> None:
        """Until every order has a fulfillment in the sandbox."""
        deadline = time.monotonic() + timeout
        if len(order_ids) == 1:
            while not self.fulfilled(order_ids[0]):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"order {order_ids[0]} not fulfilled within {timeout}s")
                time.sleep(POLL)
            return
        waiting = set(order_ids)
        while waiting:
            response = self.sandbox.get(f"/shops/{SHOP}/fulfillments")
            response.raise_for_status()
            waiting -= {int(f["order_id"]) for f in response.json()}
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"{len(waiting)} orders not fulfilled within {timeout}s")
            time.sleep(1.0)

    # -- the lags ----------------------------------------------------------------------------

    def lags(self, parcels: list[Parcel]) -> tuple[list[float], list[float]]:
        """(ERP shipment done to fulfillment created, ship call returned to created), seconds."""
        done = self.shipments_done()
        created = self.fulfillments_created()
        lags, after_return = [], []
        for p in parcels:
            end = created[p.order_id]
            lags.append(end - done[p.order_id])
            after_return.append(end - p.returned_at)
        return lags, after_return

    def shipments_done(self) -> dict[int, float]:
        """Order id -> its shipment's ``updated_at`` (epoch seconds), from the change feed."""
        stamps: dict[int, float] = {}
        params: dict[str, str | int] = {"since": self.started.isoformat(), "limit": 200}
        while True:
            response = self.erp.get("/erp/v1/shipments/changes", params=params)
            response.raise_for_status()
            page = response.json()
            for item in page["items"]:
                reference = item.get("external_reference") or ""
                if item["state"] != "done" or item.get("is_return"):
                    continue
                if not reference.startswith(f"shopify:{SHOP}:"):
                    continue
                order_id = int(reference.rpartition(":")[2])
                stamps[order_id] = _epoch(item["updated_at"])
            if not page.get("next_cursor"):
                return stamps
            params = {"cursor": page["next_cursor"], "limit": 200}

    def check_fulfillments(self, parcels: list[Parcel]) -> None:
        """Each shipment became exactly one fulfillment in Shopify, with its tracking number."""
        response = self.sandbox.get(f"/shops/{SHOP}/fulfillments")
        response.raise_for_status()
        made: dict[int, list[dict[str, Any]]] = {}
        for fulfillment in response.json():
            made.setdefault(int(fulfillment["order_id"]), []).append(fulfillment)
        for parcel in parcels:
            found = made.get(parcel.order_id, [])
            numbers = [n for f in found for n in f.get("tracking_numbers") or []]
            if len(found) != 1 or numbers != [tracking_number(parcel.shipment_id)]:
                raise RuntimeError(f"order {parcel.order_id} has fulfillments {found}")

    def fulfillments_created(self) -> dict[int, float]:
        """Order id -> when the sandbox made its fulfillment (its ``fulfillments/create``
        webhook's ``triggered_at``), checked against the fulfillment's ``created_at``."""
        response = self.sandbox.get(
            "/deliveries",
            params={"shop": SHOP, "topic": "fulfillments/create", "include_body": "true"},
        )
        response.raise_for_status()
        triggered: dict[int, tuple[int, float]] = {}
        for delivery in response.json():
            body = json.loads(delivery["body"])
            at = _epoch(delivery["triggered_at"])
            order_id = int(body["order_id"])
            if order_id not in triggered or at < triggered[order_id][1]:
                triggered[order_id] = (int(body["id"]), at)
        listed = self.sandbox.get(f"/shops/{SHOP}/fulfillments")
        listed.raise_for_status()
        seconds = {int(f["id"]): _epoch(f["created_at"]) for f in listed.json()}
        for order_id, (fulfillment_id, at) in triggered.items():
            whole = seconds.get(fulfillment_id)
            if whole is None or not 0 <= int(at) - whole <= 1:
                raise RuntimeError(
                    f"order {order_id}: webhook stamped {at}, fulfillment created {whole}"
                )
        return {order_id: at for order_id, (_, at) in triggered.items()}


def tracking_number(shipment_id: int) -> str:
    return f"JD{shipment_id:010d}"


def _epoch(stamp: str) -> float:
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _summary(name: str, lags: list[float]) -> str:
    return (
        f"{name}: {len(lags)} shipments, lag p50 {statistics.median(lags):.2f}s, "
        f"p99 {percentile(lags, 99):.2f}s, max {max(lags):.2f}s"
    )


def run() -> dict[str, float]:
    data_dir = ROOT / "var" / "bench" / "erp"
    for instance in ("eu", "us"):
        build_template(instance, data_dir)
    log_dir = ROOT / "var" / "log" / "bench-fulfillment"
    keys = SigningKeys.generate()
    client = ClientRegistration(
        client_id="bench", secret_hash="unused", scopes=frozenset(BENCH_SCOPES)
    )
    token = mint_token(keys, client, BENCH_SCOPES, AUDIENCE, 3600, issuer=ISSUER)
    config = stack_config("", data_dir, log_dir, keys)
    config.part_env["orders"] = {
        **config.part_env.get("orders", {}),
        "STRATA_ORDERS_FULFILLMENT_POLL_INTERVAL": str(POLL_INTERVAL),
        # Only the setting-up goes faster: the ERP on SQLite posts most with two in flight.
        "STRATA_ORDERS_ERP_MAX_INFLIGHT": "2",
    }
    try:
        return _measure(config, token)
    finally:
        for instance in ("eu", "us"):
            port = config.ports[f"tryton-{instance}"]
            shutil.rmtree(instance_dir(instance, data_dir) / "runs" / str(port), ignore_errors=True)


def _measure(config: StackConfig, token: str) -> dict[str, float]:
    with (
        redis_server() as redis_url,
        running(dataclasses.replace(config, redis_url=redis_url)) as parts,
    ):
        bench = FulfillmentBench(parts, token)
        try:
            bench.meter_bucket()
            count = WARM_SHIPMENTS + 2 * IDLE_SHIPMENTS + SPIKE_SHIPMENTS
            started = time.monotonic()
            orders = bench.acknowledged_orders(count)
            print(
                f"   {count} orders posted and acknowledged in {time.monotonic() - started:.0f}s",
                flush=True,
            )
            started = time.monotonic()
            parcels = bench.pack(orders)
            print(f"   {count} shipments packed in {time.monotonic() - started:.0f}s", flush=True)
            warm = parcels[:WARM_SHIPMENTS]
            first = parcels[WARM_SHIPMENTS : WARM_SHIPMENTS + IDLE_SHIPMENTS]
            second = parcels[WARM_SHIPMENTS + IDLE_SHIPMENTS : WARM_SHIPMENTS + 2 * IDLE_SHIPMENTS]
            burst = parcels[WARM_SHIPMENTS + 2 * IDLE_SHIPMENTS :]
            bench.idle(warm)
            drift = bench.quiet_drift()
            if drift:
                raise RuntimeError(f"{drift} points charged while nothing was shipped")
            points_before = bench.idle(first)
            points_spike, shipping = bench.spike(burst)
            # Until the feed's overlap has passed the spike's last shipment, polls re-read it.
            time.sleep(FEED_OVERLAP)
            points_after = bench.idle(second)
            bench.check_fulfillments(parcels)
            lag_before, _ = bench.lags(first)
            lag_after, _ = bench.lags(second)
            lag_spike, _ = bench.lags(burst)
            idle_lags, idle_returned = bench.lags(first + second)
        finally:
            bench.close()
    idle_p99 = percentile(idle_lags, 99)
    spike_p99 = percentile(lag_spike, 99)
    idle_points = (points_before + points_after) / (2 * IDLE_SHIPMENTS)
    spike_points = points_spike / SPIKE_SHIPMENTS
    print(f"   change feed polled every {POLL_INTERVAL:g}s (overlap {FEED_OVERLAP:g}s)")
    print("   " + _summary("idle before the spike", lag_before))
    print("   " + _summary("idle after the spike", lag_after))
    print(
        "   "
        + _summary("idle", idle_lags)
        + f"; ship call returned to fulfillment p50 {statistics.median(idle_returned):.2f}s"
    )
    print(
        "   "
        + _summary("spike", lag_spike)
        + f"; Tryton shipped {SPIKE_SHIPMENTS} in {shipping:.1f}s with {SHIPPERS} sessions, "
        f"{SPIKE_CHUNK} a call "
        f"({SPIKE_SHIPMENTS / shipping:.2f}/s)"
    )
    print(
        f"   Shopify points per shipment: idle {idle_points:.2f}, spike {spike_points:.2f} "
        f"(bucket never throttling, no refill); on a Standard bucket (2,000 points, "
        f"{STANDARD_RESTORE_RATE:g}/s) the spike's {points_spike} points take at least "
        f"{max(0.0, points_spike - 2000) / STANDARD_RESTORE_RATE:.1f}s to pay"
    )
    return {
        "fulfillment.lag_p50_s": statistics.median(idle_lags),
        "fulfillment.poll_interval_s": POLL_INTERVAL,
        "fulfillment.shopify_points_per_shipment": idle_points,
        "fulfillment.lag_p99_spike_ratio": spike_p99 / idle_p99,
    }


if __name__ == "__main__":
    print(run())
