"""The demo's driver: the calls a step makes against the running stack, and its waiting.

:class:`Demo` places orders in the Shopify sandbox, reads their pipeline status from the
orders API, their sales orders from an ERP system API, a part's metrics, and the orders
stream in Redis; :meth:`Demo.wait` polls a check while the step's line says what it waits for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.streams import ORDERS, WebhookStreams
from strata.demo.console import StepLine
from strata.demo.evidence import metric_value, stream_id_at
from strata.demo.failures import StepFailed
from strata.demo.state import StackState

# Where the Shopify ingress appends order webhooks and the orders workers read them (the
# orders process's default stream); a retried entry is appended there again.
ORDERS_STREAM = WebhookStreams().stream(ORDERS)
FINAL_STATES = frozenset({"acknowledged"})


@dataclass
class Options:
    """How long a step waits for the stack, how long the ERP outage lasts, how often it polls."""

    timeout: float = 60.0
    outage: float = 10.0
    poll: float = 0.25


@dataclass
class Order:
    """An order the demo placed in a sandbox shop, and where the pipeline posted it."""

    shop: str
    id: str
    name: str
    instance: str | None = None
    erp_id: str | None = None
    erp_number: str | None = None


@dataclass
class Demo:
    """The running stack, driven with the operator's token, and the orders placed so far."""

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
        """``path`` at part ``part`` of the stack."""
        return self.state.address(part) + path

    def create_order(self, shop: str, sku: str, email: str) -> Order:
        """Place an order of one ``sku`` in the sandbox shop, which sends its webhooks."""
        response = self.http.post(
            self.url("shopify-sandbox", f"/_sandbox/shops/{shop}/orders"),
            json={"email": email, "line_items": [{"sku": sku, "quantity": 1}]},
        )
        if not response.is_success:
            raise StepFailed(f"the sandbox refused the order: {response.status_code}")
        body = response.json()
        return Order(shop=shop, id=str(body["id"]), name=str(body.get("name") or body["id"]))

    def status(self, order: Order) -> dict[str, Any] | None:
        """The order's pipeline status from the orders API; None before it arrives."""
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
        """The sales order the ERP ``instance`` holds for ``order``; None if it holds none."""
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
        """The value of metric ``name`` with ``labels`` at part ``part``."""
        response = self.http.get(self.url(part, "/metrics"))
        response.raise_for_status()
        return metric_value(response.text, name, labels)

    def stream_since(self, since: float) -> list[tuple[Any, Mapping[Any, Any]]]:
        """The orders stream's entries since ``since`` (epoch seconds), at most 1000."""
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
        """Wait until every order is acknowledged; their statuses by order id."""
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
