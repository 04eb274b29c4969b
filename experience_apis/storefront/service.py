"""What a customer is shown: stock words instead of figures, order status in plain words.

Free of HTTP; the routes feed it the process APIs' answers.
"""

from __future__ import annotations

from experience_apis.storefront.clients import InventoryAnswer, PipelineStatus
from experience_apis.storefront.schemas import (
    CustomerOrderState,
    CustomerOrderStatus,
    ShelfStock,
    StockWord,
    StorefrontAvailability,
    TrackingLink,
)

# Pipeline states that mean the ERP has taken the order.
_CONFIRMED = frozenset({"posted", "acknowledged"})
_SHIPPED = frozenset({"shipped", "fulfilled", "partially_fulfilled"})
MESSAGES: dict[CustomerOrderState, str] = {
    "received": "We have received your order and are getting it ready.",
    "confirmed": "Your order is confirmed and is being prepared for shipping.",
    "shipped": "Your order is on its way.",
    "delivered": "Your order has been delivered.",
    "cancelled": "Your order has been cancelled.",
}


def shelf_stock(answer: InventoryAnswer, low_stock_threshold: int) -> StorefrontAvailability:
    """Turn available-to-sell into what a product page shows."""
    items = []
    for item in answer.items:
        units = max(item.available_to_sell, 0)
        if units == 0:
            # With an ERP silent, zero may only mean "not counted": don't call it sold out.
            word: StockWord = "out_of_stock" if answer.complete else "unknown"
            items.append(ShelfStock(sku=item.sku, in_stock=False, stock=word))
        elif units <= low_stock_threshold:
            items.append(ShelfStock(sku=item.sku, in_stock=True, stock="low_stock", quantity=units))
        else:
            items.append(ShelfStock(sku=item.sku, in_stock=True, stock="in_stock"))
    return StorefrontAvailability(items=items)


def customer_status(order: str, pipeline: PipelineStatus) -> CustomerOrderStatus:
    """The customer's view of a pipeline status: no ERP names, numbers or internal errors.

    An order held in the exception queue still reads "received": fixing it is our business,
    and the customer's order stands.
    """
    shipments = pipeline.shipments
    state: CustomerOrderState
    if pipeline.state == "cancelled":
        state = "cancelled"
    elif shipments and all(s.delivered_at is not None for s in shipments):
        state = "delivered"
    elif shipments or pipeline.state in _SHIPPED:
        state = "shipped"
    elif pipeline.state in _CONFIRMED:
        state = "confirmed"
    else:
        state = "received"
    tracking = [
        TrackingLink(url=s.tracking_url, carrier=s.carrier)
        for s in shipments
        # Only https links reach a customer's browser: never javascript: or plain http.
        if s.tracking_url and s.tracking_url.startswith("https://")
    ]
    return CustomerOrderStatus(
        order=order,
        status=state,
        message=MESSAGES[state],
        shipped=state in ("shipped", "delivered"),
        tracking=tracking,
        updated_at=pipeline.updated_at,
    )
