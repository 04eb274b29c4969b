"""The demo scenario's steps, each proving one promise of the stack with a figure.

1. orders in both regions: one order in each demo shop, posted to the ``eu`` and ``us`` ERP;
2. a duplicate: the sandbox delivers the EU order's webhook again; the ingress counts it as a
   duplicate and the ERP still holds one sales order;
3. a forged webhook: a delivery signed with the wrong secret gets a 401 problem document and
   never reaches the pipeline;
4. an ERP outage and recovery: the ``erp-eu`` system API is paused (SIGSTOP), an EU order
   waits and is retried, then the API resumes (SIGCONT, always, Ctrl-C included) and the
   order is posted exactly once;
5. shipped with tracking: the EU warehouse ships the EU order in the demo ERP with a
   tracking number; the orders process follows the ERP's shipments and the order becomes a
   Shopify fulfillment carrying it, once;
6. ready tokens: the storefront takes a Shopify session token and the service desk a Zendesk
   signed request, the tokens ``strata up`` prints.

A step returns its evidence or raises :class:`~strata.demo.failures.StepFailed`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import httpx

from sandbox.shopify.webhooks import sign
from sandbox.tryton import TrytonConsole, admin_credentials, ship_sale
from sandbox.tryton.server import database_name
from shared.streams import ORDERS_CREATE
from strata.demo.console import StepLine, StepResult, cause, plural
from strata.demo.evidence import posted_count, retries_of
from strata.demo.failures import StepFailed
from strata.demo.scenario import Demo, Order
from strata.demo.state import StackState
from strata.stack.parts import DEMO_SHOPS
from strata.stack.processes import pid_alive
from strata.stack.tokens import shopify_session_token, zendesk_token

EU_SHOP, US_SHOP = DEMO_SHOPS
DUPLICATES_METRIC = "strata_webhooks_duplicates_total"
REJECTED_METRIC = "strata_shopify_webhooks_rejected_total"
SIGNATURE_INVALID = "webhook-signature-invalid"
FORGED_SECRET = "not-the-shops-secret"  # noqa: S105 - the point: it is the wrong one


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
        "X-Shopify-Topic": ORDERS_CREATE,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": sign(secret, body),
        "X-Shopify-API-Version": "2026-04",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return body, headers


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
        params={"shop": order.shop, "topic": ORDERS_CREATE, "include_body": "true"},
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
        demo.url("shopify-sandbox", "/_sandbox/deliveries"),
        params={"shop": shop, "topic": ORDERS_CREATE},
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
    labels = {"topic": ORDERS_CREATE}
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


def step_shipped(demo: Demo, line: StepLine) -> str:
    """The EU order ships from the ERP with a tracking number and becomes one Shopify
    fulfillment carrying it."""
    order = demo.orders.get("eu")
    if order is None or order.erp_id is None:
        raise StepFailed("needs the EU order of step 1")
    if demo.state.erp_data_dir is None:
        raise StepFailed("the stack state names no ERP data directory (restart `make up`)")
    tracking = f"JD{uuid.uuid4().int % 10**16:016d}"
    credentials = admin_credentials("eu", demo.state.erp_data_dir)
    line.note(f"the EU warehouse ships {order.name} (SO {order.erp_number}), DHL {tracking}")
    started = time.monotonic()
    with TrytonConsole(
        demo.state.address("tryton-eu"),
        database_name("eu"),
        credentials.user,
        credentials.password,
    ) as console:
        shipped = ship_sale(
            console,
            int(order.erp_id),
            force=True,
            packages=[{"carrier": "DHL", "tracking": tracking}],
        )
    if not shipped:
        raise StepFailed(f"SO {order.erp_number} had nothing open to ship")

    def fulfillments() -> list[dict[str, Any]]:
        response = demo.http.get(
            demo.url("shopify-sandbox", f"/_sandbox/shops/{order.shop}/orders/{order.id}")
        )
        response.raise_for_status()
        made: list[dict[str, Any]] = response.json().get("fulfillments", [])
        return [f for f in made if tracking in (f.get("tracking_numbers") or [])]

    made = demo.wait(
        line,
        fulfillments,
        lambda: f"waiting for {order.name}'s fulfillment in Shopify",
    )
    if len(made) != 1:
        raise StepFailed(f"{order.name} has {len(made)} fulfillments carrying {tracking}")
    took = time.monotonic() - started
    return (
        f"SO {order.erp_number} shipped (DHL {tracking}) -> Shopify fulfillment "
        f"{made[0].get('name')} in {took:.1f}s, once"
    )


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
    ("shipped with tracking", step_shipped),
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
