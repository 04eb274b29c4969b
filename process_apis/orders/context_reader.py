"""One order's whole context, read from every system that knows it.

The context fans out in parallel, each call bounded by its own timeout: the pipeline status
and the order's exceptions (local Redis), the ERP order with its shipments, invoices and credit
notes (the ERP system API of the order's instance), the Shopify order and its refunds (the
Shopify system API). A section whose upstream failed comes back ``unavailable`` with the
reason; the others are served. A timeline merges every section's events by time.
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
from process_apis.orders.downstream import Rejected, send
from process_apis.orders.exceptions import ExceptionStore, exception_id
from process_apis.orders.mapping import external_reference
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.schemas import OrderStatus
from process_apis.orders.timeline import timeline
from shared.events import TransientFailure
from shared.models import CreditNote, Invoice, Shipment

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


_ITEMS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def _decode(content: bytes, type_: type[T], what: str) -> T:
    try:
        return msgspec.json.decode(content, type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise Unavailable(f"{what}: unexpected answer ({exc})") from None


class OrderContextReader:
    """Gathers :class:`OrderContext` from Redis and the system APIs, in parallel."""

    def __init__(
        self,
        pipeline: PipelineStore,
        exceptions: ExceptionStore,
        erps: Mapping[str, httpx.AsyncClient],
        shopify: httpx.AsyncClient,
        settings: ContextSettings | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.exceptions = exceptions
        self.erps = dict(erps)
        self.shopify = shopify
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

    async def _get(self, client: httpx.AsyncClient, what: str, url: str) -> bytes | None:
        """GET ``url``: its body, ``None`` when it has no such order, else :class:`Unavailable`."""
        try:
            response = await send(client, what, "GET", url)
        except TransientFailure as exc:
            raise Unavailable(exc.reason) from None
        except Rejected as exc:
            # 404, or 400 for an identifier the system could never hold (a shop or order id
            # of the wrong shape): either way it has no such order.
            if exc.problem.get("status") in (400, 404):
                return None
            raise Unavailable(exc.reason) from None
        return response.content

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
        if not order_id.isdigit():
            return None  # a channel order (POS, marketplace): Shopify never saw it
        body = await self._get(
            self.shopify, "shopify order", f"/shopify/v1/shops/{shop}/orders/{order_id}"
        )
        return None if body is None else _decode(body, ShopifyOrderView, "shopify order")

    async def _refunds(self, shop: str, order_id: str) -> list[ShopifyRefund]:
        if not order_id.isdigit():
            return []
        body = await self._get(
            self.shopify,
            "shopify refunds",
            f"/shopify/v1/shops/{shop}/orders/{order_id}/refunds",
        )
        if body is None:
            return []
        return _decode(body, _RefundList, "shopify refunds").items

    async def _erp(
        self, status_task: asyncio.Task[OrderStatus | Unavailable | None], reference: str
    ) -> tuple[ErpOrderSection, ShipmentsSection, InvoicesSection, CreditNotesSection]:
        status = await status_task
        instance = status.erp_instance if isinstance(status, OrderStatus) else None
        erp_id = status.erp_order_id if isinstance(status, OrderStatus) else None
        if instance and erp_id and instance in self.erps:
            # The pipeline knows where the order is: every ERP read starts at once.
            client = self.erps[instance]
            base = f"/erp/v1/sales-orders/{erp_id}"
            order, shipments, invoices, notes = await asyncio.gather(
                self._guard(self._erp_order(client, instance, base)),
                self._guard(self._erp_list(client, instance, base, "shipments", Shipment)),
                self._guard(self._erp_list(client, instance, base, "invoices", Invoice)),
                self._guard(self._erp_list(client, instance, base, "credit-notes", CreditNote)),
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
            client = self.erps[instance]
            base = f"/erp/v1/sales-orders/{sales_order.id}"
            order = sales_order
            shipments, invoices, notes = await asyncio.gather(
                self._guard(self._erp_list(client, instance, base, "shipments", Shipment)),
                self._guard(self._erp_list(client, instance, base, "invoices", Invoice)),
                self._guard(self._erp_list(client, instance, base, "credit-notes", CreditNote)),
            )
        source = f"erp:{instance}"
        return (
            _erp_section(source, instance, order),
            _section(ShipmentsSection, source, shipments, "items"),
            _section(InvoicesSection, source, invoices, "items"),
            _section(CreditNotesSection, source, notes, "items"),
        )

    async def _erp_order(
        self, client: httpx.AsyncClient, instance: str, base: str
    ) -> SalesOrder | None:
        body = await self._get(client, f"erp {instance} order", base)
        return None if body is None else _decode(body, SalesOrder, f"erp {instance} order")

    async def _erp_list(
        self, client: httpx.AsyncClient, instance: str, base: str, what: str, item: type[T]
    ) -> list[T]:
        body = await self._get(client, f"erp {instance} {what}", f"{base}/{what}")
        if body is None:
            return []
        decoder = _ITEMS.get(item)
        if decoder is None:
            decoder = _ITEMS[item] = msgspec.json.Decoder(_items_of(item))
        try:
            items: list[T] = decoder.decode(body).items
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise Unavailable(f"erp {instance} {what}: unexpected answer ({exc})") from None
        return items

    async def _find_by_reference(
        self, reference: str, instance: str | None
    ) -> tuple[str, SalesOrder] | Unavailable | None:
        """Ask the named instance, else every instance at once, for the order's reference."""
        names = [instance] if instance in self.erps else list(self.erps)
        path = f"/erp/v1/sales-orders/by-reference/{httpx.URL(path=reference).raw_path.decode()}"

        async def one(name: str) -> SalesOrder | None:
            body = await self._get(self.erps[name], f"erp {name} order", path)
            return None if body is None else _decode(body, SalesOrder, f"erp {name} order")

        answers = await asyncio.gather(*(self._guard(one(name)) for name in names))
        failures = []
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, SalesOrder):
                return name, answer
            if isinstance(answer, Unavailable):
                failures.append(f"{name}: {answer}")
        if failures:
            return Unavailable("; ".join(failures))
        return None


class _RefundList(msgspec.Struct, kw_only=True):
    items: list[ShopifyRefund]


def _items_of(item: type[Any]) -> type[Any]:
    return msgspec.defstruct(f"{item.__name__}List", [("items", list[item])], kw_only=True)  # type: ignore[valid-type]


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
