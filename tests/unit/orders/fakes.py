"""In-memory stand-ins for the orders service's stores and clients (unit tests of the service;
integration tests use Redis and the system APIs). Each records what it was asked to do."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import msgspec

from process_apis.orders.changes import line_changes, quantities
from process_apis.orders.downstream import (
    AlreadyShipped,
    NotAmendable,
    NothingToReturn,
    Rejected,
)
from process_apis.orders.ports import AmendedOrder, OrderLockLost, ShippedReturn
from process_apis.orders.schemas import ExceptionState, OrderException, OrderStatus, PipelineStep
from shared.models import (
    Money,
    OrderLine,
    ReturnLine,
    SalesOrder,
    SalesOrderDraft,
    Shipment,
    ShipmentLine,
    ShipmentRecord,
)
from shared.models import OrderStatus as ErpOrderStatus
from shared.streams import ShipmentChange, StreamEntry


class FakeFences:
    """Per-order fencing counters, shared by the fake locks and the fake pipeline (in Redis
    both read the same key)."""

    def __init__(self) -> None:
        self.newest: dict[tuple[str, str], int] = {}

    def draw(self, shop: str, order_id: str) -> int:
        """A token larger than every one drawn before for the order."""
        token = self.newest.get((shop, order_id), 0) + 1
        self.newest[(shop, order_id)] = token
        return token


class FakePipeline:
    """Summaries and steps per order, as ``PipelineStore`` keeps them; a record made under a
    fencing token older than the newest drawn is refused with ``OrderLockLost``."""

    def __init__(self, fences: FakeFences | None = None) -> None:
        self.summaries: dict[tuple[str, str], dict[str, str]] = {}
        self.history: dict[tuple[str, str], list[PipelineStep]] = {}
        self.fences = fences or FakeFences()
        self.refused: list[tuple[str, str, str, int]] = []

    async def record(
        self,
        shop: str,
        order_id: str,
        step: str,
        *,
        state: str | None = None,
        detail: str | None = None,
        fence: int | None = None,
        **fields: str,
    ) -> None:
        if fence is not None and fence < self.fences.newest.get((shop, order_id), 0):
            self.refused.append((shop, order_id, step, fence))
            raise OrderLockLost(f"{shop} {order_id}: {step!r} under stale token {fence}")
        now = time.time()
        summary = self.summaries.setdefault((shop, order_id), {"received_at": str(now)})
        summary.update(shop=shop, order_id=order_id, updated_at=str(now), **fields)
        if state is not None:
            summary["state"] = state
        self.history.setdefault((shop, order_id), []).append(
            PipelineStep(step=step, at=now, detail=detail)
        )

    async def summary(self, shop: str, order_id: str) -> dict[str, str]:
        return dict(self.summaries.get((shop, order_id), {}))

    async def status(self, shop: str, order_id: str) -> OrderStatus | None:
        fields = self.summaries.get((shop, order_id))
        if fields is None:
            return None
        return OrderStatus(
            shop=shop,
            order_id=order_id,
            state=fields.get("state", "received"),
            erp_instance=fields.get("erp_instance"),
            erp_order_id=fields.get("erp_order_id"),
            erp_order_number=fields.get("erp_order_number"),
            correlation_id=fields.get("correlation_id"),
            exception_id=fields.get("exception_id"),
            received_at=float(fields["received_at"]),
            updated_at=float(fields["updated_at"]),
            steps=list(self.history[(shop, order_id)]),
        )

    def steps(self, shop: str, order_id: str) -> list[str]:
        """The names of the order's steps, in order."""
        return [s.step for s in self.history.get((shop, order_id), [])]

    def state(self, shop: str, order_id: str) -> str | None:
        return self.summaries.get((shop, order_id), {}).get("state")


class FakeExceptions:
    """Exception records by id, reopened with their history like ``ExceptionStore``'s."""

    def __init__(self) -> None:
        self.records: dict[str, OrderException] = {}

    async def get(self, ex_id: str) -> OrderException | None:
        return self.records.get(ex_id)

    async def open(self, record: OrderException) -> OrderException:
        previous = self.records.get(record.id)
        if previous is not None:
            record = msgspec.structs.replace(
                record,
                created_at=previous.created_at,
                retry_history=[*previous.retry_history, *record.retry_history],
                replays=previous.replays,
            )
        self.records[record.id] = record
        return record

    async def mark(self, ex_id: str, state: ExceptionState) -> OrderException | None:
        record = self.records.get(ex_id)
        if record is None:
            return None
        record = msgspec.structs.replace(
            record,
            state=state,
            updated_at=time.time(),
            replays=record.replays + (1 if state == "replayed" else 0),
        )
        self.records[ex_id] = record
        return record

    async def page(
        self,
        *,
        state: ExceptionState | None,
        shop: str | None,
        kind: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[OrderException], int]:
        found = [
            r
            for r in self.records.values()
            if (state is None or r.state == state)
            and (shop is None or r.shop == shop)
            and (kind is None or r.kind == kind)
        ]
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[offset : offset + limit], len(found)


class FakeLocks:
    """Records every lock taken, which are held right now, and the fencing token of each.

    :meth:`lose` plays the lease running out under the holder while another worker takes
    the lock: a newer token is drawn, so the holder's later records are refused. ``refuse``
    makes taking a lock raise it (``Conflict`` for a lock held elsewhere past the wait,
    ``ServiceUnavailable`` for a lock store out of reach), as ``RedisOrderLocks`` does.
    """

    def __init__(self, fences: FakeFences | None = None) -> None:
        self.taken: list[tuple[str, str]] = []
        self.held: set[tuple[str, str]] = set()
        self.tokens: list[int] = []
        self.fences = fences or FakeFences()
        self.refuse: Exception | None = None

    @contextlib.asynccontextmanager
    async def hold(self, shop: str, order_id: str) -> AsyncIterator[int]:
        if self.refuse is not None:
            raise self.refuse
        assert (shop, order_id) not in self.held, "the order's lock is held already"
        self.taken.append((shop, order_id))
        self.held.add((shop, order_id))
        token = self.fences.draw(shop, order_id)
        self.tokens.append(token)
        try:
            yield token
        finally:
            self.held.discard((shop, order_id))

    def lose(self, shop: str, order_id: str) -> int:
        """Another worker takes the order's lock: the newer token it draws."""
        return self.fences.draw(shop, order_id)


class FakeAcknowledgements:
    """The orders awaiting acknowledgement, and every acknowledgement."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str], float] = {}
        self.done: list[tuple[str, str]] = []

    async def awaiting(self, shop: str, order_id: str) -> None:
        self.waiting.setdefault((shop, order_id), time.time())

    async def acknowledged(self, shop: str, order_id: str) -> None:
        self.waiting.pop((shop, order_id), None)
        self.done.append((shop, order_id))


class FakeCustomerIndex:
    """Every order indexed, in order."""

    def __init__(self) -> None:
        self.added: list[tuple[str, str, SalesOrderDraft]] = []

    async def add(self, shop: str, order_id: str, draft: SalesOrderDraft) -> None:
        self.added.append((shop, order_id, draft))


class FakeOrderStream:
    """Every entry appended, typed."""

    def __init__(self) -> None:
        self.entries: list[StreamEntry] = []
        self.shipments: list[ShipmentChange] = []

    async def append(self, entry: StreamEntry) -> str:
        self.entries.append(entry)
        return f"{len(self.entries)}-0"

    async def append_shipment(self, change: ShipmentChange) -> str:
        self.shipments.append(change)
        return f"{len(self.shipments)}-0"


class FakeErp:
    """One ERP instance: orders by id, idempotent on the external reference; amendments, and
    returns of what a cancelled order shipped, as the ERP system API answers them.

    ``fail`` makes the next calls raise it; ``delay`` makes them slow; ``status`` is the
    status new orders are answered with (``draft`` or ``quoted`` plays an ERP that answers
    an unconfirmed order). ``shipped`` orders refuse cancelling and amending with a 409
    problem and have their lines to return; ``uncancellable`` ones refuse cancelling with a
    409 whose detail is given (an invoice paid) and have nothing shipped to return. An
    amendment to the lines the order has is a no-op; an order is returned once, whatever
    is retried.
    """

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.orders: dict[str, SalesOrder] = {}
        self.posted: list[SalesOrderDraft] = []
        self.cancelled: list[str] = []
        self.lookups: list[str] = []
        self.shipped: set[str] = set()
        self.uncancellable: dict[str, str] = {}
        self.amended: list[tuple[str, dict[str, int], str]] = []
        # How each amendment was asked to price: (order, taxes_included, expected_total).
        self.priced: list[tuple[str, bool, Decimal | None]] = []
        self.returned: dict[str, ShippedReturn] = {}
        self.return_calls = 0
        self.recorded_shipments: dict[str, Shipment] = {}
        self.fail: Exception | None = None
        self.delay = 0.0
        self.status = ErpOrderStatus.CONFIRMED
        self._ids = itertools.count(1)

    async def _call(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail

    async def post_sales_order(self, draft: SalesOrderDraft) -> SalesOrder:
        await self._call()
        self.posted.append(draft)
        existing = self._by_reference(draft.external_reference)
        if existing is not None:
            return existing
        n = next(self._ids)
        order = SalesOrder(
            id=f"{self.instance}-{n}",
            number=f"SO{n:04d}",
            external_reference=draft.external_reference,
            status=self.status,
            currency=draft.currency,
            customer_email=draft.customer.email,
            lines=draft.lines,
            total=Money(
                amount=sum((line.unit_price * line.quantity for line in draft.lines), Decimal(0)),
                currency=draft.currency,
            ),
        )
        self.orders[order.id] = order
        return order

    async def find_by_reference(self, reference: str) -> SalesOrder | None:
        await self._call()
        self.lookups.append(reference)
        return self._by_reference(reference)

    async def cancel(self, order_id: str) -> SalesOrder:
        await self._call()
        if order_id in self.shipped or order_id in self.uncancellable:
            detail = self.uncancellable.get(order_id, f"sales order {order_id} has shipped")
            raise AlreadyShipped(
                f"erp {self.instance} cancel order {order_id}: 409 {detail}",
                _problem("order-already-shipped", detail),
            )
        order = msgspec.structs.replace(self.orders[order_id], status=ErpOrderStatus.CANCELLED)
        self.orders[order_id] = order
        self.cancelled.append(order_id)
        return order

    async def amend(
        self,
        order_id: str,
        lines: list[OrderLine],
        note: str | None,
        key: str,
        *,
        taxes_included: bool = False,
        expected_total: Decimal | None = None,
    ) -> AmendedOrder:
        await self._call()
        order = self.orders[order_id]
        changes = line_changes(quantities(order.lines), quantities(lines))
        self.priced.append((order_id, taxes_included, expected_total))
        if not changes and expected_total in (None, order.total.amount):
            return AmendedOrder(order=order)
        if expected_total is not None:
            total = Money(amount=expected_total, currency=order.total.currency)
            order = msgspec.structs.replace(order, total=total)
        if order_id in self.shipped:
            detail = f"sales order {order_id} has shipped (done)"
            raise NotAmendable(
                f"erp {self.instance} amend order {order_id}: 409 {detail}",
                _problem("order-not-amendable", detail),
            )
        order = msgspec.structs.replace(order, lines=list(lines))
        self.orders[order_id] = order
        self.amended.append((order_id, quantities(lines), key))
        return AmendedOrder(order=order, changes=changes, amendment_id=str(len(self.amended)))

    async def record_shipment(self, order_id: str, record: ShipmentRecord) -> Shipment:
        """A done shipment carrying the reference; the same one again on a repeat."""
        await self._call()
        made = self.recorded_shipments.get(record.reference)
        if made is None:
            made = Shipment(
                id=str(len(self.recorded_shipments) + 1),
                number=None,
                state="done",
                order_id=order_id,
                reference=record.reference,
                lines=[ShipmentLine(sku=x.sku, quantity=Decimal(x.quantity)) for x in record.lines],
            )
            self.recorded_shipments[record.reference] = made
        return made

    async def return_shipped(self, order_id: str, key: str) -> ShippedReturn:
        await self._call()
        self.return_calls += 1
        if order_id in self.returned:
            return msgspec.structs.replace(self.returned[order_id], created=False)
        if order_id not in self.shipped:
            detail = f"nothing of sales order {order_id} shipped"
            raise NothingToReturn(
                f"erp {self.instance} return what order {order_id} shipped: 409 {detail}",
                _problem("nothing-shipped", detail),
            )
        order = self.orders[order_id]
        made = ShippedReturn(
            order=order,
            return_order_id=f"R-{order_id}",
            return_number=f"SR{len(self.returned) + 1:04d}",
            reference=order.external_reference + ":cancel",
            status="processing",
            lines=[ReturnLine(sku=line.sku, quantity=line.quantity) for line in order.lines],
            total=Money(
                amount=sum((line.unit_price * line.quantity for line in order.lines), Decimal(0)),
                currency=order.currency,
            ),
            created=True,
        )
        self.returned[order_id] = made
        return made

    def _by_reference(self, reference: str) -> SalesOrder | None:
        return next((o for o in self.orders.values() if o.external_reference == reference), None)


def _problem(slug: str, detail: str) -> dict[str, Any]:
    """The ERP system API's 409 problem document."""
    return {
        "type": f"https://strata.dev/problems/{slug}",
        "title": "Conflict",
        "status": 409,
        "detail": detail,
    }


class FakeShopify:
    """Shopify's current orders (webhook-shaped), and every acknowledgement."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], dict[str, Any]] = {}
        self.fetched: list[tuple[str, str]] = []
        self.acknowledged: list[tuple[str, str, str, str]] = []
        self.fail: Exception | None = None

    async def get_order(self, shop: str, order_id: str) -> dict[str, Any]:
        self.fetched.append((shop, order_id))
        if (shop, order_id) not in self.orders:
            raise Rejected(
                f"shopify read order: 404 no order {order_id}", {"status": 404}, kind="http-404"
            )
        return self.orders[(shop, order_id)]

    async def acknowledge(self, shop: str, order_id: str, instance: str, order: SalesOrder) -> None:
        if self.fail is not None:
            raise self.fail
        self.acknowledged.append((shop, order_id, instance, order.number or order.id))


class RecordingRedis:
    """Just enough of a Redis client to record the commands a transaction sends."""

    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    @contextlib.asynccontextmanager
    async def pipeline(self, transaction: bool = True) -> AsyncIterator[RecordingRedis]:
        yield self

    def __getattr__(self, name: str) -> Any:
        def command(*args: Any, **kwargs: Any) -> None:
            self.commands.append((name, *args, *sorted(kwargs.items())))

        return command

    async def execute(self) -> list[Any]:
        return []

    def sent(self, name: str) -> list[tuple[Any, ...]]:
        """The arguments of every ``name`` command sent."""
        return [c[1:] for c in self.commands if c[0] == name]
