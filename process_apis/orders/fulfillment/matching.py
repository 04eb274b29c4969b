"""A shipment's lines matched to an order's fulfillment orders: what to send, per location.

Pure functions: no I/O. The sender reads the fulfillment orders at send time (Shopify's view
of what is left to ship) and asks :func:`plan_shipment` what each fulfillment it sends must
carry. One fulfillment covers fulfillment orders of one location (Shopify refuses more), so a
shipment whose units are held at two locations becomes two fulfillments; a location the
settings map the shipment's warehouse to is the only one it may ship from.

What cannot be matched is said, never dropped: a SKU the order no longer holds (an edited
order), units over what is left to ship, a fractional quantity.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from decimal import Decimal

import msgspec

from shared.models import Shipment

#: Fulfillment order statuses that still take fulfillments.
OPEN_STATUSES = frozenset({"OPEN", "IN_PROGRESS"})


class FoLine(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    line_item_id: int
    sku: str | None = None
    total_quantity: int = 0
    remaining_quantity: int = 0


class FulfillmentOrder(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    status: str
    location_id: int | None = None
    lines: list[FoLine] = []


class FulfillmentOrders(msgspec.Struct, frozen=True, kw_only=True):
    """The Shopify system API's answer for an order's fulfillment orders."""

    order_id: int
    fulfillment_status: str = ""
    items: list[FulfillmentOrder] = []


class Tracking(msgspec.Struct, frozen=True, kw_only=True):
    company: str | None = None
    numbers: list[str] = []
    urls: list[str] = []


class SendLine(msgspec.Struct, frozen=True, kw_only=True):
    fulfillment_order_line_id: int
    quantity: int


class SendOrder(msgspec.Struct, frozen=True, kw_only=True):
    fulfillment_order_id: int
    lines: list[SendLine]


class SendBody(msgspec.Struct, frozen=True, kw_only=True):
    """The Shopify system API's ``FulfillmentSend`` body."""

    fulfillment_orders: list[SendOrder]
    tracking: Tracking | None = None
    notify_customer: bool = False


class Group(msgspec.Struct, kw_only=True):
    """One fulfillment to send: its location, key, body, and (once made) Shopify's id."""

    location_id: int | None
    key: str
    body: SendBody
    skus: dict[str, int]
    fulfillment_id: int | None = None
    name: str | None = None
    #: The body was sent at least once (a crash after may have left it made in Shopify).
    attempted: bool = False


class Unmatched(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    quantity: str
    reason: str


class Plan(msgspec.Struct, kw_only=True):
    """What one shipment becomes in Shopify; kept by the sender so that every retry sends
    exactly the body of the first attempt (the system API's key is bound to it)."""

    groups: list[Group]
    unmatched: list[Unmatched] = []
    #: The tracking the fulfillments carry now (:func:`tracking_fingerprint`).
    tracking_fp: str = ""
    #: Units the order had left to ship before this shipment, and this shipment's units.
    remaining_before: int = 0
    shipped_units: int = 0


def tracking_of(shipment: Shipment, carriers: dict[str, str] | None = None) -> Tracking | None:
    """Every parcel's tracking number and link, and the carrier by Shopify's name for it.

    Links go only when every number has one: Shopify pairs ``numbers`` and ``urls`` by
    position, and makes the link itself for a carrier it knows."""
    numbers: list[str] = []
    urls: list[str | None] = []
    for package in shipment.packages:
        if package.tracking_number and package.tracking_number not in numbers:
            numbers.append(package.tracking_number)
            urls.append(package.tracking_url)
    if not numbers and shipment.tracking_number:
        numbers.append(shipment.tracking_number)
        urls.append(shipment.tracking_url)
    company = shipment.carrier
    if company and carriers:
        company = carriers.get(company, company)
    if not numbers and not company:
        return None
    kept = [u for u in urls if u]
    return Tracking(
        company=company or None,
        numbers=numbers,
        urls=kept if len(kept) == len(numbers) else [],
    )


def tracking_fingerprint(tracking: Tracking | None) -> str:
    return hashlib.sha256(msgspec.json.encode(tracking)).hexdigest()[:16]


def shipment_units(shipment: Shipment) -> tuple[Counter[str], list[Unmatched]]:
    """Units per SKU the shipment carries; fractional quantities are refused."""
    units: Counter[str] = Counter()
    refused: list[Unmatched] = []
    for line in shipment.lines:
        quantity = Decimal(line.quantity)
        if quantity <= 0:
            continue
        if quantity != quantity.to_integral_value():
            refused.append(
                Unmatched(
                    sku=line.sku,
                    quantity=str(quantity),
                    reason="a fractional quantity cannot be a Shopify fulfillment",
                )
            )
            continue
        units[line.sku] += int(quantity)
    return units, refused


def plan_shipment(
    shipment: Shipment,
    orders: FulfillmentOrders,
    *,
    key_prefix: str,
    location_id: int | None,
    tracking: Tracking | None,
    notify_customer: bool,
) -> Plan:
    """Match the shipment's units to the open fulfillment order lines with units left.

    With ``location_id`` only that location's fulfillment orders are used. Otherwise the
    location that can take the most of the shipment is used first, then the others, one
    fulfillment per location. Each group's key is ``<key_prefix>:<location id>``.
    """
    units, unmatched = shipment_units(shipment)
    open_orders = [
        fo
        for fo in orders.items
        if fo.status in OPEN_STATUSES and (location_id is None or fo.location_id == location_id)
    ]
    remaining_before = sum(
        line.remaining_quantity
        for fo in orders.items
        if fo.status in OPEN_STATUSES
        for line in fo.lines
    )
    # Units each location can take of the shipment: the best one first (then by id).
    capacity: Counter[int | None] = Counter()
    for fo in open_orders:
        for line in fo.lines:
            if line.sku is not None and line.sku in units:
                capacity[fo.location_id] += min(line.remaining_quantity, units[line.sku])
    order = sorted(capacity, key=lambda loc: (-capacity[loc], loc or 0))
    wanted = Counter(units)
    groups: list[Group] = []
    for location in order:
        sends: list[SendOrder] = []
        skus: Counter[str] = Counter()
        for fo in (fo for fo in open_orders if fo.location_id == location):
            lines: list[SendLine] = []
            for line in fo.lines:
                if line.sku is None or wanted[line.sku] <= 0 or line.remaining_quantity <= 0:
                    continue
                take = min(wanted[line.sku], line.remaining_quantity)
                wanted[line.sku] -= take
                skus[line.sku] += take
                lines.append(SendLine(fulfillment_order_line_id=line.id, quantity=take))
            if lines:
                sends.append(SendOrder(fulfillment_order_id=fo.id, lines=lines))
        if sends:
            groups.append(
                Group(
                    location_id=location,
                    key=f"{key_prefix}:{location if location is not None else 'any'}",
                    body=SendBody(
                        fulfillment_orders=sends,
                        tracking=tracking,
                        notify_customer=notify_customer,
                    ),
                    skus=dict(skus),
                )
            )
    held = {line.sku for fo in orders.items for line in fo.lines if line.sku}
    for sku, left in sorted(wanted.items()):
        if left <= 0:
            continue
        if sku not in held:
            reason = "the Shopify order holds no line with this SKU (edited after it was posted)"
        elif location_id is not None and not any(
            line.sku == sku for fo in open_orders for line in fo.lines
        ):
            reason = f"no open fulfillment order at the mapped location {location_id}"
        else:
            reason = "more units than the order has left to fulfil"
        unmatched.append(Unmatched(sku=sku, quantity=str(left), reason=reason))
    return Plan(
        groups=groups,
        unmatched=unmatched,
        tracking_fp=tracking_fingerprint(tracking),
        remaining_before=remaining_before,
        shipped_units=sum(sum(g.skus.values()) for g in groups),
    )
