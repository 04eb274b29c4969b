"""Fulfillments on Shopify: read an order's, send one exactly once per caller key, correct
its tracking, cancel it.

``fulfillmentCreate`` takes no ``@idempotent`` key, and a timeout or a crash leaves unknown
whether Shopify made the fulfillment. :class:`FulfillmentSender` keeps one record per shop and
caller key (the ERP shipment) in Redis, written *before* the mutation is sent: the request's
fingerprint, the fulfillments the order already had, and the line items, quantities, location
and tracking numbers being sent. A retry with the same key then

* returns the fulfillment the record names, once the send is known to have succeeded;
* otherwise looks on the order for a fulfillment made since the record was written with
  exactly those lines, location and tracking numbers, and returns it if there is one;
* otherwise sends again, but only after the earlier attempt's request can no longer be
  running at Shopify (``in_flight_grace``; sooner answers 409 with ``Retry-After``).

The key is kept in Redis rather than on the fulfillment or the order: tracking fields reach
the customer (notification emails, the order status page, carrier links); an order metafield
is a second write that can be lost between the two calls just like a Redis record, and it
fires ``orders/updated`` back at the process layer. The lookup on the order is what makes the
crash window safe; the record is what makes the lookup exact (only fulfillments made since the
attempt began, with the same lines and numbers, can be ours).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import msgspec
from redis.exceptions import RedisError

from shared.problems import (
    Conflict,
    IdempotencyKeyReused,
    ServiceUnavailable,
    UpstreamTimeout,
    ValidationFailed,
)
from shared.ratelimit.scripts import RedisClient
from system_apis.shopify.admin import AdminGraphQL
from system_apis.shopify.fulfillment_queries import (
    FULFILLMENT,
    FULFILLMENT_CANCEL,
    FULFILLMENT_CREATE,
    FULFILLMENT_ORDER,
    ORDER_FULFILLMENT_ORDERS,
    ORDER_FULFILLMENTS,
    SEND_CONTEXT,
    TRACKING_UPDATE,
)
from system_apis.shopify.fulfillment_schemas import (
    FulfilledLine,
    FulfillmentOrderLine,
    FulfillmentOrderView,
    FulfillmentSend,
    OrderFulfillment,
    OrderFulfillmentOrders,
    OrderFulfillments,
    TrackingInfo,
    TrackingInput,
    TrackingUpdate,
)
from system_apis.shopify.problems import (
    ShopifyRecordNotFound,
    ShopifyUnavailable,
    ShopifyUserErrors,
)
from system_apis.shopify.schemas import Fulfillment, FulfillmentCreate, FulfillmentTracking


class FulfillmentSendInFlight(Conflict):
    """An earlier send with this key may still be running at Shopify: retry after a while."""

    slug = "fulfillment-send-in-flight"
    title = "A fulfillment with this key is being sent; retry later"


class FulfillmentOrderNotOnOrder(ValidationFailed):
    slug = "fulfillment-order-not-on-order"
    title = "A fulfillment order does not belong to the order, or is not open"


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def number(global_id: str | None) -> int | None:
    if global_id is None:
        return None
    tail = global_id.rsplit("/", 1)[-1].split("?", 1)[0]
    return int(tail) if tail.isdigit() else None


def _id(global_id: str | None) -> int:
    value = number(global_id)
    if value is None:
        raise ShopifyRecordNotFound(f"Shopify returned an unexpected id {global_id!r}")
    return value


def fulfillment_from(node: Mapping[str, Any], order_id: int | None = None) -> OrderFulfillment:
    """An Admin API ``Fulfillment`` as the v1 contract shows it."""
    return OrderFulfillment(
        id=_id(node.get("id")),
        order_id=order_id or _id((node.get("order") or {}).get("id")),
        name=node.get("name") or "",
        status=node.get("status") or "",
        display_status=node.get("displayStatus"),
        created_at=node.get("createdAt"),
        updated_at=node.get("updatedAt"),
        location_id=number((node.get("location") or {}).get("id")),
        tracking=[
            TrackingInfo(company=t.get("company"), number=t.get("number"), url=t.get("url"))
            for t in node.get("trackingInfo") or ()
        ],
        lines=[
            FulfilledLine(
                line_item_id=_id(li["lineItem"]["id"]),
                sku=li["lineItem"].get("sku"),
                quantity=li.get("quantity") or 0,
            )
            for li in (node.get("fulfillmentLineItems") or {}).get("nodes") or ()
        ],
    )


def tracking_input(tracking: TrackingInput) -> dict[str, Any]:
    """``FulfillmentTrackingInput``: every number and URL, never only the first."""
    return {"company": tracking.company, "numbers": tracking.numbers, "urls": tracking.urls}


class SendRecord(msgspec.Struct, kw_only=True):
    """What is known of one key's send, kept in Redis from before the mutation goes out."""

    fingerprint: str
    order_id: int
    started_at: float
    before: list[int]
    lines: dict[str, int]
    location_id: int | None
    numbers: list[str]
    fulfillment_id: int | None = None


_RECORD = msgspec.json.Decoder(SendRecord)
_ENCODER = msgspec.json.Encoder(order="sorted")

# Write the record only if the key has none (the first attempt).
_START = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# Take over an unfinished attempt: only if the record is still the one this caller read.
_RETAKE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


class FulfillmentSender:
    """Shopify fulfillments of configured shops; :meth:`send` makes one per caller key."""

    def __init__(
        self,
        admin: AdminGraphQL,
        redis: RedisClient,
        *,
        prefix: str = "strata:shopify",
        in_flight_grace: float | None = None,
        keep_for: float = 30 * 24 * 3600.0,
    ) -> None:
        self.admin = admin
        self.redis = redis
        self.prefix = prefix
        # A request our client gave up on may still be running at Shopify; past its own
        # deadline and as long again, it has ended one way or the other.
        self.in_flight_grace = (
            in_flight_grace if in_flight_grace is not None else 2 * admin.settings.read_timeout
        )
        self.keep_for_ms = int(keep_for * 1000)
        self._start = redis.register_script(_START)
        self._retake = redis.register_script(_RETAKE)

    # -- reads -------------------------------------------------------------------------------

    async def order_fulfillments(self, shop: str, order_id: int) -> OrderFulfillments:
        """The order's fulfillments (the first ``FULFILLMENTS_MAX``), oldest first."""
        data = await self.admin.execute(
            shop, "StrataOrderFulfillments", ORDER_FULFILLMENTS, {"id": gid("Order", order_id)}
        )
        node = data.get("order")
        if node is None:
            raise ShopifyRecordNotFound(f"{shop} has no order {order_id}")
        return OrderFulfillments(
            order_id=order_id,
            fulfillment_status=node.get("displayFulfillmentStatus") or "",
            items=[fulfillment_from(f, order_id) for f in node.get("fulfillments") or ()],
        )

    async def fulfillment_orders(self, shop: str, order_id: int) -> OrderFulfillmentOrders:
        """The order's fulfillment orders with what is left on each line, as Shopify holds
        them now (a sender matches a shipment's lines against them at send time)."""
        data = await self.admin.execute(
            shop,
            "StrataOrderFulfillmentOrders",
            ORDER_FULFILLMENT_ORDERS,
            {"id": gid("Order", order_id)},
        )
        node = data.get("order")
        if node is None:
            raise ShopifyRecordNotFound(f"{shop} has no order {order_id}")
        return OrderFulfillmentOrders(
            order_id=order_id,
            fulfillment_status=node.get("displayFulfillmentStatus") or "",
            items=[
                FulfillmentOrderView(
                    id=_id(fo["id"]),
                    status=fo.get("status") or "",
                    location_id=number(
                        ((fo.get("assignedLocation") or {}).get("location") or {}).get("id")
                    ),
                    lines=[
                        FulfillmentOrderLine(
                            id=_id(li["id"]),
                            line_item_id=_id((li.get("lineItem") or {}).get("id")),
                            sku=li.get("sku") or (li.get("lineItem") or {}).get("sku"),
                            total_quantity=int(li.get("totalQuantity") or 0),
                            remaining_quantity=int(li.get("remainingQuantity") or 0),
                        )
                        for li in (fo.get("lineItems") or {}).get("nodes") or ()
                    ],
                )
                for fo in (node.get("fulfillmentOrders") or {}).get("nodes") or ()
            ],
        )

    async def fulfillment(self, shop: str, fulfillment_id: int) -> OrderFulfillment:
        """One fulfillment with its tracking and lines."""
        data = await self.admin.execute(
            shop, "StrataFulfillment", FULFILLMENT, {"id": gid("Fulfillment", fulfillment_id)}
        )
        node = data.get("fulfillment")
        if node is None:
            raise ShopifyRecordNotFound(f"{shop} has no fulfillment {fulfillment_id}")
        return fulfillment_from(node)

    # -- changes -----------------------------------------------------------------------------

    async def update_tracking(
        self, shop: str, fulfillment_id: int, update: TrackingUpdate
    ) -> OrderFulfillment:
        """``fulfillmentTrackingInfoUpdate``: the fulfillment carries ``update.tracking``."""
        await self.fulfillment(shop, fulfillment_id)  # 404 rather than a userError
        payload = await self.admin.mutate(
            shop,
            "StrataFulfillmentTrackingUpdate",
            TRACKING_UPDATE,
            {
                "id": gid("Fulfillment", fulfillment_id),
                "tracking": tracking_input(update.tracking),
                "notify": update.notify_customer,
            },
            field="fulfillmentTrackingInfoUpdate",
        )
        return fulfillment_from(payload.get("fulfillment") or {})

    async def cancel(self, shop: str, fulfillment_id: int) -> OrderFulfillment:
        """``fulfillmentCancel``; cancelling a cancelled fulfillment answers it as it is."""
        current = await self.fulfillment(shop, fulfillment_id)
        if current.status == "CANCELLED":
            return current
        try:
            payload = await self.admin.mutate(
                shop,
                "StrataFulfillmentCancel",
                FULFILLMENT_CANCEL,
                {"id": gid("Fulfillment", fulfillment_id)},
                field="fulfillmentCancel",
            )
        except ShopifyUserErrors:
            # A concurrent cancel may have won; anything else stays an error.
            again = await self.fulfillment(shop, fulfillment_id)
            if again.status == "CANCELLED":
                return again
            raise
        return fulfillment_from(payload.get("fulfillment") or {})

    async def send(
        self, shop: str, order_id: int, request: FulfillmentSend, key: str
    ) -> tuple[OrderFulfillment, bool]:
        """Make the fulfillment for ``key`` unless Shopify already holds it.

        Returns the fulfillment and whether this call created it.
        """
        rkey = self._key(shop, key)
        fingerprint = _fingerprint(order_id, request)
        raw = await self._get(rkey)
        if raw is None:
            record = await self._context(shop, order_id, request, fingerprint)
            if not await self._write(self._start, [rkey], [_ENCODER.encode(record)]):
                raise FulfillmentSendInFlight(
                    f"Another request is sending the fulfillment for {key}", retry_after=1
                )
            return await self._create(shop, rkey, record, request, resend=False), True
        record = _RECORD.decode(raw)
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"{key} was first used for a different fulfillment; a shipment's key must "
                "always carry the same lines and tracking.",
                errors=[{"field": "header.Idempotency-Key", "message": "reused"}],
            )
        if record.fulfillment_id is not None:
            return await self.fulfillment(shop, record.fulfillment_id), False
        found = await self._find(shop, record)
        if found is not None:
            await self._finish(rkey, record, found.id)
            return found, False
        waited = time.time() - record.started_at
        if waited < self.in_flight_grace:
            raise FulfillmentSendInFlight(
                f"The fulfillment for {key} was sent {waited:.0f}s ago without an answer; "
                "Shopify may still be making it",
                retry_after=max(1, math.ceil(self.in_flight_grace - waited)),
            )
        retaken = msgspec.structs.replace(record, started_at=time.time())
        if not await self._write(self._retake, [rkey], [raw, _ENCODER.encode(retaken)]):
            raise FulfillmentSendInFlight(
                f"Another request is sending the fulfillment for {key}", retry_after=1
            )
        return await self._create(shop, rkey, retaken, request, resend=True), True

    async def send_fulfillment_create(
        self, shop: str, request: FulfillmentCreate, key: str
    ) -> tuple[Fulfillment, bool]:
        """:meth:`send` for the order-less ``POST /fulfillments`` body: the order is the first
        fulfillment order's. Returns that route's ``Fulfillment`` and whether it was made now."""
        first = request.fulfillment_orders[0].fulfillment_order_id
        fo = await self._fulfillment_order(shop, first)
        order_id = number(fo.get("orderId")) if fo else None
        if order_id is None:
            raise FulfillmentOrderNotOnOrder(
                f"{shop} has no fulfillment order {first}",
                errors=[
                    {
                        "field": "fulfillment_orders[0].fulfillment_order_id",
                        "message": "no such fulfillment order",
                    }
                ],
            )
        legacy = {
            "fulfillment_orders": [
                {
                    "fulfillment_order_id": group.fulfillment_order_id,
                    "lines": None
                    if not group.lines
                    else [
                        {"fulfillment_order_line_id": li.id, "quantity": li.quantity}
                        for li in group.lines
                    ],
                }
                for group in request.fulfillment_orders
            ],
            "tracking": msgspec.to_builtins(request.tracking) if request.tracking else None,
            "notify_customer": request.notify_customer,
        }
        try:
            converted = msgspec.convert(legacy, FulfillmentSend)
        except msgspec.ValidationError as exc:
            raise ValidationFailed(
                f"The fulfillment can't be sent as asked: {exc}",
                errors=[{"field": None, "message": str(exc)}],
            ) from None
        made, created = await self.send(shop, order_id, converted, key)
        return (
            Fulfillment(
                id=made.id,
                name=made.name,
                status=made.status,
                created_at=made.created_at,
                tracking=[
                    FulfillmentTracking(number=t.number, url=t.url, company=t.company)
                    for t in made.tracking
                ],
            ),
            created,
        )

    # -- the send, step by step --------------------------------------------------------------

    async def _context(
        self, shop: str, order_id: int, request: FulfillmentSend, fingerprint: str
    ) -> SendRecord:
        """Read the order now: its fulfillments so far and what the request ships."""
        data = await self.admin.execute(
            shop, "StrataFulfillmentSendContext", SEND_CONTEXT, {"id": gid("Order", order_id)}
        )
        order = data.get("order")
        if order is None:
            raise ShopifyRecordNotFound(f"{shop} has no order {order_id}")
        orders = {
            _id(fo["id"]): fo for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or ()
        }
        lines: Counter[str] = Counter()
        locations: set[int | None] = set()
        for index, wanted in enumerate(request.fulfillment_orders):
            field = f"fulfillment_orders[{index}].fulfillment_order_id"
            fo = orders.get(wanted.fulfillment_order_id) or await self._fulfillment_order(
                shop, wanted.fulfillment_order_id
            )
            if fo is None or number(fo.get("orderId")) != order_id:
                raise FulfillmentOrderNotOnOrder(
                    f"Order {order_id} has no fulfillment order {wanted.fulfillment_order_id}",
                    errors=[{"field": field, "message": "not a fulfillment order of the order"}],
                )
            locations.add(
                number(((fo.get("assignedLocation") or {}).get("location") or {}).get("id"))
            )
            by_id = {_id(li["id"]): li for li in (fo.get("lineItems") or {}).get("nodes") or ()}
            chosen = (
                [(line.fulfillment_order_line_id, line.quantity) for line in wanted.lines]
                if wanted.lines is not None
                else [(i, li["remainingQuantity"]) for i, li in by_id.items()]
            )
            for position, (line_id, quantity) in enumerate(chosen):
                line = by_id.get(line_id)
                if line is None:
                    raise FulfillmentOrderNotOnOrder(
                        f"Fulfillment order {wanted.fulfillment_order_id} has no line {line_id}",
                        errors=[
                            {
                                "field": f"fulfillment_orders[{index}].lines[{position}]"
                                ".fulfillment_order_line_id",
                                "message": "not a line of the fulfillment order",
                            }
                        ],
                    )
                if quantity:
                    lines[str(_id(line["lineItem"]["id"]))] += quantity
        return SendRecord(
            fingerprint=fingerprint,
            order_id=order_id,
            started_at=time.time(),
            before=sorted(_id(f["id"]) for f in order.get("fulfillments") or ()),
            lines=dict(lines),
            location_id=next(iter(locations)) if len(locations) == 1 else None,
            numbers=sorted(request.tracking.numbers) if request.tracking else [],
        )

    async def _fulfillment_order(self, shop: str, fo_id: int) -> dict[str, Any] | None:
        data = await self.admin.execute(
            shop,
            "StrataFulfillmentOrder",
            FULFILLMENT_ORDER,
            {"id": gid("FulfillmentOrder", fo_id)},
        )
        node: dict[str, Any] | None = data.get("fulfillmentOrder")
        return node

    async def _create(
        self, shop: str, rkey: str, record: SendRecord, request: FulfillmentSend, *, resend: bool
    ) -> OrderFulfillment:
        fulfillment: dict[str, Any] = {
            "lineItemsByFulfillmentOrder": [
                {
                    "fulfillmentOrderId": gid("FulfillmentOrder", fo.fulfillment_order_id),
                    **(
                        {
                            "fulfillmentOrderLineItems": [
                                {
                                    "id": gid(
                                        "FulfillmentOrderLineItem", li.fulfillment_order_line_id
                                    ),
                                    "quantity": li.quantity,
                                }
                                for li in fo.lines
                            ]
                        }
                        if fo.lines is not None
                        else {}
                    ),
                }
                for fo in request.fulfillment_orders
            ],
            "notifyCustomer": request.notify_customer,
        }
        if request.tracking is not None:
            fulfillment["trackingInfo"] = tracking_input(request.tracking)
        try:
            payload = await self.admin.mutate(
                shop,
                "StrataFulfillmentSend",
                FULFILLMENT_CREATE,
                {"fulfillment": fulfillment},
                field="fulfillmentCreate",
            )
        except ShopifyUserErrors:
            # Refused: nothing was made by this attempt. After an earlier unanswered attempt,
            # a late success of that one is the likeliest reason (nothing left to ship).
            if resend:
                found = await self._find(shop, record)
                if found is not None:
                    await self._finish(rkey, record, found.id)
                    return found
            await self._forget(rkey)
            raise
        except (UpstreamTimeout, ShopifyUnavailable):
            raise  # the outcome is unknown: the record stays for the retry's lookup
        except Exception:
            # Throttled, rejected or not configured: Shopify ran nothing.
            await self._forget(rkey)
            raise
        created = fulfillment_from(payload.get("fulfillment") or {}, record.order_id)
        await self._finish(rkey, record, created.id)
        return created

    async def _find(self, shop: str, record: SendRecord) -> OrderFulfillment | None:
        """A fulfillment made since ``record`` was written, shipping exactly what it ships."""
        fulfillments = await self.order_fulfillments(shop, record.order_id)
        before = set(record.before)
        for candidate in fulfillments.items:
            if candidate.id in before:
                continue
            shipped: Counter[str] = Counter()
            for line in candidate.lines:
                shipped[str(line.line_item_id)] += line.quantity
            numbers = sorted(t.number for t in candidate.tracking if t.number)
            if (
                shipped == Counter(record.lines)
                and numbers == record.numbers
                and (record.location_id is None or candidate.location_id == record.location_id)
            ):
                return candidate
        return None

    # -- the record --------------------------------------------------------------------------

    def _key(self, shop: str, key: str) -> str:
        return f"{self.prefix}:fulfillment-send:{{{shop}:{key}}}"

    async def _get(self, rkey: str) -> bytes | None:
        try:
            raw = await self.redis.get(rkey)
        except RedisError as exc:
            raise ServiceUnavailable(
                f"fulfillment records unavailable: {exc}", retry_after=2
            ) from exc
        if raw is None:
            return None
        return raw if isinstance(raw, bytes) else str(raw).encode()

    async def _write(self, script: Any, keys: list[str], args: list[bytes]) -> bool:
        try:
            return bool(await script(keys=keys, args=[*args, self.keep_for_ms]))
        except RedisError as exc:
            raise ServiceUnavailable(
                f"fulfillment records unavailable: {exc}", retry_after=2
            ) from exc

    async def _finish(self, rkey: str, record: SendRecord, fulfillment_id: int) -> None:
        done = msgspec.structs.replace(record, fulfillment_id=fulfillment_id)
        # On a Redis error the record stays unfinished; a retry's lookup finds the fulfillment.
        with contextlib.suppress(RedisError):
            await self.redis.set(rkey, _ENCODER.encode(done), px=self.keep_for_ms)

    async def _forget(self, rkey: str) -> None:
        # On a Redis error the retry's lookup finds nothing and, past the grace, sends again.
        with contextlib.suppress(RedisError):
            await self.redis.delete(rkey)


def _fingerprint(order_id: int, request: FulfillmentSend) -> str:
    return hashlib.sha256(_ENCODER.encode([order_id, request])).hexdigest()
