"""What recording a shipment asks of Tryton's moves and parcels, without a Tryton."""

from __future__ import annotations

import msgspec
import pytest

from shared.models import ShipmentRecord, ShipmentRecordLine
from system_apis.erp.adapters.tryton.shipping import (
    move_takes,
    parcel_contents,
    requested_units,
    shortfalls,
)
from system_apis.erp.port import NotOnOpenShipments


def line(sku: str, qty: int) -> ShipmentRecordLine:
    return ShipmentRecordLine(sku=sku, quantity=qty)


def test_requested_units_sum_a_sku_over_lines() -> None:
    assert requested_units([line("A", 1), line("B", 2), line("A", 2)]) == {"A": 3, "B": 2}


@pytest.mark.parametrize("qty", [0, -1, 100_001])
def test_a_quantity_out_of_range_is_named(qty: int) -> None:
    # Lines made in code skip the contract's validation: the adapter checks them again.
    with pytest.raises(NotOnOpenShipments) as refused:
        requested_units([line("A", 1), line("B", qty)])
    assert refused.value.errors == [
        {"field": "lines[1].quantity", "message": "from 1 to 100000 units"}
    ]


def test_shortfalls_name_unknown_skus_and_excess_on_the_first_line() -> None:
    errors = shortfalls(
        [line("A", 1), line("GONE", 1), line("B", 2), line("B", 2)], {"A": 1, "B": 3}
    )
    assert [e["field"] for e in errors] == ["lines[1].sku", "lines[2].quantity"]
    assert "4 x B asked, 3 open" in errors[1]["message"]
    assert shortfalls([line("A", 1), line("B", 3)], {"A": 1, "B": 3}) == []


def test_parcels_take_what_they_name_and_share_the_rest() -> None:
    units = {"TOWEL": 2, "THROW": 1, "MUG": 3}
    contents = parcel_contents(units, [[line("MUG", 3)], [], []])
    assert contents == [{"MUG": 3}, {"TOWEL": 1}, {"TOWEL": 1, "THROW": 1}]
    assert parcel_contents(units, []) == []


def test_parcels_beyond_the_units_carry_their_tracking_only() -> None:
    assert parcel_contents({"TOTE": 1}, [[], []]) == [{}, {"TOTE": 1}]


def test_parcels_asking_more_than_ships_or_leaving_units_unpacked_are_refused() -> None:
    with pytest.raises(NotOnOpenShipments) as refused:
        parcel_contents({"A": 1}, [[line("A", 2)], [line("B", 1)]])
    assert [e["field"] for e in refused.value.errors or []] == [
        "packages[0].lines[0]",
        "packages[1].lines[0]",
    ]
    with pytest.raises(NotOnOpenShipments) as refused:
        parcel_contents({"A": 1, "B": 1}, [[line("A", 1)]])
    assert [e["field"] for e in refused.value.errors or []] == ["packages"]


def test_moves_keep_the_units_wanted_oldest_first() -> None:
    moves = [
        {"id": 12, "product.": {"code": "A"}, "quantity": 2.0},
        {"id": 10, "product.": {"code": "A"}, "quantity": 1.0},
        {"id": 11, "product.": {"code": "B"}, "quantity": 4.0},
    ]
    assert move_takes(moves, {"A": 2, "B": 4}) == {10: 1, 12: 1, 11: 4}
    assert move_takes(moves, {"A": 3}) == {10: 1, 12: 2, 11: 0}


def test_a_shipment_record_refuses_unknown_fields_and_needs_lines() -> None:
    good = {"reference": "shopify:x:fulfillment:1", "lines": [{"sku": "A", "quantity": 1}]}
    record = msgspec.convert(good, ShipmentRecord)
    assert record.packages == []
    assert record.carrier is None
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({**good, "tracking": "x"}, ShipmentRecord)
    for lines in ([], [{"sku": "A", "quantity": 0}], [{"sku": "A", "quantity": 1.5}]):
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(msgspec.json.encode({**good, "lines": lines}), type=ShipmentRecord)
