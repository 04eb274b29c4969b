"""Fulfillments of the Admin API (``fulfillmentCreate``, ``fulfillmentTrackingInfoUpdate``,
``fulfillmentCancel``), served by :class:`FulfillmentRoot`, and the same changes made by a
merchant or a third-party warehouse in Shopify's admin (:func:`fulfil_in_admin`).

As in Shopify: a fulfillment draws on the fulfillment orders of one location; a quantity over
what a fulfillment order line has left, or a fulfillment order that is closed, is refused with
``userErrors``; cancelling a fulfillment adds its quantities back to fulfillment orders still in
progress and opens new fulfillment orders at the same location for those already closed.
Every change returns the webhooks it triggers: ``fulfillments/create`` with
``orders/fulfilled`` or ``orders/partially_fulfilled``, and ``fulfillments/update`` for a
tracking change or a cancellation, with REST Fulfillment bodies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec

from sandbox.shopify import commerce, payloads
from sandbox.shopify.admin_root import AdminRoot
from sandbox.shopify.admin_views import Info, Node, stamp
from sandbox.shopify.commerce import CommerceError, FulfillmentRequest, ShopEvent
from sandbox.shopify.state import (
    Fulfillment,
    FulfillmentOrder,
    FulfillmentOrderLine,
    InventoryLevel,
    Order,
    Shop,
    ShopifyState,
    TrackingInfo,
    now_utc,
)

LINES_FIELD = ("fulfillment", "lineItemsByFulfillmentOrder")


class FulfillmentRoot(AdminRoot):
    """The Admin API root with fulfillments: create, tracking updates, cancellations."""

    def fulfillmentCreate(
        self, info: Info, fulfillment: dict[str, Any], message: str | None = None
    ) -> Node:
        try:
            requests = [
                FulfillmentRequest(
                    fulfillment_order_id=self._id(group["fulfillmentOrderId"], "FulfillmentOrder"),
                    lines=tuple(
                        (self._id(line["id"], "FulfillmentOrderLineItem"), line["quantity"])
                        for line in group.get("fulfillmentOrderLineItems") or ()
                    ),
                )
                for group in fulfillment["lineItemsByFulfillmentOrder"]
            ]
            check_fulfillable(self._shop, requests)
            created, order, events = commerce.create_fulfillment(
                self.state,
                self._shop,
                requests,
                tracking_from_input(fulfillment.get("trackingInfo") or {}),
                bool(fulfillment.get("notifyCustomer")),
            )
        except CommerceError as exc:
            return {"fulfillment": None, "userErrors": [user_error(exc)]}
        self.events += events
        return {"fulfillment": self.views.fulfillment(order, created), "userErrors": []}

    def fulfillmentTrackingInfoUpdate(
        self,
        info: Info,
        fulfillmentId: str,
        trackingInfoInput: dict[str, Any],
        notifyCustomer: bool | None = None,
    ) -> Node:
        found = find_fulfillment(self._shop, self._id(fulfillmentId, "Fulfillment"))
        if found is None:
            return _missing("fulfillmentId")
        order, fulfillment = found
        try:
            self.events += update_tracking(
                order, fulfillment, tracking_from_input(trackingInfoInput), notifyCustomer
            )
        except CommerceError as exc:
            return {"fulfillment": None, "userErrors": [user_error(exc)]}
        return {"fulfillment": self.views.fulfillment(order, fulfillment), "userErrors": []}

    def fulfillmentCancel(self, info: Info, id: str) -> Node:
        found = find_fulfillment(self._shop, self._id(id, "Fulfillment"))
        if found is None:
            return _missing("id")
        order, fulfillment = found
        try:
            self.events += cancel_fulfillment(self.state, self._shop, order, fulfillment)
        except CommerceError as exc:
            return {"fulfillment": None, "userErrors": [user_error(exc)]}
        return {"fulfillment": self.views.fulfillment(order, fulfillment), "userErrors": []}


def _missing(field: str) -> Node:
    return {
        "fulfillment": None,
        "userErrors": [{"field": [field], "message": "Fulfillment does not exist."}],
    }


def user_error(exc: CommerceError) -> Node:
    """A ``UserError`` (``field``, ``message``) as ``fulfillment*`` mutations answer them."""
    return {"field": exc.field or None, "message": exc.message}


def tracking_from_input(info: dict[str, Any]) -> list[TrackingInfo]:
    """``FulfillmentTrackingInput`` as stored tracking: one entry per number (or URL), each
    with the company; ``numbers``/``urls`` win over ``number``/``url`` as in Shopify."""
    numbers = list(info.get("numbers") or ([info["number"]] if info.get("number") else []))
    urls = list(info.get("urls") or ([info["url"]] if info.get("url") else []))
    count = max(len(numbers), len(urls), 1 if info.get("company") else 0)
    return [
        TrackingInfo(
            number=numbers[i] if i < len(numbers) else None,
            url=urls[i] if i < len(urls) else None,
            company=info.get("company"),
        )
        for i in range(count)
    ]


def find_fulfillment(shop: Shop, fulfillment_id: int) -> tuple[Order, Fulfillment] | None:
    """The fulfillment ``fulfillment_id`` of any order of ``shop``, with its order."""
    for order in shop.orders.values():
        for fulfillment in order.fulfillments:
            if fulfillment.id == fulfillment_id:
                return order, fulfillment
    return None


def _fulfillment_order(shop: Shop, fo_id: int) -> FulfillmentOrder | None:
    for order in shop.orders.values():
        for fo in order.fulfillment_orders:
            if fo.id == fo_id:
                return fo
    return None


def check_fulfillable(shop: Shop, requests: Sequence[FulfillmentRequest]) -> None:
    """Refuse, naming the input field, a closed fulfillment order or more than a line has left
    (the rest of Shopify's checks are :func:`commerce.create_fulfillment`'s)."""
    for index, request in enumerate(requests):
        field = [*LINES_FIELD, str(index)]
        fo = _fulfillment_order(shop, request.fulfillment_order_id)
        if fo is None:
            continue
        if fo.status in ("CLOSED", "CANCELLED"):
            raise CommerceError(
                "Fulfillment order is closed."
                if fo.status == "CLOSED"
                else "Fulfillment order is cancelled.",
                field=[*field, "fulfillmentOrderId"],
            )
        for position, (fol_id, quantity) in enumerate(request.lines):
            line_field = [*field, "fulfillmentOrderLineItems", str(position)]
            fol = next((x for x in fo.lines if x.id == fol_id), None)
            if fol is None:
                raise CommerceError(
                    "Fulfillment order line item does not exist.", field=[*line_field, "id"]
                )
            if quantity < 1 or quantity > fol.remaining_quantity:
                raise CommerceError(
                    f"Invalid quantity {quantity}: {fol.remaining_quantity} remaining.",
                    field=[*line_field, "quantity"],
                )


def update_payload(order: Order, fulfillment: Fulfillment) -> dict[str, Any]:
    """The ``fulfillments/update`` body: the REST Fulfillment as it is now."""
    return payloads.fulfillment_payload(order, fulfillment) | {"updated_at": stamp(now_utc())}


def update_tracking(
    order: Order,
    fulfillment: Fulfillment,
    tracking: Sequence[TrackingInfo],
    notify_customer: bool | None,
) -> list[ShopEvent]:
    """Replace a fulfillment's tracking (all numbers and URLs); ``fulfillments/update``."""
    if fulfillment.status == "CANCELLED":
        raise CommerceError(
            "Tracking can't be updated on a cancelled fulfillment.", field=["fulfillmentId"]
        )
    fulfillment.tracking = list(tracking)
    if notify_customer is not None:
        fulfillment.notify_customer = notify_customer
    order.updated_at = now_utc()
    return [ShopEvent(topic="fulfillments/update", payload=update_payload(order, fulfillment))]


def cancel_fulfillment(
    state: ShopifyState, shop: Shop, order: Order, fulfillment: Fulfillment
) -> list[ShopEvent]:
    """Cancel a fulfillment: its units are unfulfilled again and back in committed stock at
    its location. A fulfillment order still in progress gets the units back; for one already
    closed, a new fulfillment order opens at the same location (Shopify's documented rule).
    ``fulfillments/update`` (status ``cancelled``), ``orders/updated``, stock levels."""
    if fulfillment.status == "CANCELLED":
        raise CommerceError("Fulfillment has already been cancelled.", field=["id"])
    if order.cancelled_at is not None:
        raise CommerceError("Order has been cancelled.", field=["id"])
    reopened: FulfillmentOrder | None = None
    touched: list[InventoryLevel] = []
    for fl in fulfillment.lines:
        line = order.line_item(fl.line_item_id)
        if line is None:
            continue
        left = fl.quantity
        for fo in order.fulfillment_orders:
            if fo.location_id != fulfillment.location_id or fo.status != "IN_PROGRESS":
                continue
            for fol in fo.lines:
                if fol.line_item_id == line.id and left:
                    back = min(left, fol.total_quantity - fol.remaining_quantity)
                    fol.remaining_quantity += back
                    left -= back
        if left:
            if reopened is None:
                reopened = FulfillmentOrder(
                    id=state.ids.next("FulfillmentOrder"),
                    order_id=order.id,
                    location_id=fulfillment.location_id,
                )
                order.fulfillment_orders.append(reopened)
            reopened.lines.append(
                FulfillmentOrderLine(
                    id=state.ids.next("FulfillmentOrderLineItem"),
                    line_item_id=line.id,
                    total_quantity=left,
                    remaining_quantity=left,
                )
            )
        line.fulfilled_quantity -= fl.quantity
        item = shop.item_by_sku(line.sku)
        level = shop.levels.get((item.id, fulfillment.location_id)) if item else None
        if level is not None:
            commerce.adjust_quantity(level, "committed", fl.quantity)
            touched.append(level)
    for fo in order.fulfillment_orders:
        if fo.status == "IN_PROGRESS" and all(
            x.remaining_quantity == x.total_quantity for x in fo.lines
        ):
            fo.status = "OPEN"
    fulfillment.status = "CANCELLED"
    order.updated_at = now_utc()
    return [
        ShopEvent(topic="fulfillments/update", payload=update_payload(order, fulfillment)),
        ShopEvent(topic="orders/updated", payload=payloads.order_payload(shop, order)),
        *commerce.level_events(touched),
    ]


# -- the merchant's admin (a third-party warehouse fulfilling in Shopify) --------------------


class AdminFulfillmentLine(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Units of one line item, named by id or by SKU (its first line item)."""

    quantity: Annotated[int, msgspec.Meta(ge=1)]
    line_item_id: int | None = None
    sku: str | None = None


class AdminTracking(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    company: str | None = None
    numbers: list[str] = msgspec.field(default_factory=list)
    urls: list[str] = msgspec.field(default_factory=list)

    def to_tracking(self) -> list[TrackingInfo]:
        return tracking_from_input(
            {"company": self.company, "numbers": self.numbers, "urls": self.urls}
        )


class AdminFulfillment(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A fulfillment made in Shopify's admin: ``lines`` (none: everything left) from the open
    fulfillment orders of ``location_id`` (none: the location of the first line to ship)."""

    lines: list[AdminFulfillmentLine] = msgspec.field(default_factory=list)
    location_id: int | None = None
    tracking: AdminTracking | None = None
    notify_customer: bool = False


class AdminTrackingUpdate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    tracking: AdminTracking
    notify_customer: bool | None = None


def _open_lines(
    order: Order, location_id: int | None
) -> list[tuple[FulfillmentOrder, FulfillmentOrderLine]]:
    return [
        (fo, fol)
        for fo in order.fulfillment_orders
        if fo.status in ("OPEN", "IN_PROGRESS")
        and (location_id is None or fo.location_id == location_id)
        for fol in fo.lines
        if fol.remaining_quantity > 0
    ]


def fulfil_in_admin(
    state: ShopifyState, shop: Shop, order: Order, request: AdminFulfillment
) -> tuple[Fulfillment, list[ShopEvent]]:
    """Fulfil from the admin, as a person or a warehouse app would; same rules and webhooks
    as ``fulfillmentCreate``."""
    location_id = request.location_id
    if location_id is None:
        first = _open_lines(order, None)
        if not first:
            raise CommerceError("Nothing left to fulfil.", field=["lines"])
        if request.lines:
            wanted = request.lines[0]
            first = [
                pair
                for pair in first
                if pair[1].line_item_id == wanted.line_item_id
                or (wanted.sku is not None and _sku(order, pair[1].line_item_id) == wanted.sku)
            ] or first
        location_id = first[0][0].location_id
    available = _open_lines(order, location_id)
    by_fo: dict[int, list[tuple[int, int]]] = {}
    if not request.lines:
        for fo, fol in available:
            by_fo.setdefault(fo.id, []).append((fol.id, fol.remaining_quantity))
    for index, line in enumerate(request.lines):
        field = ["lines", str(index)]
        left = line.quantity
        for fo, fol in available:
            matches = fol.line_item_id == line.line_item_id or (
                line.line_item_id is None and _sku(order, fol.line_item_id) == line.sku
            )
            if matches and left:
                take = min(left, fol.remaining_quantity)
                by_fo.setdefault(fo.id, []).append((fol.id, take))
                left -= take
        if left:
            raise CommerceError(
                f"Only {line.quantity - left} of {line.quantity} left to fulfil at location "
                f"{location_id}.",
                field=[*field, "quantity"],
            )
    requests = [
        FulfillmentRequest(fulfillment_order_id=fo_id, lines=tuple(lines))
        for fo_id, lines in by_fo.items()
    ]
    tracking = request.tracking.to_tracking() if request.tracking else []
    fulfillment, _, events = commerce.create_fulfillment(
        state, shop, requests, tracking, request.notify_customer
    )
    return fulfillment, events


def _sku(order: Order, line_item_id: int) -> str | None:
    line = order.line_item(line_item_id)
    return line.sku if line else None


def fulfillment_view(order: Order, fulfillment: Fulfillment) -> dict[str, Any]:
    """A fulfillment in REST shape, with the Admin API id, for the control API."""
    return payloads.fulfillment_payload(order, fulfillment) | {"order_name": order.name}
