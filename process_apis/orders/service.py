"""The orders pipeline: a Shopify order lands once, and only once, in the right regional ERP.

Each stream entry is one webhook (or a canonical order from another channel). The handler
maps, validates, routes and posts it with an idempotency key derived from shop and order,
then acknowledges it in Shopify; every step is recorded. Failures are raised as transient or
permanent for the stream worker to retry or bury; a buried entry becomes an exception
record, which an operator can replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import msgspec
from redis.asyncio import Redis

from process_apis.orders.customer_index import index_customer_order
from process_apis.orders.downstream import ErpClient, Rejected, ShopifyClient
from process_apis.orders.exceptions import ExceptionStore, exception_id
from process_apis.orders.mapping import MappingError, external_reference, to_sales_order
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.routing import NoRoute, choose_instance
from process_apis.orders.schemas import BusinessImpact, OrderException, RetryRecord
from process_apis.orders.settings import OrdersSettings
from shared.events import Entry, PermanentFailure, publish
from shared.idempotency import IdempotencyStore
from shared.models import SalesOrderDraft
from shared.telemetry.business import acknowledged, await_acknowledgement

CREATE = "orders/create"
LATE_CREATES = frozenset({"orders/updated", "orders/paid"})
CANCELLED = "orders/cancelled"
CHANNEL_CREATE = "strata/orders.create"
FINAL_STATES = frozenset({"acknowledged", "posted"})
ORDER_TOPICS = frozenset({CREATE, CANCELLED, *LATE_CREATES})
# Past the slowest posting (ERP timeout plus acknowledgement); a crashed holder delays
# its order by at most this long. Work that outlives it is still safe: posting is idempotent.
ORDER_LOCK_TTL = 45.0


class OrdersService:
    def __init__(
        self,
        settings: OrdersSettings,
        redis: Redis,
        erps: dict[str, ErpClient],
        shopify: ShopifyClient,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.erps = erps
        self.shopify = shopify
        self.pipeline = PipelineStore(redis)
        self.exceptions = ExceptionStore(redis)
        self.locks = IdempotencyStore(redis, "strata:orders", wait_for_pending=60.0)
        self._inflight = {name: asyncio.Semaphore(settings.erp_max_inflight) for name in erps}

    # -- intake ---------------------------------------------------------------------------

    async def handle(self, entry: Entry) -> None:
        """Process one stream entry; raise TransientFailure or PermanentFailure on failure."""
        fields = entry.payload
        topic = fields.get("topic", "")
        shop = fields.get("shop", "")
        if not shop:
            raise PermanentFailure("the entry names no shop", kind="malformed")
        if topic == CHANNEL_CREATE:
            await self._post_channel_order(shop, fields, entry)
            return
        body = _decode_body(fields.get("body", ""))
        order_id = str(body.get("id", ""))
        if not order_id:
            raise PermanentFailure("the webhook body has no order id", kind="malformed")
        correlation = _correlation(fields, entry)
        if topic not in ORDER_TOPICS:
            return  # other topics are consumed by other processes from the same stream
        # One entry per order at a time, across workers: orders/create and an orders/paid
        # right behind it must not both post (they may carry different snapshots).
        async with self.locks.exclusive(f"order:{shop}:{order_id}", ttl=ORDER_LOCK_TTL):
            if topic == CREATE:
                await self._post_shopify_order(shop, order_id, body, correlation, topic)
            elif topic in LATE_CREATES:
                await self._late_create(shop, order_id, correlation, topic)
            else:
                await self._cancel(shop, order_id, body, correlation)

    async def _late_create(self, shop: str, order_id: str, correlation: str, topic: str) -> None:
        summary = await self.pipeline.summary(shop, order_id)
        if summary.get("state"):
            # orders/create got here first (or is being handled): nothing to fetch.
            await self.pipeline.record(shop, order_id, f"{topic} noted")
            return
        # It arrived before orders/create (or that was lost): fetch the order rather than fail.
        current = await self.shopify.get_order(shop, order_id)
        await self.pipeline.record(shop, order_id, "fetched", detail=f"after {topic}")
        await self._post_shopify_order(shop, order_id, current, correlation, topic)

    async def _post_shopify_order(
        self, shop: str, order_id: str, body: dict[str, Any], correlation: str, topic: str
    ) -> None:
        summary = await self.pipeline.summary(shop, order_id)
        if summary.get("state") == "acknowledged":
            await self.pipeline.record(shop, order_id, "duplicate ignored", detail=topic)
            return
        if summary.get("state") == "cancelled" or body.get("cancelled_at"):
            await self.pipeline.record(
                shop, order_id, "not posted", state="cancelled", detail="cancelled in Shopify"
            )
            return
        await self.pipeline.record(
            shop,
            order_id,
            "received",
            state="received",
            detail=topic,
            correlation_id=correlation,
        )
        if self.settings.acknowledge_in_shopify:
            await await_acknowledgement(self.redis, shop, order_id)
        try:
            draft = to_sales_order(shop, body)
        except MappingError as exc:
            raise PermanentFailure(f"mapping failed: {exc}", kind="mapping") from exc
        await self.pipeline.record(shop, order_id, "validated", state="validated")
        await self._post(shop, order_id, draft, acknowledge=True)

    async def _post_channel_order(self, channel: str, fields: dict[str, str], entry: Entry) -> None:
        try:
            draft = msgspec.json.decode(fields.get("body", ""), type=SalesOrderDraft)
        except msgspec.DecodeError as exc:
            raise PermanentFailure(f"invalid canonical order: {exc}", kind="mapping") from exc
        order_id = fields.get("order_id", draft.external_reference)
        summary = await self.pipeline.summary(channel, order_id)
        if summary.get("state") in FINAL_STATES:
            return
        await self.pipeline.record(
            channel,
            order_id,
            "received",
            state="validated",
            detail=CHANNEL_CREATE,
            correlation_id=_correlation(fields, entry),
        )
        await self._post(channel, order_id, draft, acknowledge=False)

    async def _post(
        self, shop: str, order_id: str, draft: SalesOrderDraft, *, acknowledge: bool
    ) -> None:
        try:
            instance = choose_instance(
                draft, shop, self.settings.routes, self.settings.default_instance, set(self.erps)
            )
        except NoRoute as exc:
            raise PermanentFailure(str(exc), kind="routing") from exc
        await self.pipeline.record(
            shop, order_id, "routed", state="routed", detail=instance, erp_instance=instance
        )
        async with self._inflight[instance]:
            order = await self.erps[instance].post_sales_order(draft)
        await index_customer_order(self.redis, shop, order_id, draft)
        await self.pipeline.record(
            shop,
            order_id,
            "posted",
            state="posted",
            detail=f"{instance} {order.number or order.id}",
            erp_order_id=order.id,
            erp_order_number=order.number or "",
        )
        if acknowledge and self.settings.acknowledge_in_shopify:
            await self.shopify.acknowledge(shop, order_id, instance, order)
            await self.pipeline.record(
                shop,
                order_id,
                "acknowledged",
                state="acknowledged",
                detail=f"erp:{instance}:{order.number or order.id}",
            )
            await acknowledged(self.redis, shop, order_id)

    async def _cancel(
        self, shop: str, order_id: str, body: dict[str, Any], correlation: str
    ) -> None:
        summary = await self.pipeline.summary(shop, order_id)
        instance = summary.get("erp_instance")
        erp_id = summary.get("erp_order_id")
        if not (instance and erp_id) or instance not in self.erps:
            # Not posted by us (yet): look for it where routing would have sent it.
            try:
                draft = to_sales_order(shop, body)
                instance = choose_instance(
                    draft,
                    shop,
                    self.settings.routes,
                    self.settings.default_instance,
                    set(self.erps),
                )
            except (MappingError, NoRoute):
                instance = self.settings.default_instance
            found = await self.erps[instance].find_by_reference(external_reference(shop, order_id))
            if found is None:
                await self.pipeline.record(
                    shop,
                    order_id,
                    "cancelled before posting",
                    state="cancelled",
                    correlation_id=correlation,
                )
                return
            erp_id = found.id
        try:
            await self.erps[instance].cancel(erp_id)
        except Rejected as exc:
            if exc.problem.get("status") == 409:
                raise PermanentFailure(
                    f"cancelled in Shopify but already shipped from ERP {instance}: "
                    "refund or return needed",
                    kind="cancel-after-shipment",
                ) from exc
            raise
        await self.pipeline.record(
            shop, order_id, "cancelled", state="cancelled", detail=f"{instance} {erp_id}"
        )

    # -- exceptions and replay ------------------------------------------------------------

    async def on_dead_letter(self, entry: Entry, reason: str, kind: str) -> None:
        """Turn a buried entry into an exception record an operator can fix and replay."""
        fields = entry.payload
        shop = fields.get("shop", "unknown")
        topic = fields.get("topic", "unknown")
        body: dict[str, Any] = {}
        with contextlib.suppress(PermanentFailure):  # the snapshot keeps the raw body anyway
            body = _decode_body(fields.get("body", ""))
        order_id = fields.get("order_id") or str(body.get("id", "unknown"))
        now = time.time()
        record = OrderException(
            id=exception_id(shop, order_id, topic),
            state="open",
            kind=kind,
            error=reason,
            shop=shop,
            order_id=order_id,
            topic=topic,
            correlation_id=_correlation(fields, entry),
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
        """Put the exception's payload (or an edited body) back on the stream."""
        record = await self.exceptions.get(ex_id)
        if record is None:
            raise LookupError(ex_id)
        fields = dict(record.payload)
        if body is not None:
            fields["body"] = msgspec.json.encode(body).decode()
        fields["replay_of"] = record.id
        fields["correlation_id"] = record.correlation_id
        entry_id = await publish(self.redis, self.settings.webhook_stream, fields)
        marked = await self.exceptions.mark(ex_id, "replayed")
        assert marked is not None
        await self.pipeline.record(
            record.shop, record.order_id, "replayed", state="received", detail=ex_id
        )
        return marked, entry_id

    async def accept_channel_order(
        self, channel: str, order_id: str, draft: SalesOrderDraft
    ) -> str:
        fields = {
            "topic": CHANNEL_CREATE,
            "shop": channel,
            "order_id": order_id,
            "body": msgspec.json.encode(draft).decode(),
            "correlation_id": str(uuid.uuid4()),
        }
        await self.pipeline.record(channel, order_id, "accepted", state="received")
        return await publish(self.redis, self.settings.webhook_stream, fields)


def _decode_body(raw: str) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise PermanentFailure(f"the webhook body is not JSON: {exc}", kind="malformed") from exc
    if not isinstance(body, dict):
        raise PermanentFailure("the webhook body is not a JSON object", kind="malformed")
    return body


def _correlation(fields: dict[str, str], entry: Entry) -> str:
    return (
        fields.get("correlation_id")
        or fields.get("event_id")
        or fields.get("webhook_id")
        or entry.fields.get("strata_original_id")
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
