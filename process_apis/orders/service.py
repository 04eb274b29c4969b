"""The orders pipeline: a Shopify order lands once, and only once, in the right regional ERP.

Each stream entry is one webhook (or a canonical order from another channel), read through
the stream contract of :mod:`shared.streams`. The handler maps, validates, routes and posts
it with an idempotency key derived from shop and order, then acknowledges it in Shopify;
every step is recorded. Failures are raised as transient or permanent for the stream worker
to retry or bury; a buried entry becomes an exception record, which an operator can replay.

The service holds no connection of its own: its stores and clients come in through the
constructor, as the Protocols of :mod:`process_apis.orders.ports`.

Exactly once, without holes:

- every entry is handled under its order's lock, and every step recorded under the hold's
  fencing token: a handler whose lease ran out cannot record over the one after it (it fails
  transiently, and the entry is handled again);
- an entry whose order's lock stays held elsewhere past the wait (two workers on one order, or
  a killed worker's lease not yet run out), or whose lock store can't be reached, is not
  handled: it fails transiently, with one warning line, and is handled again later;
- an order the ERP answers unconfirmed (a draft or quotation) is not posted, so it is neither
  recorded as posted nor acknowledged in Shopify;
- an order another ERP instance holds already is not posted to a newly routed one: that is
  an exception of kind ``reroute-needs-operator``, since moving an order is an operator's call;
- an order from another channel is posted under its channel's namespace of references
  (``channel:<channel>:<order id>``), built here: no channel can claim another's order,
  Shopify's included.

Orders that change after posting (``orders/edited``, ``orders/updated`` with other lines) and
cancellations are followed in the ERP by :class:`~process_apis.orders.changes.OrderChanges`,
under the same lock and fencing token; an edit of an order never seen is posted here, as
Shopify has it now. Fulfillments Shopify tells of (``fulfillments/*``, ``orders/fulfilled``,
``orders/partially_fulfilled``) are recorded by
:class:`~process_apis.orders.fulfillment.webhooks.ShopifyFulfillments`, under the same lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import msgspec

from process_apis.orders.changes import (
    ORDER_CHANGES,
    OrderChanges,
    lines_fingerprint,
    quantities,
    wanted_order,
)
from process_apis.orders.downstream import answer_within
from process_apis.orders.exceptions import exception_id
from process_apis.orders.fulfillment.records import FulfillmentRecords
from process_apis.orders.fulfillment.webhooks import (
    SHOPIFY_FULFILLMENT_TOPICS,
    ShopifyFulfillments,
    fulfillment_order_id,
)
from process_apis.orders.mapping import MappingError, to_sales_order
from process_apis.orders.ports import (
    FINAL_STATES,
    Acknowledgements,
    CustomerIndex,
    ErpOrders,
    ExceptionQueue,
    HeldOrder,
    OrderLockLost,
    OrderLocks,
    OrderPipeline,
    OrderStream,
    ShopifyOrders,
)
from process_apis.orders.routing import NoRoute, choose_instance
from process_apis.orders.schemas import BusinessImpact, OrderException, RetryRecord
from process_apis.orders.settings import OrdersSettings
from shared.events import ORIGINAL_ID, Entry, PermanentFailure, TransientFailure
from shared.models import OrderStatus as SalesOrderStatus
from shared.models import SalesOrderDraft
from shared.problems import Conflict, ServiceUnavailable, ValidationFailed
from shared.streams import (
    CHANNEL_ORDER_TOPIC,
    ORDERS_CANCELLED,
    ORDERS_CREATE,
    ORDERS_EDITED,
    ORDERS_PAID,
    ORDERS_UPDATED,
    SHIPMENT_TOPIC,
    ChannelOrder,
    MalformedEntry,
    StreamEntry,
    WebhookEvent,
    decode_entry,
    decode_shipment_change,
)

LATE_CREATES = frozenset({ORDERS_UPDATED, ORDERS_PAID})
ORDER_TOPICS = frozenset({ORDERS_CREATE, ORDERS_CANCELLED, *LATE_CREATES, *ORDER_CHANGES})
#: ERP statuses of an order created but never confirmed: not posted.
UNCONFIRMED = frozenset({SalesOrderStatus.DRAFT, SalesOrderStatus.QUOTED})
#: The exception kind of an order that routing now sends to another ERP instance than the one
#: that has it.
REROUTE_NEEDS_OPERATOR = "reroute-needs-operator"
#: Reference namespaces no channel order may claim: Shopify's and the channels' own.
RESERVED_NAMESPACES = ("shopify:", "channel:")
#: The longest external reference the ERP system API takes.
MAX_REFERENCE = 128
T = TypeVar("T")
log = logging.getLogger("strata.orders")


class NotReplayable(ValueError):
    """The exception's snapshot is no stream entry (it was buried as malformed)."""


class ReferenceRefused(ValueError):
    """A channel order that can't be taken in its channel's namespace; ``errors`` name the
    field, as in a problem's ``errors``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.errors = [{"field": field, "message": message}]


def channel_reference(channel: str, order_id: str) -> str:
    """The ERP's external reference of an order from another channel: the channel's own."""
    return f"channel:{channel}:{order_id}"


def channel_order_draft(channel: str, order_id: str, draft: SalesOrderDraft) -> SalesOrderDraft:
    """The draft as posted: under the channel's reference and name, whatever the body said.

    Raise :class:`ReferenceRefused` when the body claims a reference of Shopify's or of a
    channel's namespace (other than this order's own), when the channel names a Shopify shop
    (whose orders' pipeline records it would share), or when the reference would be too long.
    """
    reference = channel_reference(channel, order_id)
    claimed = draft.external_reference
    if claimed != reference and claimed.casefold().startswith(RESERVED_NAMESPACES):
        raise ReferenceRefused(
            "order.external_reference",
            f"{claimed!r} is outside channel {channel!r}'s namespace; the reference is "
            f"built from channel and order id ({reference!r})",
        )
    if channel.casefold().endswith(".myshopify.com"):
        raise ReferenceRefused(
            "channel", f"{channel!r} names a Shopify shop; Shopify orders arrive by webhook"
        )
    if len(reference) > MAX_REFERENCE:
        raise ReferenceRefused(
            "order_id",
            f"channel and order id make a reference longer than {MAX_REFERENCE} characters",
        )
    return msgspec.structs.replace(draft, external_reference=reference, channel=channel)


class OrdersService:
    """The pipeline's handler, dead-letter hook, replay and channel-order intake."""

    def __init__(
        self,
        settings: OrdersSettings,
        *,
        pipeline: OrderPipeline,
        exceptions: ExceptionQueue,
        locks: OrderLocks,
        acknowledgements: Acknowledgements,
        customers: CustomerIndex,
        stream: OrderStream,
        erps: Mapping[str, ErpOrders],
        shopify: ShopifyOrders,
        fulfillments: FulfillmentRecords | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.exceptions = exceptions
        self.locks = locks
        self.acknowledgements = acknowledgements
        self.customers = customers
        self.stream = stream
        self.erps = dict(erps)
        self.shopify = shopify
        self.fulfillments = fulfillments
        self.shopify_fulfillments = ShopifyFulfillments(
            pipeline, fulfillments, erps=erps, settings=settings.fulfillment
        )
        self._inflight = {name: asyncio.Semaphore(settings.erp_max_inflight) for name in erps}
        self.changes = OrderChanges(
            settings,
            pipeline=pipeline,
            acknowledgements=acknowledgements,
            erps=erps,
            shopify=shopify,
        )

    # -- intake ---------------------------------------------------------------------------

    async def handle(self, entry: Entry) -> None:
        """Process one stream entry; raise TransientFailure or PermanentFailure on failure."""
        try:
            event = decode_entry(entry.payload)
        except MalformedEntry as exc:
            raise PermanentFailure(str(exc), kind="malformed") from exc
        if not event.shop:
            raise PermanentFailure("the entry names no shop", kind="malformed")
        correlation = _correlation(event, entry)
        body: dict[str, Any] = {}
        if isinstance(event, ChannelOrder):
            order_id = event.order_id
        elif event.topic not in ORDER_TOPICS and event.topic not in SHOPIFY_FULFILLMENT_TOPICS:
            return  # other topics are consumed by other processes from the same stream
        else:
            body = _decode_body(event.body)
            order_id = _order_id(event.topic, body)
            if not order_id:
                raise PermanentFailure("the webhook body has no order id", kind="malformed")
        try:
            async with contextlib.AsyncExitStack() as stack:
                fence = await self._hold(stack, entry, event.shop, order_id)
                held = HeldOrder(
                    event.shop, order_id, correlation, fence, event.replay_of is not None
                )
                if isinstance(event, ChannelOrder):
                    await self._post_channel_order(held, event)
                elif event.topic == ORDERS_CREATE:
                    await self._post_shopify_order(held, body, event.topic)
                elif event.topic in SHOPIFY_FULFILLMENT_TOPICS:
                    await self.shopify_fulfillments.handle(held, event.topic, body)
                elif event.topic in ORDER_CHANGES:
                    await self._order_changed(held, event.topic, body)
                elif event.topic in LATE_CREATES:
                    await self._late_create(held, event.topic, body)
                else:
                    await self.changes.cancel(held, body)
        except OrderLockLost as exc:
            # The lease ran out under this handler and another worker holds the order now:
            # stop here; the entry is delivered again and handled under a fresh lock.
            raise TransientFailure(str(exc)) from exc

    async def _hold(
        self, stack: contextlib.AsyncExitStack, entry: Entry, shop: str, order_id: str
    ) -> int:
        """Take the order's lock for the rest of ``stack``; the hold's fencing token.

        A lock held elsewhere past the wait, or a lock store down, is expected and passes: a
        TransientFailure with a one-line reason (and the lock's ``retry_after``), logged as a
        warning, for the worker to retry. Only entering the lock is covered: a Conflict from
        the work under it is no lock's.
        """
        try:
            return await stack.enter_async_context(self.locks.hold(shop, order_id))
        except (Conflict, ServiceUnavailable) as exc:
            why = "held by another worker" if isinstance(exc, Conflict) else "out of reach"
            reason = f"{shop} {order_id}: the order's lock is {why} ({_one_line(exc)})"
            log.warning("entry %s, attempt %d: %s", entry.id, entry.attempt, reason)
            raise TransientFailure(reason, retry_after=exc.retry_after) from exc

    async def _order_changed(self, held: HeldOrder, topic: str, body: dict[str, Any]) -> None:
        summary = await self.pipeline.summary(held.shop, held.order_id)
        if not summary.get("state"):
            # The change arrived before orders/create (or that was lost): post the order as
            # it is now, which already has the change.
            await self._late_create(held, topic, body)
            return
        await self.changes.order_changed(held, topic, body, summary)

    async def _record(self, held: HeldOrder, step: str, **fields: Any) -> None:
        """Record a step of the held order, fenced by the hold's token."""
        await self.pipeline.record(held.shop, held.order_id, step, fence=held.fence, **fields)

    async def _late_create(self, held: HeldOrder, topic: str, body: dict[str, Any]) -> None:
        summary = await self.pipeline.summary(held.shop, held.order_id)
        if summary.get("state"):
            # orders/create got here first (or is being handled): nothing to fetch.
            await self._record(held, f"{topic} noted")
            return
        if _whole_order(body):
            # orders/paid and orders/updated carry the whole order, money included: post it.
            await self._post_shopify_order(held, body, topic)
            return
        # It arrived before orders/create (or that was lost): fetch the order rather than fail.
        current = await self.shopify.get_order(held.shop, held.order_id)
        await self._record(held, "fetched", detail=f"after {topic}")
        await self._post_shopify_order(held, current, topic)

    async def _post_shopify_order(self, held: HeldOrder, body: dict[str, Any], topic: str) -> None:
        shop, order_id = held.shop, held.order_id
        summary = await self.pipeline.summary(shop, order_id)
        if summary.get("state") == "acknowledged":
            await self._record(held, "duplicate ignored", detail=topic)
            return
        if summary.get("state") == "cancelled" or body.get("cancelled_at"):
            await self._record(held, "not posted", state="cancelled", detail="cancelled in Shopify")
            return
        await self._record(
            held, "received", state="received", detail=topic, correlation_id=held.correlation
        )
        if self.settings.acknowledge_in_shopify:
            await self.acknowledgements.awaiting(shop, order_id)
        try:
            draft = to_sales_order(shop, body, custom_item_sku=self.settings.custom_item_sku(shop))
        except MappingError as exc:
            raise PermanentFailure(f"mapping failed: {exc}", kind="mapping") from exc
        await self._record(held, "validated", state="validated")
        await self._post(held, draft, summary, acknowledge=True)

    async def _post_channel_order(self, held: HeldOrder, event: ChannelOrder) -> None:
        try:
            draft = channel_order_draft(
                event.shop,
                event.order_id,
                msgspec.json.decode(event.body, type=SalesOrderDraft),
            )
        except msgspec.DecodeError as exc:
            raise PermanentFailure(f"invalid canonical order: {exc}", kind="mapping") from exc
        except ReferenceRefused as exc:
            # An entry queued before references were namespaced, or a replay edited to claim
            # another channel's reference.
            raise PermanentFailure(str(exc), kind="mapping") from exc
        summary = await self.pipeline.summary(held.shop, held.order_id)
        if summary.get("state") in FINAL_STATES:
            return
        await self._record(
            held,
            "received",
            state="validated",
            detail=CHANNEL_ORDER_TOPIC,
            correlation_id=held.correlation,
        )
        await self._post(held, draft, summary, acknowledge=False)

    async def _post(
        self, held: HeldOrder, draft: SalesOrderDraft, summary: dict[str, str], *, acknowledge: bool
    ) -> None:
        shop, order_id = held.shop, held.order_id
        try:
            instance = choose_instance(
                draft, shop, self.settings.routes, self.settings.default_instance, set(self.erps)
            )
        except NoRoute as exc:
            raise PermanentFailure(str(exc), kind="routing") from exc
        await self._refuse_reroute(held, draft.external_reference, instance, summary)
        await self._record(held, "routed", state="routed", detail=instance, erp_instance=instance)
        erp = self.erps[instance]
        async with self._inflight[instance]:
            order = await self._erp_call(
                f"erp {instance} create order", lambda: erp.post_sales_order(draft)
            )
        if order.status in UNCONFIRMED:
            # Created but not confirmed (an ERP answering the order a crashed posting left
            # half-made): not posted until confirmed, so neither recorded nor acknowledged.
            raise TransientFailure(
                f"erp {instance} holds {draft.external_reference} unconfirmed "
                f"({order.status}): not posted yet"
            )
        await self.customers.add(shop, order_id, draft)
        await self._record(
            held,
            "posted",
            state="posted",
            detail=f"{instance} {order.number or order.id}",
            erp_order_id=order.id,
            erp_order_number=order.number or "",
            # What the ERP was given: a later edit with the same lines needs no ERP call.
            lines=lines_fingerprint(quantities(order.lines)),
        )
        if acknowledge and self.settings.acknowledge_in_shopify:
            await self.shopify.acknowledge(shop, order_id, instance, order)
            await self._record(
                held,
                "acknowledged",
                state="acknowledged",
                detail=f"erp:{instance}:{order.number or order.id}",
            )
            await self.acknowledgements.acknowledged(shop, order_id)

    async def _refuse_reroute(
        self, held: HeldOrder, reference: str, instance: str, summary: dict[str, str]
    ) -> None:
        """Raise PermanentFailure (``reroute-needs-operator``) if another instance has the order.

        An edited replay can route an order elsewhere (a new shipping country): the instance
        the pipeline last routed it to is asked for it, and on a replay every other instance
        too. An order cancelled there does not count: cancelling it is how an operator moves
        it.
        """
        previous = summary.get("erp_instance")
        others = [n for n in self.erps if n != instance and (held.replayed or n == previous)]
        if not others:
            return
        found = await asyncio.gather(
            *(
                self._erp_call(
                    f"erp {name} find order",
                    functools.partial(self.erps[name].find_by_reference, reference),
                )
                for name in others
            )
        )
        held_by = [
            (name, order)
            for name, order in zip(others, found, strict=True)
            if order is not None and order.status != SalesOrderStatus.CANCELLED
        ]
        if not held_by:
            return
        name, order = held_by[0]
        number = order.number or order.id
        await self._record(
            held,
            "reroute refused",
            detail=f"in {name} as {number}; routing now says {instance}",
            erp_instance=name,
            erp_order_id=order.id,
            erp_order_number=order.number or "",
        )
        raise PermanentFailure(
            f"order {reference} is in ERP {name} as {number}, but routing now sends it to "
            f"{instance}: nothing was posted. Moving an order between ERP instances is an "
            f"explicit operator action (cancel it in {name}, then replay).",
            kind=REROUTE_NEEDS_OPERATOR,
        )

    async def _erp_call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        return await answer_within(self.settings.erp_timeout, what, call)

    # -- exceptions and replay ------------------------------------------------------------

    async def on_dead_letter(self, entry: Entry, reason: str, kind: str) -> None:
        """Turn a buried entry into an exception record an operator can fix and replay."""
        fields = entry.payload
        try:
            event: StreamEntry | None = decode_entry(fields)
        except MalformedEntry:
            event = None
        if event is not None:
            shop, topic, raw_body = event.shop or "unknown", event.topic, event.body
            correlation = _correlation(event, entry)
        else:
            # An entry that fits no contract is described from whatever fields it has.
            shop = fields.get("shop") or "unknown"
            topic = fields.get("topic") or "unknown"
            raw_body = fields.get("body", "")
            correlation = entry.fields.get(ORIGINAL_ID) or entry.id
        body: dict[str, Any] = {}
        with contextlib.suppress(PermanentFailure):  # the snapshot keeps the raw body anyway
            body = _decode_body(raw_body)
        if isinstance(event, ChannelOrder):
            order_id = event.order_id
        else:
            order_id = _order_id(topic, body) or "unknown"
        now = time.time()
        record = OrderException(
            id=exception_id(shop, order_id, topic),
            state="open",
            kind=kind,
            error=reason,
            shop=shop,
            order_id=order_id,
            topic=topic,
            correlation_id=correlation,
            created_at=now,
            updated_at=now,
            payload=fields,
            retry_history=[RetryRecord(at=a.at, error=a.error, kind=a.kind) for a in entry.history],
            impact=_impact(body),
        )
        record = await self.exceptions.open(record)
        await self.pipeline.record(
            shop,
            order_id,
            "exception",
            state="exception",
            detail=reason,
            exception_id=record.id,
        )

    async def replay(self, ex_id: str, body: dict[str, Any] | None) -> tuple[OrderException, str]:
        """Put the exception's entry (with an edited body, if given) back on the stream.

        Raise LookupError if there is no such exception, :class:`NotReplayable` if its
        snapshot is no stream entry.
        """
        record = await self.exceptions.get(ex_id)
        if record is None:
            raise LookupError(ex_id)
        if record.topic == SHIPMENT_TOPIC:
            return await self._replay_shipment(record, body)
        try:
            original = decode_entry(record.payload)
        except MalformedEntry as exc:
            raise NotReplayable(f"exception {ex_id} holds no stream entry: {exc}") from exc
        entry = msgspec.structs.replace(
            original,
            body=original.body if body is None else msgspec.json.encode(body).decode(),
            replay_of=record.id,
            correlation_id=record.correlation_id,
        )
        entry_id = await self.stream.append(entry)
        marked = await self.exceptions.mark(ex_id, "replayed")
        assert marked is not None
        await self.pipeline.record(
            record.shop,
            record.order_id,
            "replayed",
            state="received",
            detail=ex_id,
            shopify_lines=self._shopify_lines(original, body),
        )
        return marked, entry_id

    def _shopify_lines(self, original: StreamEntry, body: dict[str, Any] | None) -> str:
        """For a replay of a Shopify order with an edited body: the fingerprint of the lines
        Shopify's order has (later ``orders/updated`` carrying them change nothing); else
        empty (the summary field ``shopify_lines`` then matches no order's lines)."""
        if body is None or not isinstance(original, WebhookEvent):
            return ""
        if original.topic not in (ORDERS_CREATE, *LATE_CREATES):
            return ""
        try:
            wanted = wanted_order(
                original.shop,
                _decode_body(original.body),
                self.settings.custom_item_sku(original.shop),
            )
        except (PermanentFailure, MappingError, ValueError, TypeError):
            return ""
        return "" if wanted is None else lines_fingerprint(quantities(wanted.lines))

    async def _replay_shipment(
        self, record: OrderException, body: dict[str, Any] | None
    ) -> tuple[OrderException, str]:
        """An ERP shipment the fulfillment sender could not send: its change goes back on
        the shipments stream (with an edited shipment, if given); the order's pipeline state
        stays what it is (the order itself stands)."""
        try:
            change = decode_shipment_change(record.payload)
        except MalformedEntry as exc:
            raise NotReplayable(f"exception {record.id} holds no shipment change: {exc}") from exc
        if body is not None:
            change = msgspec.structs.replace(change, body=msgspec.json.encode(body).decode())
        entry_id = await self.stream.append_shipment(change)
        marked = await self.exceptions.mark(record.id, "replayed")
        assert marked is not None
        await self.pipeline.record(record.shop, record.order_id, "replayed", detail=record.id)
        return marked, entry_id

    async def accept_channel_order(
        self, channel: str, order_id: str, draft: SalesOrderDraft
    ) -> str:
        """Queue a canonical order from another channel; return its stream entry id.

        The order's external reference is the channel's (:func:`channel_reference`); raise
        :class:`ReferenceRefused` if the body claims another namespace's.
        """
        draft = channel_order_draft(channel, order_id, draft)
        inexact = draft.inexact_amounts()
        if inexact:
            raise ValidationFailed(
                "; ".join(f"{e['field']}: {e['message']}" for e in inexact), errors=inexact
            )
        entry = ChannelOrder(
            shop=channel,
            order_id=order_id,
            body=msgspec.json.encode(draft).decode(),
            correlation_id=str(uuid.uuid4()),
        )
        await self.pipeline.record(channel, order_id, "accepted", state="received")
        return await self.stream.append(entry)


def _whole_order(body: dict[str, Any]) -> bool:
    """Whether a webhook body is Shopify's whole REST order, with the money that makes up its
    total (an ``orders/edited`` body is the edit's deltas, not the order)."""
    return (
        isinstance(body.get("line_items"), list)
        and "current_total_price" in body
        and isinstance(body.get("shipping_lines"), list)
    )


def _decode_body(raw: str) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise PermanentFailure(f"the webhook body is not JSON: {exc}", kind="malformed") from exc
    if not isinstance(body, dict):
        raise PermanentFailure("the webhook body is not a JSON object", kind="malformed")
    return body


def _order_id(topic: str, body: dict[str, Any]) -> str:
    """The Shopify order a webhook is about (an ``orders/edited`` body names it in its edit)."""
    if topic == ORDERS_EDITED:
        edit = body.get("order_edit")
        return str(edit.get("order_id") or "") if isinstance(edit, dict) else ""
    if topic in SHOPIFY_FULFILLMENT_TOPICS:
        return fulfillment_order_id(topic, body)
    return str(body.get("id", ""))


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _correlation(event: StreamEntry, entry: Entry) -> str:
    ids = (event.event_id, event.webhook_id) if isinstance(event, WebhookEvent) else ()
    return (
        event.correlation_id
        or next((i for i in ids if i), None)
        or entry.fields.get(ORIGINAL_ID)
        or entry.id
    )


def _impact(body: dict[str, Any]) -> BusinessImpact:
    customer = body.get("customer") or {}
    lines = body.get("line_items")
    return BusinessImpact(
        order_value=str(body["total_price"]) if body.get("total_price") is not None else None,
        currency=body.get("currency"),
        customer_email=body.get("email") or customer.get("email"),
        line_count=len(lines) if isinstance(lines, list) else None,
    )
