"""One order's whole context, read from every system that knows it, and a customer's orders.

Each concern has its module: :mod:`~process_apis.orders.context_schemas` (the response shapes),
:mod:`~process_apis.orders.context_reader` (the parallel fan-out to Redis and the system APIs),
:mod:`~process_apis.orders.timeline` (every section's events merged by time),
:mod:`~process_apis.orders.customer_index` (a customer's orders, indexed by email in Redis) and
:mod:`~process_apis.orders.context_settings`. This module re-exports their public names, so
``process_apis.orders.context`` stays the one name to import the order context by.
"""

from __future__ import annotations

from process_apis.orders.context_reader import (
    EXCEPTION_TOPICS,
    OrderContextReader,
    OrderUnknown,
    Unavailable,
)
from process_apis.orders.context_schemas import (
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
    Section,
    SectionStatus,
    ShipmentsSection,
    ShopifyFulfillmentView,
    ShopifyMoney,
    ShopifyOrderLine,
    ShopifyOrderSection,
    ShopifyOrderView,
    ShopifyRefund,
    ShopifyTracking,
    TimelineEvent,
)
from process_apis.orders.context_settings import ContextSettings
from process_apis.orders.customer_index import (
    CUSTOMER_PREFIX,
    CustomerOrders,
    IndexedOrder,
    RedisCustomerIndex,
    customer_key,
    index_customer_order,
    normalise_email,
)
from process_apis.orders.timeline import timeline

__all__ = [
    "CUSTOMER_PREFIX",
    "EXCEPTION_TOPICS",
    "ContextSettings",
    "CreditNotesSection",
    "CustomerOrder",
    "CustomerOrderPage",
    "CustomerOrders",
    "ErpOrderSection",
    "ExceptionSummary",
    "ExceptionsSection",
    "IndexedOrder",
    "InvoicesSection",
    "OrderContext",
    "OrderContextReader",
    "OrderUnknown",
    "PipelineSection",
    "RedisCustomerIndex",
    "RefundsSection",
    "SalesOrder",
    "Section",
    "SectionStatus",
    "ShipmentsSection",
    "ShopifyFulfillmentView",
    "ShopifyMoney",
    "ShopifyOrderLine",
    "ShopifyOrderSection",
    "ShopifyOrderView",
    "ShopifyRefund",
    "ShopifyTracking",
    "TimelineEvent",
    "Unavailable",
    "customer_key",
    "index_customer_order",
    "normalise_email",
    "timeline",
]
