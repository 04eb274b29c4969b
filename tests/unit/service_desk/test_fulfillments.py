"""Fulfillments in an agent's order context, whichever side made them: carrier and a tracking
link per parcel, and ERP shipments that Shopify has no fulfillment of yet (no network)."""

from __future__ import annotations

import msgspec

from experience_apis.service_desk.schemas import UpOrderContext
from experience_apis.service_desk.service import agent_context
from process_apis.orders.context import ShopifyFulfillmentView, ShopifyTracking
from process_apis.orders.schemas import FulfillmentTrackingView, OrderFulfillment
from tests.unit.service_desk.samples import encode, order_context

PENDING = OrderFulfillment(
    source="erp",
    state="pending",
    erp_instance="eu",
    shipment_id="11",
    shipment_number="OUT-11",
    carrier="GLS",
    tracking=[
        FulfillmentTrackingView(number="GL1"),
        FulfillmentTrackingView(number="GL2", url="https://gls.example/GL2"),
    ],
    shipped_at=1_770_003_600.0,
)


def read(**kw: object) -> UpOrderContext:
    return msgspec.json.decode(encode(order_context(**kw)), type=UpOrderContext)  # type: ignore[arg-type]


def test_an_erp_shipment_shopify_has_not_got_yet_says_so() -> None:
    listed = msgspec.structs.replace(PENDING, shipment_id="9", shipment_number="OUT-9")
    view = agent_context(read(fulfillments=(listed, PENDING)))
    by_number = {s.number: s for s in view.shipments}
    # OUT-9 is in the ERP's list: marked. OUT-11 is not (a list read before it shipped): added.
    assert by_number["OUT-9"].awaiting_shopify is True
    assert by_number["OUT-9"].state == "done"
    added = by_number["OUT-11"]
    assert (added.source, added.state, added.carrier, added.awaiting_shopify) == (
        "erp",
        "shipped",
        "GLS",
        True,
    )
    assert [(t.number, t.url) for t in added.tracking] == [
        ("GL1", "https://gls-group.com/track/GL1"),
        ("GL2", "https://gls.example/GL2"),
    ]
    assert added.tracking_url == "https://gls-group.com/track/GL1"
    assert by_number["#1001-F1"].awaiting_shopify is False
    assert view.headline == "refunded"  # the sample's refund outranks shipped


def test_every_parcel_of_a_fulfillment_has_its_carrier_and_link() -> None:
    two_parcels = ShopifyFulfillmentView(
        id=4,
        name="#1001-F2",
        status="SUCCESS",
        created_at="2026-02-03T12:00:00Z",
        tracking=[
            ShopifyTracking(number="1ZA", company="UPS"),
            ShopifyTracking(number="1ZB", company="UPS", url="https://ups.example/1ZB"),
        ],
    )
    # Made by Strata from an ERP shipment: Shopify has no carrier on it, the record has.
    unnamed = ShopifyFulfillmentView(
        id=5, name="#1001-F3", status="SUCCESS", tracking=[ShopifyTracking(number="JD77")]
    )
    record = OrderFulfillment(
        source="erp", state="fulfilled", fulfillment_id=5, shipment_number="OUT-12", carrier="DHL"
    )
    view = agent_context(read(fulfillments=(record,), shopify_fulfillments=(two_parcels, unnamed)))
    by_number = {s.number: s for s in view.shipments}
    f2 = by_number["#1001-F2"]
    assert (f2.source, f2.carrier) == ("shopify", "UPS")
    assert [(t.number, t.url) for t in f2.tracking] == [
        ("1ZA", "https://www.ups.com/track?tracknum=1ZA"),
        ("1ZB", "https://ups.example/1ZB"),
    ]
    f3 = by_number["#1001-F3"]
    assert (f3.carrier, f3.tracking_url, f3.awaiting_shopify) == (
        "DHL",
        "https://www.dhl.com/global-en/home/tracking.html?tracking-id=JD77",
        False,
    )
    assert "OUT-12" not in by_number


def test_while_shopify_is_down_the_recorded_fulfillments_still_show() -> None:
    made_in_shopify = OrderFulfillment(
        source="shopify",
        state="fulfilled",
        fulfillment_id=8,
        name="#1001-F4",
        carrier="UPS",
        tracking=[FulfillmentTrackingView(number="1ZC", url="javascript:alert(1)")],
    )
    view = agent_context(read(shopify_down=True, fulfillments=(made_in_shopify, PENDING)))
    by_number = {s.number: s for s in view.shipments}
    shown = by_number["#1001-F4"]
    assert (shown.source, shown.state, shown.carrier) == ("shopify", "fulfilled", "UPS")
    # Never a javascript: link: the carrier's own page instead.
    assert shown.tracking_url == "https://www.ups.com/track?tracknum=1ZC"
    assert by_number["OUT-11"].awaiting_shopify is True
    assert set(by_number) == {"OUT-9", "OUT-11", "#1001-F4"}
