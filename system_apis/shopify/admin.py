"""An async Shopify Admin GraphQL client that stays inside each shop's cost bucket.

Every call books its expected cost in the shared Redis :class:`~shared.ratelimit.CostBucket`
(waiting for the refill when needed), then re-syncs the bucket with the ``throttleStatus``
Shopify returns, so every replica paces itself by the shop's real bucket. A ``THROTTLED``
answer (which costs nothing) is retried after the time the bucket needs to hold the query's
requested cost. Errors arrive with HTTP 200: GraphQL ``errors`` become
:class:`ShopifyQueryRejected`, a mutation's ``userErrors`` :class:`ShopifyUserErrors` (422).

Each request has one timeout, ``read_timeout``, from start to last byte whatever the HTTP
client's own; only connecting gives up sooner (``connect_timeout``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import msgspec

from shared.problems import Conflict, PayloadTooLarge, UpstreamTimeout
from shared.ratelimit import CostBucket, Reservation
from shared.ratelimit.scripts import RedisClient
from system_apis.shopify import queries
from system_apis.shopify.problems import (
    ShopifyQueryRejected,
    ShopifyRecordNotFound,
    ShopifyThrottled,
    ShopifyUnavailable,
    ShopifyUserErrors,
    ShopNotConfigured,
)
from system_apis.shopify.schemas import (
    BulkLineError,
    BulkLineProduct,
    BulkLineVariant,
    BulkOperation,
    BulkProductSet,
    BulkProductSetLine,
    BulkProductSetResults,
    ProductOption,
    ProductPublish,
    ProductSet,
    ProductsPublished,
    ProductVariant,
    ProductVariantSet,
    PublicationRef,
    ShopifyProduct,
    VariantList,
    VariantOptionValue,
    VariantRef,
)
from system_apis.shopify.settings import ShopifySettings

THROTTLED = "THROTTLED"
#: Booked for an operation until Shopify has told us its requested cost once.
DEFAULT_QUERY_ESTIMATE = 50
MUTATION_ESTIMATE = 10


class _Cost(msgspec.Struct, rename="camel"):
    requested_query_cost: int | None = None
    actual_query_cost: int | None = None
    throttle_status: dict[str, float] | None = None


class _Extensions(msgspec.Struct):
    cost: _Cost | None = None


class _Reply(msgspec.Struct):
    data: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | str | dict[str, Any] | None = None
    extensions: _Extensions | None = None


_REPLY = msgspec.json.Decoder(_Reply)
_ENCODER = msgspec.json.Encoder()


class AdminCallStats(msgspec.Struct, kw_only=True):
    """What the client has done, for metrics and the benchmark."""

    calls: int = 0
    throttled: int = 0
    throttled_in_a_row_max: int = 0
    points_spent: int = 0
    waited_seconds: float = 0.0


class AdminGraphQL:
    """Admin GraphQL calls for every configured shop, paced by each shop's cost bucket."""

    def __init__(
        self, settings: ShopifySettings, http: httpx.AsyncClient, redis: RedisClient
    ) -> None:
        self.settings = settings
        self.http = http
        self.redis = redis
        self.api_version = settings.api_version
        # No phase of a request may end it before its deadline (``read_timeout``) does.
        deadline = settings.read_timeout
        self._phases = httpx.Timeout(deadline, connect=min(settings.connect_timeout, deadline))
        self.stats = AdminCallStats()
        self._buckets: dict[str, CostBucket] = {}
        # The requested cost Shopify reported last for each operation: the next booking.
        self._estimates: dict[str, int] = {}
        self._retry_locks: dict[str, asyncio.Lock] = {}

    def bucket(self, shop: str) -> CostBucket:
        """The shared cost bucket of ``shop`` (keys ``strata:shopify:{shop}:*``)."""
        bucket = self._buckets.get(shop)
        if bucket is None:
            bucket = CostBucket(
                self.redis,
                shop,
                maximum_available=self.settings.bucket_size,
                restore_rate=self.settings.restore_rate,
                max_wait=self.settings.max_throttle_wait,
            )
            self._buckets[shop] = bucket
        return bucket

    def url(self, shop: str) -> str:
        """The GraphQL endpoint of ``shop`` at the pinned API version."""
        return self.settings.admin_url.format(shop=shop, version=self.api_version)

    async def execute(
        self,
        shop: str,
        operation: str,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        mutation: bool = False,
    ) -> dict[str, Any]:
        """Run ``document`` (whose operation is named ``operation``) and return its ``data``.

        Raises :class:`ShopifyThrottled` after ``throttled_retries`` THROTTLED answers in a
        row, :class:`ShopifyQueryRejected` on GraphQL errors, :class:`ShopifyUnavailable` or
        :class:`~shared.problems.UpstreamTimeout` when Shopify cannot be reached.
        """
        config = self.settings.shop(shop)
        if config is None or not config.access_token:
            raise ShopNotConfigured(f"No Admin API access token for {shop}")
        body = _ENCODER.encode(
            {"query": document, "variables": dict(variables or {}), "operationName": operation}
        )
        headers = {
            "X-Shopify-Access-Token": config.access_token,
            "Content-Type": "application/json",
        }
        bucket = self.bucket(shop)
        default = MUTATION_ESTIMATE if mutation else DEFAULT_QUERY_ESTIMATE
        throttled_in_a_row = 0
        reply: _Reply | None = None
        while True:
            estimate = self._estimates.get(operation, default)
            if reply is None:
                reply = await self._call(bucket, shop, operation, estimate, body, headers)
            else:
                # Retries after THROTTLED go one at a time per shop in this process, each
                # with a margin of one more query's refill: retries from one burst would
                # otherwise race for the same refill and be refused a second time.
                async with self._retry_lock(shop):
                    await asyncio.sleep(max(estimate, 2) / _restore_rate(reply))
                    reply = await self._call(bucket, shop, operation, estimate, body, headers)
            throttled = _throttled(reply.errors)
            if not throttled:
                break
            throttled_in_a_row += 1
            self.stats.throttled += 1
            self.stats.throttled_in_a_row_max = max(
                self.stats.throttled_in_a_row_max, throttled_in_a_row
            )
            if throttled_in_a_row > self.settings.throttled_retries:
                raise ShopifyThrottled(
                    f"{shop} answered THROTTLED {throttled_in_a_row} times in a row",
                    retry_after=math.ceil(self._refill_seconds(reply)),
                )
            # The shared model may still hold bookings made before Shopify's real size was
            # known; Shopify's own word on the refill time is the floor for the retry.
            await asyncio.sleep(self._refill_seconds(reply))
        if reply.errors:
            raise ShopifyQueryRejected(
                f"Shopify rejected {operation}: {_first_message(reply.errors)}",
                errors=_graphql_errors(reply.errors),
            )
        if reply.data is None:
            raise ShopifyQueryRejected(f"Shopify answered {operation} without data")
        return reply.data

    async def mutate(
        self,
        shop: str,
        operation: str,
        document: str,
        variables: Mapping[str, Any],
        *,
        field: str,
    ) -> dict[str, Any]:
        """Run a mutation and return its payload ``field``; ``userErrors`` raise a 422."""
        data = await self.execute(shop, operation, document, variables, mutation=True)
        payload = data.get(field)
        if not isinstance(payload, dict):
            raise ShopifyQueryRejected(f"Shopify answered {operation} without {field}")
        user_errors: Sequence[dict[str, Any]] = payload.get("userErrors") or ()
        if user_errors:
            raise ShopifyUserErrors(
                f"Shopify refused {field}: {user_errors[0].get('message', '')}",
                errors=[
                    {
                        "field": ".".join(str(p) for p in (e.get("field") or ())) or None,
                        "message": e.get("message"),
                        "code": e.get("code"),
                    }
                    for e in user_errors
                ],
            )
        return payload

    def _retry_lock(self, shop: str) -> asyncio.Lock:
        lock = self._retry_locks.get(shop)
        if lock is None:
            lock = self._retry_locks[shop] = asyncio.Lock()
        return lock

    async def _call(
        self,
        bucket: CostBucket,
        shop: str,
        operation: str,
        estimate: int,
        body: bytes,
        headers: dict[str, str],
    ) -> _Reply:
        reservation = await bucket.reserve(min(estimate, int(bucket.maximum_available)))
        self.stats.waited_seconds += reservation.waited
        reply = await self._post(shop, body, headers)
        await self._observe(bucket, reservation, operation, reply)
        self.stats.calls += 1
        return reply

    async def _post(self, shop: str, body: bytes, headers: dict[str, str]) -> _Reply:
        try:
            # httpx bounds each phase (a slow trickle of bytes passes them all); the deadline
            # bounds the request as a whole.
            async with asyncio.timeout(self.settings.read_timeout):
                response = await self.http.post(
                    self.url(shop), content=body, headers=headers, timeout=self._phases
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"Shopify ({shop}) did not answer within {self.settings.read_timeout:g}s"
            ) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"Shopify ({shop}) did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ShopifyUnavailable(
                f"Shopify ({shop}) could not be reached: {type(exc).__name__}", retry_after=5
            ) from exc
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = response.headers.get("Retry-After", "5")
            raise ShopifyUnavailable(
                f"Shopify ({shop}) answered {status}",
                retry_after=max(1, math.ceil(float(retry_after))) if _is_number(retry_after) else 5,
            )
        if status != 200:
            raise ShopifyQueryRejected(
                f"Shopify ({shop}) answered {status} to the Admin API version "
                f"{self.api_version}: {response.text[:200]}"
            )
        try:
            return _REPLY.decode(response.content)
        except msgspec.DecodeError as exc:
            raise ShopifyQueryRejected(f"Shopify ({shop}) answered malformed JSON") from exc

    async def _observe(
        self, bucket: CostBucket, reservation: Reservation, operation: str, reply: _Reply
    ) -> None:
        cost = reply.extensions.cost if reply.extensions else None
        if cost is None or cost.throttle_status is None:
            return  # the booking lapses after the bucket's hold time
        if cost.requested_query_cost is not None:
            self._estimates[operation] = cost.requested_query_cost
        actual = 0 if _throttled(reply.errors) else cost.actual_query_cost
        self.stats.points_spent += actual or 0
        await bucket.observe(
            cost.throttle_status, actual, reservation.cost, reservation=reservation
        )

    @staticmethod
    def _refill_seconds(reply: _Reply) -> float:
        """How long Shopify's bucket needs to hold the query's requested cost."""
        cost = reply.extensions.cost if reply.extensions else None
        status = cost.throttle_status if cost else None
        if not cost or not status or not cost.requested_query_cost:
            return 1.0
        missing = cost.requested_query_cost - status.get("currentlyAvailable", 0)
        return max(0.0, missing / max(status.get("restoreRate", 1.0), 0.001))


def _restore_rate(reply: _Reply) -> float:
    cost = reply.extensions.cost if reply.extensions else None
    status = cost.throttle_status if cost else None
    return max(float((status or {}).get("restoreRate", 50.0)), 1.0)


def _throttled(errors: object) -> bool:
    return isinstance(errors, list) and any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == THROTTLED for e in errors
    )


def _first_message(errors: object) -> str:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message", ""))
    return str(errors)


def _graphql_errors(errors: object) -> list[dict[str, Any]]:
    if not isinstance(errors, list):
        return [{"message": str(errors)}]
    return [
        {
            "message": e.get("message"),
            "code": (e.get("extensions") or {}).get("code"),
            "path": e.get("path"),
        }
        for e in errors
        if isinstance(e, dict)
    ]


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


# -- products ------------------------------------------------------------------------------


class ShopifyProducts:
    """Products on one shop through :class:`AdminGraphQL`: read by id, handle or SKU,
    ``productSet`` and ``productChangeStatus``, in the v1 contract's shapes."""

    def __init__(self, admin: AdminGraphQL) -> None:
        self.admin = admin
        self._publication_ids: dict[str, dict[str, int]] = {}

    async def get(self, shop: str, product_id: int) -> ShopifyProduct:
        """The product with every variant; ShopifyRecordNotFound if the shop has none."""
        data = await self.admin.execute(
            shop, "StrataProduct", queries.PRODUCT, {"id": _gid("Product", product_id)}
        )
        return await self._whole(shop, data.get("product"), f"product {product_id}")

    async def by_handle(self, shop: str, handle: str) -> ShopifyProduct:
        """The product with ``handle``; ShopifyRecordNotFound if none."""
        data = await self.admin.execute(
            shop, "StrataProductByHandle", queries.PRODUCT_BY_HANDLE, {"handle": handle}
        )
        return await self._whole(shop, data.get("productByIdentifier"), f"handle {handle!r}")

    async def variants_by_sku(self, shop: str, sku: str) -> VariantList:
        """Every variant carrying ``sku`` (Shopify does not keep SKUs unique)."""
        escaped = sku.replace("\\", "\\\\").replace('"', '\\"')
        data = await self.admin.execute(
            shop, "StrataVariantsBySku", queries.VARIANTS_BY_SKU, {"query": f'sku:"{escaped}"'}
        )
        nodes = (data.get("productVariants") or {}).get("nodes") or []
        return VariantList(items=[_variant_ref(n) for n in nodes if n.get("sku") == sku])

    async def variants_page(self, shop: str, first: int, after: str | None) -> VariantList:
        """A page of every variant of the shop, by id; ``next_cursor`` reads on."""
        data = await self.admin.execute(
            shop, "StrataVariantsPage", queries.VARIANTS_ALL, {"first": first, "after": after}
        )
        connection = data.get("productVariants") or {}
        page = connection.get("pageInfo") or {}
        return VariantList(
            items=[_variant_ref(n) for n in connection.get("nodes") or []],
            next_cursor=page.get("endCursor") if page.get("hasNextPage") else None,
        )

    async def set(self, shop: str, request: ProductSet) -> ShopifyProduct:
        """``productSet``, synchronous; ``userErrors`` raise ShopifyUserErrors (422)."""
        identifier = (
            {"id": _gid("Product", request.product_id)}
            if request.product_id is not None
            else {"handle": request.handle}
        )
        payload = await self.admin.mutate(
            shop,
            "StrataProductSet",
            queries.PRODUCT_SET,
            {"input": product_set_input(request), "identifier": identifier},
            field="productSet",
        )
        return await self._whole(shop, payload.get("product"), f"handle {request.handle!r}")

    async def change_status(self, shop: str, product_id: int, status: str) -> ShopifyProduct:
        """``productChangeStatus``; ShopifyUserErrors (422) if the product does not exist."""
        payload = await self.admin.mutate(
            shop,
            "StrataProductChangeStatus",
            queries.PRODUCT_CHANGE_STATUS,
            {"id": _gid("Product", product_id), "status": status},
            field="productChangeStatus",
        )
        return await self._whole(shop, payload.get("product"), f"product {product_id}")

    async def publish(self, shop: str, request: ProductPublish) -> ProductsPublished:
        """Publish products to the publications named: one product by ``publishablePublish``,
        several by ``publicationUpdate`` (50 a call, per publication). A name the shop has no
        publication for, or Shopify's ``userErrors`` (a product it does not have), raise
        ShopifyUserErrors (422) naming it. Publishing again changes nothing."""
        by_name = self._publication_ids.get(shop) or {}
        if any(name not in by_name for name in request.publications):
            # Publications are few and rarely change: read again only for a name not known.
            by_name = self._publication_ids[shop] = await self._publications(shop)
        missing = [name for name in request.publications if name not in by_name]
        if missing:
            raise ShopifyUserErrors(
                f"{shop} has no publication named {missing[0]!r}",
                errors=[
                    {"field": f"publications.{i}", "message": f"no publication named {name!r}"}
                    for i, name in enumerate(request.publications)
                    if name not in by_name
                ],
            )
        wanted = list(dict.fromkeys(request.publications))
        products = list(dict.fromkeys(request.product_ids))
        if len(products) == 1:
            # One product: one publishablePublish to every publication.
            await self.admin.mutate(
                shop,
                "StrataPublishablePublish",
                queries.PUBLISHABLE_PUBLISH,
                {
                    "id": _gid("Product", products[0]),
                    "input": [{"publicationId": _gid("Publication", by_name[n])} for n in wanted],
                },
                field="publishablePublish",
            )
        else:
            # Many: publicationUpdate adds up to 50 products to one publication per call.
            size = queries.PUBLICATION_UPDATE_MAX
            for name in wanted:
                for start in range(0, len(products), size):
                    await self.admin.mutate(
                        shop,
                        "StrataPublicationUpdate",
                        queries.PUBLICATION_UPDATE,
                        {
                            "id": _gid("Publication", by_name[name]),
                            "input": {
                                "publishablesToAdd": [
                                    _gid("Product", p) for p in products[start : start + size]
                                ]
                            },
                        },
                        field="publicationUpdate",
                    )
        return ProductsPublished(
            publications=[PublicationRef(id=by_name[name], name=name) for name in wanted],
            product_ids=list(request.product_ids),
        )

    async def _publications(self, shop: str) -> dict[str, int]:
        found: dict[str, int] = {}
        after: str | None = None
        while True:
            data = await self.admin.execute(
                shop, "StrataPublications", queries.PUBLICATIONS, {"after": after}
            )
            connection = data.get("publications") or {}
            for node in connection.get("nodes") or []:
                number = _number(node.get("id"))
                if number is not None:
                    found.setdefault(node["name"], number)
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return found
            after = page.get("endCursor")

    async def _whole(self, shop: str, node: Any, what: str) -> ShopifyProduct:
        if not isinstance(node, dict):
            raise ShopifyRecordNotFound(f"{shop} has no {what}")
        variants = list(node["variants"]["nodes"])
        page = node["variants"]["pageInfo"]
        while page.get("hasNextPage"):
            data = await self.admin.execute(
                shop,
                "StrataProductVariants",
                queries.PRODUCT_VARIANTS,
                {"id": node["id"], "after": page["endCursor"]},
            )
            more = (data.get("product") or {}).get("variants") or {"nodes": [], "pageInfo": {}}
            variants += more["nodes"]
            page = more["pageInfo"]
        return ShopifyProduct(
            id=_number(node["id"]) or 0,
            handle=node["handle"],
            title=node["title"],
            status=node["status"],
            vendor=node.get("vendor") or "",
            product_type=node.get("productType") or "",
            tags=list(node.get("tags") or []),
            description_html=node.get("descriptionHtml") or "",
            updated_at=node["updatedAt"],
            options=[
                ProductOption(name=o["name"], values=list(o["values"])) for o in node["options"]
            ],
            variants=[_variant(v) for v in variants],
        )


def _variant_ref(node: dict[str, Any]) -> VariantRef:
    return VariantRef(
        id=_number(node["id"]) or 0,
        sku=node.get("sku"),
        product_id=_number(node["product"]["id"]) or 0,
        product_handle=node["product"]["handle"],
        product_status=node["product"]["status"],
        inventory_item_id=_number((node.get("inventoryItem") or {}).get("id")),
    )


def product_set_input(request: ProductSet) -> dict[str, Any]:
    """Shopify's ``ProductSetInput`` for the v1 request (null fields left out)."""
    data: dict[str, Any] = {
        "productOptions": [
            {"name": o.name, "values": [{"name": v} for v in o.values]} for o in request.options
        ],
        "variants": [_variant_input(v) for v in request.variants],
    }
    if request.product_id is None:
        data["handle"] = request.handle
    for field, value in (
        ("title", request.title),
        ("descriptionHtml", request.description_html),
        ("vendor", request.vendor),
        ("productType", request.product_type),
        ("tags", request.tags),
        ("status", request.status),
    ):
        if value is not None:
            data[field] = value
    return data


def _variant_input(variant: ProductVariantSet) -> dict[str, Any]:
    data: dict[str, Any] = {
        "optionValues": [{"optionName": o.name, "name": o.value} for o in variant.options]
    }
    if variant.id is not None:
        data["id"] = _gid("ProductVariant", variant.id)
    item: dict[str, Any] = {}
    if variant.sku is not None:
        item["sku"] = variant.sku
    if variant.weight_grams is not None:
        item["measurement"] = {"weight": {"value": variant.weight_grams, "unit": "GRAMS"}}
    if item:
        data["inventoryItem"] = item
    for field, value in (
        ("price", variant.price),
        ("compareAtPrice", variant.compare_at_price),
        ("barcode", variant.barcode),
    ):
        if value is not None:
            data[field] = value
    return data


_GRAMS = {"GRAMS": 1.0, "KILOGRAMS": 1000.0, "OUNCES": 28.349523125, "POUNDS": 453.59237}


def _variant(node: dict[str, Any]) -> ProductVariant:
    item = node.get("inventoryItem") or {}
    weight = (item.get("measurement") or {}).get("weight")
    return ProductVariant(
        id=_number(node["id"]) or 0,
        sku=node.get("sku"),
        title=node["title"],
        price=node["price"],
        position=node["position"],
        options=[
            VariantOptionValue(name=o["name"], value=o["value"]) for o in node["selectedOptions"]
        ],
        inventory_item_id=_number(item.get("id")),
        compare_at_price=node.get("compareAtPrice"),
        barcode=node.get("barcode"),
        weight_grams=round(weight["value"] * _GRAMS[weight["unit"]], 3) if weight else None,
    )


def _gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def _number(global_id: str | None) -> int | None:
    if global_id is None:
        return None
    tail = global_id.rsplit("/", 1)[-1].split("?", 1)[0]
    return int(tail) if tail.isdigit() else None


# -- bulk operations -----------------------------------------------------------------------

#: Shopify refuses a bulk mutation's variables file past 20 MB.
MAX_BULK_FILE_BYTES = 20 * 1024 * 1024
_BUSY_CODES = frozenset({"OPERATION_IN_PROGRESS", "LIMIT_REACHED"})


class BulkOperationRunning(Conflict):
    """Shopify refused to start the bulk mutation: the app's bulk mutations on the shop are
    as many as Shopify allows at once."""

    slug = "bulk-operation-running"
    title = "Shopify is already running the bulk mutations it allows at once on this shop"


class BulkOperationNotFinished(Conflict):
    slug = "bulk-operation-not-finished"
    title = "The bulk operation has no result file yet"


class BulkFileTooLarge(PayloadTooLarge):
    slug = "bulk-file-too-large"
    title = "The inputs make a JSONL file larger than Shopify takes (20 MB)"


class ShopifyBulk:
    """Bulk ``productSet`` on one shop: stage the JSONL, upload it, run it, read its state
    and its result file."""

    def __init__(self, admin: AdminGraphQL) -> None:
        self.admin = admin
        # The last result file read, so paging through one operation fetches it once.
        self._results: tuple[int, list[dict[str, Any]]] | None = None

    async def start_product_sets(self, shop: str, request: BulkProductSet) -> BulkOperation:
        """Stage, upload and start the bulk mutation; BulkOperationRunning (409) while Shopify
        runs as many as it allows, BulkFileTooLarge (413) past Shopify's file size."""
        content = b"".join(
            _ENCODER.encode(
                {
                    "input": product_set_input(p),
                    "identifier": {"id": _gid("Product", p.product_id)}
                    if p.product_id is not None
                    else {"handle": p.handle},
                }
            )
            + b"\n"
            for p in request.inputs
        )
        if len(content) > MAX_BULK_FILE_BYTES:
            raise BulkFileTooLarge(
                f"{len(request.inputs)} inputs make {len(content)} bytes of JSONL; send at most "
                f"{MAX_BULK_FILE_BYTES} bytes per operation"
            )
        path = await self._upload(shop, content)
        data = await self.admin.execute(
            shop,
            "StrataBulkRun",
            queries.BULK_RUN_MUTATION,
            {
                "mutation": queries.BULK_PRODUCT_SET,
                "path": path,
                "client": request.client_identifier,
            },
            mutation=True,
        )
        payload = data.get("bulkOperationRunMutation") or {}
        errors: list[dict[str, Any]] = payload.get("userErrors") or []
        if any(e.get("code") in _BUSY_CODES for e in errors):
            raise BulkOperationRunning(
                f"{shop}: {errors[0].get('message', '')}",
                errors=_user_errors(errors),
                retry_after=30,
            )
        if errors or not isinstance(payload.get("bulkOperation"), dict):
            raise ShopifyUserErrors(
                f"Shopify refused the bulk mutation: "
                f"{errors[0].get('message', '') if errors else 'no operation'}",
                errors=_user_errors(errors),
            )
        return _bulk_operation(payload["bulkOperation"])

    async def _upload(self, shop: str, content: bytes) -> str:
        """``stagedUploadsCreate`` and the multipart POST; the ``stagedUploadPath``."""
        payload = await self.admin.mutate(
            shop,
            "StrataStagedUpload",
            queries.STAGED_UPLOADS_CREATE,
            {
                "input": [
                    {
                        "resource": "BULK_MUTATION_VARIABLES",
                        "filename": "bulk_op_vars.jsonl",
                        "mimeType": "text/jsonl",
                        "httpMethod": "POST",
                        "fileSize": str(len(content)),
                    }
                ]
            },
            field="stagedUploadsCreate",
        )
        [target] = payload.get("stagedTargets") or [None]
        if not isinstance(target, dict) or not target.get("url"):
            raise ShopifyQueryRejected(f"Shopify ({shop}) staged no upload target")
        params = {p["name"]: p["value"] for p in target.get("parameters") or []}
        try:
            async with asyncio.timeout(self.admin.settings.read_timeout):
                response = await self.admin.http.post(
                    target["url"],
                    data=params,
                    files={"file": ("bulk_op_vars.jsonl", content, "text/jsonl")},
                )
        except (TimeoutError, httpx.HTTPError) as exc:
            raise ShopifyUnavailable(
                f"Shopify's upload target ({shop}) could not be reached: {type(exc).__name__}",
                retry_after=5,
            ) from exc
        if response.status_code not in (200, 201, 204):
            raise ShopifyUnavailable(
                f"Shopify's upload target ({shop}) answered {response.status_code}: "
                f"{response.text[:200]}",
                retry_after=5,
            )
        if "key" not in params:
            raise ShopifyQueryRejected(f"Shopify ({shop}) staged a target without a key")
        return str(params["key"])

    async def operation(self, shop: str, operation_id: int) -> BulkOperation:
        """The operation's state; ShopifyRecordNotFound if the app has no such operation."""
        node = await self._node(shop, operation_id)
        return _bulk_operation(node)

    async def current(self, shop: str) -> BulkOperation:
        """The app's latest bulk mutation on the shop; ShopifyRecordNotFound if none."""
        data = await self.admin.execute(
            shop, "StrataCurrentBulkMutation", queries.CURRENT_BULK_MUTATION
        )
        node = data.get("currentBulkOperation")
        if not isinstance(node, dict):
            raise ShopifyRecordNotFound(f"{shop} has no bulk mutation")
        return _bulk_operation(node)

    async def product_set_results(
        self, shop: str, operation_id: int, offset: int, limit: int
    ) -> BulkProductSetResults:
        """A page of the result lines of a finished bulk ``productSet``, by line number;
        BulkOperationNotFinished (409) while it runs."""
        node = await self._node(shop, operation_id)
        operation = _bulk_operation(node)
        url = node.get("url") or node.get("partialDataUrl")
        if operation.status in ("CREATED", "RUNNING", "CANCELING"):
            raise BulkOperationNotFinished(
                f"bulk operation {operation_id} is {operation.status.lower()}", retry_after=5
            )
        lines = await self._result_lines(shop, operation_id, url) if url else []
        page = [await self._line(shop, raw) for raw in lines[offset : offset + limit]]
        return BulkProductSetResults(
            operation=operation, items=page, offset=offset, limit=limit, total=len(lines)
        )

    async def _node(self, shop: str, operation_id: int) -> dict[str, Any]:
        data = await self.admin.execute(
            shop,
            "StrataBulkOperation",
            queries.BULK_OPERATION,
            {"id": _gid("BulkOperation", operation_id)},
        )
        node = data.get("node")
        if not isinstance(node, dict) or "status" not in node:
            raise ShopifyRecordNotFound(f"{shop} has no bulk operation {operation_id}")
        return node

    async def _result_lines(self, shop: str, operation_id: int, url: str) -> list[dict[str, Any]]:
        if self._results is not None and self._results[0] == operation_id:
            return self._results[1]
        try:
            async with asyncio.timeout(self.admin.settings.read_timeout):
                response = await self.admin.http.get(url)
        except (TimeoutError, httpx.HTTPError) as exc:
            raise ShopifyUnavailable(
                f"the result file of bulk operation {operation_id} ({shop}) could not be read: "
                f"{type(exc).__name__}",
                retry_after=5,
            ) from exc
        if response.status_code != 200:
            raise ShopifyUnavailable(
                f"the result file of bulk operation {operation_id} ({shop}) answered "
                f"{response.status_code}",
                retry_after=5,
            )
        lines: list[dict[str, Any]] = []
        for raw in response.content.splitlines():
            if raw.strip():
                try:
                    lines.append(_RESULT_LINE.decode(raw))
                except msgspec.DecodeError as exc:
                    raise ShopifyQueryRejected(
                        f"the result file of bulk operation {operation_id} is not JSONL"
                    ) from exc
        lines.sort(key=lambda line: int(line.get("__lineNumber", 0)))
        self._results = (operation_id, lines)
        return lines

    async def _line(self, shop: str, raw: dict[str, Any]) -> BulkProductSetLine:
        number = int(raw.get("__lineNumber", 0))
        errors = [
            BulkLineError(
                message=str(e.get("message", "")), code=(e.get("extensions") or {}).get("code")
            )
            for e in raw.get("errors") or []
            if isinstance(e, dict)
        ]
        payload = (raw.get("data") or {}).get("productSet") or {}
        errors += [
            BulkLineError(
                message=str(e.get("message", "")),
                field=".".join(str(p) for p in (e.get("field") or ())) or None,
                code=e.get("code"),
            )
            for e in payload.get("userErrors") or []
        ]
        node = payload.get("product")
        if errors or not isinstance(node, dict):
            if not errors:
                errors = [BulkLineError(message="Shopify answered the line without a product")]
            return BulkProductSetLine(line=number, errors=errors)
        variants = list(node["variants"]["nodes"])
        page = node["variants"]["pageInfo"]
        while page.get("hasNextPage"):
            data = await self.admin.execute(
                shop,
                "StrataBulkVariants",
                queries.BULK_VARIANTS_AFTER,
                {"id": node["id"], "after": page["endCursor"]},
            )
            more = (data.get("product") or {}).get("variants") or {"nodes": [], "pageInfo": {}}
            variants += more["nodes"]
            page = more["pageInfo"]
        return BulkProductSetLine(
            line=number,
            product=BulkLineProduct(
                id=_number(node["id"]) or 0,
                handle=node["handle"],
                status=node["status"],
                variants=[
                    BulkLineVariant(
                        id=_number(v["id"]) or 0,
                        sku=v.get("sku"),
                        inventory_item_id=_number((v.get("inventoryItem") or {}).get("id")),
                    )
                    for v in variants
                ],
            ),
        )


_RESULT_LINE = msgspec.json.Decoder(dict[str, Any])


def _user_errors(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in (e.get("field") or ())) or None,
            "message": e.get("message"),
            "code": e.get("code"),
        }
        for e in errors
    ]


def _bulk_operation(node: dict[str, Any]) -> BulkOperation:
    return BulkOperation(
        id=_number(node.get("id")) or 0,
        status=node["status"],
        created_at=node.get("createdAt") or "",
        completed_at=node.get("completedAt"),
        object_count=int(node.get("objectCount") or 0),
        error_code=node.get("errorCode"),
        has_results=bool(node.get("url") or node.get("partialDataUrl")),
    )
