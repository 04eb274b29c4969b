"""Fulfillments Shopify tells us of: ``fulfillments/create``, ``fulfillments/update``,
``orders/fulfilled`` and ``orders/partially_fulfilled``.

Each fulfillment becomes the ``shopify:<fulfillment id>`` entry of the order's
:class:`~process_apis.orders.fulfillment.records.FulfillmentRecords` (which merges it into the
ERP shipment's entry when Strata made it), and a pipeline step that leaves the order's
pipeline state alone. An order webhook also sets the order's ``fulfillment_status`` summary.

A fulfillment made in Shopify (no ERP shipment of Strata's claims it) is also recorded as a
shipment in the order's ERP when the shop's setting says so
(``FulfillmentSettings.erp_shipments_from_shopify``), once per fulfillment (the reference
``shopify:<shop>:fulfillment:<id>`` is the ERP's idempotency), before the record is written:
a failure leaves nothing recorded, and the webhook's retry records it. The fulfillment sender
recognises that ERP shipment by its reference and sends nothing back to Shopify.

Shopify delivers webhooks at least once and out of order, and all of these run under the
order's lock, so:

- a fulfillment whose ``updated_at`` is older than the one last applied (kept per fulfillment
  in the order's summary) is stale and ignored, as is a repeat that changes nothing;
- the record is written before the step and the instant applied, so a crash between them
  only repeats the step when the webhook comes again;
- a cancelled fulfillment takes the order's ``fulfillment_status`` down from ``fulfilled``
  (Shopify then sends ``orders/updated``, which this module does not read).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from process_apis.orders.fulfillment.records import (
    FulfillmentLine,
    FulfillmentRecord,
    FulfillmentRecords,
    FulfillmentState,
    FulfillmentTracking,
    shopify_key,
)
from process_apis.orders.fulfillment.settings import FulfillmentSettings
from process_apis.orders.ports import ErpOrders, HeldOrder, OrderPipeline
from shared.events import PermanentFailure, TransientFailure
from shared.models import ShipmentParcel, ShipmentRecord, ShipmentRecordLine
from shared.streams import (
    FULFILLMENTS_CREATE,
    FULFILLMENTS_UPDATE,
    ORDERS_FULFILLED,
    ORDERS_PARTIALLY_FULFILLED,
)

FULFILLMENT_TOPICS: Final = frozenset({FULFILLMENTS_CREATE, FULFILLMENTS_UPDATE})
ORDER_FULFILLMENT_TOPICS: Final = frozenset({ORDERS_FULFILLED, ORDERS_PARTIALLY_FULFILLED})
#: Every topic :class:`ShopifyFulfillments` handles.
SHOPIFY_FULFILLMENT_TOPICS: Final = FULFILLMENT_TOPICS | ORDER_FULFILLMENT_TOPICS

#: Shopify's REST fulfillment ``status`` -> the record's state (``pending``/``open``: a
#: fulfillment service has the request and has not shipped yet).
STATES: Final[dict[str, FulfillmentState]] = {
    "success": "fulfilled",
    "cancelled": "cancelled",
    "error": "failed",
    "failure": "failed",
    "pending": "pending",
    "open": "pending",
}
#: Shopify's REST order ``fulfillment_status`` -> the order's summary word.
ORDER_STATUSES: Final = {
    None: "unfulfilled",
    "unfulfilled": "unfulfilled",
    "partial": "partially_fulfilled",
    "fulfilled": "fulfilled",
    # Every fulfilled unit was restocked (a cancelled order): nothing is out any more.
    "restocked": "unfulfilled",
}
#: The order's summary fields this module keeps: the word, the instant of the order webhook
#: it came from, and per fulfillment the ``updated_at`` last applied.
STATUS_FIELD: Final = "fulfillment_status"
STATUS_AT_FIELD: Final = "fulfillment_status_at"
SEEN_AT_PREFIX: Final = "shopify_fulfillment_at:"
log = logging.getLogger("strata.orders.fulfillment")


def fulfillment_order_id(topic: str, body: dict[str, Any]) -> str:
    """The Shopify order a ``fulfillments/*`` or ``orders/*fulfilled`` body is about."""
    raw = body.get("order_id") if topic in FULFILLMENT_TOPICS else body.get("id")
    return "" if raw is None or isinstance(raw, bool) else str(raw)


def instant(value: Any) -> float | None:
    """Epoch seconds of one of Shopify's ISO 8601 stamps; None if there is none."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


class _Line(msgspec.Struct, kw_only=True):
    id: int | None = None
    sku: str | None = None
    quantity: int = 0


class ShopifyFulfillment(msgspec.Struct, kw_only=True):
    """The fields read of Shopify's REST Fulfillment (the rest is ignored)."""

    id: int
    order_id: int | None = None
    name: str | None = None
    status: str | None = None
    shipment_status: str | None = None
    tracking_company: str | None = None
    tracking_number: str | None = None
    tracking_numbers: list[str | None] = []
    tracking_url: str | None = None
    tracking_urls: list[str | None] = []
    line_items: list[_Line] = []
    created_at: str | None = None
    updated_at: str | None = None


def read_fulfillment(raw: Any) -> ShopifyFulfillment:
    """A REST Fulfillment body; :class:`PermanentFailure` (``malformed``) naming what's wrong."""
    try:
        return msgspec.convert(raw, ShopifyFulfillment)
    except msgspec.ValidationError as exc:
        raise PermanentFailure(f"not a Shopify fulfillment: {exc}", kind="malformed") from exc


def shopify_record(
    fulfillment: ShopifyFulfillment, previous: FulfillmentRecord | None = None
) -> FulfillmentRecord:
    """What Shopify holds of a fulfillment, as the order's ``shopify:<id>`` record.

    ``previous`` (the record as stored) keeps the instant of delivery once known.
    """
    state = STATES.get((fulfillment.status or "success").lower(), "fulfilled")
    shipment = (fulfillment.shipment_status or "").lower() or None
    display: str | None
    if state == "cancelled":
        display = "CANCELED"
    elif shipment:
        display = shipment.upper()
    else:
        display = {"fulfilled": "FULFILLED", "failed": "FAILURE"}.get(state)
    numbers = [n for n in fulfillment.tracking_numbers if n] or (
        [fulfillment.tracking_number] if fulfillment.tracking_number else []
    )
    urls = [u for u in fulfillment.tracking_urls if u] or (
        [fulfillment.tracking_url] if fulfillment.tracking_url else []
    )
    tracking = [
        FulfillmentTracking(
            number=numbers[i] if i < len(numbers) else None,
            url=urls[i] if i < len(urls) else None,
        )
        for i in range(max(len(numbers), len(urls)))
    ]
    created = instant(fulfillment.created_at)
    delivered = None
    if shipment == "delivered" and state == "fulfilled":
        delivered = (previous.delivered_at if previous else None) or (
            instant(fulfillment.updated_at) or time.time()
        )
    return FulfillmentRecord(
        key=shopify_key(fulfillment.id),
        source="shopify",
        state=state,
        fulfillment_id=fulfillment.id,
        name=fulfillment.name,
        display_status=display,
        carrier=fulfillment.tracking_company or None,
        tracking=tracking,
        lines=[
            FulfillmentLine(sku=line.sku, quantity=line.quantity, line_item_id=line.id)
            for line in fulfillment.line_items
        ],
        shipped_at=created,
        fulfilled_at=created,
        delivered_at=delivered,
        error=f"Shopify's fulfillment status is {fulfillment.status}"
        if state == "failed"
        else None,
    )


def _same(a: FulfillmentRecord, b: FulfillmentRecord) -> bool:
    return msgspec.structs.replace(a, updated_at=0.0) == msgspec.structs.replace(b, updated_at=0.0)


def _parcels(record: FulfillmentRecord) -> str:
    """``UPS 1Z999, 1Z998`` (carrier and numbers), or ``no tracking``."""
    numbers = ", ".join(t.number for t in record.tracking if t.number)
    return " ".join(x for x in (record.carrier, numbers) if x) or "no tracking"


class ShopifyFulfillments:
    """Records what Shopify says of an order's fulfillments (see the module's docstring).

    Without ``records`` (a deployment that keeps no fulfillment records) only the pipeline
    steps and the order's ``fulfillment_status`` are kept.
    """

    def __init__(
        self,
        pipeline: OrderPipeline,
        records: FulfillmentRecords | None,
        *,
        erps: Mapping[str, ErpOrders] | None = None,
        settings: FulfillmentSettings | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.records = records
        self.erps = erps or {}
        self.settings = settings or FulfillmentSettings()

    async def handle(self, held: HeldOrder, topic: str, body: dict[str, Any]) -> None:
        """Handle one webhook of :data:`SHOPIFY_FULFILLMENT_TOPICS` for the held order."""
        if topic in FULFILLMENT_TOPICS:
            await self._fulfillment(held, topic, read_fulfillment(body))
            return
        embedded = body.get("fulfillments")
        for raw in embedded if isinstance(embedded, list) else []:
            # The order carries its fulfillments: a shop that sends no fulfillments/* webhooks
            # still has them recorded (those already recorded are repeats, and skipped).
            await self._fulfillment(held, topic, read_fulfillment(raw))
        await self._order_status(held, topic, body)

    async def _record(self, held: HeldOrder, step: str, detail: str, **fields: str) -> None:
        await self.pipeline.record(
            held.shop, held.order_id, step, detail=detail, fence=held.fence, **fields
        )

    async def _fulfillment(
        self, held: HeldOrder, topic: str, fulfillment: ShopifyFulfillment
    ) -> None:
        shop, order_id = held.shop, held.order_id
        if fulfillment.order_id is not None and str(fulfillment.order_id) != order_id:
            raise PermanentFailure(
                f"fulfillment {fulfillment.id} is of order {fulfillment.order_id}, not {order_id}",
                kind="malformed",
            )
        seen_field = f"{SEEN_AT_PREFIX}{fulfillment.id}"
        summary = await self.pipeline.summary(shop, order_id)
        at = instant(fulfillment.updated_at)
        seen = summary.get(seen_field)
        if at is not None and seen and at < float(seen):
            log.info(
                "%s %s: %s of fulfillment %s older than the one applied, ignored",
                shop, order_id, topic, fulfillment.id,
            )  # fmt: skip
            return
        key = shopify_key(fulfillment.id)
        previous = await self.records.get(shop, order_id, key) if self.records else None
        record = shopify_record(fulfillment, previous)
        if previous is not None and previous.shipment_id is not None:
            # The ERP shipment it was recorded as stays named.
            record = msgspec.structs.replace(
                record, shipment_id=previous.shipment_id, erp_instance=previous.erp_instance
            )
        if previous is not None and _same(previous, record):
            return
        claimed = None
        if self.records is not None:
            claimed = next(
                (
                    r
                    for r in await self.records.list(shop, order_id)
                    if r.source == "erp" and r.fulfillment_id == fulfillment.id
                ),
                None,
            )
            if claimed is None and await self.records.any_sending(shop, order_id):
                # Strata is sending a shipment of this order and does not know its
                # fulfillment's id yet: this may be it. Ask again once the send is recorded.
                raise TransientFailure(
                    f"a shipment of {shop} {order_id} is being sent to Shopify; fulfillment "
                    f"{fulfillment.id} is looked at again after it",
                    retry_after=1,
                )
            if (
                claimed is None
                and record.state == "fulfilled"
                and (previous is None or previous.state != "fulfilled")
                and self.settings.records_in_erp(shop)
            ):
                shipped = await self._record_in_erp(held, summary, fulfillment.id, record)
                record = msgspec.structs.replace(
                    record, shipment_id=shipped, erp_instance=summary.get("erp_instance")
                )
            await self.records.put(shop, order_id, record)
        name = record.name or str(fulfillment.id)
        origin = (
            f"shipment {claimed.erp_instance}:{claimed.shipment_number or claimed.shipment_id}"
            if claimed is not None
            else "made in Shopify"
        )
        fields = {seen_field: repr(at)} if at is not None else {}
        if record.state == "cancelled":
            if previous is not None and previous.state == "cancelled":
                return
            fields |= await self._status_after_cancel(held, summary, at)
            step, detail = "fulfillment_cancelled_in_shopify", f"{name} ({origin})"
        elif record.delivered_at is not None and (previous is None or not previous.delivered_at):
            step, detail = "delivered", f"{name}: {_parcels(record)} ({origin})"
        elif previous is None or previous.state != record.state:
            step = {
                "fulfilled": "fulfilled_in_shopify",
                "pending": "fulfillment_requested_in_shopify",
                "failed": "fulfillment_failed_in_shopify",
            }[record.state]
            detail = f"{name}: {_parcels(record)} ({origin})"
        else:
            step = "fulfillment_updated_in_shopify"
            shown = (record.display_status or record.state).lower()
            detail = f"{name} {shown}: {_parcels(record)} ({origin})"
        await self._record(held, step, detail, **fields)

    async def _record_in_erp(
        self,
        held: HeldOrder,
        summary: dict[str, str],
        fulfillment_id: int,
        record: FulfillmentRecord,
    ) -> str:
        """Record the fulfillment as a shipment in the order's ERP (once); its ERP id."""
        instance, erp_order = summary.get("erp_instance"), summary.get("erp_order_id")
        erp = self.erps.get(instance or "")
        if not erp_order or erp is None:
            raise TransientFailure(
                f"fulfillment {fulfillment_id} of {held.shop} {held.order_id}: the order is "
                "not posted in an ERP yet, so its shipment can't be recorded there",
                retry_after=10,
            )
        lines = [line for line in record.lines if line.sku and line.quantity > 0]
        if not lines or len(lines) != len(record.lines):
            raise PermanentFailure(
                f"fulfillment {fulfillment_id} has lines without a SKU: it can't be recorded "
                "as an ERP shipment",
                kind="fulfillment-not-recordable",
            )
        shipment = await erp.record_shipment(
            erp_order,
            ShipmentRecord(
                reference=f"shopify:{held.shop}:fulfillment:{fulfillment_id}",
                lines=[
                    ShipmentRecordLine(sku=line.sku or "", quantity=line.quantity) for line in lines
                ],
                carrier=self.settings.erp_carrier(record.carrier),
                packages=[
                    ShipmentParcel(tracking_number=t.number) for t in record.tracking if t.number
                ],
            ),
        )
        return shipment.id

    async def _status_after_cancel(
        self, held: HeldOrder, summary: dict[str, str], at: float | None
    ) -> dict[str, str]:
        """The summary fields a cancelled fulfillment changes: an order said to be (partly)
        fulfilled is at most partly fulfilled now, and unfulfilled if nothing else is out."""
        said = summary.get(STATUS_FIELD)
        if said not in ("fulfilled", "partially_fulfilled") or self.records is None:
            return {}
        if at is not None and at < float(summary.get(STATUS_AT_FIELD) or 0):
            return {}
        records = await self.records.list(held.shop, held.order_id)
        live = any(r.state in ("fulfilled", "pending") for r in records)
        status = "partially_fulfilled" if live else "unfulfilled"
        if status == said:
            return {}
        return {STATUS_FIELD: status, STATUS_AT_FIELD: repr(at if at is not None else time.time())}

    async def _order_status(self, held: HeldOrder, topic: str, body: dict[str, Any]) -> None:
        raw = body.get("fulfillment_status")
        if "fulfillment_status" not in body:
            raw = "fulfilled" if topic == ORDERS_FULFILLED else "partial"
        status = ORDER_STATUSES.get(raw if isinstance(raw, str) or raw is None else "")
        if status is None:
            raise PermanentFailure(f"{topic}: unknown fulfillment_status {raw!r}", kind="malformed")
        summary = await self.pipeline.summary(held.shop, held.order_id)
        at = instant(body.get("updated_at"))
        stored_at = float(summary.get(STATUS_AT_FIELD) or 0)
        if at is not None and at < stored_at:
            log.info(
                "%s %s: %s older than the fulfillment status applied, ignored",
                held.shop, held.order_id, topic,
            )  # fmt: skip
            return
        if summary.get(STATUS_FIELD) == status:
            return
        await self._record(
            held,
            "fulfillment_status",
            f"{status} ({topic})",
            **{STATUS_FIELD: status, STATUS_AT_FIELD: repr(at if at is not None else time.time())},
        )
