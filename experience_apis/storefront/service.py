"""What a customer is shown: stock words instead of figures, order status in plain words.

Free of HTTP; the routes feed it the process APIs' answers.
"""

from __future__ import annotations

from experience_apis.storefront.clients import (
    InventoryAnswer,
    PipelineFulfillment,
    PipelineStatus,
)
from experience_apis.storefront.schemas import (
    CustomerFulfillment,
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
PARTLY_SHIPPED = "Part of your order is on its way; the rest will follow."
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


def parcels(pipeline: PipelineStatus) -> list[PipelineFulfillment]:
    """The fulfillments that are out: fulfilled in Shopify, or shipped by the ERP and on their
    way to Shopify (``pending``, or ``failed`` to reach it: the goods left all the same)."""
    return [
        f
        for f in pipeline.fulfillments
        if f.state == "fulfilled" or (f.source == "erp" and f.state in ("pending", "failed"))
    ]


def fulfillment_word(
    pipeline: PipelineStatus, out: list[PipelineFulfillment]
) -> CustomerFulfillment:
    """How much of the order is out, from Shopify's fulfillment status and the parcels.

    With no word from Shopify, parcels read as the whole order (as before fulfillment status
    was known); parcels while Shopify says less than fulfilled read as part of it.
    """
    said = pipeline.fulfillment_status
    if not out:
        if said == "fulfilled":
            return "shipped"
        return "partially_shipped" if said == "partially_fulfilled" else "unfulfilled"
    if said in ("partially_fulfilled", "unfulfilled"):
        return "partially_shipped"
    return "delivered" if all(f.delivered_at is not None for f in out) else "shipped"


def customer_status(order: str, pipeline: PipelineStatus) -> CustomerOrderStatus:
    """The customer's view of a pipeline status: no ERP names, numbers or internal errors.

    An order held in the exception queue still reads "received": fixing it is our business,
    and the customer's order stands.
    """
    out = parcels(pipeline)
    fulfillment = fulfillment_word(pipeline, out)
    state: CustomerOrderState
    if pipeline.state == "cancelled":
        state = "cancelled"
    elif fulfillment == "delivered":
        state = "delivered"
    elif fulfillment != "unfulfilled" or pipeline.state in _SHIPPED:
        state = "shipped"
    elif pipeline.state in _CONFIRMED:
        state = "confirmed"
    else:
        state = "received"
    tracking = [
        TrackingLink(url=t.url, carrier=f.carrier, number=t.number)
        for f in out
        for t in f.tracking
        # Only https links reach a customer's browser: never javascript: or plain http.
        if t.url and t.url.startswith("https://")
    ]
    message = MESSAGES[state]
    if state == "shipped" and fulfillment == "partially_shipped":
        message = PARTLY_SHIPPED
    return CustomerOrderStatus(
        order=order,
        status=state,
        message=message,
        shipped=state in ("shipped", "delivered"),
        tracking=tracking,
        updated_at=pipeline.updated_at,
        fulfillment=fulfillment,
    )
