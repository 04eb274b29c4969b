"""What the orders service needs from the world, as Protocols: its stores and its clients.

:class:`~process_apis.orders.service.OrdersService` receives one of each in its constructor
(``app.py`` wires the real ones; unit tests pass in-memory fakes). Each real implementation
sits beside its state: :class:`~process_apis.orders.pipeline.PipelineStore`,
:class:`~process_apis.orders.exceptions.ExceptionStore`,
:class:`~process_apis.orders.locks.RedisOrderLocks`,
:class:`~process_apis.orders.acknowledgements.RedisAcknowledgements`,
:class:`~process_apis.orders.customer_index.RedisCustomerIndex`,
:class:`~process_apis.orders.order_stream.RedisOrderStream` (all Redis), and
:class:`~process_apis.orders.downstream.ErpClient` and
:class:`~process_apis.orders.downstream.ShopifyClient` (the system APIs over HTTP).

Error contract of the clients, which the stream worker relies on: a failure worth retrying
(unreachable, timeout, 408, 409 busy, 425, 429, 5xx) raises
:class:`shared.events.TransientFailure`; a refusal for good raises
:class:`~process_apis.orders.downstream.Rejected`, a :class:`shared.events.PermanentFailure`
whose ``problem`` is the system API's RFC 9457 body. The stores raise Redis's own errors,
which the worker leaves pending for redelivery.

Fencing: each hold of an order's lock draws a fencing token, larger than every token drawn
before for that order. The pipeline refuses, with :class:`OrderLockLost`, a record made
under a token older than the newest drawn: a holder that outlived its lease (a long pause, a
slow ERP) cannot write over the holder that came after it.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Protocol

import msgspec

from process_apis.orders.schemas import ExceptionState, OrderException, OrderStatus
from shared.models import (
    Money,
    OrderLine,
    ReturnLine,
    SalesOrder,
    SalesOrderDraft,
    Shipment,
    ShipmentRecord,
)
from shared.streams import ShipmentChange, StreamEntry


class LineChange(msgspec.Struct, frozen=True, kw_only=True):
    """How the quantity of one SKU changed (0 before: added; 0 after: removed)."""

    sku: str
    before: int
    after: int


class AmendedOrder(msgspec.Struct, frozen=True, kw_only=True):
    """The ERP's answer to an amendment: the order now, and what changed (nothing when it
    had the lines already)."""

    order: SalesOrder
    changes: list[LineChange] = []
    amendment_id: str | None = None


class ShippedReturn(msgspec.Struct, frozen=True, kw_only=True):
    """The ERP's answer for an order cancelled after shipment: the order cut down to what
    shipped, and the one return sale of that."""

    order: SalesOrder
    return_order_id: str
    return_number: str | None = None
    reference: str
    status: str
    lines: list[ReturnLine] = []
    total: Money | None = None
    created: bool = False


class OrderLockLost(Exception):
    """The order's lock passed to a newer holder: this holder's record was refused."""


@dataclass(frozen=True, slots=True)
class HeldOrder:
    """The order an entry is handled for, under the fencing token of its lock's hold."""

    shop: str
    order_id: str
    correlation: str
    fence: int
    replayed: bool


#: Pipeline states of an order its ERP has, confirmed: posting is over.
FINAL_STATES: Final = frozenset({"acknowledged", "posted"})


class OrderPipeline(Protocol):
    """Where each order is: its summary fields and every step with its timestamp."""

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
        """Append ``step``; set ``state`` and the other summary ``fields`` when given.

        With ``fence`` (the token of the order lock held), raise :class:`OrderLockLost`
        and record nothing if a newer token was drawn for the order since.
        """

    async def summary(self, shop: str, order_id: str) -> dict[str, str]:
        """The order's summary fields (``state``, ``erp_instance``, ...); empty if unknown."""

    async def status(self, shop: str, order_id: str) -> OrderStatus | None:
        """The order's summary with every step, or None if it never entered the pipeline."""


class ExceptionQueue(Protocol):
    """Orders that need a person: one record per (shop, order, topic)."""

    async def get(self, ex_id: str) -> OrderException | None:
        """The record, or None."""

    async def open(self, record: OrderException) -> OrderException:
        """Open (or reopen) the record for its order and topic, keeping earlier history."""

    async def mark(self, ex_id: str, state: ExceptionState) -> OrderException | None:
        """Move the record to ``state`` (counting replays); None if there is no such record."""

    async def page(
        self,
        *,
        state: ExceptionState | None,
        shop: str | None,
        kind: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[OrderException], int]:
        """Records newest first, filtered on state, shop and kind, with the total matched."""


class OrderLocks(Protocol):
    """One handler per order at a time, across workers and replicas."""

    def hold(self, shop: str, order_id: str) -> AbstractAsyncContextManager[int]:
        """Hold the order's lock for the block (waiting while another worker holds it);
        the block receives the hold's fencing token.

        Entering raises :class:`shared.problems.Conflict` when another holder keeps the lock
        past the wait (its ``retry_after`` the seconds worth waiting), and
        :class:`shared.problems.ServiceUnavailable` when the lock store can't be reached.
        """


class Acknowledgements(Protocol):
    """Orders received whose ERP order number Shopify does not have yet (a business gauge)."""

    async def awaiting(self, shop: str, order_id: str) -> None:
        """Count the order as awaiting acknowledgement from its first receipt (idempotent)."""

    async def acknowledged(self, shop: str, order_id: str) -> None:
        """Stop counting the order: Shopify has its ERP number, or never will (cancelled)."""


class CustomerIndex(Protocol):
    """A customer's orders by email, for the service desk's "orders of this customer"."""

    async def add(self, shop: str, order_id: str, draft: SalesOrderDraft) -> None:
        """Index the posted order under its customer's email (idempotent)."""


class OrderStream(Protocol):
    """The stream the orders workers consume: replays and channel orders are appended here."""

    async def append(self, entry: StreamEntry) -> str:
        """Append the entry; return its stream entry id."""

    async def append_shipment(self, change: ShipmentChange) -> str:
        """Append an ERP shipment change to the shipments stream; return its entry id."""


class ErpOrders(Protocol):
    """The sales orders of one regional ERP instance (its ERP system API)."""

    async def post_sales_order(self, draft: SalesOrderDraft) -> SalesOrder:
        """Create the order, idempotently on its external reference: a repeat (even of an
        edited snapshot) answers the order created first. That answer may still be ``draft``
        or ``quoted`` while another posting of it is completing it: not posted yet."""

    async def find_by_reference(self, reference: str) -> SalesOrder | None:
        """The order carrying this external reference (in any status), or None."""

    async def cancel(self, order_id: str) -> SalesOrder:
        """Cancel the order; :class:`~process_apis.orders.downstream.Rejected` with problem
        status 409 when it has shipped already."""

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
        """Bring the order's product lines to ``lines`` (a no-op when it has them); with
        ``expected_total`` (Shopify's current total, shop money) changed and added lines are
        priced from ``lines`` (prices containing their taxes when ``taxes_included``) and the
        order's total brought to it.
        :class:`~process_apis.orders.downstream.NotAmendable` (a ``Rejected``, status 409)
        when it can't be amended (shipped, a change the ERP can't express, or a total that
        would differ from ``expected_total`` by more than rounding)."""

    async def return_shipped(self, order_id: str, key: str) -> ShippedReturn:
        """Cut a cancelled order down to what shipped and return that, once:
        :class:`~process_apis.orders.downstream.NothingToReturn` (status 409) when nothing
        shipped."""

    async def record_shipment(self, order_id: str, record: ShipmentRecord) -> Shipment:
        """Record a shipment that left from elsewhere, once per ``record.reference``."""


class ShopifyOrders(Protocol):
    """The Shopify system API: read an order, acknowledge it with its ERP order."""

    async def get_order(self, shop: str, order_id: str) -> dict[str, Any]:
        """The order as Shopify has it now, in the shape of an ``orders/*`` webhook body."""

    async def acknowledge(self, shop: str, order_id: str, instance: str, order: SalesOrder) -> None:
        """Tag the Shopify order with its ERP instance and number (idempotent)."""
