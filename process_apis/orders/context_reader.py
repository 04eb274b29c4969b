"""One order's whole context, read from every system that knows it.

The context fans out in parallel, each call bounded by its own timeout: the pipeline status
and the order's exceptions (local Redis), the ERP order with its shipments, invoices and credit
notes (the ERP system API of the order's instance), the Shopify order and its refunds (the
Shopify system API). A section whose upstream failed comes back ``unavailable`` with the
reason; the others are served. A timeline merges every section's events by time.

The system APIs are called through :class:`shared.sibling.SiblingClient`: every identifier
(a shop, an order id with ``#`` or ``%``, an external reference) travels percent-encoded as
one path segment, and an identifier no system could hold (``.``, ``..``) means "no such order".
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import httpx
import msgspec
from redis.exceptions import RedisError

from process_apis.orders.context_schemas import (
    CreditNotesSection,
    ErpOrderSection,
    ExceptionsSection,
    ExceptionSummary,
    InvoicesSection,
    OrderContext,
    PipelineSection,
    RefundsSection,
    SalesOrder,
    Section,
    ShipmentsSection,
    ShopifyOrderSection,
    ShopifyOrderView,
    ShopifyRefund,
)
from process_apis.orders.context_settings import ContextSettings
from process_apis.orders.exceptions import exception_id
from process_apis.orders.mapping import external_reference
from process_apis.orders.ports import ExceptionQueue, OrderPipeline
from process_apis.orders.schemas import OrderStatus
from process_apis.orders.timeline import timeline
from shared.models import CreditNote, Invoice, Shipment
from shared.sibling import (
    NO_RETRIES,
    InvalidPathParameter,
    SiblingClient,
    SiblingError,
    SiblingNotFound,
    SiblingRejected,
)

# Topics an order's exception record can be filed under (see ``exception_id``).
EXCEPTION_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "strata/orders.create",
)
T = TypeVar("T")


class Unavailable(Exception):
    """An upstream did not give a usable answer; the message says why, for the agent."""


class OrderUnknown(LookupError):
    """No system knows this order."""


class _Shipments(msgspec.Struct, kw_only=True):
    items: list[Shipment]


class _Invoices(msgspec.Struct, kw_only=True):
    items: list[Invoice]


class _CreditNotes(msgspec.Struct, kw_only=True):
    items: list[CreditNote]


class _Refunds(msgspec.Struct, kw_only=True):
    items: list[ShopifyRefund]


ERP_ORDER = "/erp/v1/sales-orders/{order_id}"
ERP_BY_REFERENCE = "/erp/v1/sales-orders/by-reference/{reference}"
SHOPIFY_ORDER = "/shopify/v1/shops/{shop}/orders/{order_id}"
SHOPIFY_REFUNDS = "/shopify/v1/shops/{shop}/orders/{order_id}/refunds"
# An ERP order's documents: each read from its own path, into its own list type.
ERP_DOCUMENTS: dict[str, tuple[str, type[_Shipments | _Invoices | _CreditNotes]]] = {
    "shipments": ("/erp/v1/sales-orders/{order_id}/shipments", _Shipments),
    "invoices": ("/erp/v1/sales-orders/{order_id}/invoices", _Invoices),
    "credit-notes": ("/erp/v1/sales-orders/{order_id}/credit-notes", _CreditNotes),
}


class OrderContextReader:
    """Gathers :class:`OrderContext` from Redis and the system APIs, in parallel.

    ``erps`` (by instance name) and ``shopify`` are the ``httpx.AsyncClient``s of the system
    APIs (base URL, service token, timeouts), shared with the pipeline's clients.
    """

    def __init__(
        self,
        pipeline: OrderPipeline,
        exceptions: ExceptionQueue,
        erps: Mapping[str, httpx.AsyncClient],
        shopify: httpx.AsyncClient,
        settings: ContextSettings | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.exceptions = exceptions
        # No retries: each read is bounded by ``upstream_timeout``, and a failed one leaves
        # its section unavailable while the others are served.
        self.erps = {
            name: SiblingClient(f"erp {name}", client, retry=NO_RETRIES)
            for name, client in erps.items()
        }
        self.shopify = SiblingClient("shopify", shopify, retry=NO_RETRIES)
        self.settings = settings or ContextSettings()

    async def read(self, shop: str, order_id: str) -> OrderContext:
        """The order's context; raise :class:`OrderUnknown` when no system knows it."""
        reference = external_reference(shop, order_id)
        status_task = asyncio.create_task(self._guard(self._status(shop, order_id)))
        exceptions_task = asyncio.create_task(self._guard(self._exceptions(shop, order_id)))
        shopify_task = asyncio.create_task(self._guard(self._shopify_order(shop, order_id)))
        refunds_task = asyncio.create_task(self._guard(self._refunds(shop, order_id)))
        erp_task = asyncio.create_task(self._erp(status_task, reference))
        status, found_exceptions, shopify, refunds, erp = await asyncio.gather(
            status_task, exceptions_task, shopify_task, refunds_task, erp_task
        )
        pipeline = _section(PipelineSection, "pipeline", status, "status_record")
        exceptions = _section(ExceptionsSection, "pipeline", found_exceptions, "items")
        shopify_section = _section(ShopifyOrderSection, "shopify", shopify, "order")
        refunds_section = _section(RefundsSection, "shopify", refunds, "items")
        erp_order, shipments, invoices, credit_notes = erp
        if (
            pipeline.status_record is None
            and shopify_section.order is None
            and erp_order.order is None
            and not exceptions.items
        ):
            down = [s for s in (pipeline, exceptions, erp_order, shopify_section) if s.reason]
            if any(s.status == "unavailable" for s in down):
                raise Unavailable(
                    "; ".join(f"{s.source}: {s.reason}" for s in down if s.status != "ok")
                )
            raise OrderUnknown(f"No system knows order {order_id} of {shop}")
        sections: list[Section] = [
            pipeline,
            exceptions,
            erp_order,
            shipments,
            invoices,
            credit_notes,
            shopify_section,
            refunds_section,
        ]
        return OrderContext(
            shop=shop,
            order_id=order_id,
            external_reference=reference,
            complete=all(s.status == "ok" for s in sections),
            generated_at=dt.datetime.now(dt.UTC),
            pipeline=pipeline,
            exceptions=exceptions,
            erp_order=erp_order,
            shipments=shipments,
            invoices=invoices,
            credit_notes=credit_notes,
            shopify_order=shopify_section,
            refunds=refunds_section,
            timeline=timeline(
                pipeline.status_record,
                exceptions.items,
                erp_order,
                shipments.items,
                invoices.items,
                credit_notes.items,
                shopify_section.order,
                refunds_section.items,
            ),
        )

    async def _guard(self, work: Awaitable[T]) -> T | Unavailable:
        """Run one upstream call within its timeout; a failure becomes a value, not a raise."""
        timeout = self.settings.upstream_timeout
        try:
            async with asyncio.timeout(timeout):
                return await work
        except TimeoutError:
            return Unavailable(f"no answer within {timeout:g} s")
        except Unavailable as exc:
            return exc
        except RedisError as exc:
            return Unavailable(f"Redis: {type(exc).__name__}")

    async def _read(
        self, sibling: SiblingClient, what: str, template: str, type_: type[T], **path: str
    ) -> T | None:
        """GET ``template`` as ``type_``: ``None`` when the system has no such order, else
        :class:`Unavailable` with the reason."""
        try:
            # params and headers named, so that mypy knows ``path`` fills only the template.
            return await sibling.get_json(template, type=type_, params=None, headers=None, **path)
        except (SiblingNotFound, InvalidPathParameter):
            # "." or ".." is no identifier any system holds, and cannot be sent as one.
            return None
        except SiblingRejected as exc:
            # 400 for an identifier the system could never hold (a shop or order id of the
            # wrong shape): it has no such order either.
            if exc.sibling_status == 400:
                return None
            raise Unavailable(_reason(exc, what)) from None
        except SiblingError as exc:
            raise Unavailable(_reason(exc, what)) from None

    async def _status(self, shop: str, order_id: str) -> OrderStatus | None:
        return await self.pipeline.status(shop, order_id)

    async def _exceptions(self, shop: str, order_id: str) -> list[ExceptionSummary]:
        records = await asyncio.gather(
            *(self.exceptions.get(exception_id(shop, order_id, t)) for t in EXCEPTION_TOPICS)
        )
        found = [
            ExceptionSummary(
                id=record.id,
                state=record.state,
                kind=record.kind,
                error=record.error,
                topic=record.topic,
                correlation_id=record.correlation_id,
                created_at=record.created_at,
                updated_at=record.updated_at,
                replays=record.replays,
            )
            for record in records
            if record is not None
        ]
        return sorted(found, key=lambda r: r.created_at)

    async def _shopify_order(self, shop: str, order_id: str) -> ShopifyOrderView | None:
        if not _shopify_id(order_id):
            return None  # a channel order (POS, marketplace): Shopify never saw it
        return await self._read(
            self.shopify, "order", SHOPIFY_ORDER, ShopifyOrderView, shop=shop, order_id=order_id
        )

    async def _refunds(self, shop: str, order_id: str) -> list[ShopifyRefund]:
        if not _shopify_id(order_id):
            return []
        found = await self._read(
            self.shopify, "refunds", SHOPIFY_REFUNDS, _Refunds, shop=shop, order_id=order_id
        )
        return [] if found is None else found.items

    async def _erp(
        self, status_task: asyncio.Task[OrderStatus | Unavailable | None], reference: str
    ) -> tuple[ErpOrderSection, ShipmentsSection, InvoicesSection, CreditNotesSection]:
        status = await status_task
        instance = status.erp_instance if isinstance(status, OrderStatus) else None
        erp_id = status.erp_order_id if isinstance(status, OrderStatus) else None
        if instance and erp_id and instance in self.erps:
            # The pipeline knows where the order is: every ERP read starts at once.
            erp = self.erps[instance]
            order, shipments, invoices, notes = await asyncio.gather(
                self._guard(self._read(erp, "order", ERP_ORDER, SalesOrder, order_id=erp_id)),
                self._guard(self._erp_documents(erp, erp_id, "shipments")),
                self._guard(self._erp_documents(erp, erp_id, "invoices")),
                self._guard(self._erp_documents(erp, erp_id, "credit-notes")),
            )
        else:
            found = await self._find_by_reference(reference, instance)
            if isinstance(found, Unavailable) or found is None:
                empty: Unavailable | list[Any] = found if found is not None else []
                source = f"erp:{instance}" if instance else "erp"
                return (
                    _erp_section(source, instance, found),
                    _section(ShipmentsSection, source, empty, "items"),
                    _section(InvoicesSection, source, empty, "items"),
                    _section(CreditNotesSection, source, empty, "items"),
                )
            instance, sales_order = found
            erp = self.erps[instance]
            order = sales_order
            shipments, invoices, notes = await asyncio.gather(
                self._guard(self._erp_documents(erp, sales_order.id, "shipments")),
                self._guard(self._erp_documents(erp, sales_order.id, "invoices")),
                self._guard(self._erp_documents(erp, sales_order.id, "credit-notes")),
            )
        source = f"erp:{instance}"
        return (
            _erp_section(source, instance, order),
            _section(ShipmentsSection, source, shipments, "items"),
            _section(InvoicesSection, source, invoices, "items"),
            _section(CreditNotesSection, source, notes, "items"),
        )

    async def _erp_documents(
        self, erp: SiblingClient, order_id: str, what: str
    ) -> list[Shipment] | list[Invoice] | list[CreditNote]:
        """The order's shipments, invoices or credit notes (``what``); none if unknown."""
        template, type_ = ERP_DOCUMENTS[what]
        found = await self._read(erp, what, template, type_, order_id=order_id)
        return [] if found is None else found.items

    async def _find_by_reference(
        self, reference: str, instance: str | None
    ) -> tuple[str, SalesOrder] | Unavailable | None:
        """Ask the named instance, else every instance at once, for the order's reference."""
        names = [instance] if instance in self.erps else list(self.erps)

        async def one(name: str) -> SalesOrder | None:
            return await self._read(
                self.erps[name], "order", ERP_BY_REFERENCE, SalesOrder, reference=reference
            )

        answers = await asyncio.gather(*(self._guard(one(name)) for name in names))
        failures = []
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, SalesOrder):
                return name, answer
            if isinstance(answer, Unavailable):
                failures.append(str(answer))
        if failures:
            return Unavailable("; ".join(failures))
        return None


def _shopify_id(order_id: str) -> bool:
    """Shopify order ids are ASCII digits (``isdigit`` alone takes other scripts' digits)."""
    return order_id.isascii() and order_id.isdigit()


def _reason(error: SiblingError, what: str) -> str:
    """Why a read failed, for the agent: ``erp eu shipments: answered 503 (title)``."""
    reason = f"{error.sibling} {what}: {error.reason}"
    if isinstance(error, SiblingRejected):
        explained = error.problem.detail or error.problem.title
        if explained:
            reason = f"{reason} ({explained})"
    return reason


SectionT = TypeVar("SectionT", bound=Section)


def _section(kind: type[SectionT], source: str, value: object, field: str) -> SectionT:
    if isinstance(value, Unavailable):
        return kind(status="unavailable", reason=str(value), source=source)
    section = kind(source=source)
    if value is not None:
        setattr(section, field, value)
    return section


def _erp_section(
    source: str, instance: str | None, value: SalesOrder | Unavailable | None
) -> ErpOrderSection:
    section = _section(ErpOrderSection, source, value, "order")
    section.instance = instance
    return section
