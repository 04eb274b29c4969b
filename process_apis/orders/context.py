"""One order's whole context, read from every system that knows it, and a customer's orders.

The context fans out in parallel, each call bounded by its own timeout: the pipeline status
and the order's exceptions (local Redis), the ERP order with its shipments, invoices and credit
notes (the ERP system API of the order's instance), the Shopify order and its refunds (the
Shopify system API). A section whose upstream failed comes back ``unavailable`` with the
reason; the others are served. A timeline merges every section's events by time.

A customer's orders come from an index by email kept in Redis and written when the pipeline
posts an order (:func:`index_customer_order`): the pipeline sees every order of every shop and
channel, so the index needs no call to Shopify or the ERPs, and Shopify orders whose webhook was
lost reach it once reconciliation re-enqueues them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Awaitable, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import httpx
import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from process_apis.orders.downstream import Rejected, send
from process_apis.orders.exceptions import ExceptionStore, exception_id
from process_apis.orders.mapping import external_reference
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.schemas import OrderStatus
from shared.events import TransientFailure
from shared.models import CreditNote, Invoice, Money, OrderLine, SalesOrderDraft, Shipment
from shared.settings import load_settings

PREFIX = "STRATA_ORDERS_CONTEXT_"
CUSTOMER_PREFIX = "strata:orders:customers"
# Topics an order's exception record can be filed under (see ``exception_id``).
EXCEPTION_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "strata/orders.create",
)
T = TypeVar("T")


class ContextSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the context reader calls its upstreams (``STRATA_ORDERS_CONTEXT_*``)."""

    # Each upstream call gets this long; a slower one marks its section unavailable.
    upstream_timeout: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0
    # Orders kept per customer in the index (the newest win).
    orders_per_customer: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500
    index_keep_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 730


def load_context_settings(environ: Mapping[str, str] | None = None) -> ContextSettings:
    """Read :class:`ContextSettings` from ``STRATA_ORDERS_CONTEXT_*``."""
    return load_settings(ContextSettings, environ, prefix=PREFIX)


# -- response shapes ------------------------------------------------------------------------

SectionStatus = Literal["ok", "unavailable"]


class Section(msgspec.Struct, kw_only=True):
    """What every section says about itself: ``unavailable`` carries the reason."""

    status: SectionStatus = "ok"
    reason: str | None = None
    source: str


class PipelineSection(Section, kw_only=True):
    status_record: OrderStatus | None = msgspec.field(default=None, name="pipeline")


class ExceptionSummary(msgspec.Struct, kw_only=True):
    """An exception of this order, without its payload snapshot."""

    id: str
    state: str
    kind: str
    error: str
    topic: str
    correlation_id: str
    created_at: float
    updated_at: float
    replays: int = 0


class ExceptionsSection(Section, kw_only=True):
    items: list[ExceptionSummary] = []


class SalesOrder(msgspec.Struct, kw_only=True):
    """The ERP's sales order (``shared.models.SalesOrder`` with its status as plain text, so
    this contract doesn't take a second schema named ``OrderStatus``)."""

    id: str
    number: str | None
    external_reference: str
    status: str
    currency: str
    customer_email: str | None = None
    lines: list[OrderLine] = []
    total: Money
    created_at: dt.datetime | None = None
    shipped: bool = False


class ErpOrderSection(Section, kw_only=True):
    instance: str | None = None
    order: SalesOrder | None = None


class ShipmentsSection(Section, kw_only=True):
    items: list[Shipment] = []


class InvoicesSection(Section, kw_only=True):
    items: list[Invoice] = []


class CreditNotesSection(Section, kw_only=True):
    items: list[CreditNote] = []


class ShopifyMoney(msgspec.Struct, kw_only=True):
    amount: str
    currency: str


class ShopifyOrderLine(msgspec.Struct, kw_only=True):
    sku: str | None = None
    title: str = ""
    quantity: int = 0
    current_quantity: int | None = None


class ShopifyTracking(msgspec.Struct, kw_only=True):
    number: str | None = None
    url: str | None = None
    company: str | None = None


class ShopifyFulfillmentView(msgspec.Struct, kw_only=True):
    """A fulfillment Shopify holds for the order (where ERP shipments' tracking ends up)."""

    id: int
    name: str | None = None
    status: str | None = None
    created_at: str | None = None
    tracking: list[ShopifyTracking] = []


class ShopifyOrderView(msgspec.Struct, kw_only=True):
    """The Shopify order as the customer saw it (read from the Shopify system API)."""

    id: int
    name: str
    email: str | None = None
    tags: list[str] = []
    created_at: str
    updated_at: str | None = None
    cancelled_at: str | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    currency: str | None = None
    total: ShopifyMoney | None = None
    lines: list[ShopifyOrderLine] = []
    fulfillments: list[ShopifyFulfillmentView] = []


class ShopifyRefund(msgspec.Struct, kw_only=True):
    id: int
    created_at: str | None = None
    note: str | None = None
    total_refunded: ShopifyMoney | None = None


class ShopifyOrderSection(Section, kw_only=True):
    order: ShopifyOrderView | None = None


class RefundsSection(Section, kw_only=True):
    items: list[ShopifyRefund] = []


class TimelineEvent(msgspec.Struct, kw_only=True):
    at: dt.datetime
    source: str
    kind: str
    title: str
    detail: str | None = None


class OrderContext(msgspec.Struct, kw_only=True):
    """Everything Strata's systems know of one order; ``complete`` is false when a section is
    unavailable."""

    shop: str
    order_id: str
    external_reference: str
    complete: bool
    generated_at: dt.datetime
    pipeline: PipelineSection
    exceptions: ExceptionsSection
    erp_order: ErpOrderSection
    shipments: ShipmentsSection
    invoices: InvoicesSection
    credit_notes: CreditNotesSection
    shopify_order: ShopifyOrderSection
    refunds: RefundsSection
    timeline: list[TimelineEvent]


class CustomerOrder(msgspec.Struct, kw_only=True):
    """One of a customer's orders, with where it is in the pipeline."""

    shop: str
    order_id: str
    placed_at: dt.datetime
    currency: str
    total: str
    external_reference: str
    state: str | None = None
    erp_instance: str | None = None
    erp_order_id: str | None = None
    erp_order_number: str | None = None
    open_exception: bool = False


class CustomerOrderPage(msgspec.Struct, kw_only=True):
    email: str
    items: list[CustomerOrder]
    total: int
    offset: int
    limit: int
    next_offset: int | None = None


# -- the customer index ---------------------------------------------------------------------


class IndexedOrder(msgspec.Struct, kw_only=True):
    shop: str
    order_id: str
    placed_at: float
    currency: str
    total: str
    external_reference: str


_INDEXED = msgspec.json.Encoder()
_INDEXED_DECODER = msgspec.json.Decoder(IndexedOrder)


def normalise_email(email: str) -> str:
    """Email addresses are matched case-insensitively, without surrounding blanks."""
    return email.strip().lower()


def customer_key(email: str, prefix: str = CUSTOMER_PREFIX) -> str:
    # A digest, not the address: key names show up in monitoring and must not leak PII.
    digest = hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]
    return f"{prefix}:{{{digest}}}"


async def index_customer_order(
    redis: Redis,
    shop: str,
    order_id: str,
    draft: SalesOrderDraft,
    *,
    settings: ContextSettings | None = None,
    prefix: str = CUSTOMER_PREFIX,
) -> None:
    """Add the order to its customer's index (idempotent: a repeat only refreshes the entry).

    Called when the pipeline posts an order; orders without a customer email are skipped.
    """
    s = settings or ContextSettings()
    email = normalise_email(draft.customer.email)
    if not email:
        return
    placed = draft.ordered_at.timestamp() if draft.ordered_at else time.time()
    total = sum((line.unit_price * line.quantity for line in draft.lines), Decimal(0))
    entry = IndexedOrder(
        shop=shop,
        order_id=order_id,
        placed_at=placed,
        currency=draft.currency,
        total=str(total),
        external_reference=draft.external_reference,
    )
    key = customer_key(email, prefix)
    member = f"{shop}|{order_id}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {member: placed})
        pipe.hset(key + ":orders", member, _INDEXED.encode(entry))
        # Keep only the newest orders (a trimmed order's document lingers until expiry).
        pipe.zremrangebyrank(key, 0, -s.orders_per_customer - 1)
        pipe.expire(key, s.index_keep_days * 86_400)
        pipe.expire(key + ":orders", s.index_keep_days * 86_400)
        await pipe.execute()


class CustomerOrders:
    """Reads a customer's orders from the index, newest first, with their pipeline state."""

    def __init__(
        self,
        redis: Redis,
        pipeline: PipelineStore,
        exceptions: ExceptionStore,
        prefix: str = CUSTOMER_PREFIX,
    ) -> None:
        self.redis = redis
        self.pipeline = pipeline
        self.exceptions = exceptions
        self.prefix = prefix

    async def page(
        self, email: str, *, shops: Sequence[str] = (), offset: int = 0, limit: int = 20
    ) -> CustomerOrderPage:
        """A page of the customer's orders, limited to ``shops`` when any are given."""
        key = customer_key(email, self.prefix)
        members = [_text(m) for m in await self.redis.zrevrange(key, 0, -1)]
        wanted = {s.lower() for s in shops}
        if wanted:
            members = [m for m in members if m.split("|", 1)[0].lower() in wanted]
        chosen = members[offset : offset + limit]
        items: list[CustomerOrder] = []
        if chosen:
            docs = await self.redis.hmget(key + ":orders", chosen)
            entries = [_INDEXED_DECODER.decode(d) for d in docs if d]
            summaries = await asyncio.gather(
                *(self.pipeline.summary(e.shop, e.order_id) for e in entries)
            )
            for entry, summary in zip(entries, summaries, strict=True):
                items.append(
                    CustomerOrder(
                        shop=entry.shop,
                        order_id=entry.order_id,
                        placed_at=dt.datetime.fromtimestamp(entry.placed_at, dt.UTC),
                        currency=entry.currency,
                        total=entry.total,
                        external_reference=entry.external_reference,
                        state=summary.get("state"),
                        erp_instance=summary.get("erp_instance"),
                        erp_order_id=summary.get("erp_order_id"),
                        erp_order_number=summary.get("erp_order_number") or None,
                        open_exception=summary.get("state") == "exception",
                    )
                )
        more = offset + limit < len(members)
        return CustomerOrderPage(
            email=normalise_email(email),
            items=items,
            total=len(members),
            offset=offset,
            limit=limit,
            next_offset=offset + limit if more else None,
        )


# -- the context fan-out --------------------------------------------------------------------


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


# -- the timeline ---------------------------------------------------------------------------


def _instant(value: str | dt.datetime | dt.date | float | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, float | int):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def timeline(
    status: OrderStatus | None,
    exceptions: Sequence[ExceptionSummary],
    erp_order: ErpOrderSection,
    shipments: Sequence[Shipment],
    invoices: Sequence[Invoice],
    credit_notes: Sequence[CreditNote],
    shopify_order: ShopifyOrderView | None,
    refunds: Sequence[ShopifyRefund],
) -> list[TimelineEvent]:
    """Every dated event of every section, oldest first (undated events are left out)."""
    events: list[tuple[dt.datetime | None, str, str, str, str | None]] = []
    if shopify_order is not None:
        events.append(
            (_instant(shopify_order.created_at), "shopify", "placed",
             f"Order {shopify_order.name} placed", None)
        )  # fmt: skip
        for fulfillment in shopify_order.fulfillments:
            tracking = (
                " ".join(
                    t
                    for t in (fulfillment.tracking[0].company, fulfillment.tracking[0].number)
                    if t
                )
                if fulfillment.tracking
                else None
            )
            events.append(
                (_instant(fulfillment.created_at), "shopify", "fulfillment",
                 f"Fulfilled {fulfillment.name or fulfillment.id}", tracking)
            )  # fmt: skip
        if shopify_order.cancelled_at:
            events.append(
                (_instant(shopify_order.cancelled_at), "shopify", "cancelled",
                 f"Order {shopify_order.name} cancelled", None)
            )  # fmt: skip
    if status is not None:
        for step in status.steps:
            events.append((_instant(step.at), "pipeline", "step", step.step, step.detail))
    for ex in exceptions:
        events.append((_instant(ex.created_at), "pipeline", "exception", ex.kind, ex.error))
    order = erp_order.order
    if order is not None:
        events.append(
            (_instant(order.created_at), erp_order.source, "erp-order",
             f"ERP order {order.number or order.id} created", order.status)
        )  # fmt: skip
    for shipment in shipments:
        label = "Return" if shipment.is_return else "Shipment"
        tracking = " ".join(t for t in (shipment.carrier, shipment.tracking_number) if t)
        events.append(
            (_instant(shipment.shipped_at), erp_order.source,
             "return" if shipment.is_return else "shipment",
             f"{label} {shipment.number or shipment.id} {shipment.state}", tracking or None)
        )  # fmt: skip
    for invoice in invoices:
        events.append(
            (_instant(invoice.invoice_date), erp_order.source, "invoice",
             f"Invoice {invoice.number or invoice.id}",
             f"{invoice.total.amount} {invoice.total.currency}")
        )  # fmt: skip
    for note in credit_notes:
        events.append(
            (_instant(note.invoice_date), erp_order.source, "credit-note",
             f"Credit note {note.number or note.id}", f"{note.total.amount} {note.total.currency}")
        )  # fmt: skip
    for refund in refunds:
        money = refund.total_refunded
        events.append(
            (_instant(refund.created_at), "shopify", "refund", f"Refund {refund.id}",
             f"{money.amount} {money.currency}" if money else refund.note)
        )  # fmt: skip
    dated = [
        TimelineEvent(at=at, source=source, kind=kind, title=title, detail=detail)
        for at, source, kind, title, detail in events
        if at is not None
    ]
    dated.sort(key=lambda e: e.at)
    return dated


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = [
    "ContextSettings",
    "CustomerOrder",
    "CustomerOrderPage",
    "CustomerOrders",
    "OrderContext",
    "OrderContextReader",
    "OrderUnknown",
    "Unavailable",
    "index_customer_order",
    "load_context_settings",
    "timeline",
]
