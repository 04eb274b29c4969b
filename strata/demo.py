"""``strata demo``: play a scenario against the stack ``strata up`` runs, and prove each step.

It finds the stack through the state file ``strata up`` writes once every part is ready
(``var/stack.json``: each part's name, address and pid, and the Redis URL), then plays:

1. orders in both regions: one order in each demo shop, posted to the ``eu`` and ``us`` ERP;
2. a duplicate: the sandbox delivers the EU order's webhook again; the ingress counts it as a
   duplicate and the ERP still holds one sales order;
3. a forged webhook: a delivery signed with the wrong secret gets a 401 problem document and
   never reaches the pipeline;
4. an ERP outage and recovery: the ``erp-eu`` system API is paused (SIGSTOP), an EU order
   waits and is retried, then the API resumes (SIGCONT, always, Ctrl-C included) and the
   order is posted exactly once;
5. ready tokens: the storefront takes a Shopify session token and the service desk a Zendesk
   signed request, the tokens ``strata up`` prints.

Each step is one live progress line (spinner, elapsed seconds, what it waits for), ending in
``ok`` or ``FAILED`` with the figure that proves it; a summary table follows. The exit status
is 0 only when every step passed (1 otherwise, 2 without a running stack, 130 on Ctrl-C).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.events import ATTEMPT, HISTORY
from strata.stack import (
    DEMO_SHOPS,
    STACK_FILE,
    pid_alive,
    print_tokens,
    ready_tokens,
    shopify_session_token,
    zendesk_token,
)

EU_SHOP, US_SHOP = DEMO_SHOPS
# Where the Shopify ingress appends order webhooks and the orders workers read them (the
# orders process's default ``webhook_stream``); a retried entry is appended there again.
ORDERS_STREAM = "strata:webhooks:{orders}"
CREATE = "orders/create"
DUPLICATES_METRIC = "strata_webhooks_duplicates_total"
REJECTED_METRIC = "strata_shopify_webhooks_rejected_total"
SIGNATURE_INVALID = "webhook-signature-invalid"
FORGED_SECRET = "not-the-shops-secret"  # noqa: S105 - the point: it is the wrong one
SPINNER = "|/-\\"
FINAL_STATES = frozenset({"acknowledged"})


class StackNotFound(Exception):
    """No running stack at the state file (missing, unreadable, or its ``strata up`` died)."""


class StepFailed(Exception):
    """A step's check did not hold; the message is the figure that shows it."""


# -- the running stack -------------------------------------------------------------------------


@dataclass(frozen=True)
class PartState:
    name: str
    address: str
    pid: int | None


@dataclass(frozen=True)
class StackState:
    """What ``strata up`` wrote about the stack it runs."""

    path: Path
    pid: int | None
    redis_url: str
    parts: dict[str, PartState]

    def address(self, name: str) -> str:
        part = self.parts.get(name)
        if part is None:
            raise StepFailed(f"the stack has no part {name!r}")
        return part.address

    def pid_of(self, name: str) -> int:
        part = self.parts.get(name)
        if part is None or part.pid is None:
            raise StepFailed(f"the stack file names no pid for {name!r}")
        return part.pid


def parse_state(text: str, path: Path = STACK_FILE) -> StackState:
    """The stack state file's content, or :class:`StackNotFound` saying what is wrong."""
    try:
        data = json.loads(text)
        parts = {
            str(p["name"]): PartState(
                name=str(p["name"]),
                address=str(p["address"]).rstrip("/"),
                pid=int(p["pid"]) if p.get("pid") is not None else None,
            )
            for p in data["parts"]
        }
        return StackState(
            path=path,
            pid=int(data["pid"]) if data.get("pid") is not None else None,
            redis_url=str(data["redis_url"]),
            parts=parts,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StackNotFound(f"{path} is not a stack state file ({exc})") from None


def load_state(path: Path) -> StackState:
    """The running stack described at ``path``; :class:`StackNotFound` if there is none."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise StackNotFound(
            f"no running stack: {path} does not exist. Start one with `make up` "
            "(or `strata up`) and run `strata demo` once it prints its table."
        ) from None
    state = parse_state(text, path)
    if state.pid is not None and not pid_alive(state.pid):
        raise StackNotFound(
            f"{path} is stale: the `strata up` that wrote it (pid {state.pid}) is gone"
        )
    return state


# -- small pure helpers ------------------------------------------------------------------------


def metric_value(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The sum of ``name``'s samples in Prometheus text whose labels include ``labels``."""
    wanted = (labels or {}).items()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and wanted <= sample.labels.items()
    )


def sign(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.digest(secret.encode(), body, hashlib.sha256)).decode("ascii")


def forged_delivery(
    shop: str, order_id: int, secret: str = FORGED_SECRET
) -> tuple[bytes, dict[str, str]]:
    """An ``orders/create`` delivery for ``shop`` whose HMAC is made with the wrong secret."""
    body = json.dumps(
        {
            "id": order_id,
            "name": "#FORGED",
            "email": "mallory@example.com",
            "currency": "EUR",
            "total_price": "0.01",
            "line_items": [{"sku": "TOTE-NAT", "quantity": 100, "price": "0.01"}],
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": CREATE,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": sign(secret, body),
        "X-Shopify-API-Version": "2026-04",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return body, headers


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def retries_of(
    entries: Iterable[tuple[Any, Mapping[Any, Any]]], shop: str, order_id: str, topic: str = CREATE
) -> tuple[int, str | None]:
    """How often the stream workers retried ``topic`` of the order, and the last error.

    A retried entry goes back on the stream with its attempt count and history, so the
    entries since the order was placed tell the retries even after it was posted.
    """
    retries, error = 0, None
    for _entry_id, raw in entries:
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if fields.get("shop") != shop or fields.get("topic") != topic:
            continue
        try:
            body_id = str(json.loads(fields.get("body", "{}")).get("id", ""))
        except (ValueError, AttributeError):
            continue
        if body_id != order_id or ATTEMPT not in fields:
            continue
        attempt = int(fields[ATTEMPT])
        if attempt >= retries:
            retries = attempt
            with contextlib.suppress(ValueError, LookupError, TypeError):
                error = str(json.loads(fields.get(HISTORY, "[]"))[-1]["error"])
    return retries, error


def stream_id_at(epoch: float) -> str:
    """The smallest stream entry id at or after ``epoch`` (seconds)."""
    return f"{int(epoch * 1000)}-0"


def posted_count(status: Mapping[str, Any]) -> int:
    """How many times the pipeline recorded a posting of the order."""
    return sum(1 for step in status.get("steps", []) if step.get("step") == "posted")


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def cause(error: str, width: int = 40) -> str:
    """The gist of a retry's error: ``erp eu create order: timed out (X)`` -> ``timed out (X)``."""
    return shorten(error.rpartition(": ")[2] or error, width)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


# -- progress and summary ----------------------------------------------------------------------


@dataclass
class StepResult:
    number: int
    name: str
    passed: bool
    evidence: str
    seconds: float


def progress_line(number: int, name: str, frame: str, seconds: float, detail: str) -> str:
    """The live line of a running step."""
    line = f"{number}. {name:<28} {frame} {seconds:5.1f}s"
    return f"{line}  {detail}" if detail else line


def final_line(result: StepResult) -> str:
    verdict = "ok" if result.passed else "FAILED"
    return (
        f"{result.number}. {result.name:<28} {verdict:<6} {result.seconds:5.1f}s  {result.evidence}"
    )


def summary_table(results: list[StepResult], planned: int | None = None) -> str:
    """The closing table: step, result, evidence, seconds; and the verdict.

    ``planned`` is how many steps the scenario has; fewer results mean it was interrupted.
    """
    rows = [("step", "result", "evidence", "seconds")]
    for r in results:
        verdict = "passed" if r.passed else "FAILED"
        rows.append((f"{r.number}. {r.name}", verdict, r.evidence, f"{r.seconds:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for i, row in enumerate(rows):
        lines.append(
            f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  "
            f"{row[3]:>7}".rstrip()
        )
        if i == 0:
            lines.append("  " + "-" * (sum(widths) + 4 + 2 + 9))
    passed = sum(r.passed for r in results)
    total_s = sum(r.seconds for r in results)
    planned = len(results) if planned is None else planned
    if len(results) < planned:
        verdict = f"INTERRUPTED after {len(results)} steps"
    elif passed == planned:
        verdict = "every step passed"
    else:
        verdict = "SOME STEPS FAILED"
    lines.append(f"\n  {passed}/{planned} steps passed in {total_s:.1f}s: {verdict}")
    return "\n".join(lines)


class StepLine:
    """One step's progress line: redrawn in place on a terminal, notes as lines elsewhere."""

    def __init__(self, out: TextIO, number: int, name: str, *, live: bool) -> None:
        self.out = out
        self.number = number
        self.name = name
        self.live = live
        self.started = time.monotonic()
        self.detail = ""
        self._said = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._frames = itertools.cycle(SPINNER)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __enter__(self) -> StepLine:
        if self.live:
            self._draw()
            self._thread = threading.Thread(target=self._spin, daemon=True)
            self._thread.start()
        else:
            self.out.write(f"{self.number}. {self.name} ...\n")
            self.out.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def note(self, detail: str, countdown: str = "") -> None:
        """Say what the step is at now (what it waits for, the figure so far).

        On a terminal the line shows ``detail`` and ``countdown``; elsewhere each new
        ``detail`` is a line of its own (a countdown alone would only repeat it).
        """
        with self._lock:
            changed = detail != self._said
            self._said = detail
            self.detail = f"{detail}; {countdown}" if countdown else detail
            if changed and not self.live:
                self.out.write(f"   {self.elapsed:5.1f}s  {detail}\n")
                self.out.flush()

    def _spin(self) -> None:
        while not self._stop.wait(0.1):
            self._draw()

    def _draw(self) -> None:
        with self._lock:
            width = max(40, _columns() - 1)
            line = progress_line(
                self.number, self.name, next(self._frames), self.elapsed, self.detail
            )
            self.out.write("\r\x1b[2K" + shorten(line, width))
            self.out.flush()

    def finish(self, result: StepResult) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            text = final_line(result)
            if self.live:
                colour = "\x1b[32m" if result.passed else "\x1b[31m"
                verdict = "ok" if result.passed else "FAILED"
                text = text.replace(f" {verdict} ", f" {colour}{verdict}\x1b[0m ", 1)
                self.out.write("\r\x1b[2K" + text + "\n")
            else:
                self.out.write(text + "\n")
            self.out.flush()


def _columns() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 100


# -- the scenario ------------------------------------------------------------------------------


@dataclass
class Options:
    timeout: float = 60.0
    outage: float = 10.0
    poll: float = 0.25


@dataclass
class Order:
    shop: str
    id: str
    name: str
    instance: str | None = None
    erp_id: str | None = None
    erp_number: str | None = None


@dataclass
class Demo:
    state: StackState
    options: Options
    http: httpx.Client
    token: str
    redis: Any
    orders: dict[str, Order] = field(default_factory=dict)

    # -- calls --

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, part: str, path: str) -> str:
        return self.state.address(part) + path

    def create_order(self, shop: str, sku: str, email: str) -> Order:
        response = self.http.post(
            self.url("shopify-sandbox", f"/_sandbox/shops/{shop}/orders"),
            json={"email": email, "line_items": [{"sku": sku, "quantity": 1}]},
        )
        if not response.is_success:
            raise StepFailed(f"the sandbox refused the order: {response.status_code}")
        body = response.json()
        return Order(shop=shop, id=str(body["id"]), name=str(body.get("name") or body["id"]))

    def status(self, order: Order) -> dict[str, Any] | None:
        response = self.http.get(
            self.url("orders", f"/orders/v1/orders/{order.shop}/{order.id}"), headers=self.auth
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise StepFailed(f"orders API answered {response.status_code} for {order.name}")
        body: dict[str, Any] = response.json()
        return body

    def erp_order(self, instance: str, order: Order) -> dict[str, Any] | None:
        reference = f"shopify:{order.shop}:{order.id}"
        response = self.http.get(
            self.url(f"erp-{instance}", f"/erp/v1/sales-orders/by-reference/{reference}"),
            headers=self.auth,
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise StepFailed(f"erp-{instance} answered {response.status_code} for {reference}")
        body: dict[str, Any] = response.json()
        return body

    def metric(self, part: str, name: str, labels: Mapping[str, str]) -> float:
        response = self.http.get(self.url(part, "/metrics"))
        response.raise_for_status()
        return metric_value(response.text, name, labels)

    def stream_since(self, since: float) -> list[tuple[Any, Mapping[Any, Any]]]:
        entries: list[tuple[Any, Mapping[Any, Any]]] = self.redis.xrange(
            ORDERS_STREAM, min=stream_id_at(since), max="+", count=1000
        )
        return entries

    # -- waiting --

    def wait(
        self,
        line: StepLine,
        check: Callable[[], Any],
        describe: Callable[[], str],
        *,
        timeout: float | None = None,
        countdown: Callable[[], str] | None = None,
    ) -> Any:
        """Poll ``check`` until it returns something truthy, noting ``describe()`` meanwhile."""
        deadline = time.monotonic() + (self.options.timeout if timeout is None else timeout)
        while True:
            result = check()
            if result:
                return result
            line.note(describe(), countdown() if countdown is not None else "")
            if time.monotonic() >= deadline:
                raise StepFailed(f"timed out: {describe()}")
            time.sleep(self.options.poll)

    def until_acknowledged(self, line: StepLine, orders: list[Order]) -> dict[str, dict[str, Any]]:
        seen: dict[str, dict[str, Any] | None] = {o.id: None for o in orders}

        def check() -> bool:
            for order in orders:
                current = self.status(order)
                seen[order.id] = current
                if current is not None and current.get("state") == "exception":
                    raise StepFailed(
                        f"{order.name} became an exception: {current.get('exception_id')}"
                    )
            return all(s is not None and s.get("state") in FINAL_STATES for s in seen.values())

        def describe() -> str:
            return ", ".join(
                f"{o.name} {(seen[o.id] or {}).get('state', 'not yet received')}" for o in orders
            )

        self.wait(line, check, describe)
        return {k: v for k, v in seen.items() if v is not None}


def step_regions(demo: Demo, line: StepLine) -> str:
    """One order in each demo shop; each is posted to its region's ERP with a reference."""
    expected = {EU_SHOP: "eu", US_SHOP: "us"}
    orders = [
        demo.create_order(EU_SHOP, "TOTE-NAT", "ada@example.com"),
        demo.create_order(US_SHOP, "MUG-STONE-350", "grace@example.com"),
    ]
    line.note(f"placed {orders[0].name} in {EU_SHOP} and {orders[1].name} in {US_SHOP}")
    statuses = demo.until_acknowledged(line, orders)
    figures = []
    for order in orders:
        status = statuses[order.id]
        instance = status.get("erp_instance")
        number = status.get("erp_order_number") or status.get("erp_order_id")
        if instance != expected[order.shop]:
            raise StepFailed(f"{order.name} of {order.shop} went to {instance!r}")
        if not number:
            raise StepFailed(f"{order.name} is acknowledged without an ERP reference")
        order.instance, order.erp_id, order.erp_number = instance, status["erp_order_id"], number
        demo.orders[expected[order.shop]] = order
        figures.append(f"{order.shop.split('.')[0]} {order.name} -> {instance} SO {number}")
    return "; ".join(figures)


def _create_delivery(demo: Demo, order: Order) -> dict[str, Any] | None:
    response = demo.http.get(
        demo.url("shopify-sandbox", "/_sandbox/deliveries"),
        params={"shop": order.shop, "topic": CREATE, "include_body": "true"},
    )
    response.raise_for_status()
    for delivery in response.json():
        if delivery.get("duplicate_of"):
            continue
        with contextlib.suppress(ValueError, AttributeError):
            if str(json.loads(delivery.get("body", "{}")).get("id")) == order.id:
                found: dict[str, Any] = delivery
                return found
    return None


def _delivery(demo: Demo, shop: str, sequence: int) -> dict[str, Any] | None:
    response = demo.http.get(
        demo.url("shopify-sandbox", "/_sandbox/deliveries"), params={"shop": shop, "topic": CREATE}
    )
    response.raise_for_status()
    for delivery in response.json():
        if delivery.get("sequence") == sequence:
            found: dict[str, Any] = delivery
            return found
    return None


def step_duplicate(demo: Demo, line: StepLine) -> str:
    """The sandbox delivers the EU order's webhook again; still one sales order."""
    order = demo.orders.get("eu")
    if order is None:
        raise StepFailed("needs the EU order of step 1")
    original = _create_delivery(demo, order)
    if original is None:
        raise StepFailed(f"the sandbox logged no orders/create delivery of {order.name}")
    labels = {"topic": CREATE}
    before = demo.metric("shopify", DUPLICATES_METRIC, labels)
    response = demo.http.post(
        demo.url("shopify-sandbox", f"/_sandbox/deliveries/{original['webhook_id']}/redeliver"),
        json={"count": 1, "keep_webhook_id": True},
    )
    if response.status_code >= 300:
        raise StepFailed(f"the sandbox refused to redeliver: {response.status_code}")
    copy_sequence = int(response.json()[0]["sequence"])
    line.note(f"redelivered the orders/create of {order.name} (event {original['event_id'][:8]})")
    copy: dict[str, Any] = demo.wait(
        line,
        lambda: (d := _delivery(demo, order.shop, copy_sequence)) and d["state"] != "queued" and d,
        lambda: "waiting for the sandbox to deliver the copy",
    )
    statuses = [a.get("status") for a in copy.get("attempts", [])]
    if copy["state"] != "delivered":
        raise StepFailed(f"the copy was not taken: {copy['state']} {statuses}")
    after = demo.wait(
        line,
        lambda: (v := demo.metric("shopify", DUPLICATES_METRIC, labels)) > before and v,
        lambda: f"{DUPLICATES_METRIC} still {before:.0f}",
        timeout=10,
    )
    status = demo.status(order) or {}
    if status.get("erp_order_id") != order.erp_id or posted_count(status) != 1:
        raise StepFailed(
            f"pipeline shows ERP order {status.get('erp_order_id')} posted "
            f"{posted_count(status)} times (was {order.erp_id}, once)"
        )
    erp = demo.erp_order("eu", order)
    if erp is None or str(erp.get("id")) != order.erp_id:
        raise StepFailed(
            f"erp-eu holds {erp and erp.get('id')} for {order.name}, not {order.erp_id}"
        )
    return (
        f"copy answered {statuses[-1]}, duplicates {before:.0f} -> {after:.0f}; "
        f"still 1 sales order, eu SO {order.erp_number}"
    )


def step_forged(demo: Demo, line: StepLine) -> str:
    """A delivery signed with the wrong secret: 401 problem+json, nothing in the pipeline."""
    order_id = int(time.time() * 1000) % 10**12 + 9 * 10**12
    body, headers = forged_delivery(EU_SHOP, order_id)
    labels = {"reason": SIGNATURE_INVALID}
    before = demo.metric("shopify", REJECTED_METRIC, labels)
    line.note(f"POST /shopify/v1/webhooks for order {order_id}, HMAC of the wrong secret")
    response = demo.http.post(
        demo.url("shopify", "/shopify/v1/webhooks"), content=body, headers=headers
    )
    content_type = response.headers.get("content-type", "")
    if response.status_code != 401 or "application/problem+json" not in content_type:
        raise StepFailed(f"the ingress answered {response.status_code} {content_type}")
    problem = response.json()
    problem_type = str(problem.get("type", ""))
    if not problem_type.endswith(SIGNATURE_INVALID):
        raise StepFailed(f"401 of another type: {problem_type}")
    after = demo.metric("shopify", REJECTED_METRIC, labels)
    if after <= before:
        raise StepFailed(f"{REJECTED_METRIC}{{reason={SIGNATURE_INVALID}}} stayed {before:.0f}")
    time.sleep(0.5)  # had it been taken, the worker would have recorded it by now
    forged = Order(shop=EU_SHOP, id=str(order_id), name=f"forged {order_id}")
    if demo.status(forged) is not None:
        raise StepFailed(f"the forged order {order_id} entered the pipeline")
    return (
        f"401 problem+json {SIGNATURE_INVALID}; rejected {before:.0f} -> {after:.0f}; "
        "not in the pipeline"
    )


@contextlib.contextmanager
def paused(pgid: int) -> Iterator[None]:
    """Stop the process group ``pgid`` (SIGSTOP) and always continue it (SIGCONT) on exit.

    Ctrl-C and SIGTERM are held back while it stops and continues, so neither can leave the
    group stopped; they are handled as soon as it runs again.
    """
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        os.killpg(pgid, signal.SIGSTOP)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGCONT)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def resume_erp(state: StackState) -> None:
    """Continue erp-eu, in case a demo killed outright (SIGKILL) left it paused."""
    part = state.parts.get("erp-eu")
    if part is not None and part.pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(part.pid, signal.SIGCONT)


def _answers(demo: Demo, part: str) -> bool:
    try:
        return demo.http.get(demo.url(part, "/health/ready"), timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def step_outage(demo: Demo, line: StepLine) -> str:
    """erp-eu paused: an EU order waits and is retried; resumed: posted exactly once."""
    pgid = demo.state.pid_of("erp-eu")
    if not pid_alive(pgid):
        raise StepFailed(f"erp-eu (pid {pgid}) is not running")
    since = time.time() - 1
    state, retries, error = "not yet received", 0, None
    with paused(pgid):
        line.note("erp-eu paused (SIGSTOP)")
        if _answers(demo, "erp-eu"):
            raise StepFailed("erp-eu still answers while paused")
        order = demo.create_order(EU_SHOP, "BEANIE-CHR", "katherine@example.com")
        started = time.monotonic()

        def over() -> bool:
            # The outage lasts its length, and until the pipeline has retried at least once.
            nonlocal state, retries, error
            status = demo.status(order) or {}
            state = status.get("state", "not yet received")
            if posted_count(status):
                raise StepFailed(f"{order.name} was posted while erp-eu was paused")
            retries, error = retries_of(demo.stream_since(since), order.shop, order.id)
            return time.monotonic() - started >= demo.options.outage and retries > 0

        def describe() -> str:
            said = f"{order.name} {state}, {plural(retries, 'retry', 'retries')}"
            return f"{said} ({cause(error)})" if error else said

        def left() -> str:
            remaining = demo.options.outage - (time.monotonic() - started)
            return f"erp-eu back in {remaining:.0f}s" if remaining > 0 else ""

        timeout = demo.options.outage + demo.options.timeout
        demo.wait(line, over, describe, timeout=timeout, countdown=left)
        during = f"paused {time.monotonic() - started:.0f}s: {describe()}"
    line.note("erp-eu resumed (SIGCONT)")
    resumed = time.monotonic()
    status = demo.until_acknowledged(line, [order])[order.id]
    recovered = time.monotonic() - resumed
    if status.get("erp_instance") != "eu":
        raise StepFailed(f"{order.name} went to {status.get('erp_instance')!r}, not eu")
    if posted_count(status) != 1:
        raise StepFailed(f"{order.name} was posted {posted_count(status)} times")
    erp = demo.erp_order("eu", order)
    if erp is None or str(erp.get("id")) != status.get("erp_order_id"):
        raise StepFailed(f"erp-eu holds {erp and erp.get('id')} for {order.name}")
    number = status.get("erp_order_number") or status.get("erp_order_id")
    demo.orders["outage"] = order
    return f"{during}; resumed: posted once, eu SO {number}, {recovered:.1f}s later"


def step_tokens(demo: Demo, line: StepLine) -> str:
    """The storefront takes a Shopify session token, the service desk a Zendesk token."""
    order = demo.orders.get("eu")
    if order is None:
        raise StepFailed("needs the EU order of step 1")
    line.note(f"storefront: status of {order.name} with a Shopify session token")
    storefront = demo.http.get(
        demo.url("storefront", f"/storefront/v1/orders/{order.id}/status"),
        headers={"Authorization": f"Bearer {shopify_session_token(order.shop, 300)}"},
    )
    if storefront.status_code != 200:
        raise StepFailed(f"storefront answered {storefront.status_code}: {storefront.text[:120]}")
    line.note(f"service desk: context of {order.name} with a Zendesk token")
    desk = demo.http.get(
        demo.url("service-desk", f"/service-desk/v1/orders/{order.shop}/{order.id}/context"),
        headers={"Authorization": f"Bearer {zendesk_token(lifetime=300)}"},
    )
    if desk.status_code != 200:
        raise StepFailed(f"service desk answered {desk.status_code}: {desk.text[:120]}")
    erp = desk.json().get("erp") or {}
    if str(erp.get("number") or erp.get("id")) != order.erp_number:
        raise StepFailed(f"service desk shows ERP {erp} for {order.name}, not {order.erp_number}")
    return (
        f"storefront 200 '{storefront.json().get('status')}' (Shopify session token); "
        f"service desk 200, SO {order.erp_number} (Zendesk token)"
    )


STEPS: tuple[tuple[str, Callable[[Demo, StepLine], str]], ...] = (
    ("orders in both regions", step_regions),
    ("a duplicate webhook", step_duplicate),
    ("a forged webhook", step_forged),
    ("ERP outage and recovery", step_outage),
    ("ready tokens", step_tokens),
)


def play(demo: Demo, out: TextIO, results: list[StepResult], *, live: bool) -> None:
    """Run every step in order into ``results``; after a failed step the next still runs."""
    for number, (name, step) in enumerate(STEPS, start=1):
        with StepLine(out, number, name, live=live) as line:
            try:
                evidence, passed = step(demo, line), True
            except StepFailed as exc:
                evidence, passed = str(exc), False
            except Exception as exc:  # a surprise (a refused call, Redis) fails the step only
                evidence, passed = f"{type(exc).__name__}: {exc}", False
            result = StepResult(number, name, passed, evidence, line.elapsed)
            line.finish(result)
        results.append(result)


# -- the command -------------------------------------------------------------------------------


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``strata demo``: 0 when every step passed, 1 otherwise, 2 with no stack, 130 on Ctrl-C."""
    stream = out or sys.stdout
    try:
        state = load_state(args.stack)
    except StackNotFound as exc:
        print(f"strata demo: {exc}", file=sys.stderr)
        return 2
    addresses = {name: part.address for name, part in state.parts.items()}
    if args.tokens:
        print_tokens(ready_tokens(addresses))
        return 0
    options = Options(timeout=args.timeout, outage=args.outage)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    import redis

    client = redis.Redis.from_url(state.redis_url, socket_timeout=5, socket_connect_timeout=2)
    live = stream.isatty()
    results: list[StepResult] = []
    try:
        with httpx.Client(timeout=15.0, trust_env=False) as http:
            from strata.stack import operator_token

            token, _ = operator_token(state.address("auth"))
            demo = Demo(state=state, options=options, http=http, token=token, redis=client)
            resume_erp(state)
            stream.write(f"Playing the demo against the stack of {state.path}\n\n")
            stream.flush()
            play(demo, stream, results, live=live)
    except KeyboardInterrupt:
        stream.write("\n\nInterrupted (whatever the demo paused runs again).\n")
        if results:
            stream.write(summary_table(results, len(STEPS)) + "\n")
        return 130
    except (httpx.HTTPError, StepFailed) as exc:
        print(f"strata demo: cannot drive the stack: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        client.close()
    stream.write("\nSummary\n\n" + summary_table(results, len(STEPS)) + "\n")
    stream.flush()
    return 0 if results and all(r.passed for r in results) else 1
