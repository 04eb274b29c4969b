"""The v1 contract of the Shopify system API for the process layer.

Ids are Shopify's numeric (legacy) ids, the same numbers the webhook payloads carry; the
Admin GraphQL global ids (``gid://shopify/Order/1``) stay inside this service.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

ShopifyId = Annotated[int, msgspec.Meta(ge=1, le=2**53, description="A Shopify numeric id")]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Quantity = Annotated[int, msgspec.Meta(ge=-1_000_000_000, le=1_000_000_000)]
Reason = Literal[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_received",
    "movement_updated",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
]


AdjustableQuantity = Literal[
    "available", "on_hand", "damaged", "quality_control", "reserved", "safety_stock"
]


class Money(msgspec.Struct, frozen=True, kw_only=True):
    amount: str
    currency: str


class OrderLine(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    sku: str | None
    title: str
    quantity: int
    current_quantity: int
    unfulfilled_quantity: int
    refundable_quantity: int
    unit_price: Money


class FulfillmentOrderLine(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    line_item_id: int
    sku: str | None
    total_quantity: int
    remaining_quantity: int


class FulfillmentOrder(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    status: str
    location_name: str | None
    location_id: int | None
    lines: list[FulfillmentOrderLine]


class Metafield(msgspec.Struct, frozen=True, kw_only=True):
    namespace: str
    key: str
    type: str
    value: str


class ShippingAddress(msgspec.Struct, frozen=True, kw_only=True):
    name: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    zip: str | None = None
    country_code: str | None = None


class ShopifyOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as the process layer needs it: lines, what is left to fulfil and what was
    shipped, tags."""

    id: int
    name: str
    email: str | None
    tags: list[str]
    created_at: str
    updated_at: str
    cancelled_at: str | None
    financial_status: str | None
    fulfillment_status: str
    currency: str
    total: Money
    lines: list[OrderLine]
    fulfillment_orders: list[FulfillmentOrder]
    #: What was shipped, with tracking (``fulfillment_orders`` is what is left to ship).
    fulfillments: list[Fulfillment]
    metafields: list[Metafield]
    customer_name: str | None = None
    shipping_address: ShippingAddress | None = None


class OrderSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    created_at: str
    updated_at: str
    cancelled_at: str | None
    financial_status: str | None
    fulfillment_status: str
    total: Money


class OrderPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[OrderSummary]
    next_cursor: str | None


class TagsAdd(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    tags: Annotated[list[Tag], msgspec.Meta(min_length=1, max_length=250)]


class OrderTags(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    tags: list[str]


class MetafieldSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    namespace: Annotated[str, msgspec.Meta(min_length=3, max_length=255)]
    key: Annotated[str, msgspec.Meta(min_length=2, max_length=64)]
    value: Annotated[str, msgspec.Meta(max_length=65_535)]
    type: str = "single_line_text_field"


class InventoryQuantitySet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    inventory_item_id: ShopifyId
    location_id: ShopifyId
    quantity: Quantity
    #: Compare-and-swap: the quantity we believe Shopify holds; null opts out.
    change_from_quantity: Quantity | None


class InventorySet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Set absolute quantities, where the ERP is the source of truth for stock."""

    quantities: Annotated[list[InventoryQuantitySet], msgspec.Meta(min_length=1, max_length=250)]
    name: Literal["available", "on_hand"] = "available"
    reason: Reason = "correction"
    reference_document_uri: str | None = None


class InventoryChangeAdjust(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    inventory_item_id: ShopifyId
    location_id: ShopifyId
    delta: Quantity


class InventoryAdjust(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Move quantities by a delta, where Shopify's own sales also change stock."""

    changes: Annotated[list[InventoryChangeAdjust], msgspec.Meta(min_length=1, max_length=250)]
    name: Literal[
        "available", "on_hand", "damaged", "quality_control", "reserved", "safety_stock"
    ] = "available"
    reason: Reason = "correction"
    reference_document_uri: str | None = None


class InventoryChange(msgspec.Struct, frozen=True, kw_only=True):
    inventory_item_id: int | None
    location_id: int | None
    name: str
    delta: int
    quantity_after_change: int | None


class InventoryChanges(msgspec.Struct, frozen=True, kw_only=True):
    adjustment_group_id: str | None
    changes: list[InventoryChange]


class FulfillmentLineRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: ShopifyId
    quantity: Annotated[int, msgspec.Meta(ge=1)]


class FulfillmentOrderRequest(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    fulfillment_order_id: ShopifyId
    #: The fulfillment order's lines to ship; absent ships every remaining line.
    lines: Annotated[list[FulfillmentLineRequest], msgspec.Meta(max_length=250)] | None = None


class Tracking(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    numbers: Annotated[list[str], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    urls: Annotated[list[str], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    company: str | None = None


class FulfillmentCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    fulfillment_orders: Annotated[
        list[FulfillmentOrderRequest], msgspec.Meta(min_length=1, max_length=250)
    ]
    tracking: Tracking | None = None
    notify_customer: bool = False


class FulfillmentTracking(msgspec.Struct, frozen=True, kw_only=True):
    number: str | None
    url: str | None
    company: str | None


class Fulfillment(msgspec.Struct, frozen=True, kw_only=True):
    """A shipment Shopify holds for an order, with its tracking."""

    id: int
    name: str
    status: str
    tracking: list[FulfillmentTracking]
    #: Optional so that answers stored for an idempotent replay before it existed still decode.
    created_at: str | None = None


class RefundLineRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    line_item_id: ShopifyId
    quantity: Annotated[int, msgspec.Meta(ge=1)]
    restock_type: Literal["RETURN", "CANCEL", "NO_RESTOCK"] = "RETURN"
    location_id: ShopifyId | None = None


class RefundTransaction(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    amount: Annotated[str, msgspec.Meta(pattern=r"^\d{1,12}(\.\d{1,4})?$")]
    gateway: str
    parent_id: ShopifyId | None = None
    kind: Literal["REFUND"] = "REFUND"


class RefundCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    lines: Annotated[list[RefundLineRequest], msgspec.Meta(max_length=250)] = msgspec.field(
        default_factory=list
    )
    transactions: Annotated[list[RefundTransaction], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    shipping_amount: Annotated[str, msgspec.Meta(pattern=r"^\d{1,12}(\.\d{1,4})?$")] | None = None
    note: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    notify: bool = False
    currency: str | None = None


class Refund(msgspec.Struct, frozen=True, kw_only=True):
    """Money (and possibly lines) given back on an order."""

    id: int
    total_refunded: Money
    #: Optional so that answers stored for an idempotent replay before they existed decode.
    created_at: str | None = None
    note: str | None = None


class RefundList(msgspec.Struct, frozen=True, kw_only=True):
    """An order's refunds, oldest first."""

    items: list[Refund]


# -- products ------------------------------------------------------------------------------

Handle = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=255,
        pattern=r"^[a-z0-9][a-z0-9\-]*$",
        description="The product's handle: lower-case letters, digits and dashes",
    ),
]
# Patterns spell out "not blank", "any" and digits: Python's re and ECMA-262 (which
# clients and schemathesis use) disagree on \s, \S, \d and "." (\x1c-\x1f, \x85, \ufeff,
# \r, \u2028, non-ASCII digits).
TRIMMED_TEXT = r"^[^\s\x1c-\x1f\x85\ufeff](?:[^\n\r\u2028\u2029]*[^\s\x1c-\x1f\x85\ufeff])?$"
HTTP_URL = r"^https?://[^\s\x1c-\x1f\x85\ufeff]+$"
OptionText = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=TRIMMED_TEXT)]
Amount = Annotated[str, msgspec.Meta(pattern=r"^\d{1,12}(\.\d{1,4})?$")]
ProductStatus = Literal["ACTIVE", "ARCHIVED", "DRAFT"]


class ProductOption(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    values: list[str]


class VariantOptionValue(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    value: str


class ProductVariant(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    sku: str | None
    title: str
    price: str
    position: int
    options: list[VariantOptionValue]
    inventory_item_id: int | None
    compare_at_price: str | None = None
    barcode: str | None = None
    weight_grams: float | None = None


class ShopifyProduct(msgspec.Struct, frozen=True, kw_only=True):
    """A product as Shopify holds it, with every variant."""

    id: int
    handle: str
    title: str
    status: str
    vendor: str
    product_type: str
    tags: list[str]
    description_html: str
    updated_at: str
    options: list[ProductOption]
    variants: list[ProductVariant]


class VariantRef(msgspec.Struct, frozen=True, kw_only=True):
    """A variant found by SKU, with its product and inventory item."""

    id: int
    sku: str | None
    product_id: int
    product_handle: str
    product_status: str
    inventory_item_id: int | None


class VariantList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[VariantRef]
    #: Where the next page starts, when listing every variant of the shop (else null).
    next_cursor: str | None = None


class ProductOptionSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: OptionText
    values: Annotated[list[OptionText], msgspec.Meta(min_length=1, max_length=2048)]


class VariantOptionSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: OptionText
    value: OptionText


class ProductVariantSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One variant; ``id`` keeps an existing one (a variant left out of the list is deleted).
    Fields left out (null) keep Shopify's value."""

    options: Annotated[list[VariantOptionSet], msgspec.Meta(min_length=1, max_length=3)]
    id: ShopifyId | None = None
    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    price: Amount | None = None
    compare_at_price: Amount | None = None
    barcode: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    weight_grams: Annotated[float, msgspec.Meta(ge=0, le=10_000_000)] | None = None


class ProductSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole product as it must be after the call (Shopify's ``productSet``).

    Options and variants are lists: those left out are deleted, so send Shopify's own entries
    you do not manage too. Other fields left out (null) keep Shopify's value. Without
    ``product_id`` the product is found (or created) by ``handle``.
    """

    handle: Handle
    options: Annotated[list[ProductOptionSet], msgspec.Meta(min_length=1, max_length=3)]
    variants: Annotated[list[ProductVariantSet], msgspec.Meta(min_length=1, max_length=2048)]
    product_id: ShopifyId | None = None
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    description_html: Annotated[str, msgspec.Meta(max_length=65_535)] | None = None
    vendor: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    product_type: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    tags: Annotated[list[Tag], msgspec.Meta(max_length=250)] | None = None
    status: ProductStatus | None = None


class ProductPublish(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Products to publish to the shop's sales channels' publications, named as the admin
    shows them (``Online Store``, ``Point of Sale``)."""

    product_ids: Annotated[list[ShopifyId], msgspec.Meta(min_length=1, max_length=250)]
    publications: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=255)]],
        msgspec.Meta(min_length=1, max_length=20),
    ]


class PublicationRef(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str


class ProductsPublished(msgspec.Struct, frozen=True, kw_only=True):
    """The products, now on every publication named."""

    publications: list[PublicationRef]
    product_ids: list[int]


class ProductStatusChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``ARCHIVED`` hides a product from every channel without deleting it."""

    status: ProductStatus


# -- bulk operations -------------------------------------------------------------------------

BulkStatus = Literal[
    "CREATED", "RUNNING", "COMPLETED", "CANCELING", "CANCELED", "FAILED", "EXPIRED"
]


class BulkProductSet(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Products to ``productSet`` in one bulk operation: one JSONL line each, in this order
    (a result's ``line`` is the input's index). The API stages the file, uploads it and starts
    the operation; Shopify then runs it in the background."""

    inputs: Annotated[list[ProductSet], msgspec.Meta(min_length=1, max_length=100_000)]
    #: Shopify's ``clientIdentifier``: a label of the caller's own, for finding it again.
    client_identifier: Annotated[str, msgspec.Meta(min_length=10, max_length=255)] | None = None


class BulkOperation(msgspec.Struct, frozen=True, kw_only=True):
    """A bulk mutation as Shopify reports it."""

    id: int
    status: BulkStatus
    created_at: str
    completed_at: str | None = None
    #: Lines Shopify has run so far.
    object_count: int = 0
    #: Shopify's reason when the operation failed (``ACCESS_DENIED``, ``TIMEOUT``...).
    error_code: str | None = None
    #: Whether a result file (complete, or partial after a failure or cancel) can be read.
    has_results: bool = False


class BulkLineVariant(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    sku: str | None
    inventory_item_id: int | None = None


class BulkLineProduct(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    handle: str
    status: str
    variants: list[BulkLineVariant]


class BulkLineError(msgspec.Struct, frozen=True, kw_only=True):
    """Shopify's words on one line: a ``userError`` (field, code) or a GraphQL error."""

    message: str
    field: str | None = None
    code: str | None = None


class BulkProductSetLine(msgspec.Struct, frozen=True, kw_only=True):
    """One result line: the product as ``productSet`` left it, or why it did not."""

    line: int
    product: BulkLineProduct | None = None
    errors: list[BulkLineError] = msgspec.field(default_factory=list)


class BulkProductSetResults(msgspec.Struct, frozen=True, kw_only=True):
    """A page of a finished bulk ``productSet``'s result lines, by line number."""

    operation: BulkOperation
    items: list[BulkProductSetLine]
    offset: int
    limit: int
    total: int
