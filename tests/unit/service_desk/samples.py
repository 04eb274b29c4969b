"""Order contexts as the orders process answers them, built from its own Structs so the
service desk's reading of them is checked against the real shapes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from process_apis.orders.context import (
    CreditNotesSection,
    CustomerOrder,
    CustomerOrderPage,
    ErpOrderSection,
    ExceptionsSection,
    ExceptionSummary,
    InvoicesSection,
    OrderContext,
    PipelineSection,
    RefundsSection,
    SalesOrder,
    ShipmentsSection,
    ShopifyFulfillmentView,
    ShopifyMoney,
    ShopifyOrderLine,
    ShopifyOrderSection,
    ShopifyOrderView,
    ShopifyRefund,
    ShopifyTracking,
    timeline,
)
from process_apis.orders.schemas import OrderFulfillment, OrderStatus, PipelineStep
from shared.models import Invoice, Money, OrderLine, Shipment

NOW = 1_770_000_000.0


def order_context(
    shop: str = "acme.myshopify.com",
    order_id: str = "1001",
    *,
    shopify_down: bool = False,
    open_exception: bool = False,
    fulfillments: tuple[OrderFulfillment, ...] = (),
    shopify_fulfillments: tuple[ShopifyFulfillmentView, ...] | None = None,
) -> OrderContext:
    status = OrderStatus(
        shop=shop,
        order_id=order_id,
        state="acknowledged",
        erp_instance="eu",
        erp_order_id="42",
        erp_order_number="SO-0042",
        received_at=NOW,
        updated_at=NOW + 5,
        steps=[
            PipelineStep(step="received", at=NOW),
            PipelineStep(step="posted", at=NOW + 3, detail="eu SO-0042"),
        ],
        fulfillments=list(fulfillments),
    )
    sales_order = SalesOrder(
        id="42",
        number="SO-0042",
        external_reference=f"shopify:{shop}:{order_id}",
        status="processing",
        currency="EUR",
        customer_email="ada@example.com",
        lines=[OrderLine(sku="TOTE-NAT", quantity=2, unit_price=Decimal("12.00"))],
        total=Money(amount=Decimal("24.00"), currency="EUR"),
        created_at=dt.datetime.fromtimestamp(NOW + 3, dt.UTC),
        shipped=True,
    )
    shipments = [
        Shipment(
            id="9",
            number="OUT-9",
            state="done",
            carrier="DHL",
            tracking_number="JD0001",
            shipped_at=dt.datetime.fromtimestamp(NOW + 3600, dt.UTC),
        ),
        Shipment(id="10", number="RET-10", state="received", is_return=True),
    ]
    invoices = [
        Invoice(
            id="5",
            number="INV-5",
            state="posted",
            total=Money(amount=Decimal("24.00"), currency="EUR"),
            invoice_date=dt.date(2026, 2, 2),
        )
    ]
    shopify = ShopifyOrderView(
        id=int(order_id) if order_id.isdigit() else 1,
        name="#1001",
        email="ada@example.com",
        created_at="2026-02-02T08:00:00Z",
        financial_status="PAID",
        fulfillment_status="FULFILLED",
        currency="EUR",
        total=ShopifyMoney(amount="24.00", currency="EUR"),
        lines=[ShopifyOrderLine(sku="TOTE-NAT", title="Tote bag", quantity=2)],
        fulfillments=[
            ShopifyFulfillmentView(
                id=3,
                name="#1001-F1",
                status="SUCCESS",
                created_at="2026-02-02T12:00:00Z",
                tracking=[ShopifyTracking(number="1Z999", company="UPS")],
            )
        ]
        if shopify_fulfillments is None
        else list(shopify_fulfillments),
    )
    refunds = [
        ShopifyRefund(
            id=77,
            created_at="2026-02-05T08:00:00Z",
            total_refunded=ShopifyMoney(amount="12.00", currency="EUR"),
        )
    ]
    exceptions = (
        [
            ExceptionSummary(
                id="ex1",
                state="open",
                kind="cancel-after-shipment",
                error="cancelled in Shopify but already shipped from ERP eu",
                topic="orders/cancelled",
                correlation_id="c1",
                created_at=NOW + 7200,
                updated_at=NOW + 7200,
            )
        ]
        if open_exception
        else []
    )
    erp_section = ErpOrderSection(source="erp:eu", instance="eu", order=sales_order)
    shopify_section = (
        ShopifyOrderSection(status="unavailable", reason="shopify order: 503", source="shopify")
        if shopify_down
        else ShopifyOrderSection(source="shopify", order=shopify)
    )
    refunds_section = (
        RefundsSection(status="unavailable", reason="shopify refunds: 503", source="shopify")
        if shopify_down
        else RefundsSection(source="shopify", items=refunds)
    )
    return OrderContext(
        shop=shop,
        order_id=order_id,
        external_reference=f"shopify:{shop}:{order_id}",
        complete=not shopify_down,
        generated_at=dt.datetime.fromtimestamp(NOW + 9000, dt.UTC),
        pipeline=PipelineSection(source="pipeline", status_record=status),
        exceptions=ExceptionsSection(source="pipeline", items=exceptions),
        erp_order=erp_section,
        shipments=ShipmentsSection(source="erp:eu", items=shipments),
        invoices=InvoicesSection(source="erp:eu", items=invoices),
        credit_notes=CreditNotesSection(source="erp:eu"),
        shopify_order=shopify_section,
        refunds=refunds_section,
        timeline=timeline(
            status,
            exceptions,
            erp_section,
            shipments,
            invoices,
            [],
            shopify_section.order,
            refunds_section.items,
        ),
    )


def customer_page(email: str, shops: list[str]) -> CustomerOrderPage:
    orders = [
        CustomerOrder(
            shop=shop,
            order_id=str(1000 + i),
            placed_at=dt.datetime.fromtimestamp(NOW - i * 86_400, dt.UTC),
            currency="EUR",
            total="24.00",
            external_reference=f"shopify:{shop}:{1000 + i}",
            state="acknowledged",
            erp_instance="eu",
            erp_order_number=f"SO-{i}",
        )
        for i, shop in enumerate(shops)
    ]
    return CustomerOrderPage(email=email, items=orders, total=len(orders), offset=0, limit=10)


def encode(value: msgspec.Struct) -> bytes:
    return msgspec.json.encode(value)
