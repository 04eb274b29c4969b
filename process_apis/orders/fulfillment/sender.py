"""Shipment changes to Shopify fulfillments, exactly once: the shipments stream's handler.

For a shipment that left, the sender reads the order's fulfillment orders (Shopify's view of
what is left to ship), matches the shipment's lines to them (:mod:`.matching`) and keeps that
*plan* in Redis before sending anything: every retry after a timeout or a crash sends exactly
the first attempt's body under the same key, and the Shopify system API, which binds its
idempotency key to the body, either answers with the fulfillment it already made (it looks on
the order for it) or makes it. A tracking change later goes through a tracking update keyed by
the new tracking; a cancelled shipment cancels each fulfillment made of it.

What cannot be sent is never skipped silently: lines Shopify no longer holds, units over what
is left, Shopify refusing the fulfillment: the order's fulfillment record says ``failed`` and
an exception (topic ``erp/shipment``) holds the change for an operator to replay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from process_apis.orders.exceptions import ExceptionStore, exception_id
from process_apis.orders.fulfillment.feed import PENDING_KEY, pending_member
from process_apis.orders.fulfillment.matching import (
    FulfillmentOrders,
    Group,
    Plan,
    Tracking,
    plan_shipment,
    tracking_fingerprint,
    tracking_of,
)
from process_apis.orders.fulfillment.records import (
    FulfillmentLine,
    FulfillmentRecord,
    FulfillmentRecords,
    FulfillmentTracking,
    shipment_key,
)
from process_apis.orders.fulfillment.settings import FulfillmentSettings
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.schemas import BusinessImpact, OrderException, RetryRecord
from shared.events import Entry, PermanentFailure, RedisClient, TransientFailure
from shared.models import Shipment
from shared.sibling import (
    SiblingClient,
    SiblingNotFound,
    SiblingRejected,
    SiblingUnavailable,
)
from shared.streams import (
    SHIPMENT_TOPIC,
    MalformedEntry,
    ShipmentChange,
    decode_shipment_change,
)

log = logging.getLogger("strata.orders.fulfillment")

PLAN_KEEP_MS = 90 * 24 * 3600 * 1000


class SentFulfillment(msgspec.Struct, frozen=True, kw_only=True):
    """The part of the system API's ``OrderFulfillment`` the sender keeps."""

    id: int
    name: str = ""
    status: str = ""
    display_status: str | None = None


class FulfillmentSender:
    """Handles the shipments stream's entries (:meth:`handle`) and its dead letters."""

    def __init__(
        self,
        redis: RedisClient,
        shopify: SiblingClient,
        settings: FulfillmentSettings,
        *,
        records: FulfillmentRecords,
        pipeline: PipelineStore,
        exceptions: ExceptionStore,
        on_lag: Callable[[float], None] | None = None,
        prefix: str = "strata:fulfillment",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.shopify = shopify
        self.settings = settings
        self.records = records
        self.pipeline = pipeline
        self.exceptions = exceptions
        self.on_lag = on_lag
        self.prefix = prefix
        self.clock = clock

    def plan_key(self, change: ShipmentChange) -> str:
        """The shipment's plan: by instance, shipment and the order it ships (an ERP whose
        ids start again, a restored or a new database, must not find another's plan)."""
        return (
            f"{self.prefix}:plan:{{{change.erp_instance}:{change.shipment_id}}}"
            f":{change.shop}:{change.order_id}"
        )

    # -- the stream handler ------------------------------------------------------------------

    async def handle(self, entry: Entry) -> None:
        try:
            change = decode_shipment_change(entry.payload)
            shipment = msgspec.json.decode(change.body, type=Shipment)
        except (MalformedEntry, msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise PermanentFailure(f"not a shipment change: {exc}", kind="malformed") from exc
        try:
            if change.change == "cancelled":
                await self._cancelled(change, shipment)
            else:
                await self._shipped(change, shipment)
        except SiblingUnavailable as exc:
            raise TransientFailure(str(exc), retry_after=exc.retry_after) from exc

    async def on_dead_letter(self, entry: Entry, reason: str, kind: str) -> None:
        """A change the worker gave up on: an exception to replay, the record ``failed``."""
        try:
            change = decode_shipment_change(entry.payload)
        except MalformedEntry:
            log.error("malformed shipment change %s dead-lettered: %s", entry.id, reason)
            return
        history = [RetryRecord(at=a.at, error=a.error, kind=a.kind) for a in entry.history]
        ex = await self._exception(change, kind, reason, history=history)
        if change.change != "shipped":
            return
        key = shipment_key(change.erp_instance, change.shipment_id)
        record = await self.records.get(change.shop, change.order_id, key)
        if record is not None and record.state == "pending":
            await self.records.put(
                change.shop,
                change.order_id,
                msgspec.structs.replace(record, state="failed", error=reason, exception_id=ex.id),
            )

    # -- shipped -----------------------------------------------------------------------------

    async def _shipped(self, change: ShipmentChange, shipment: Shipment) -> None:
        shop, order_id = change.shop, change.order_id
        tracking = tracking_of(shipment, self.settings.carriers)
        made_in_shopify = shopify_fulfillment_of(shipment, shop)
        if made_in_shopify is not None:
            # The ERP recorded a fulfillment made in Shopify: Shopify has it already.
            await self.records.put(
                shop,
                order_id,
                _whole_shipment(
                    change,
                    shipment,
                    tracking,
                    source="shopify",
                    state="fulfilled",
                    fulfillment_id=made_in_shopify,
                ),
            )
            await self.redis.zrem(PENDING_KEY, pending_member(change))
            return
        plan = await self._plan(change, shipment, tracking)
        if plan is None:
            return
        made_now = False
        for group in plan.groups:
            if group.fulfillment_id is None:
                made_now |= await self._send(change, shipment, plan, group, tracking)
        fp = tracking_fingerprint(tracking)
        if fp != plan.tracking_fp and tracking is not None:
            for group in plan.groups:
                await self._update_tracking(change, group, tracking, fp)
            plan.tracking_fp = fp
            await self._save(change, plan)
        state = "fulfilled" if plan.groups else "failed"
        await self._write_records(change, shipment, plan, tracking, state=state)
        if plan.groups:
            await self.redis.zrem(PENDING_KEY, pending_member(change))
        if made_now:
            left = plan.remaining_before - plan.shipped_units
            status = "fulfilled" if left <= 0 else "partially_fulfilled"
            await self.pipeline.record(
                shop,
                order_id,
                status,
                detail=_describe(shipment, tracking),
                fulfillment_status=status,
                fulfillment_status_at=repr(self.clock()),
            )
            shipped = _shipped_at(shipment, change)
            if self.on_lag is not None:
                self.on_lag(max(0.0, self.clock() - shipped))
        if plan.unmatched:
            reason = "; ".join(f"{u.sku} x{u.quantity}: {u.reason}" for u in plan.unmatched)
            await self._exception(change, "fulfillment-lines-unmatched", reason)

    async def _plan(
        self, change: ShipmentChange, shipment: Shipment, tracking: Tracking | None
    ) -> Plan | None:
        """The shipment's kept plan, or a new one from the order's fulfillment orders now."""
        key = self.plan_key(change)
        raw = await self.redis.get(key)
        if raw is not None:
            return msgspec.json.decode(raw, type=Plan)
        try:
            orders = await self.shopify.get_json(
                "/shopify/v1/shops/{shop}/orders/{order_id}/fulfillment-orders",
                type=FulfillmentOrders,
                shop=change.shop,
                order_id=change.order_id,
            )
        except SiblingNotFound:
            await self._fail(
                change,
                shipment,
                "fulfillment-order-missing",
                f"Shopify has no order {change.order_id} in {change.shop}",
            )
            return None
        plan = plan_shipment(
            shipment,
            orders,
            key_prefix=f"{change.erp_instance}:shipment:{shipment.id}:order:{change.order_id}",
            location_id=self.settings.location(
                change.shop, change.erp_instance, shipment.warehouse
            ),
            tracking=tracking,
            notify_customer=self.settings.notify(change.shop),
        )
        if not plan.groups:
            reason = "; ".join(f"{u.sku} x{u.quantity}: {u.reason}" for u in plan.unmatched)
            await self._fail(
                change,
                shipment,
                "fulfillment-lines-unmatched",
                reason or "the shipment carries no units",
            )
            return None
        # First plan wins: a concurrent handler of the same shipment sends the same body.
        if not await self.redis.set(key, msgspec.json.encode(plan), nx=True, px=PLAN_KEEP_MS):
            raw = await self.redis.get(key)
            if raw is not None:
                return msgspec.json.decode(raw, type=Plan)
        return plan

    async def _save(self, change: ShipmentChange, plan: Plan) -> None:
        await self.redis.set(
            self.plan_key(change),
            msgspec.json.encode(plan),
            px=PLAN_KEEP_MS,
        )

    async def _send(
        self,
        change: ShipmentChange,
        shipment: Shipment,
        plan: Plan,
        group: Group,
        tracking: Tracking | None,
    ) -> bool:
        """Make the group's fulfillment (or find it made); whether Shopify made it now."""
        if not group.attempted:
            group.attempted = True
            await self._save(change, plan)
        await self.records.sending(change.shop, change.order_id, group.key)
        try:
            response = await self.shopify.request(
                "POST",
                "/shopify/v1/shops/{shop}/orders/{order_id}/fulfillments",
                content=msgspec.json.encode(group.body),
                headers={"Content-Type": "application/json"},
                idempotency_key=group.key,
                shop=change.shop,
                order_id=change.order_id,
            )
        except SiblingRejected as exc:
            if exc.sibling_status == 409:
                raise TransientFailure(str(exc), retry_after=exc.retry_after or 2) from exc
            if all(g.fulfillment_id is None for g in plan.groups):
                # Nothing of the plan is in Shopify (a refusal means this send made nothing):
                # a replay plans again from the fulfillment orders as they are then.
                await self.redis.delete(self.plan_key(change))
            await self.records.sent(change.shop, change.order_id, group.key)
            raise PermanentFailure(_problem_text(exc), kind="fulfillment-refused") from exc
        made = msgspec.json.decode(response.content, type=SentFulfillment)
        group.fulfillment_id = made.id
        group.name = made.name or None
        await self._save(change, plan)
        await self._write_records(change, shipment, plan, tracking, state="fulfilled")
        await self.records.sent(change.shop, change.order_id, group.key)
        return response.status_code == 201

    async def _update_tracking(
        self, change: ShipmentChange, group: Group, tracking: Tracking, fp: str
    ) -> None:
        if group.fulfillment_id is None:
            return
        try:
            await self.shopify.request(
                "POST",
                "/shopify/v1/shops/{shop}/fulfillments/{fulfillment_id}/tracking",
                content=msgspec.json.encode(
                    {
                        "tracking": tracking,
                        "notify_customer": self.settings.notify(change.shop),
                    }
                ),
                headers={"Content-Type": "application/json"},
                idempotency_key=f"{group.key}:tracking:{fp}",
                shop=change.shop,
                fulfillment_id=group.fulfillment_id,
            )
        except SiblingRejected as exc:
            raise PermanentFailure(_problem_text(exc), kind="fulfillment-tracking-refused") from exc

    # -- cancelled ---------------------------------------------------------------------------

    async def _cancelled(self, change: ShipmentChange, shipment: Shipment) -> None:
        if shopify_fulfillment_of(shipment, change.shop) is not None:
            # Recorded from Shopify: what Shopify holds is Shopify's to change.
            await self.redis.zrem(PENDING_KEY, pending_member(change))
            return
        key = self.plan_key(change)
        raw = await self.redis.get(key)
        await self.redis.zrem(PENDING_KEY, pending_member(change))
        if raw is None:
            # Never sent: nothing in Shopify to undo (a record, if any, says cancelled).
            existing = await self.records.get(
                change.shop, change.order_id, shipment_key(change.erp_instance, shipment.id)
            )
            if existing is not None:
                await self.records.put(
                    change.shop,
                    change.order_id,
                    msgspec.structs.replace(existing, state="cancelled"),
                )
            return
        plan = msgspec.json.decode(raw, type=Plan)
        cancelled_any = False
        for group in plan.groups:
            if group.fulfillment_id is None and group.attempted:
                # The send's outcome is unknown: ask again with its key, which finds the
                # fulfillment if Shopify made it (and else makes it, to be cancelled now).
                await self._send(
                    change, shipment, plan, group, tracking_of(shipment, self.settings.carriers)
                )
            if group.fulfillment_id is None:
                continue
            try:
                await self.shopify.request(
                    "POST",
                    "/shopify/v1/shops/{shop}/fulfillments/{fulfillment_id}/cancel",
                    idempotency_key=f"{group.key}:cancel",
                    shop=change.shop,
                    fulfillment_id=group.fulfillment_id,
                )
                cancelled_any = True
            except SiblingRejected as exc:
                raise PermanentFailure(
                    _problem_text(exc), kind="fulfillment-cancel-refused"
                ) from exc
        await self._write_records(
            change,
            shipment,
            plan,
            tracking_of(shipment, self.settings.carriers),
            state="cancelled",
        )
        if cancelled_any:
            await self.pipeline.record(
                change.shop,
                change.order_id,
                "fulfillment_cancelled",
                detail=f"ERP shipment {shipment.number or shipment.id} cancelled",
            )

    # -- records and exceptions --------------------------------------------------------------

    async def _write_records(
        self,
        change: ShipmentChange,
        shipment: Shipment,
        plan: Plan,
        tracking: Tracking | None,
        *,
        state: Any,
    ) -> None:
        now = self.clock()
        for index, group in enumerate(plan.groups):
            key = shipment_key(change.erp_instance, shipment.id)
            if index:
                key = f"{key}#{index + 1}"
            previous = await self.records.get(change.shop, change.order_id, key)
            record = FulfillmentRecord(
                key=key,
                source="erp",
                state=state
                if group.fulfillment_id is not None or state == "cancelled"
                else "pending",
                fulfillment_id=group.fulfillment_id,
                name=group.name,
                erp_instance=change.erp_instance,
                shipment_id=shipment.id,
                shipment_number=shipment.number,
                carrier=tracking.company if tracking else None,
                tracking=_tracking(tracking),
                lines=[FulfillmentLine(sku=s, quantity=q) for s, q in sorted(group.skus.items())],
                shipped_at=(
                    previous.shipped_at
                    if previous and previous.shipped_at
                    else _shipped_at(shipment, change)
                ),
                fulfilled_at=(
                    previous.fulfilled_at
                    if previous and previous.fulfilled_at
                    else now
                    if group.fulfillment_id is not None
                    else None
                ),
                delivered_at=previous.delivered_at if previous else None,
            )
            await self.records.put(change.shop, change.order_id, record)

    async def _fail(
        self, change: ShipmentChange, shipment: Shipment, kind: str, reason: str
    ) -> None:
        ex = await self._exception(change, kind, reason)
        tracking = tracking_of(shipment, self.settings.carriers)
        await self.records.put(
            change.shop,
            change.order_id,
            _whole_shipment(
                change,
                shipment,
                tracking,
                source="erp",
                state="failed",
                error=reason,
                exception_id=ex.id,
            ),
        )

    async def _exception(
        self,
        change: ShipmentChange,
        kind: str,
        reason: str,
        *,
        history: list[RetryRecord] | None = None,
    ) -> OrderException:
        now = self.clock()
        fields = {k: v for k, v in msgspec.structs.asdict(change).items() if isinstance(v, str)}
        record = OrderException(
            id=exception_id(change.shop, change.order_id, f"{SHIPMENT_TOPIC}:{change.shipment_id}"),
            state="open",
            kind=kind,
            error=reason,
            shop=change.shop,
            order_id=change.order_id,
            topic=SHIPMENT_TOPIC,
            correlation_id=f"{change.erp_instance}:shipment:{change.shipment_id}",
            created_at=now,
            updated_at=now,
            payload=fields,
            retry_history=history or [],
            impact=BusinessImpact(),
        )
        record = await self.exceptions.open(record)
        await self.pipeline.record(
            change.shop,
            change.order_id,
            "fulfillment_exception",
            detail=reason,
        )
        return record


def shopify_fulfillment_of(shipment: Shipment, shop: str) -> int | None:
    """The Shopify fulfillment an ERP shipment was recorded from (its reference is
    ``shopify:<shop>:fulfillment:<id>``), else None."""
    prefix = f"shopify:{shop}:fulfillment:"
    if shipment.reference and shipment.reference.startswith(prefix):
        number = shipment.reference[len(prefix) :]
        return int(number) if number.isdigit() else None
    return None


def _whole_shipment(
    change: ShipmentChange, shipment: Shipment, tracking: Tracking | None, **fields: Any
) -> FulfillmentRecord:
    """The record of a whole shipment (every line, not one send's), with ``fields``."""
    return FulfillmentRecord(
        key=shipment_key(change.erp_instance, shipment.id),
        erp_instance=change.erp_instance,
        shipment_id=shipment.id,
        shipment_number=shipment.number,
        carrier=tracking.company if tracking else None,
        tracking=_tracking(tracking),
        lines=[
            FulfillmentLine(sku=line.sku, quantity=int(line.quantity)) for line in shipment.lines
        ],
        shipped_at=_shipped_at(shipment, change),
        **fields,
    )


def _tracking(tracking: Tracking | None) -> list[FulfillmentTracking]:
    if tracking is None:
        return []
    urls = tracking.urls if len(tracking.urls) == len(tracking.numbers) else []
    return [
        FulfillmentTracking(number=number, url=urls[i] if urls else None)
        for i, number in enumerate(tracking.numbers)
    ]


def _shipped_at(shipment: Shipment, change: ShipmentChange) -> float:
    """When the goods left, as near as the ERP says: its last change of the shipment (the
    one that made it shipped, for a first sight), else when the follower saw it."""
    for stamp in (shipment.updated_at, shipment.shipped_at):
        if stamp is not None:
            return stamp.timestamp()
    return float(change.seen_at)


def _describe(shipment: Shipment, tracking: Tracking | None) -> str:
    parts = [f"ERP shipment {shipment.number or shipment.id}"]
    if tracking is not None:
        if tracking.company:
            parts.append(tracking.company)
        parts.extend(tracking.numbers)
    return " ".join(parts)


def _problem_text(exc: SiblingRejected) -> str:
    problem = exc.problem
    detail = getattr(problem, "detail", None) or getattr(problem, "title", None)
    return f"{exc.sibling_status}: {detail or exc}"
