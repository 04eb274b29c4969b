"""What a customer is shown: stock words and order status in plain words."""

from __future__ import annotations

from experience_apis.storefront.clients import (
    InventoryAnswer,
    InventoryItem,
    PipelineFulfillment,
    PipelineStatus,
    PipelineTracking,
)
from experience_apis.storefront.service import customer_status, shelf_stock


def answer(complete: bool = True, **units: int) -> InventoryAnswer:
    return InventoryAnswer(
        items=[InventoryItem(sku=sku, available_to_sell=n) for sku, n in units.items()],
        complete=complete,
    )


def test_stock_words_hide_large_figures_and_show_low_ones() -> None:
    shown = shelf_stock(answer(BIG=240, FEW=3, EDGE=5, NONE=0), low_stock_threshold=5)
    by_sku = {i.sku: (i.in_stock, i.stock, i.quantity) for i in shown.items}
    assert by_sku == {
        "BIG": (True, "in_stock", None),
        "FEW": (True, "low_stock", 3),
        "EDGE": (True, "low_stock", 5),
        "NONE": (False, "out_of_stock", None),
    }


def test_zero_while_an_erp_is_silent_is_unknown_not_sold_out() -> None:
    shown = shelf_stock(answer(complete=False, NONE=0, SOME=9), low_stock_threshold=5)
    assert [(i.stock, i.in_stock) for i in shown.items] == [("unknown", False), ("in_stock", True)]


def pipeline(
    state: str, *fulfillments: PipelineFulfillment, fulfillment_status: str | None = None
) -> PipelineStatus:
    return PipelineStatus(
        shop="acme.myshopify.com",
        order_id="1001",
        state=state,
        updated_at=1_790_000_000.0,
        fulfillment_status=fulfillment_status,
        fulfillments=list(fulfillments),
    )


def parcel(
    url: str | None = None,
    *,
    source: str = "shopify",
    state: str = "fulfilled",
    carrier: str | None = "UPS",
    number: str | None = "1Z9",
    delivered_at: float | None = None,
) -> PipelineFulfillment:
    return PipelineFulfillment(
        source=source,
        state=state,
        carrier=carrier,
        tracking=[PipelineTracking(number=number, url=url)],
        shipped_at=1.0,
        delivered_at=delivered_at,
    )


def test_pipeline_states_become_customer_words() -> None:
    words = {
        state: customer_status("1001", pipeline(state)).status
        for state in ("received", "validated", "routed", "posted", "acknowledged", "exception")
    }
    assert words == {
        "received": "received",
        "validated": "received",
        "routed": "received",
        "posted": "confirmed",
        "acknowledged": "confirmed",
        # Our exception queue is not the customer's problem.
        "exception": "received",
    }
    assert customer_status("1001", pipeline("acknowledged")).fulfillment == "unfulfilled"
    cancelled = customer_status("1001", pipeline("cancelled"))
    assert (cancelled.status, cancelled.shipped) == ("cancelled", False)


def test_fulfillments_give_tracking_links_but_only_https_ones() -> None:
    status = customer_status(
        "1001",
        pipeline(
            "acknowledged",
            parcel("https://track.example/1Z9"),
            parcel("javascript:alert(1)", carrier=None),
            parcel("http://track.example/plain", carrier=None),
            fulfillment_status="fulfilled",
        ),
    )
    assert (status.status, status.fulfillment, status.shipped) == ("shipped", "shipped", True)
    assert [(t.url, t.carrier, t.number) for t in status.tracking] == [
        ("https://track.example/1Z9", "UPS", "1Z9")
    ]


def test_every_parcel_of_an_erp_shipment_gets_its_link_while_shopify_waits() -> None:
    shipped = PipelineFulfillment(
        source="erp",
        state="pending",
        carrier="DHL",
        tracking=[
            PipelineTracking(number="JD1", url="https://dhl.example/JD1"),
            PipelineTracking(number="JD2", url="https://dhl.example/JD2"),
        ],
        shipped_at=1.0,
    )
    status = customer_status("1001", pipeline("acknowledged", shipped))
    assert (status.status, status.fulfillment) == ("shipped", "shipped")
    assert [(t.carrier, t.number) for t in status.tracking] == [("DHL", "JD1"), ("DHL", "JD2")]


def test_part_of_the_order_shipped_reads_partially_shipped() -> None:
    status = customer_status(
        "1001",
        pipeline(
            "acknowledged",
            parcel("https://track.example/1Z9", delivered_at=2.0),
            fulfillment_status="partially_fulfilled",
        ),
    )
    assert (status.status, status.fulfillment, status.shipped) == (
        "shipped",
        "partially_shipped",
        True,
    )
    assert status.message == "Part of your order is on its way; the rest will follow."
    # Shopify says partly fulfilled before any fulfillment reached Strata.
    early = customer_status(
        "1001", pipeline("acknowledged", fulfillment_status="partially_fulfilled")
    )
    assert (early.status, early.fulfillment) == ("shipped", "partially_shipped")


def test_cancelled_and_refused_fulfillments_are_not_parcels() -> None:
    status = customer_status(
        "1001",
        pipeline(
            "acknowledged",
            parcel("https://track.example/gone", state="cancelled"),
            parcel("https://track.example/failed", state="failed"),
            fulfillment_status="unfulfilled",
        ),
    )
    assert (status.status, status.fulfillment, status.tracking) == (
        "confirmed",
        "unfulfilled",
        [],
    )


def test_every_parcel_delivered_is_delivered() -> None:
    status = customer_status(
        "1001",
        pipeline(
            "acknowledged",
            parcel(None, number=None, delivered_at=2.0),
            fulfillment_status="fulfilled",
        ),
    )
    assert (status.status, status.fulfillment, status.shipped, status.tracking) == (
        "delivered",
        "delivered",
        True,
        [],
    )
    # One of two parcels delivered: still shipped.
    half = customer_status(
        "1001", pipeline("acknowledged", parcel(None, delivered_at=2.0), parcel(None))
    )
    assert (half.status, half.fulfillment) == ("shipped", "shipped")


def test_the_answer_carries_no_erp_detail() -> None:
    fields = set(customer_status("1001", pipeline("acknowledged")).__struct_fields__)
    assert fields == {
        "order",
        "status",
        "message",
        "shipped",
        "tracking",
        "updated_at",
        "fulfillment",
    }
