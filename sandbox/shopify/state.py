"""The sandbox's in-memory Shopify data: shops with their orders, stock and fulfilment.

Plain mutable msgspec Structs; one event loop owns them, so no locks. Ids are numeric
(``legacyResourceId``) and turned into ``gid://shopify/<Type>/<id>`` at the API edge.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import msgspec

CENT = Decimal("0.01")

# Shopify's ids are large integers; distinct bases keep sandbox ids recognisable per type.
_ID_BASES = {
    "Order": 5_100_000_000_000,
    "LineItem": 13_700_000_000_000,
    "Customer": 7_200_000_000_000,
    "Location": 61_000_000_000,
    "Product": 8_100_000_000_000,
    "ProductVariant": 44_100_000_000_000,
    "InventoryItem": 46_200_000_000_000,
    "FulfillmentOrder": 6_300_000_000_000,
    "FulfillmentOrderLineItem": 14_200_000_000_000,
    "Fulfillment": 5_400_000_000_000,
    "Refund": 9_100_000_000_000,
    "RefundLineItem": 4_800_000_000_000,
    "OrderTransaction": 6_900_000_000_000,
    "Metafield": 27_500_000_000_000,
    "InventoryAdjustmentGroup": 3_300_000_000_000,
    "ProductOption": 10_500_000_000_000,
    "ProductSetOperation": 2_900_000_000_000,
    "BulkOperation": 3_700_000_000_000,
    "Publication": 79_000_000_000,
}


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def money(value: Decimal | str | int) -> str:
    """Shopify's money strings: two decimals, no currency."""
    return str(Decimal(value).quantize(CENT))


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def parse_gid(value: str, kind: str) -> int | None:
    """The numeric id of ``gid://shopify/<kind>/<n>``, or None if it is not one."""
    prefix = f"gid://shopify/{kind}/"
    if not value.startswith(prefix):
        return None
    tail = value[len(prefix) :].split("?", 1)[0]
    return int(tail) if tail.isdigit() else None


_PER_RUN = frozenset(
    {
        "Order",
        "LineItem",
        "FulfillmentOrder",
        "FulfillmentOrderLineItem",
        "Fulfillment",
        "Refund",
        "RefundLineItem",
        "OrderTransaction",
        "Metafield",
    }
)


def _run_offset() -> int:
    """Ten thousand ids per second of wall clock, wrapping after about three years."""
    return (int(time.time()) % 100_000_000) * 10_000


class IdSequence:
    """Monotonic numeric ids per resource type, shared by every shop of one sandbox."""

    def __init__(self, run_offset: int | None = None) -> None:
        # Shopify's ids never repeat. Orders and what hangs off them start at a point that
        # moves with the clock, so a sandbox restarted against the same Redis (the demo) never
        # hands out an order id that Strata has already seen and recorded.
        offset = _run_offset() if run_offset is None else run_offset
        self._counters = {
            kind: itertools.count(base + (offset if kind in _PER_RUN else 0) + 1)
            for kind, base in _ID_BASES.items()
        }

    def next(self, kind: str) -> int:
        return next(self._counters[kind])


class MailingAddress(msgspec.Struct, kw_only=True):
    first_name: str = ""
    last_name: str = ""
    company: str | None = None
    address1: str = ""
    address2: str | None = None
    city: str = ""
    province: str | None = None
    province_code: str | None = None
    zip: str = ""
    country: str = ""
    country_code: str = ""
    phone: str | None = None


class Location(msgspec.Struct, kw_only=True):
    id: int
    name: str
    country_code: str
    city: str = ""
    address1: str = ""
    zip: str = ""
    active: bool = True


class ProductOption(msgspec.Struct, kw_only=True):
    """A product option (``Color``) with its values in order (``Black``, ``White``)."""

    id: int
    name: str
    values: list[str] = msgspec.field(default_factory=list)


class Variant(msgspec.Struct, kw_only=True):
    """One variant of a product: its SKU, price and one value per product option."""

    id: int
    sku: str
    price: Decimal
    inventory_item_id: int
    option_values: list[str] = msgspec.field(default_factory=lambda: ["Default Title"])
    compare_at_price: Decimal | None = None
    barcode: str | None = None
    grams: int = 250
    taxable: bool = True
    created_at: datetime = msgspec.field(default_factory=now_utc)
    updated_at: datetime = msgspec.field(default_factory=now_utc)

    @property
    def title(self) -> str:
        return " / ".join(self.option_values)


class Publication(msgspec.Struct, kw_only=True):
    """A sales channel's publication (``Online Store``, ``Point of Sale``): the products it
    shows are those published to it."""

    id: int
    name: str
    auto_publish: bool = False
    supports_future_publishing: bool = True


class Product(msgspec.Struct, kw_only=True):
    """A product and its variants (at least one; the first stands for single-variant uses)."""

    id: int
    title: str
    variants: list[Variant]
    handle: str = ""
    status: str = "ACTIVE"
    description_html: str = ""
    vendor: str = "Strata Demo"
    product_type: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    options: list[ProductOption] = msgspec.field(default_factory=list)
    created_at: datetime = msgspec.field(default_factory=now_utc)
    updated_at: datetime = msgspec.field(default_factory=now_utc)
    #: Ids of the publications the product is published to (none when created by the API).
    publications: set[int] = msgspec.field(default_factory=set)

    @property
    def variant_id(self) -> int:
        return self.variants[0].id

    @property
    def sku(self) -> str:
        return self.variants[0].sku

    @property
    def price(self) -> Decimal:
        return self.variants[0].price

    @property
    def inventory_item_id(self) -> int:
        return self.variants[0].inventory_item_id

    @property
    def grams(self) -> int:
        return self.variants[0].grams

    def variant(self, variant_id: int) -> Variant | None:
        return next((v for v in self.variants if v.id == variant_id), None)


class InventoryItem(msgspec.Struct, kw_only=True):
    id: int
    sku: str
    variant_id: int
    product_id: int
    tracked: bool = True


class InventoryLevel(msgspec.Struct, kw_only=True):
    """Quantities by name (``available``, ``on_hand``, ``committed``, ...) at one location."""

    inventory_item_id: int
    location_id: int
    quantities: dict[str, int] = msgspec.field(default_factory=dict)
    updated_at: datetime = msgspec.field(default_factory=now_utc)

    def get(self, name: str) -> int:
        return self.quantities.get(name, 0)


class Customer(msgspec.Struct, kw_only=True):
    id: int
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str | None = None
    created_at: datetime = msgspec.field(default_factory=now_utc)
    orders_count: int = 0


class LineItem(msgspec.Struct, kw_only=True):
    id: int
    product_id: int | None
    variant_id: int | None
    sku: str
    title: str
    quantity: int
    price: Decimal
    vendor: str = "Strata Demo"
    grams: int = 250
    fulfilled_quantity: int = 0
    refunded_quantity: int = 0

    @property
    def fulfillable_quantity(self) -> int:
        return max(0, self.quantity - self.fulfilled_quantity - self.refunded_quantity)


class FulfillmentOrderLine(msgspec.Struct, kw_only=True):
    id: int
    line_item_id: int
    total_quantity: int
    remaining_quantity: int


class FulfillmentOrder(msgspec.Struct, kw_only=True):
    id: int
    order_id: int
    location_id: int
    status: str = "OPEN"
    lines: list[FulfillmentOrderLine] = msgspec.field(default_factory=list)
    created_at: datetime = msgspec.field(default_factory=now_utc)


class TrackingInfo(msgspec.Struct, kw_only=True):
    number: str | None = None
    url: str | None = None
    company: str | None = None


class FulfillmentLine(msgspec.Struct, kw_only=True):
    line_item_id: int
    quantity: int


class Fulfillment(msgspec.Struct, kw_only=True):
    id: int
    order_id: int
    name: str
    location_id: int
    tracking: list[TrackingInfo]
    lines: list[FulfillmentLine]
    notify_customer: bool = False
    status: str = "SUCCESS"
    created_at: datetime = msgspec.field(default_factory=now_utc)


class RefundLine(msgspec.Struct, kw_only=True):
    id: int
    line_item_id: int
    quantity: int
    restock_type: str
    location_id: int | None
    subtotal: Decimal


class Transaction(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    amount: Decimal
    gateway: str
    status: str = "SUCCESS"
    created_at: datetime = msgspec.field(default_factory=now_utc)


class Refund(msgspec.Struct, kw_only=True):
    id: int
    order_id: int
    note: str | None
    lines: list[RefundLine]
    transactions: list[Transaction]
    shipping: Decimal = Decimal(0)
    created_at: datetime = msgspec.field(default_factory=now_utc)

    @property
    def total(self) -> Decimal:
        """Money returned: the refund transactions (a refund without them only restocks)."""
        return sum((t.amount for t in self.transactions), Decimal(0))


class Metafield(msgspec.Struct, kw_only=True):
    id: int
    namespace: str
    key: str
    type: str
    value: str
    owner_gid: str
    created_at: datetime = msgspec.field(default_factory=now_utc)
    updated_at: datetime = msgspec.field(default_factory=now_utc)


class Order(msgspec.Struct, kw_only=True):
    id: int
    number: int
    email: str
    currency: str
    line_items: list[LineItem]
    shipping_address: MailingAddress | None
    billing_address: MailingAddress | None
    customer_id: int | None
    shipping_price: Decimal
    tax_rate: Decimal
    taxes_included: bool
    financial_status: str = "PENDING"
    note: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    metafields: dict[tuple[str, str], Metafield] = msgspec.field(default_factory=dict)
    fulfillment_orders: list[FulfillmentOrder] = msgspec.field(default_factory=list)
    fulfillments: list[Fulfillment] = msgspec.field(default_factory=list)
    refunds: list[Refund] = msgspec.field(default_factory=list)
    transactions: list[Transaction] = msgspec.field(default_factory=list)
    gateway: str = "manual"
    source_name: str = "web"
    token: str = ""
    created_at: datetime = msgspec.field(default_factory=now_utc)
    updated_at: datetime = msgspec.field(default_factory=now_utc)
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    closed_at: datetime | None = None

    @property
    def name(self) -> str:
        return f"#{self.order_number}"

    @property
    def order_number(self) -> int:
        return 1000 + self.number

    @property
    def line_items_total(self) -> Decimal:
        return sum((li.price * li.quantity for li in self.line_items), Decimal(0))

    @property
    def total_price(self) -> Decimal:
        gross = self.line_items_total + self.shipping_price
        return gross if self.taxes_included else gross + self.total_tax

    @property
    def total_tax(self) -> Decimal:
        # Shopify taxes each line and each shipping line, rounds each, and sums them.
        lines = sum((self.tax_on(li.price * li.quantity) for li in self.line_items), Decimal(0))
        return lines + self.tax_on(self.shipping_price)

    def tax_on(self, amount: Decimal) -> Decimal:
        """The tax of one line's ``amount`` (included in it or added to it), to the cent."""
        if not self.tax_rate:
            return Decimal(0)
        if self.taxes_included:
            return (amount * self.tax_rate / (1 + self.tax_rate)).quantize(CENT)
        return (amount * self.tax_rate).quantize(CENT)

    @property
    def subtotal_price(self) -> Decimal:
        return self.line_items_total

    @property
    def total_refunded(self) -> Decimal:
        return sum((r.total for r in self.refunds), Decimal(0))

    @property
    def current_total_price(self) -> Decimal:
        """What the order comes to now (Shopify's ``current_total_price``): line items removed
        by an edit or a refund and refunded shipping are taken off, with their taxes."""
        amounts = [li.price * (li.quantity - li.refunded_quantity) for li in self.line_items]
        shipping = max(
            Decimal(0), self.shipping_price - sum((r.shipping for r in self.refunds), Decimal(0))
        )
        amounts.append(shipping)
        gross = sum(amounts, Decimal(0))
        if self.taxes_included:
            return gross
        return gross + sum((self.tax_on(a) for a in amounts), Decimal(0))

    @property
    def fulfillment_status(self) -> str:
        """``UNFULFILLED``, ``PARTIALLY_FULFILLED`` or ``FULFILLED`` (GraphQL enum spelling)."""
        wanted = sum(li.quantity - li.refunded_quantity for li in self.line_items)
        done = sum(li.fulfilled_quantity for li in self.line_items)
        if done == 0:
            return "UNFULFILLED"
        return "FULFILLED" if done >= wanted else "PARTIALLY_FULFILLED"

    def line_item(self, line_item_id: int) -> LineItem | None:
        return next((li for li in self.line_items if li.id == line_item_id), None)


class ProductSetOperation(msgspec.Struct, kw_only=True):
    """An asynchronous ``productSet``: ``CREATED`` when answered, ``COMPLETE`` once read."""

    id: int
    product_id: int | None
    status: str = "CREATED"
    user_errors: list[dict[str, object]] = msgspec.field(default_factory=list)


class StagedUpload(msgspec.Struct, kw_only=True):
    """A staged upload target handed out by ``stagedUploadsCreate``, and the file once POSTed.

    ``key`` is the ``stagedUploadPath`` a bulk mutation names; ``content`` stays None until the
    multipart upload arrives."""

    key: str
    shop: str
    filename: str
    mime_type: str
    resource: str
    content: bytes | None = None
    created_at: datetime = msgspec.field(default_factory=now_utc)


class BulkOperation(msgspec.Struct, kw_only=True):
    """A bulk mutation: the JSONL it runs and, once done, the result file's key."""

    id: int
    app: str
    mutation: str
    staged_upload_path: str
    version: str
    client_identifier: str | None = None
    status: str = "CREATED"
    error_code: str | None = None
    #: Lines run so far (Shopify's ``objectCount`` and ``rootObjectCount`` for a mutation).
    object_count: int = 0
    #: Lines in the uploaded file.
    lines: int = 0
    result_key: str | None = None
    result_size: int | None = None
    created_at: datetime = msgspec.field(default_factory=now_utc)
    completed_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")


class Shop(msgspec.Struct, kw_only=True):
    """One myshopify store and everything in it."""

    domain: str
    name: str
    currency: str
    country_code: str
    access_tokens: set[str]
    tax_rate: Decimal
    taxes_included: bool
    shipping_price: Decimal
    locations: dict[int, Location] = msgspec.field(default_factory=dict)
    products: dict[int, Product] = msgspec.field(default_factory=dict)
    inventory_items: dict[int, InventoryItem] = msgspec.field(default_factory=dict)
    levels: dict[tuple[int, int], InventoryLevel] = msgspec.field(default_factory=dict)
    customers: dict[int, Customer] = msgspec.field(default_factory=dict)
    orders: dict[int, Order] = msgspec.field(default_factory=dict)
    order_count: int = 0
    #: Asynchronous ``productSet`` runs by operation id, as ``productOperation`` reads them.
    product_operations: dict[int, ProductSetOperation] = msgspec.field(default_factory=dict)
    #: Bulk operations by id, oldest first.
    bulk_operations: dict[int, BulkOperation] = msgspec.field(default_factory=dict)
    #: The sales channels' publications by id.
    publications: dict[int, Publication] = msgspec.field(default_factory=dict)

    def item_by_sku(self, sku: str) -> InventoryItem | None:
        return next((i for i in self.inventory_items.values() if i.sku == sku), None)

    def product_by_sku(self, sku: str) -> Product | None:
        found = self.variant_by_sku(sku)
        return found[0] if found else None

    def product_by_variant(self, variant_id: int) -> Product | None:
        found = self.variant(variant_id)
        return found[0] if found else None

    def variant(self, variant_id: int) -> tuple[Product, Variant] | None:
        """The variant ``variant_id`` with its product."""
        for product in self.products.values():
            for variant in product.variants:
                if variant.id == variant_id:
                    return product, variant
        return None

    def variant_by_sku(self, sku: str) -> tuple[Product, Variant] | None:
        """The first variant (by product id) carrying ``sku``; Shopify allows duplicates."""
        for product in self.products.values():
            for variant in product.variants:
                if variant.sku == sku:
                    return product, variant
        return None

    def running_bulk_mutation(self, app: str) -> BulkOperation | None:
        """The app's bulk mutation not yet finished, if any (one at a time per app and shop)."""
        return next(
            (op for op in self.bulk_operations.values() if op.app == app and not op.finished),
            None,
        )

    def product_by_handle(self, handle: str) -> Product | None:
        return next((p for p in self.products.values() if p.handle == handle), None)

    def levels_of(self, inventory_item_id: int) -> Iterator[InventoryLevel]:
        # By location (a handful), not by scanning every level of the shop.
        found = (self.levels.get((inventory_item_id, loc)) for loc in self.locations)
        return (lv for lv in found if lv is not None)

    def customer_by_email(self, email: str) -> Customer | None:
        return next((c for c in self.customers.values() if c.email == email), None)

    def default_location(self) -> Location:
        return next(iter(self.locations.values()))


#: The publications every sandbox shop starts with, as a new Shopify store has them.
DEFAULT_PUBLICATIONS: tuple[str, ...] = ("Online Store", "Point of Sale")


class ShopifyState:
    """All sandbox shops, keyed by myshopify domain, with one id sequence."""

    def __init__(self) -> None:
        self.ids = IdSequence()
        self.shops: dict[str, Shop] = {}
        #: Staged uploads by key, and the files the sandbox serves (bulk results) by key.
        self.staged_uploads: dict[str, StagedUpload] = {}
        self.files: dict[str, bytes] = {}

    def shop(self, domain: str) -> Shop | None:
        return self.shops.get(normalise_domain(domain))

    def shop_for_token(self, token: str) -> list[Shop]:
        return [s for s in self.shops.values() if token in s.access_tokens]

    def add_publications(self, shop: Shop, names: tuple[str, ...] = DEFAULT_PUBLICATIONS) -> None:
        """Give ``shop`` one publication per sales channel in ``names``."""
        for name in names:
            publication = Publication(id=self.ids.next("Publication"), name=name)
            shop.publications[publication.id] = publication


def normalise_domain(domain: str) -> str:
    """``demo-eu`` and ``demo-eu.myshopify.com`` name the same shop."""
    domain = domain.strip().lower().removeprefix("https://").rstrip("/")
    return domain if "." in domain else f"{domain}.myshopify.com"
