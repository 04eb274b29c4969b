"""A shipment's lines matched to fulfillment orders (pure; no I/O)."""

from __future__ import annotations

from decimal import Decimal

from process_apis.orders.fulfillment.matching import (
    FoLine,
    FulfillmentOrder,
    FulfillmentOrders,
    plan_shipment,
    tracking_of,
)
from shared.models import Shipment, ShipmentLine, ShipmentPackage

LOC_A, LOC_B = 61_001, 61_002


def shipment(*lines: tuple[str, str], packages: list[ShipmentPackage] | None = None) -> Shipment:
    return Shipment(
        id="41",
        number="CS41",
        state="done",
        carrier="DHL",
        lines=[ShipmentLine(sku=sku, quantity=Decimal(q)) for sku, q in lines],
        packages=packages or [],
    )


def orders(*fos: FulfillmentOrder) -> FulfillmentOrders:
    return FulfillmentOrders(order_id=1001, items=list(fos))


def fo(
    fo_id: int, location: int, *lines: tuple[int, str, int], status: str = "OPEN"
) -> FulfillmentOrder:
    return FulfillmentOrder(
        id=fo_id,
        status=status,
        location_id=location,
        lines=[
            FoLine(
                id=line_id,
                line_item_id=line_id + 1000,
                sku=sku,
                total_quantity=left,
                remaining_quantity=left,
            )
            for line_id, sku, left in lines
        ],
    )


def plan(ship: Shipment, fos: FulfillmentOrders, location: int | None = None):  # type: ignore[no-untyped-def]
    return plan_shipment(
        ship,
        fos,
        key_prefix="eu:shipment:41",
        location_id=location,
        tracking=tracking_of(ship, {"DHL": "DHL Express"}),
        notify_customer=True,
    )


def test_every_parcel_number_and_link_with_the_carrier_by_shopifys_name() -> None:
    ship = shipment(
        ("TOTE", "2"),
        packages=[
            ShipmentPackage(id="1", tracking_number="JD1", tracking_url="https://t/JD1"),
            ShipmentPackage(id="2", tracking_number="JD2", tracking_url="https://t/JD2"),
        ],
    )
    tracking = tracking_of(ship, {"DHL": "DHL Express"})
    assert tracking is not None
    assert tracking.company == "DHL Express"
    assert tracking.numbers == ["JD1", "JD2"]
    assert tracking.urls == ["https://t/JD1", "https://t/JD2"]


def test_links_are_left_out_when_one_parcel_has_none() -> None:
    ship = shipment(
        ("TOTE", "2"),
        packages=[
            ShipmentPackage(id="1", tracking_number="JD1", tracking_url="https://t/JD1"),
            ShipmentPackage(id="2", tracking_number="JD2"),
        ],
    )
    tracking = tracking_of(ship)
    assert tracking is not None
    assert tracking.numbers == ["JD1", "JD2"]
    assert tracking.urls == []


def test_one_location_one_fulfillment_of_what_was_shipped() -> None:
    made = plan(shipment(("TOTE", "2")), orders(fo(7, LOC_A, (1, "TOTE", 3), (2, "MUG", 1))))
    [group] = made.groups
    assert group.location_id == LOC_A
    assert group.key == f"eu:shipment:41:{LOC_A}"
    [sent] = group.body.fulfillment_orders
    assert sent.fulfillment_order_id == 7
    assert [(line.fulfillment_order_line_id, line.quantity) for line in sent.lines] == [(1, 2)]
    assert made.unmatched == []
    assert (made.remaining_before, made.shipped_units) == (4, 2)


def test_units_at_two_locations_make_two_fulfillments_best_location_first() -> None:
    made = plan(
        shipment(("TOTE", "2"), ("MUG", "1")),
        orders(fo(7, LOC_A, (1, "MUG", 1)), fo(8, LOC_B, (2, "TOTE", 2))),
    )
    assert [g.location_id for g in made.groups] == [LOC_B, LOC_A]
    assert [g.skus for g in made.groups] == [{"TOTE": 2}, {"MUG": 1}]


def test_a_mapped_location_is_the_only_one_used() -> None:
    made = plan(
        shipment(("TOTE", "1")),
        orders(fo(7, LOC_A, (1, "TOTE", 1)), fo(8, LOC_B, (2, "TOTE", 1))),
        location=LOC_B,
    )
    assert [g.location_id for g in made.groups] == [LOC_B]


def test_what_cannot_be_matched_is_said() -> None:
    made = plan(
        shipment(("TOTE", "3"), ("GONE", "1"), ("HALF", "0.5")),
        orders(fo(7, LOC_A, (1, "TOTE", 2), (2, "HALF", 1))),
    )
    assert [g.skus for g in made.groups] == [{"TOTE": 2}]
    reasons = {u.sku: (u.quantity, u.reason) for u in made.unmatched}
    assert reasons["TOTE"][0] == "1"
    assert "more units" in reasons["TOTE"][1]
    assert "no line with this SKU" in reasons["GONE"][1]
    assert "fractional" in reasons["HALF"][1]


def test_closed_fulfillment_orders_take_nothing() -> None:
    made = plan(shipment(("TOTE", "1")), orders(fo(7, LOC_A, (1, "TOTE", 1), status="CLOSED")))
    assert made.groups == []
    assert made.unmatched[0].sku == "TOTE"
