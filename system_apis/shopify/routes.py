"""Shopify system API v1 for the process layer: orders, write-backs, inventory, fulfillments,
refunds and products on one configured shop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, get, post, route
from litestar.enums import HttpMethod
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter, JSONBody, Parameter

from shared.auth import requires
from shared.idempotency import IDEMPOTENCY_KEY_PATTERN, IdempotencyStore, fingerprint
from shared.problems import problem_responses
from system_apis.shopify.admin import ShopifyBulk, ShopifyProducts
from system_apis.shopify.schemas import (
    TRIMMED_TEXT,
    BulkOperation,
    BulkProductSet,
    BulkProductSetResults,
    Fulfillment,
    FulfillmentCreate,
    InventoryAdjust,
    InventoryChanges,
    InventorySet,
    Metafield,
    MetafieldSet,
    OrderPage,
    OrderTags,
    ProductPublish,
    ProductSet,
    ProductsPublished,
    ProductStatusChange,
    Refund,
    RefundCreate,
    RefundList,
    ShopifyOrder,
    ShopifyProduct,
    TagsAdd,
    VariantList,
)
from system_apis.shopify.service import ShopifyService

T = TypeVar("T")
SHOP = Parameter(
    title="Shop domain",
    description="e.g. `demo-eu.myshopify.com`",
    min_length=3,
    max_length=255,
    pattern=r"^[a-z0-9][a-z0-9\-.]*$",
)
ORDER_ID = Parameter(title="Shopify order id", ge=1, le=2**53)
PRODUCT_ID = Parameter(title="Shopify product id", ge=1, le=2**53)
OPERATION_ID = Parameter(title="Shopify bulk operation id", ge=1, le=2**53)
HANDLE = Parameter(
    title="Product handle", min_length=1, max_length=255, pattern=r"^[a-z0-9][a-z0-9\-]*$"
)
SKU = Parameter(
    title="SKU", description="Exact SKU", min_length=1, max_length=255, pattern=TRIMMED_TEXT
)
IdempotencyKeyHeader = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        description="A unique key per change (8 to 255 printable characters); a retry with "
        "the same key and body returns the first answer, another body gets 422. It also "
        "becomes Shopify's `@idempotent` key where Shopify takes one.",
        min_length=8,
        max_length=255,
        pattern=IDEMPOTENCY_KEY_PATTERN,
    ),
]
READ_ERRORS = (400, 404, 429, 502, 503, 504)
WRITE_ERRORS = (400, 404, 409, 422, 429, 502, 503, 504)
_ENCODER = msgspec.json.Encoder()


async def once(
    request: Request[Any, Any, Any],
    key: str,
    body: object,
    result_type: type[T],
    run: Callable[[], Awaitable[T]],
    *,
    status_code: int = 200,
) -> Response[T]:
    """Run an unsafe operation at most once per ``Idempotency-Key`` (and replay its answer)."""
    store: IdempotencyStore = request.app.state.idempotency
    scope = request.url.path
    fp = fingerprint(f"{request.method} {scope}".encode(), _ENCODER.encode(body))

    async def execute() -> tuple[int, T]:
        return status_code, await run()

    return await store.respond_once(scope, key, fp, execute)


def _products(request: Request[Any, Any, Any]) -> ShopifyProducts:
    return ShopifyProducts(request.app.state.admin)


# -- examples of the bulk operations' answers ---------------------------------------------

_OPERATION: dict[str, Any] = {
    "id": 3700000000001,
    "status": "COMPLETED",
    "created_at": "2026-12-03T09:00:00Z",
    "completed_at": "2026-12-03T09:00:58Z",
    "object_count": 2,
    "error_code": None,
    "has_results": True,
}


def _answer(status: int, container: Any, description: str, *examples: Example) -> Any:
    return {
        status: ResponseSpec(
            data_container=container,
            description=description,
            generate_examples=False,
            examples=list(examples),
        )
    }


BULK_STARTED = _answer(
    202,
    BulkOperation,
    "The bulk operation, started",
    Example(
        summary="Created",
        value={
            **_OPERATION,
            "status": "CREATED",
            "completed_at": None,
            "object_count": 0,
            "has_results": False,
        },
    ),
)
BULK_STATE = _answer(
    200,
    BulkOperation,
    "The bulk operation",
    Example(summary="Running", value={**_OPERATION, "status": "RUNNING", "has_results": False}),
    Example(summary="Completed", value=_OPERATION),
)
BULK_RESULTS = _answer(
    200,
    BulkProductSetResults,
    "A page of result lines",
    Example(
        summary="One product made, one refused",
        value={
            "operation": _OPERATION,
            "items": [
                {
                    "line": 0,
                    "product": {
                        "id": 8100000000101,
                        "handle": "organic-tee-eu-12",
                        "status": "ACTIVE",
                        "variants": [
                            {
                                "id": 44100000000201,
                                "sku": "TEE-ORG-M",
                                "inventory_item_id": 46200000000301,
                            }
                        ],
                    },
                    "errors": [],
                },
                {
                    "line": 1,
                    "product": None,
                    "errors": [
                        {
                            "message": "Duplicated option name 'size'.",
                            "field": "input.productOptions.1.name",
                            "code": "DUPLICATED_OPTION_NAME",
                        }
                    ],
                },
            ],
            "offset": 0,
            "limit": 250,
            "total": 2,
        },
    ),
)


def _bulk(request: Request[Any, Any, Any]) -> ShopifyBulk:
    # One per app, made on first use: it keeps the last result file read for paging.
    state = request.app.state
    bulk: ShopifyBulk | None = getattr(state, "shopify_bulk", None)
    if bulk is None:
        bulk = state.shopify_bulk = ShopifyBulk(state.admin)
    return bulk


def _service(request: Request[Any, Any, Any]) -> ShopifyService:
    service: ShopifyService = request.app.state.shopify
    return service


class ShopController(Controller):
    path = "/shopify/v1/shops/{shop:str}"
    tags = ["shopify"]

    @get(
        "/orders/{order_id:int}",
        operation_id="getShopifyOrder",
        summary="One order with lines, fulfillment orders, fulfillments, tags and metafields",
        **requires("shopify:read", responses=problem_responses(*READ_ERRORS)),
    )
    async def order(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        order_id: Annotated[int, ORDER_ID],
    ) -> ShopifyOrder:
        """The order as Shopify has it now (fetch what a late or missing webhook left out)."""
        return await _service(request).order(shop, order_id)

    @get(
        "/orders/{order_id:int}/refunds",
        operation_id="listShopifyOrderRefunds",
        summary="An order's refunds",
        **requires("shopify:read", responses=problem_responses(*READ_ERRORS)),
    )
    async def refunds(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        order_id: Annotated[int, ORDER_ID],
    ) -> RefundList:
        """The order's refunds as Shopify lists them: when, the note and the money given back."""
        return await _service(request).refunds(shop, order_id)

    @route(
        "/orders/{order_id:int}/refunds",
        http_method=[HttpMethod.OPTIONS],
        include_in_schema=False,
        sync_to_thread=False,
    )
    def allow_on_refunds(self) -> Response[None]:
        """What the refunds path allows. Litestar's own answer would leave out GET: it is made
        for the first handler registered on a path (by name: hence this one's) and kept."""
        return Response(None, status_code=204, headers={"Allow": "GET, OPTIONS, POST"})

    @get(
        "/orders",
        operation_id="listShopifyOrders",
        summary="Orders by update time, for reconciliation",
        **requires("shopify:read", responses=problem_responses(400, *READ_ERRORS)),
    )
    async def orders(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        updated_since: Annotated[
            str | None,
            Parameter(
                description="Only orders updated at or after (ISO 8601)",
                pattern=r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?$",
            ),
        ] = None,
        cursor: Annotated[str | None, Parameter(max_length=512)] = None,
        limit: Annotated[int, Parameter(ge=1, le=250)] = 50,
    ) -> OrderPage:
        """A page of orders, oldest update first; pass `next_cursor` back as `cursor`."""
        return await _service(request).orders(
            shop, first=limit, after=cursor, updated_since=updated_since
        )

    @post(
        "/orders/{order_id:int}/tags",
        operation_id="addShopifyOrderTags",
        summary="Add tags to an order (e.g. the ERP order number)",
        status_code=200,
        **requires("shopify:write", responses=problem_responses(*WRITE_ERRORS)),
    )
    async def add_tags(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        order_id: Annotated[int, ORDER_ID],
        data: JSONBody[TagsAdd],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[OrderTags]:
        """Add tags; tags the order already has are kept once. Requires `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            data,
            OrderTags,
            lambda: _service(request).add_tags(shop, order_id, data),
        )

    @post(
        "/orders/{order_id:int}/metafields",
        operation_id="setShopifyOrderMetafield",
        summary="Set a metafield on an order",
        status_code=200,
        **requires("shopify:write", responses=problem_responses(*WRITE_ERRORS)),
    )
    async def set_metafield(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        order_id: Annotated[int, ORDER_ID],
        data: JSONBody[MetafieldSet],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[Metafield]:
        """Set `namespace.key` on the order (e.g. `strata.erp_order`). Requires
        `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            data,
            Metafield,
            lambda: _service(request).set_metafield(shop, order_id, data),
        )

    @post(
        "/inventory/set",
        operation_id="setShopifyInventory",
        summary="Set absolute stock quantities (compare-and-swap)",
        status_code=200,
        **requires("shopify:write", responses=problem_responses(*WRITE_ERRORS)),
    )
    async def set_inventory(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        data: JSONBody[InventorySet],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[InventoryChanges]:
        """`inventorySetQuantities` with `changeFromQuantity` per quantity (null opts out of
        the check); a stale `change_from_quantity` gets 422. Use where the ERP is the source
        of truth for stock. Requires `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            data,
            InventoryChanges,
            lambda: _service(request).set_inventory(shop, data, idempotency_key),
        )

    @post(
        "/inventory/adjust",
        operation_id="adjustShopifyInventory",
        summary="Move stock quantities by deltas",
        status_code=200,
        **requires("shopify:write", responses=problem_responses(*WRITE_ERRORS)),
    )
    async def adjust_inventory(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        data: JSONBody[InventoryAdjust],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[InventoryChanges]:
        """`inventoryAdjustQuantities`, sent with `@idempotent`. Requires `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            data,
            InventoryChanges,
            lambda: _service(request).adjust_inventory(shop, data, idempotency_key),
        )

    @post(
        "/fulfillments",
        operation_id="createShopifyFulfillment",
        summary="Fulfil lines of fulfillment orders, with tracking",
        status_code=201,
        **requires("shopify:write", responses=problem_responses(*WRITE_ERRORS)),
    )
    async def create_fulfillment(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        data: JSONBody[FulfillmentCreate],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[Fulfillment]:
        """`fulfillmentCreate`; a retry with the same key returns the first fulfillment
        rather than shipping twice. Requires `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            data,
            Fulfillment,
            lambda: _service(request).create_fulfillment(shop, data),
            status_code=201,
        )

    @post(
        "/orders/{order_id:int}/refunds",
        operation_id="createShopifyRefund",
        summary="Refund lines, shipping and money on an order",
        status_code=201,
        **requires("shopify:write", responses=problem_responses(*WRITE_ERRORS)),
    )
    async def create_refund(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        order_id: Annotated[int, ORDER_ID],
        data: JSONBody[RefundCreate],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[Refund]:
        """`refundCreate`, sent with `@idempotent`. Requires `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            data,
            Refund,
            lambda: _service(request).create_refund(shop, order_id, data, idempotency_key),
            status_code=201,
        )

    @get(
        "/products/{product_id:int}",
        operation_id="getShopifyProduct",
        summary="A product with its options and every variant",
        **requires("shopify:read", responses=problem_responses(*READ_ERRORS)),
    )
    async def product(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        product_id: Annotated[int, PRODUCT_ID],
    ) -> ShopifyProduct:
        """The product as Shopify holds it now, every variant included (404 if none)."""
        return await _products(request).get(shop, product_id)

    @get(
        "/products/by-handle/{handle:str}",
        operation_id="getShopifyProductByHandle",
        summary="A product by its handle",
        **requires("shopify:read", responses=problem_responses(*READ_ERRORS)),
    )
    async def product_by_handle(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        handle: Annotated[str, HANDLE],
    ) -> ShopifyProduct:
        """The product with this handle (404 if none)."""
        return await _products(request).by_handle(shop, handle)

    @get(
        "/variants",
        operation_id="listShopifyVariantsBySku",
        summary="The variants carrying a SKU, or a page of every variant",
        **requires("shopify:read", responses=problem_responses(*READ_ERRORS)),
    )
    async def variants(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        sku: Annotated[str | None, SKU] = None,
        cursor: Annotated[str | None, Parameter(max_length=512)] = None,
        limit: Annotated[int, Parameter(ge=1, le=250)] = 250,
    ) -> VariantList:
        """With `sku`: every variant whose SKU is exactly `sku`, with its product and
        inventory item (an empty list if none; Shopify does not keep SKUs unique). Without:
        a page of every variant of the shop; pass `next_cursor` back as `cursor`."""
        if sku is not None:
            return await _products(request).variants_by_sku(shop, sku)
        return await _products(request).variants_page(shop, limit, cursor)

    @post(
        "/products/set",
        operation_id="setShopifyProduct",
        summary="Create or update a whole product (productSet)",
        status_code=200,
        **requires("shopify:write", responses=problem_responses(*WRITE_ERRORS)),
    )
    async def set_product(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        data: JSONBody[ProductSet],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[ShopifyProduct]:
        """`productSet`, synchronous: the product found by `product_id`, else by `handle`
        (created if none), made to match the body. Options and variants left out are deleted;
        other fields left out keep Shopify's value. Shopify's `userErrors` answer 422.
        Requires `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            data,
            ShopifyProduct,
            lambda: _products(request).set(shop, data),
        )

    @post(
        "/publications/products",
        operation_id="publishShopifyProducts",
        summary="Publish products to the shop's sales channels (publishablePublish)",
        status_code=200,
        **requires("shopify:write", responses=problem_responses(*WRITE_ERRORS)),
    )
    async def publish_products(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        data: JSONBody[ProductPublish],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[ProductsPublished]:
        """`publishablePublish` of each product to the sales channels' publications named
        (`Online Store`, `Point of Sale`), as the shop's admin names them. A product already
        on a publication stays on it. 422 naming the publication the shop does not have, or
        Shopify's `userErrors` (a product it does not have). Requires `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            data,
            ProductsPublished,
            lambda: _products(request).publish(shop, data),
        )

    @post(
        "/products/{product_id:int}/status",
        operation_id="changeShopifyProductStatus",
        summary="Archive, activate or draft a product",
        status_code=200,
        **requires("shopify:write", responses=problem_responses(*WRITE_ERRORS)),
    )
    async def change_product_status(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        product_id: Annotated[int, PRODUCT_ID],
        data: JSONBody[ProductStatusChange],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[ShopifyProduct]:
        """`productChangeStatus`: `ARCHIVED` hides the product everywhere without deleting
        it. An unknown product answers 422. Requires `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            data,
            ShopifyProduct,
            lambda: _products(request).change_status(shop, product_id, data.status),
        )

    @post(
        "/bulk/product-sets",
        operation_id="startShopifyBulkProductSet",
        summary="productSet many products in one bulk operation",
        status_code=202,
        **requires(
            "shopify:write", responses={**BULK_STARTED, **problem_responses(*WRITE_ERRORS, 413)}
        ),
    )
    async def start_bulk_product_set(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        data: JSONBody[BulkProductSet],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[BulkOperation]:
        """Write every input as one JSONL line of `productSet` variables (an input's index is
        its result's `line`), stage and upload the file, and start Shopify's bulk mutation.
        Answers the operation (`CREATED`); Shopify runs it in the background and sends
        `bulk_operations/finish` when done. 409 while Shopify runs as many bulk mutations of
        this app on the shop as it allows; 413 past Shopify's 20 MB file. Requires
        `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            data,
            BulkOperation,
            lambda: _bulk(request).start_product_sets(shop, data),
            status_code=202,
        )

    @get(
        "/bulk/current",
        operation_id="getShopifyCurrentBulkMutation",
        summary="The latest bulk mutation of this API on the shop",
        **requires("shopify:read", responses={**BULK_STATE, **problem_responses(*READ_ERRORS)}),
    )
    async def current_bulk(
        self, request: Request[Any, Any, Any], shop: Annotated[str, SHOP]
    ) -> BulkOperation:
        """Shopify's `currentBulkOperation(type: MUTATION)`: running or last finished (404 if
        there has been none)."""
        return await _bulk(request).current(shop)

    @get(
        "/bulk/operations/{operation_id:int}",
        operation_id="getShopifyBulkOperation",
        summary="A bulk operation's state",
        **requires("shopify:read", responses={**BULK_STATE, **problem_responses(*READ_ERRORS)}),
    )
    async def bulk_operation(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        operation_id: Annotated[int, OPERATION_ID],
    ) -> BulkOperation:
        """Status (`CREATED`, `RUNNING`, `COMPLETED`, `FAILED`, ...), lines run so far and,
        when failed, Shopify's error code (404 if the shop has no such operation)."""
        return await _bulk(request).operation(shop, operation_id)

    @get(
        "/bulk/operations/{operation_id:int}/product-sets",
        operation_id="listShopifyBulkProductSetResults",
        summary="The result lines of a finished bulk productSet",
        **requires(
            "shopify:read", responses={**BULK_RESULTS, **problem_responses(*READ_ERRORS, 409)}
        ),
    )
    async def bulk_product_set_results(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        operation_id: Annotated[int, OPERATION_ID],
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 250,
    ) -> BulkProductSetResults:
        """Shopify's result file, parsed, by line number: each line's product (id, handle,
        status, every variant with its SKU and inventory item) or Shopify's errors for it
        (`userErrors` with field and code, or GraphQL errors). A failed or cancelled
        operation answers the lines it ran. 409 while it runs."""
        return await _bulk(request).product_set_results(shop, operation_id, offset, limit)
