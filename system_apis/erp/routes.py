"""ERP system API v1: products, stock, customers and sales orders of one ERP instance."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, HttpMethod, Request, Response, get, post, route
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, HeaderParameter, JSONBody, Parameter, QueryParameter

from shared.auth import requires
from shared.idempotency import IDEMPOTENCY_KEY_PATTERN, IdempotencyStore, fingerprint
from shared.models import (
    OrderLine,
    Product,
    SalesOrder,
    SalesOrderDraft,
    Shipment,
    ShipmentChanges,
    ShipmentRecord,
)
from shared.problems import BadRequest, NotFound, ValidationFailed, problem_responses
from system_apis.erp.port import Amendment, OrderNotFound, ShippedReturn, UnknownSku
from system_apis.erp.schemas import (
    CreditNotes,
    Customers,
    InstanceInfo,
    Invoices,
    ProductPage,
    Shipments,
    StockLevels,
)
from system_apis.erp.service import ErpService

ORDER_ID = Parameter(
    title="ERP sales order id", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$"
)
SKU_PATTERN = r"^[A-Za-z0-9._\-]+$"
SKU_SCHEMA = {"minLength": 1, "maxLength": 64, "pattern": SKU_PATTERN}
SKU = Parameter(title="SKU", min_length=1, max_length=64, pattern=SKU_PATTERN)
READ_ERRORS = (400, 429, 503, 504)
_ENCODER = msgspec.json.Encoder()
IDEMPOTENCY_KEY = HeaderParameter(
    name="Idempotency-Key",
    description="A unique key per change (8 to 255 printable characters); a retry with the "
    "same key and body returns the first answer, another body gets 422.",
    min_length=8,
    max_length=255,
    pattern=IDEMPOTENCY_KEY_PATTERN,
)


class SalesOrderAmendment(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The product lines the order should carry now (the whole order as the channel has it
    after an edit, not the edit's deltas); charge lines are not amended.

    With `expected_total` (the channel's total now, e.g. Shopify's `current_total_price` in
    shop money) changed and added lines are priced from their prices, discounts and taxes as
    a posting prices them, and the order's total is brought to it; without it only
    quantities change."""

    lines: Annotated[list[OrderLine], msgspec.Meta(min_length=1, max_length=250)]
    note: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    # Line prices contain their taxes (EU shops) rather than having them added.
    taxes_included: bool = False
    expected_total: (
        Annotated[
            Decimal,
            msgspec.Meta(
                description="What the order totals now in the channel, in the order's "
                "currency, e.g. `133.95`",
                extra_json_schema={"extra": {"pattern": r"^[0-9]{1,12}(\.[0-9]{1,6})?$"}},
            ),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        total = self.expected_total
        if total is not None and (not total.is_finite() or total < 0):
            raise ValueError("expected_total must be a finite amount >= 0")


_AMENDMENT_EXAMPLES = [
    Example(
        summary="One more T-shirt, the mug removed, a beanie added",
        value={
            "lines": [
                {"sku": "TSHIRT-BLK-M", "quantity": 3, "unit_price": "19.00"},
                {"sku": "BEANIE-CHR", "quantity": 1, "unit_price": "15.00"},
            ],
            "note": "Shopify order edit 1077 of demo-eu.myshopify.com",
        },
    ),
    Example(
        summary="Priced as Shopify has it: tax-included lines and Shopify's current total",
        value={
            "lines": [
                {
                    "sku": "TSHIRT-BLK-M",
                    "quantity": 3,
                    "unit_price": "19.00",
                    "taxes": [{"rate": "0.21", "amount": "9.89", "title": "VAT"}],
                },
                {
                    "sku": "BEANIE-CHR",
                    "quantity": 1,
                    "unit_price": "15.00",
                    "taxes": [{"rate": "0.21", "amount": "2.60", "title": "VAT"}],
                },
            ],
            "note": "Shopify orders/updated of demo-eu.myshopify.com order 1077",
            "taxes_included": True,
            "expected_total": "76.95",
        },
    ),
]


_SHIPPED_IN_TWO_PARCELS = {
    "id": "41",
    "number": "41",
    "state": "done",
    "lines": [
        {"sku": "TOWEL-BATH-SGE", "quantity": "2", "order_line_id": "87"},
        {"sku": "THROW-OAT", "quantity": "1", "order_line_id": "88"},
    ],
    "carrier": "UPS",
    "carrier_service": "UPS Standard",
    "tracking_number": "1Z999AA10123456784",
    "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
    "packages": [
        {
            "id": "7",
            "number": "7",
            "tracking_number": "1Z999AA10123456784",
            "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
            "lines": [{"sku": "TOWEL-BATH-SGE", "quantity": "2"}],
        },
        {
            "id": "8",
            "number": "8",
            "tracking_number": "1Z999AA10123456791",
            "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456791",
            "lines": [{"sku": "THROW-OAT", "quantity": "1"}],
        },
    ],
    "shipped_at": "2026-12-03T10:15:02Z",
    "is_return": False,
    "order_id": "52",
    "external_reference": "shopify:demo-eu.myshopify.com:5551234567",
    "warehouse": "WH",
    "effective_date": "2026-12-03",
    "created_at": "2026-12-03T09:58:40Z",
    "updated_at": "2026-12-03T10:15:02Z",
}
_SHIPMENT_CHANGES_RESPONSES = {
    200: ResponseSpec(
        data_container=ShipmentChanges,
        description="A page of changed shipments, oldest change first",
        generate_examples=False,
        examples=[
            Example(
                summary="A shipment done in two parcels, more pages to follow",
                value={
                    "items": [_SHIPPED_IN_TWO_PARCELS],
                    "next_cursor": "WyIyMDI2LTEyLTAzVDEwOjE1OjAyWiIsIjQxIl0",
                },
            ),
            Example(
                summary="A cancelled shipment, the last page",
                value={
                    "items": [
                        {
                            "id": "42",
                            "number": "42",
                            "state": "cancelled",
                            "lines": [
                                {"sku": "MUG-STONE-350", "quantity": "1", "order_line_id": "90"}
                            ],
                            "carrier": "DHL",
                            "carrier_service": "DHL Express",
                            "order_id": "53",
                            "external_reference": "shopify:demo-eu.myshopify.com:5551234568",
                            "warehouse": "WH",
                            "created_at": "2026-12-03T10:01:11Z",
                            "updated_at": "2026-12-03T10:20:45Z",
                        }
                    ],
                },
            ),
        ],
    )
}

_RECORD_EXAMPLES = [
    Example(
        summary="A Shopify fulfillment by a third-party warehouse, in two UPS parcels",
        value={
            "reference": "shopify:demo-eu.myshopify.com:fulfillment:5400000000123",
            "lines": [
                {"sku": "TOWEL-BATH-SGE", "quantity": 2},
                {"sku": "THROW-OAT", "quantity": 1},
            ],
            "carrier": "UPS",
            "packages": [
                {
                    "tracking_number": "1Z999AA10123456784",
                    "lines": [{"sku": "TOWEL-BATH-SGE", "quantity": 2}],
                },
                {"tracking_number": "1Z999AA10123456791"},
            ],
        },
    ),
    Example(
        summary="Part of the order left, one parcel, the shipment's carrier kept",
        value={
            "reference": "shopify:demo-eu.myshopify.com:fulfillment:5400000000124",
            "lines": [{"sku": "MUG-STONE-350", "quantity": 1}],
            "packages": [{"tracking_number": "JD014600006281230001"}],
        },
    ),
]
_RECORDED = {
    **_SHIPPED_IN_TWO_PARCELS,
    "reference": "shopify:demo-eu.myshopify.com:fulfillment:5400000000123",
}
_RECORD_RESPONSES = {
    201: ResponseSpec(
        data_container=Shipment,
        description="The shipment recorded, done",
        generate_examples=False,
        examples=[Example(summary="Recorded in two parcels", value=_RECORDED)],
    ),
    200: ResponseSpec(
        data_container=Shipment,
        description="The order's shipment that carries the reference already, as it stands",
        generate_examples=False,
        examples=[Example(summary="Recorded before, found by its reference", value=_RECORDED)],
    ),
}


class ErpController(Controller):
    path = "/erp/v1"
    tags = ["erp"]

    @get(
        "/instance",
        operation_id="getErpInstance",
        summary="Which ERP instance this is",
        **requires("erp:read", responses=problem_responses(429)),
    )
    async def instance(self, erp: NamedDependency[ErpService]) -> InstanceInfo:
        """The instance this deployment serves (e.g. `eu`, `us`) and its adapter."""
        return InstanceInfo(instance=erp.instance, adapter=type(erp.port).__name__)

    @get(
        "/products",
        operation_id="listProducts",
        summary="Products with variants and prices",
        **requires("erp:read", responses=problem_responses(*READ_ERRORS)),
    )
    async def list_products(
        self,
        erp: NamedDependency[ErpService],
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
        updated_since: Annotated[
            str | None,
            QueryParameter(
                format="date-time",
                max_length=64,
                description="Only products changed since this instant (RFC 3339)",
            ),
        ] = None,
    ) -> ProductPage:
        """A page of products with their variants (by SKU) and prices: each variant's list
        price in the ERP's currency (`price`) and its price in every currency the ERP prices
        (`prices`, from the ERP's price lists; a currency it does not price is absent, never
        converted). With `updated_since`, a product repriced in a price list counts as
        changed."""
        since = None if updated_since is None else _instant(updated_since, "updated_since")
        items, more = await erp.list_products(offset, limit, since)
        return ProductPage(
            items=items, offset=offset, limit=limit, next_offset=offset + limit if more else None
        )

    @get(
        "/products/{sku:str}",
        operation_id="getProductBySku",
        summary="The product holding a SKU",
        **requires("erp:read", responses=problem_responses(*READ_ERRORS, 404)),
    )
    async def product(self, erp: NamedDependency[ErpService], sku: Annotated[str, SKU]) -> Product:
        """The product whose variant carries ``sku``, with all its variants and prices."""
        try:
            return await erp.product_by_sku(sku)
        except UnknownSku:
            raise ProductNotFound(f"No product has the SKU {sku!r}") from None

    @get(
        "/stock",
        operation_id="getStockLevels",
        summary="Stock by SKU and warehouse",
        **requires("erp:read", responses=problem_responses(*READ_ERRORS, 422)),
    )
    async def stock(
        self,
        erp: NamedDependency[ErpService],
        sku: Annotated[
            list[str],
            QueryParameter(
                min_items=1,
                max_items=100,
                schema_extra={"items": {"type": "string", **SKU_SCHEMA}},
                description="Repeat for several SKUs",
            ),
        ],
        warehouse: Annotated[
            str | None,
            Parameter(min_length=1, max_length=32, description="Warehouse code; all if absent"),
        ] = None,
    ) -> StockLevels:
        """On hand, forecast and available quantities of each SKU (repeat `sku` for several)."""
        return StockLevels(items=await erp.stock(_valid_skus(sku), warehouse))

    @get(
        "/customers",
        operation_id="findCustomers",
        summary="Customers by email",
        **requires("erp:read", responses=problem_responses(*READ_ERRORS)),
    )
    async def customers(
        self,
        erp: NamedDependency[ErpService],
        email: Annotated[
            str,
            Parameter(min_length=3, max_length=254, pattern=r"^[^@\x00-\x20]+@[^@\x00-\x20]+$"),
        ],
    ) -> Customers:
        """Customers whose email address matches (case-insensitive)."""
        return Customers(items=await erp.customers(email))

    @post(
        "/sales-orders",
        operation_id="createSalesOrder",
        summary="Create a sales order exactly once",
        **requires("erp:write", responses=problem_responses(400, 409, 422, 429, 503, 504)),
        status_code=201,
    )
    async def create_sales_order(
        self,
        request: Request[Any, Any, Any],
        erp: NamedDependency[ErpService],
        idempotency: NamedDependency[IdempotencyStore],
        data: JSONBody[SalesOrderDraft],
        idempotency_key: Annotated[
            str,
            HeaderParameter(
                name="Idempotency-Key",
                description="A unique key per order (8 to 255 printable characters); a retry "
                "with the same key and body returns the first answer, another body gets 422.",
                min_length=8,
                max_length=255,
                pattern=IDEMPOTENCY_KEY_PATTERN,
            ),
        ],
    ) -> Response[SalesOrder]:
        """Create and confirm a sales order, unless one with the same external reference
        exists: then that order is returned with 200. Requires `Idempotency-Key`."""
        key = idempotency_key
        fp = fingerprint(b"POST /erp/v1/sales-orders", _ENCODER.encode(data))
        scope = f"{erp.instance}:sales-orders"

        async def post() -> tuple[int, SalesOrder]:
            posted = await erp.post_sales_order(data)
            return (201 if posted.created else 200), posted.order

        return await idempotency.respond_once(scope, key, fp, post)

    @get(
        "/sales-orders/{order_id:str}",
        operation_id="getSalesOrder",
        summary="A sales order by ERP id",
        **requires("erp:read", responses=problem_responses(*READ_ERRORS, 404)),
    )
    async def sales_order(
        self, erp: NamedDependency[ErpService], order_id: Annotated[str, ORDER_ID]
    ) -> SalesOrder:
        """The sales order with this ERP id."""
        return await erp.order(order_id)

    @get(
        "/sales-orders/by-reference/{reference:str}",
        operation_id="getSalesOrderByReference",
        summary="A sales order by external reference",
        **requires("erp:read", responses=problem_responses(*READ_ERRORS, 404)),
    )
    async def sales_order_by_reference(
        self,
        erp: NamedDependency[ErpService],
        reference: Annotated[str, Parameter(min_length=1, max_length=128)],
    ) -> SalesOrder:
        """The sales order created for this external reference (e.g. a Shopify order)."""
        order = await erp.order_by_reference(reference)
        if order is None:
            raise OrderNotFound(f"No sales order has the external reference {reference!r}")
        return order

    @post(
        "/sales-orders/{order_id:str}/cancel",
        operation_id="cancelSalesOrder",
        summary="Cancel a sales order",
        **requires("erp:write", responses=problem_responses(*READ_ERRORS, 404, 409)),
        status_code=200,
    )
    async def cancel(
        self, erp: NamedDependency[ErpService], order_id: Annotated[str, ORDER_ID]
    ) -> SalesOrder:
        """Cancel the order; 409 once it has shipped. Cancelling twice is harmless."""
        return await erp.cancel(order_id)

    @post(
        "/sales-orders/{order_id:str}/amendments",
        operation_id="amendSalesOrder",
        summary="Amend an unshipped sales order's lines",
        **requires("erp:write", responses=problem_responses(*READ_ERRORS, 404, 409, 422)),
        status_code=200,
    )
    async def amend(
        self,
        erp: NamedDependency[ErpService],
        idempotency: NamedDependency[IdempotencyStore],
        order_id: Annotated[str, ORDER_ID],
        data: Annotated[
            SalesOrderAmendment,
            Body(title="The lines the order should carry", examples=_AMENDMENT_EXAMPLES),
        ],
        idempotency_key: Annotated[str, IDEMPOTENCY_KEY],
    ) -> Response[Amendment]:
        """Bring the order's product lines to `lines` (matched by SKU), while nothing of it
        has been picked or shipped. With `expected_total`, changed and added lines are priced
        as a posting prices them and the order's total is brought to it to the minor unit (a
        rounding difference goes to the order's one adjustment line). Asking for the lines
        it has already changes nothing (`changes` is empty). 409 `order-not-amendable` once
        picking began, when the order is cancelled or unconfirmed, when the ERP can't express
        the change, or when the amended total would differ from `expected_total` by more than
        rounding (the problem's detail and `errors` say which; nothing is changed); 422 for a
        SKU the ERP does not sell, or `erp-rejected` naming `expected_total` when an
        amendment made leaves a total the ERP can't settle. Requires `Idempotency-Key`."""
        fp = fingerprint(
            f"POST /erp/v1/sales-orders/{order_id}/amendments".encode(), _ENCODER.encode(data)
        )

        async def amend() -> tuple[int, Amendment]:
            return 200, await erp.amend(
                order_id,
                data.lines,
                data.note,
                taxes_included=data.taxes_included,
                expected_total=data.expected_total,
            )

        return await idempotency.respond_once(
            f"{erp.instance}:amendments", idempotency_key, fp, amend
        )

    @post(
        "/sales-orders/{order_id:str}/return-shipped",
        operation_id="returnShippedGoods",
        summary="Return what a cancelled order had shipped",
        **requires("erp:write", responses=problem_responses(*READ_ERRORS, 404, 409, 422)),
        status_code=201,
    )
    async def return_shipped(
        self,
        erp: NamedDependency[ErpService],
        idempotency: NamedDependency[IdempotencyStore],
        order_id: Annotated[str, ORDER_ID],
        idempotency_key: Annotated[str, IDEMPOTENCY_KEY],
    ) -> Response[ShippedReturn]:
        """For an order cancelled after (part of) it shipped: cancel what has not left, cut
        the order down to what shipped, and make one return sale of that (its reference is
        the order's followed by `:cancel`), quoted and confirmed. 201 when this call made it;
        200 with the same return when it exists already, so a repeat never makes a second.
        409 `nothing-shipped` when nothing left the warehouse (cancel the order instead).
        Requires `Idempotency-Key`."""
        fp = fingerprint(f"POST /erp/v1/sales-orders/{order_id}/return-shipped".encode(), b"")

        async def make() -> tuple[int, ShippedReturn]:
            made = await erp.return_shipped(order_id)
            return (201 if made.created else 200), made

        return await idempotency.respond_once(f"{erp.instance}:returns", idempotency_key, fp, make)

    @get(
        "/sales-orders/{order_id:str}/shipments",
        operation_id="listSalesOrderShipments",
        summary="An order's shipments",
        **requires("erp:read", responses=problem_responses(*READ_ERRORS, 404)),
    )
    async def shipments(
        self, erp: NamedDependency[ErpService], order_id: Annotated[str, ORDER_ID]
    ) -> Shipments:
        """Customer shipments and return shipments of the order."""
        return Shipments(items=await erp.shipments(order_id))

    @post(
        "/sales-orders/{order_id:str}/shipments",
        operation_id="recordSalesOrderShipment",
        summary="Record a shipment that left from elsewhere, exactly once",
        **requires(
            "erp:write",
            responses={**_RECORD_RESPONSES, **problem_responses(*READ_ERRORS, 404, 409, 422)},
        ),
        status_code=201,
    )
    async def record_shipment(
        self,
        erp: NamedDependency[ErpService],
        idempotency: NamedDependency[IdempotencyStore],
        order_id: Annotated[str, ORDER_ID],
        data: Annotated[
            ShipmentRecord,
            Body(title="The shipment that left", examples=_RECORD_EXAMPLES),
        ],
        idempotency_key: Annotated[str, IDEMPOTENCY_KEY],
    ) -> Response[Shipment]:
        """Record in the ERP that `lines` of the order left from elsewhere (e.g. a
        third-party warehouse fulfilling in Shopify): exactly those units are shipped from
        one of the order's open shipments (split when only part of it left; the ERP plans
        the rest), with `reference` as the shipment's reference, the carrier (the ERP's
        carrier of that name; the shipment's own when absent) and one package per parcel with
        its tracking number (parcels without `lines` share what no parcel names), and the
        shipment is done. Stock that can't be assigned is assigned anyway: the goods have
        left. 201 with the shipment; 200 with the order's shipment that carries `reference`
        already, unchanged, so a repeat never ships twice. 422 `not-on-open-shipments`
        naming the lines (a SKU none of the open shipments holds, more units than are open)
        or the parcel lines (more than ships, or units no parcel may take); 422
        `erp-rejected` naming `carrier` for a carrier the ERP does not know; 409
        `shipment-not-recordable` when only part of a shipment whose picking has begun is
        asked, or the lines are spread over several open shipments. Requires
        `Idempotency-Key`."""
        fp = fingerprint(
            f"POST /erp/v1/sales-orders/{order_id}/shipments".encode(), _ENCODER.encode(data)
        )

        async def record() -> tuple[int, Shipment]:
            recorded = await erp.record_shipment(order_id, data)
            return (201 if recorded.created else 200), recorded.shipment

        return await idempotency.respond_once(
            f"{erp.instance}:shipment-records", idempotency_key, fp, record
        )

    @route(
        "/sales-orders/{order_id:str}/shipments",
        http_method=[HttpMethod.OPTIONS],
        include_in_schema=False,
        sync_to_thread=False,
    )
    def allow_on_shipments(self) -> Response[None]:
        """What an order's shipments path allows. Litestar's own answer would leave out GET: it
        is made for the first handler registered on a path (by name: hence this one's) and
        kept."""
        return Response(None, status_code=204, headers={"Allow": "GET, OPTIONS, POST"})

    @get(
        "/sales-orders/{order_id:str}/invoices",
        operation_id="listSalesOrderInvoices",
        summary="An order's invoices",
        **requires("erp:read", responses=problem_responses(*READ_ERRORS, 404)),
    )
    async def invoices(
        self, erp: NamedDependency[ErpService], order_id: Annotated[str, ORDER_ID]
    ) -> Invoices:
        """Customer invoices of the order (credit notes are listed separately)."""
        return Invoices(items=await erp.invoices(order_id))

    @get(
        "/sales-orders/{order_id:str}/credit-notes",
        operation_id="listSalesOrderCreditNotes",
        summary="An order's credit notes",
        **requires("erp:read", responses=problem_responses(*READ_ERRORS, 404)),
    )
    async def credit_notes(
        self, erp: NamedDependency[ErpService], order_id: Annotated[str, ORDER_ID]
    ) -> CreditNotes:
        """Credit notes issued against the order's invoices."""
        return CreditNotes(items=await erp.credit_notes(order_id))

    @get(
        "/shipments/changes",
        operation_id="listShipmentChanges",
        summary="Customer shipments changed since an instant",
        **requires(
            "erp:read",
            responses={**_SHIPMENT_CHANGES_RESPONSES, **problem_responses(*READ_ERRORS, 422)},
        ),
    )
    async def shipment_changes(
        self,
        erp: NamedDependency[ErpService],
        since: Annotated[
            str | None,
            QueryParameter(
                format="date-time",
                max_length=64,
                description="Shipments created or changed (they or their packages) at or "
                "after this instant (RFC 3339); all shipments when absent",
            ),
        ] = None,
        cursor: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=512,
                pattern=r"^[A-Za-z0-9_\-]+$",
                description="A page's `next_cursor`: the next page (it stands in for `since`)",
            ),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> ShipmentChanges:
        """Customer shipments of sales orders that were created or changed since `since`
        (a state change, the carrier, a package or its tracking number), in any state
        (cancelled ones too), each with its lines, carrier, packages with tracking numbers
        and links, and the sales order's external reference. Oldest change first (by
        `updated_at`, then id); follow `next_cursor` until it is absent. The ERP stamps a
        change when it is written, not when it is committed: a follower keeps the latest
        `updated_at` it saw and asks again from a little before it, so a late commit is not
        missed (an item seen twice is the same change). 422 names a `cursor` this API did
        not give."""
        instant = None if since is None else _instant(since, "since")
        try:
            instant = None if instant is None else instant.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationFailed(
                "since is out of range",
                errors=[{"field": "query.since", "message": "out of range in UTC"}],
            ) from None
        return await erp.shipment_changes(instant, cursor, limit)


def _valid_skus(skus: list[str]) -> list[str]:
    bad = [
        {"field": f"query.sku[{i}]", "message": "1 to 64 characters of A-Z a-z 0-9 . _ -"}
        for i, sku in enumerate(skus)
        if len(sku) > 64 or not re.fullmatch(SKU_PATTERN, sku)
    ]
    if bad:
        raise BadRequest("Invalid SKU in query", errors=bad)
    return list(dict.fromkeys(skus))


def _instant(value: str, name: str) -> dt.datetime:
    try:
        instant = msgspec.convert(value, dt.datetime)
    except msgspec.ValidationError:
        raise BadRequest(
            f"{name} must be an RFC 3339 date-time, e.g. 2026-11-20T10:00:00Z",
            errors=[{"field": f"query.{name}", "message": "not an RFC 3339 date-time"}],
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)


class ProductNotFound(NotFound):
    slug = "product-not-found"
    title = "No product has this SKU"
