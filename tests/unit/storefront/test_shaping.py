"""What a customer is shown: stock words and order status in plain words."""

from __future__ import annotations

from experience_apis.storefront.clients import (
    InventoryAnswer,
    InventoryItem,
    PipelineShipment,
    PipelineStatus,
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


def pipeline(state: str, *shipments: PipelineShipment) -> PipelineStatus:
    return PipelineStatus(
        shop="acme.myshopify.com",
        order_id="1001",
        state=state,
        updated_at=1_790_000_000.0,
        shipments=list(shipments),
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
    cancelled = customer_status("1001", pipeline("cancelled"))
    assert (cancelled.status, cancelled.shipped) == ("cancelled", False)


def test_shipments_give_tracking_links_but_only_https_ones() -> None:
    status = customer_status(
        "1001",
        pipeline(
            "acknowledged",
            PipelineShipment(
                tracking_url="https://track.example/1Z9", carrier="UPS", shipped_at=1.0
            ),
            PipelineShipment(tracking_url="javascript:alert(1)", shipped_at=1.0),
            PipelineShipment(tracking_url="http://track.example/plain", shipped_at=1.0),
        ),
    )
    assert status.status == "shipped"
    assert status.shipped is True
    assert [(t.url, t.carrier) for t in status.tracking] == [("https://track.example/1Z9", "UPS")]


def test_every_shipment_delivered_is_delivered() -> None:
    status = customer_status(
        "1001", pipeline("acknowledged", PipelineShipment(shipped_at=1.0, delivered_at=2.0))
    )
    assert (status.status, status.shipped, status.tracking) == ("delivered", True, [])


def test_the_answer_carries_no_erp_detail() -> None:
    fields = set(customer_status("1001", pipeline("acknowledged")).__struct_fields__)
    assert fields == {"order", "status", "message", "shipped", "tracking", "updated_at"}
