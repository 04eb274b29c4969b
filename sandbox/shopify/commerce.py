"""What happens in a shop: orders placed, paid, cancelled, fulfilled, refunded; stock moved.

Free of HTTP and GraphQL. Every operation returns the webhook events it triggers, which the
caller hands to the webhook sender once the change is complete.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from sandbox.shopify import payloads
from sandbox.shopify.state import (
    Customer,
    Fulfillment,
    FulfillmentLine,
    FulfillmentOrder,
    FulfillmentOrderLine,
    InventoryItem,
    InventoryLevel,
    LineItem,
    Location,
    MailingAddress,
    Order,
    Refund,
    RefundLine,
    Shop,
    ShopifyState,
    TrackingInfo,
    Transaction,
    now_utc,
)

COUNTRY_NAMES = {
    "FR": "France",
    "DE": "Germany",
    "US": "United States",
    "GB": "United Kingdom",
    "ES": "Spain",
    "IT": "Italy",
    "NL": "Netherlands",
    "BE": "Belgium",
    "CA": "Canada",
}
# Quantity names that are part of on_hand (``incoming`` is not yet in the building).
ON_HAND_PARTS = ("available", "committed", "damaged", "quality_control", "reserved", "safety_stock")
ADJUSTABLE_NAMES = (
    "available",
    "damaged",
    "incoming",
    "quality_control",
    "reserved",
    "safety_stock",
)
SETTABLE_NAMES = ("available", "on_hand")
INVENTORY_REASONS = (
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
)
RESTOCK_TYPES = ("NO_RESTOCK", "CANCEL", "RETURN", "LEGACY_RESTOCK")
MAX_QUANTITY = 1_000_000_000
# Order edits have ids of their own; like orders, they start where the clock is, so a sandbox
# restarted against the same Redis never repeats one.
_ORDER_EDIT_IDS = itertools.count(2_400_000_000_000 + (int(time.time()) % 100_000_000) * 10_000)


class ShopEvent(msgspec.Struct, kw_only=True, frozen=True):
    """A webhook-worthy change: a topic and its REST-shaped body."""

    topic: str
    payload: dict[str, Any]


class CommerceError(Exception):
    """A business rule said no; becomes a ``userError`` or a 422 problem."""

    def __init__(self, message: str, *, field: Sequence[str] = (), code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = list(field)
        self.code = code


class AddressDraft(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    first_name: str = "Ada"
    last_name: str = "Lovelace"
    company: str | None = None
    address1: str = "12 rue de la Paix"
    address2: str | None = None
    city: str = "Paris"
    province: str | None = None
    province_code: str | None = None
    zip: str = "75002"
    country_code: str = "FR"
    country: str | None = None
    phone: str | None = None

    def to_address(self) -> MailingAddress:
        code = self.country_code.upper()
        return MailingAddress(
            first_name=self.first_name,
            last_name=self.last_name,
            company=self.company,
            address1=self.address1,
            address2=self.address2,
            city=self.city,
            province=self.province,
            province_code=self.province_code,
            zip=self.zip,
            country=self.country or COUNTRY_NAMES.get(code, code),
            country_code=code,
            phone=self.phone,
        )


class OrderLineDraft(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    sku: str
    quantity: int = 1
    price: str | None = None
    title: str | None = None


class OrderDraft(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """An order as a buyer would place it at checkout."""

    line_items: list[OrderLineDraft]
    email: str = "ada.lovelace@example.com"
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    shipping_address: AddressDraft | None = None
    billing_address: AddressDraft | None = None
    financial_status: str = "paid"
    tags: list[str] = msgspec.field(default_factory=list)
    note: str | None = None
    gateway: str = "manual"
    source_name: str = "web"
    location_id: int | None = None


class OrderPatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Fields a merchant may edit on an order in the admin."""

    email: str | None = None
    note: str | None = None
    tags: list[str] | None = None
    shipping_address: AddressDraft | None = None


class QuantityChange(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A new quantity for a line item, named by id or by SKU (its first line item)."""

    quantity: int
    line_item_id: int | None = None
    sku: str | None = None


class OrderEditRequest(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A merchant's order edit, committed at once: quantities set, variants added."""

    set_quantities: list[QuantityChange] = msgspec.field(default_factory=list)
    add: list[OrderLineDraft] = msgspec.field(default_factory=list)
    restock: bool = True
    notify_customer: bool = False
    staff_note: str | None = None


def _order_events(shop: Shop, order: Order, *topics: str) -> list[ShopEvent]:
    body = payloads.order_payload(shop, order)
    return [ShopEvent(topic=topic, payload=body) for topic in topics]


def _pick_location(shop: Shop, item: InventoryItem | None, quantity: int) -> Location:
    if item is not None:
        for location in shop.locations.values():
            level = shop.levels.get((item.id, location.id))
            if level is not None and level.get("available") >= quantity:
                return location
    return shop.default_location()


def _move(level: InventoryLevel, name: str, delta: int) -> None:
    level.quantities[name] = level.get(name) + delta
    if name in ON_HAND_PARTS:
        level.quantities["on_hand"] = level.get("on_hand") + delta
    level.updated_at = now_utc()


def create_order(
    state: ShopifyState, shop: Shop, draft: OrderDraft
) -> tuple[Order, list[ShopEvent]]:
    """Place an order: commit stock, open fulfillment orders; ``orders/create`` (+ ``paid``)."""
    if not draft.line_items:
        raise CommerceError("An order needs at least one line item", field=["line_items"])
    shipping = (draft.shipping_address or AddressDraft(country_code=shop.country_code)).to_address()
    billing = draft.billing_address.to_address() if draft.billing_address else shipping
    customer = shop.customer_by_email(draft.email)
    if customer is None:
        customer = Customer(
            id=state.ids.next("Customer"),
            email=draft.email,
            first_name=draft.first_name or shipping.first_name,
            last_name=draft.last_name or shipping.last_name,
            phone=draft.phone,
        )
        shop.customers[customer.id] = customer
    customer.orders_count += 1
    lines: list[LineItem] = []
    for position, line in enumerate(draft.line_items):
        if line.quantity < 1:
            raise CommerceError("Quantity must be positive", field=["line_items", str(position)])
        lines.append(_line_item(state, shop, line))
    shop.order_count += 1
    order = Order(
        id=state.ids.next("Order"),
        number=shop.order_count,
        email=draft.email,
        currency=shop.currency,
        line_items=lines,
        shipping_address=shipping,
        billing_address=billing,
        customer_id=customer.id,
        shipping_price=shop.shipping_price,
        tax_rate=shop.tax_rate,
        taxes_included=shop.taxes_included,
        financial_status=draft.financial_status.upper(),
        note=draft.note,
        tags=sorted(set(draft.tags)),
        gateway=draft.gateway,
        source_name=draft.source_name,
        token=secrets.token_hex(16),
    )
    _open_fulfillment_orders(state, shop, order, draft.location_id)
    if order.financial_status == "PAID":
        order.transactions.append(
            Transaction(
                id=state.ids.next("OrderTransaction"),
                kind="SALE",
                amount=order.total_price,
                gateway=order.gateway,
            )
        )
    shop.orders[order.id] = order
    topics = ["orders/create"] + (["orders/paid"] if order.financial_status == "PAID" else [])
    return order, _order_events(shop, order, *topics)


def _open_fulfillment_orders(
    state: ShopifyState, shop: Shop, order: Order, location_id: int | None
) -> None:
    by_location: dict[int, FulfillmentOrder] = {}
    for line in order.line_items:
        item = shop.item_by_sku(line.sku)
        location = (
            shop.locations[location_id]
            if location_id in shop.locations
            else _pick_location(shop, item, line.quantity)
        )
        fo = by_location.get(location.id)
        if fo is None:
            fo = FulfillmentOrder(
                id=state.ids.next("FulfillmentOrder"), order_id=order.id, location_id=location.id
            )
            by_location[location.id] = fo
        fo.lines.append(
            FulfillmentOrderLine(
                id=state.ids.next("FulfillmentOrderLineItem"),
                line_item_id=line.id,
                total_quantity=line.quantity,
                remaining_quantity=line.quantity,
            )
        )
        level = shop.levels.get((item.id, location.id)) if item else None
        if level is not None:
            _move(level, "available", -line.quantity)
            _move(level, "committed", line.quantity)
    order.fulfillment_orders = list(by_location.values())


def _line_item(state: ShopifyState, shop: Shop, line: OrderLineDraft) -> LineItem:
    found = shop.variant_by_sku(line.sku)
    product, variant = found if found else (None, None)
    price = (
        Decimal(line.price)
        if line.price is not None
        else (variant.price if variant else Decimal("10.00"))
    )
    return LineItem(
        id=state.ids.next("LineItem"),
        product_id=product.id if product else None,
        # The line's own variant (the one carrying the SKU), not the product's first.
        variant_id=variant.id if variant else None,
        sku=line.sku,
        title=line.title or (product.title if product else line.sku),
        quantity=line.quantity,
        price=price,
    )


def edit_order(
    state: ShopifyState, shop: Shop, order: Order, edit: OrderEditRequest
) -> tuple[dict[str, Any], list[ShopEvent]]:
    """Commit an order edit: ``orders/edited`` (the edit's deltas) then ``orders/updated``.

    As Shopify's order editing does: only unfulfilled units can be removed (a removal is
    recorded as a refund line restocked ``CANCEL`` without money, so ``current_quantity``
    drops while ``quantity`` keeps what was ordered); an increase adds units to the existing
    line item; a new variant becomes a new line item to fulfil from the order's open
    fulfillment order. Stock moves between committed and available accordingly. Money is
    not moved: charging or refunding the difference is a separate step, as in Shopify.
    """
    if order.cancelled_at is not None:
        raise CommerceError("A cancelled order can't be edited", field=["id"], code="INVALID")
    if not edit.set_quantities and not edit.add:
        raise CommerceError("The edit changes nothing", field=["set_quantities"])
    additions: list[dict[str, int]] = []
    removals: list[dict[str, int]] = []
    removed: list[RefundLine] = []
    touched: list[InventoryLevel] = []
    planned: list[tuple[LineItem, int]] = []
    for index, change in enumerate(edit.set_quantities):
        field = ["set_quantities", str(index)]
        line = (
            order.line_item(change.line_item_id)
            if change.line_item_id is not None
            else next((li for li in order.line_items if li.sku == change.sku), None)
        )
        if line is None:
            raise CommerceError("Line item does not exist.", field=field)
        if change.quantity < 0:
            raise CommerceError("Quantity can't be negative.", field=[*field, "quantity"])
        current = line.quantity - line.refunded_quantity
        if current - change.quantity > line.fulfillable_quantity:
            raise CommerceError(
                f"Only unfulfilled items can be removed ({line.fulfillable_quantity} unfulfilled).",
                field=[*field, "quantity"],
            )
        planned.append((line, change.quantity - current))
    for index, draft in enumerate(edit.add):
        if draft.quantity < 1:
            raise CommerceError("Quantity must be positive", field=["add", str(index)])
    location = _line_location(order, order.line_items[0].id) if order.line_items else None
    location_id = location or shop.default_location().id
    for line, delta in planned:
        item = shop.item_by_sku(line.sku)
        level = (
            shop.levels.get((item.id, _line_location(order, line.id) or location_id))
            if item
            else None
        )
        if delta < 0:
            _reduce_open_quantity(order, line.id, -delta)
            line.refunded_quantity -= delta
            removed.append(
                RefundLine(
                    id=state.ids.next("RefundLineItem"),
                    line_item_id=line.id,
                    quantity=-delta,
                    restock_type="CANCEL" if edit.restock else "NO_RESTOCK",
                    location_id=location_id,
                    subtotal=line.price * -delta,
                )
            )
            removals.append({"id": line.id, "delta": -delta})
            if level is not None:
                _move(level, "committed", delta)
                if edit.restock:
                    _move(level, "available", -delta)
                touched.append(level)
        elif delta > 0:
            line.quantity += delta
            _grow_open_quantity(state, order, line.id, delta, location_id)
            additions.append({"id": line.id, "delta": delta})
            if level is not None:
                _move(level, "available", -delta)
                _move(level, "committed", delta)
                touched.append(level)
    for draft in edit.add:
        line = _line_item(state, shop, draft)
        order.line_items.append(line)
        _grow_open_quantity(state, order, line.id, line.quantity, location_id)
        additions.append({"id": line.id, "delta": line.quantity})
        item = shop.item_by_sku(line.sku)
        level = shop.levels.get((item.id, location_id)) if item else None
        if level is not None:
            _move(level, "available", -line.quantity)
            _move(level, "committed", line.quantity)
            touched.append(level)
    committed_at = now_utc()
    if removed:
        order.refunds.append(
            Refund(
                id=state.ids.next("Refund"),
                order_id=order.id,
                note="Order edit",
                lines=removed,
                transactions=[],
                created_at=committed_at,
            )
        )
    order.updated_at = committed_at
    body = payloads.order_edit_payload(
        order,
        next(_ORDER_EDIT_IDS),
        committed_at,
        additions=additions,
        removals=removals,
        notify_customer=edit.notify_customer,
        staff_note=edit.staff_note,
    )
    events = [
        ShopEvent(topic="orders/edited", payload=body),
        *_order_events(shop, order, "orders/updated"),
        *level_events(touched),
    ]
    return body, events


def _grow_open_quantity(
    state: ShopifyState, order: Order, line_item_id: int, quantity: int, location_id: int
) -> None:
    """Add units to fulfil: to the line's open fulfillment order line, else a new one."""
    for fo in order.fulfillment_orders:
        if fo.status == "CLOSED":
            continue
        for fol in fo.lines:
            if fol.line_item_id == line_item_id:
                fol.total_quantity += quantity
                fol.remaining_quantity += quantity
                return
    target = next(
        (
            f
            for f in order.fulfillment_orders
            if f.status == "OPEN" and f.location_id == location_id
        ),
        None,
    )
    if target is None:
        target = FulfillmentOrder(
            id=state.ids.next("FulfillmentOrder"), order_id=order.id, location_id=location_id
        )
        order.fulfillment_orders.append(target)
    target.lines.append(
        FulfillmentOrderLine(
            id=state.ids.next("FulfillmentOrderLineItem"),
            line_item_id=line_item_id,
            total_quantity=quantity,
            remaining_quantity=quantity,
        )
    )


def find_order(shop: Shop, order_id: int) -> Order:
    order = shop.orders.get(order_id)
    if order is None:
        raise CommerceError("Order does not exist", field=["id"], code="NOT_FOUND")
    return order


def mark_paid(state: ShopifyState, shop: Shop, order: Order) -> list[ShopEvent]:
    """Capture payment: ``orders/paid`` then ``orders/updated``."""
    if order.financial_status == "PAID":
        raise CommerceError("Order is already paid", field=["id"], code="INVALID")
    order.financial_status = "PAID"
    order.transactions.append(
        Transaction(
            id=state.ids.next("OrderTransaction"),
            kind="SALE",
            amount=order.total_price,
            gateway=order.gateway,
        )
    )
    order.updated_at = now_utc()
    return _order_events(shop, order, "orders/paid", "orders/updated")


def cancel_order(shop: Shop, order: Order, reason: str = "CUSTOMER") -> list[ShopEvent]:
    """Cancel: release committed stock of unfulfilled lines; ``orders/cancelled``, ``updated``."""
    if order.cancelled_at is not None:
        raise CommerceError("Order has already been cancelled", field=["id"], code="INVALID")
    for fo in order.fulfillment_orders:
        for fol in fo.lines:
            line = order.line_item(fol.line_item_id)
            item = shop.item_by_sku(line.sku) if line else None
            level = shop.levels.get((item.id, fo.location_id)) if item else None
            if level is not None and fol.remaining_quantity:
                _move(level, "committed", -fol.remaining_quantity)
                _move(level, "available", fol.remaining_quantity)
            fol.remaining_quantity = 0
        fo.status = "CLOSED"
    order.cancelled_at = now_utc()
    order.closed_at = order.cancelled_at
    order.cancel_reason = reason.upper()
    order.updated_at = order.cancelled_at
    return _order_events(shop, order, "orders/cancelled", "orders/updated")


def update_order(shop: Shop, order: Order, patch: OrderPatch) -> list[ShopEvent]:
    """Edit contact details, note, tags or shipping address; ``orders/updated``."""
    if patch.email is not None:
        order.email = patch.email
    if patch.note is not None:
        order.note = patch.note
    if patch.tags is not None:
        order.tags = sorted(set(patch.tags))
    if patch.shipping_address is not None:
        order.shipping_address = patch.shipping_address.to_address()
    order.updated_at = now_utc()
    return _order_events(shop, order, "orders/updated")


def add_tags(shop: Shop, order: Order, tags: Sequence[str]) -> list[ShopEvent]:
    """Add tags (trimmed, de-duplicated); ``orders/updated`` if anything changed."""
    cleaned = {t.strip() for tag in tags for t in tag.split(",") if t.strip()}
    if cleaned <= set(order.tags):
        return []
    order.tags = sorted(set(order.tags) | cleaned)
    order.updated_at = now_utc()
    return _order_events(shop, order, "orders/updated")


def remove_tags(shop: Shop, order: Order, tags: Sequence[str]) -> list[ShopEvent]:
    cleaned = {t.strip() for tag in tags for t in tag.split(",") if t.strip()}
    if not cleaned & set(order.tags):
        return []
    order.tags = sorted(set(order.tags) - cleaned)
    order.updated_at = now_utc()
    return _order_events(shop, order, "orders/updated")


def level_for(shop: Shop, item_id: int, location_id: int, field: Sequence[str]) -> InventoryLevel:
    """The level of an item at a location, or the Shopify error for the missing part."""
    if item_id not in shop.inventory_items:
        raise CommerceError(
            "The specified inventory item could not be found.",
            field=[*field, "inventoryItemId"],
            code="INVALID_INVENTORY_ITEM",
        )
    if location_id not in shop.locations:
        raise CommerceError(
            "The specified location could not be found.",
            field=[*field, "locationId"],
            code="INVALID_LOCATION",
        )
    level = shop.levels.get((item_id, location_id))
    if level is None:
        raise CommerceError(
            "The specified inventory item is not stocked at the location.",
            field=[*field, "locationId"],
            code="ITEM_NOT_STOCKED_AT_LOCATION",
        )
    return level


def set_quantity(level: InventoryLevel, name: str, quantity: int) -> int:
    """Set ``available`` or ``on_hand`` to ``quantity``; the other moves by the same delta."""
    delta = quantity - level.get(name)
    if name == "on_hand":
        level.quantities["on_hand"] = quantity
        level.quantities["available"] = level.get("available") + delta
        level.updated_at = now_utc()
    else:
        _move(level, name, delta)
    return delta


def level_events(levels: Sequence[InventoryLevel]) -> list[ShopEvent]:
    return [
        ShopEvent(topic="inventory_levels/update", payload=payloads.inventory_level_payload(lv))
        for lv in levels
    ]


class FulfillmentRequest(msgspec.Struct, kw_only=True, frozen=True):
    """Lines to fulfil from one fulfillment order (no lines: everything remaining)."""

    fulfillment_order_id: int
    lines: tuple[tuple[int, int], ...] = ()


def create_fulfillment(
    state: ShopifyState,
    shop: Shop,
    requests: Sequence[FulfillmentRequest],
    tracking: Sequence[TrackingInfo],
    notify_customer: bool,
) -> tuple[Fulfillment, Order, list[ShopEvent]]:
    """Ship lines of fulfillment orders of one order: ``fulfillments/create`` and order topics."""
    if not requests:
        raise CommerceError(
            "Line items by fulfillment order can't be blank",
            field=["fulfillment", "lineItemsByFulfillmentOrder"],
        )
    found: list[tuple[Order, FulfillmentOrder, FulfillmentRequest]] = []
    for index, request in enumerate(requests):
        pair = next(
            (
                (o, fo)
                for o in shop.orders.values()
                for fo in o.fulfillment_orders
                if fo.id == request.fulfillment_order_id
            ),
            None,
        )
        if pair is None:
            raise CommerceError(
                "Fulfillment order does not exist.",
                field=[
                    "fulfillment",
                    "lineItemsByFulfillmentOrder",
                    str(index),
                    "fulfillmentOrderId",
                ],
            )
        found.append((pair[0], pair[1], request))
    orders = {o.id for o, _, _ in found}
    locations = {fo.location_id for _, fo, _ in found}
    if len(orders) > 1 or len(locations) > 1:
        raise CommerceError(
            "All fulfillment orders must belong to the same order and location.",
            field=["fulfillment", "lineItemsByFulfillmentOrder"],
        )
    order = found[0][0]
    if order.cancelled_at is not None:
        raise CommerceError("Order has been cancelled.", field=["fulfillment"])
    planned: list[tuple[FulfillmentOrderLine, int]] = []
    for _, fo, request in found:
        if fo.status == "CLOSED":
            raise CommerceError(
                "Fulfillment order is closed.",
                field=["fulfillment", "lineItemsByFulfillmentOrder"],
            )
        wanted = request.lines or tuple((fol.id, fol.remaining_quantity) for fol in fo.lines)
        for fol_id, quantity in wanted:
            fol = next((x for x in fo.lines if x.id == fol_id), None)
            if fol is None:
                raise CommerceError(
                    "Fulfillment order line item does not exist.",
                    field=["fulfillment", "lineItemsByFulfillmentOrder"],
                )
            if quantity < 1 or quantity > fol.remaining_quantity:
                raise CommerceError(
                    f"Invalid quantity {quantity}: {fol.remaining_quantity} remaining.",
                    field=["fulfillment", "lineItemsByFulfillmentOrder"],
                )
            planned.append((fol, quantity))
    if not planned:
        raise CommerceError("Nothing left to fulfil.", field=["fulfillment"])
    location_id = found[0][1].location_id
    shipped: list[FulfillmentLine] = []
    touched: list[InventoryLevel] = []
    for fol, quantity in planned:
        fol.remaining_quantity -= quantity
        line = order.line_item(fol.line_item_id)
        if line is None:
            continue
        line.fulfilled_quantity += quantity
        shipped.append(FulfillmentLine(line_item_id=line.id, quantity=quantity))
        item = shop.item_by_sku(line.sku)
        level = shop.levels.get((item.id, location_id)) if item else None
        if level is not None:
            _move(level, "committed", -quantity)
            touched.append(level)
    for _, fo, _ in found:
        fo.status = "CLOSED" if all(x.remaining_quantity == 0 for x in fo.lines) else "IN_PROGRESS"
    fulfillment = Fulfillment(
        id=state.ids.next("Fulfillment"),
        order_id=order.id,
        name=f"{order.name}.{len(order.fulfillments) + 1}",
        location_id=location_id,
        tracking=list(tracking),
        lines=shipped,
        notify_customer=notify_customer,
    )
    order.fulfillments.append(fulfillment)
    order.updated_at = now_utc()
    status = order.fulfillment_status
    order_topic = "orders/fulfilled" if status == "FULFILLED" else "orders/partially_fulfilled"
    events = [
        ShopEvent(
            topic="fulfillments/create", payload=payloads.fulfillment_payload(order, fulfillment)
        ),
        *_order_events(shop, order, order_topic, "orders/updated"),
        *level_events(touched),
    ]
    return fulfillment, order, events


class RefundLineRequest(msgspec.Struct, kw_only=True, frozen=True):
    line_item_id: int
    quantity: int
    restock_type: str = "NO_RESTOCK"
    location_id: int | None = None


def create_refund(
    state: ShopifyState,
    shop: Shop,
    order: Order,
    lines: Sequence[RefundLineRequest],
    *,
    note: str | None = None,
    shipping_amount: Decimal | None = None,
    full_shipping: bool = False,
    transactions: Sequence[tuple[Decimal, str]] = (),
) -> tuple[Refund, list[ShopEvent]]:
    """Refund lines (restocking as asked) and money; ``refunds/create`` and ``orders/updated``."""
    refund_lines: list[RefundLine] = []
    touched: list[InventoryLevel] = []
    for index, request in enumerate(lines):
        field = ["input", "refundLineItems", str(index)]
        line = order.line_item(request.line_item_id)
        if line is None:
            raise CommerceError("Line item does not exist.", field=[*field, "lineItemId"])
        refundable = line.quantity - line.refunded_quantity
        if request.quantity < 1 or request.quantity > refundable:
            raise CommerceError(
                f"Quantity cannot refund more items than were purchased ({refundable} refundable).",
                field=[*field, "quantity"],
            )
        if request.restock_type not in RESTOCK_TYPES:
            raise CommerceError("Invalid restock type.", field=[*field, "restockType"])
        if request.restock_type == "CANCEL" and request.quantity > line.fulfillable_quantity:
            raise CommerceError(
                "Cannot cancel more items than are unfulfilled.", field=[*field, "restockType"]
            )
        location_id = request.location_id
        if request.restock_type != "NO_RESTOCK":
            location_id = (
                location_id or _line_location(order, line.id) or shop.default_location().id
            )
            item = shop.item_by_sku(line.sku)
            level = shop.levels.get((item.id, location_id)) if item else None
            if level is not None:
                if request.restock_type == "CANCEL":
                    _move(level, "committed", -request.quantity)
                _move(level, "available", request.quantity)
                touched.append(level)
        if request.restock_type == "CANCEL":
            _reduce_open_quantity(order, line.id, request.quantity)
        line.refunded_quantity += request.quantity
        refund_lines.append(
            RefundLine(
                id=state.ids.next("RefundLineItem"),
                line_item_id=line.id,
                quantity=request.quantity,
                restock_type=request.restock_type,
                location_id=location_id,
                subtotal=line.price * request.quantity,
            )
        )
    shipping = order.shipping_price if full_shipping else (shipping_amount or Decimal(0))
    refund = Refund(
        id=state.ids.next("Refund"),
        order_id=order.id,
        note=note,
        lines=refund_lines,
        transactions=[
            Transaction(id=state.ids.next("OrderTransaction"), kind="REFUND", amount=a, gateway=g)
            for a, g in transactions
        ],
        shipping=shipping,
    )
    if refund.total > order.total_price - order.total_refunded:
        raise CommerceError(
            "Refund amount exceeds the amount that can be refunded.",
            field=["input", "transactions"],
        )
    order.refunds.append(refund)
    if order.total_refunded > 0:
        fully = order.total_refunded >= order.total_price
        order.financial_status = "REFUNDED" if fully else "PARTIALLY_REFUNDED"
    order.updated_at = now_utc()
    events = [
        ShopEvent(topic="refunds/create", payload=payloads.refund_payload(order, refund)),
        *_order_events(shop, order, "orders/updated"),
        *level_events(touched),
    ]
    return refund, events


def _line_location(order: Order, line_item_id: int) -> int | None:
    for fo in order.fulfillment_orders:
        if any(fol.line_item_id == line_item_id for fol in fo.lines):
            return fo.location_id
    return None


def _reduce_open_quantity(order: Order, line_item_id: int, quantity: int) -> None:
    for fo in order.fulfillment_orders:
        for fol in fo.lines:
            if fol.line_item_id == line_item_id and quantity:
                taken = min(quantity, fol.remaining_quantity)
                fol.remaining_quantity -= taken
                fol.total_quantity -= taken
                quantity -= taken
        if all(x.remaining_quantity == 0 for x in fo.lines):
            fo.status = "CLOSED"


def adjust_quantity(level: InventoryLevel, name: str, delta: int) -> None:
    """Move quantity ``name`` by ``delta`` (``on_hand`` follows for the states it contains)."""
    _move(level, name, delta)
