"""Orders process API v1: pipeline status, exceptions and replay, orders from other channels."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, Parameter, QueryParameter

from process_apis.orders.schemas import (
    Accepted,
    BulkReplayRequest,
    BulkReplayResult,
    ChannelOrder,
    ExceptionPage,
    OrderException,
    OrderStatus,
    ReplayRequest,
    ReplayResult,
)
from process_apis.orders.service import NotReplayable, OrdersService, ReferenceRefused
from shared.auth import requires
from shared.idempotency import IDEMPOTENCY_KEY_PATTERN, IdempotencyStore, fingerprint
from shared.problems import NotFound, ValidationFailed, problem_responses

SHOP = Parameter(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.\-_]+$")
ORDER_ID = Parameter(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9:#.\-_]+$")
EXCEPTION_ID = Parameter(min_length=1, max_length=64, pattern=r"^[a-f0-9]+$")
READ_ERRORS = (400, 429)
_ENC = msgspec.json.Encoder()


class OrderNotTracked(NotFound):
    slug = "order-not-found"
    title = "The pipeline has no record of this order"


class ExceptionNotFound(NotFound):
    slug = "exception-not-found"
    title = "No such exception"


class ExceptionNotReplayable(ValidationFailed):
    slug = "exception-not-replayable"
    title = "The exception holds no stream entry to replay"


class ChannelReferenceRefused(ValidationFailed):
    slug = "channel-reference-refused"
    title = "The order can't be taken under its channel's reference"


class OrdersController(Controller):
    path = "/orders/v1"
    tags = ["orders"]

    @get(
        "/orders/{shop:str}/{order_id:str}",
        operation_id="getOrderPipelineStatus",
        summary="Where an order is in the pipeline",
        **requires("orders:read", responses=problem_responses(*READ_ERRORS, 404)),
    )
    async def status(
        self,
        orders: NamedDependency[OrdersService],
        shop: Annotated[str, SHOP],
        order_id: Annotated[str, ORDER_ID],
    ) -> OrderStatus:
        """Every step of the order's way (received, validated, routed, posted, acknowledged,
        exception, and the fulfillment steps) with its timestamp, its ERP instance and ERP
        order number, how much of it Shopify says has shipped (`fulfillment_status`), and
        each fulfillment with carrier and tracking: ERP shipments (`pending` until Shopify
        has them) and fulfillments made in Shopify."""
        status = await orders.pipeline.status(shop, order_id)
        if status is None:
            raise OrderNotTracked(f"No order {order_id} of {shop} has entered the pipeline")
        return status

    @get(
        "/exceptions",
        operation_id="listOrderExceptions",
        summary="Orders that need attention",
        **requires("orders:read", responses=problem_responses(*READ_ERRORS)),
    )
    async def exceptions(
        self,
        orders: NamedDependency[OrdersService],
        state_filter: Annotated[
            Literal["open", "replayed", "resolved"] | None, QueryParameter(name="state")
        ] = None,
        shop: Annotated[str | None, SHOP] = None,
        kind: Annotated[str | None, Parameter(max_length=64)] = None,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> ExceptionPage:
        """Exceptions newest first, with correlation id, payload snapshot, error, retry history
        and business impact; filter by state, shop and kind."""
        items, total = await orders.exceptions.page(
            state=state_filter, shop=shop, kind=kind, offset=offset, limit=limit
        )
        return ExceptionPage(items=items, total=total, offset=offset, limit=limit)

    @get(
        "/exceptions/{exception_id:str}",
        operation_id="getOrderException",
        summary="One exception",
        **requires("orders:read", responses=problem_responses(*READ_ERRORS, 404)),
    )
    async def exception(
        self, orders: NamedDependency[OrdersService], exception_id: Annotated[str, EXCEPTION_ID]
    ) -> OrderException:
        """The exception with its payload snapshot and history."""
        record = await orders.exceptions.get(exception_id)
        if record is None:
            raise ExceptionNotFound(f"No exception {exception_id}")
        return record

    @post(
        "/exceptions/{exception_id:str}/replay",
        operation_id="replayOrderException",
        summary="Replay one exception",
        status_code=202,
        **requires("orders:replay", responses=problem_responses(*READ_ERRORS, 404, 422, 503)),
    )
    async def replay(
        self,
        orders: NamedDependency[OrdersService],
        exception_id: Annotated[str, EXCEPTION_ID],
        data: JSONBody[ReplayRequest | None] = None,
    ) -> ReplayResult:
        """Put the order back on the pipeline, optionally with an edited Shopify order body.
        Replaying is safe to repeat: the ERP posting is idempotent."""
        try:
            record, entry_id = await orders.replay(exception_id, data.body if data else None)
        except LookupError:
            raise ExceptionNotFound(f"No exception {exception_id}") from None
        except NotReplayable as exc:
            raise ExceptionNotReplayable(str(exc)) from None
        return ReplayResult(exception_id=record.id, state=record.state, entry_id=entry_id)

    @post(
        "/exceptions/replay",
        operation_id="replayOrderExceptions",
        summary="Replay many exceptions",
        status_code=202,
        **requires("orders:replay", responses=problem_responses(*READ_ERRORS, 422, 503)),
    )
    async def bulk_replay(
        self, orders: NamedDependency[OrdersService], data: JSONBody[BulkReplayRequest]
    ) -> BulkReplayResult:
        """Replay the listed open exceptions, or every open one matching `kind` and `shop`."""
        if data.ids is not None:
            ids = data.ids[: data.limit]
        else:
            items, _ = await orders.exceptions.page(
                state="open", shop=data.shop, kind=data.kind, offset=0, limit=data.limit
            )
            ids = [r.id for r in items]
        replayed, skipped = [], []
        for ex_id in ids:
            try:
                record, entry_id = await orders.replay(ex_id, None)
            except (LookupError, NotReplayable):
                skipped.append(ex_id)
                continue
            replayed.append(ReplayResult(exception_id=ex_id, state=record.state, entry_id=entry_id))
        return BulkReplayResult(replayed=replayed, skipped=skipped)

    @post(
        "/orders",
        operation_id="submitChannelOrder",
        summary="Submit a canonical order from another channel",
        status_code=202,
        **requires("orders:write", responses=problem_responses(400, 409, 422, 429, 503)),
    )
    async def submit(
        self,
        orders: NamedDependency[OrdersService],
        idempotency: NamedDependency[IdempotencyStore],
        data: JSONBody[ChannelOrder],
        idempotency_key: Annotated[
            str,
            HeaderParameter(
                name="Idempotency-Key",
                description="A unique key per order; a retry with the same key and body "
                "returns the first answer, another body gets 422.",
                min_length=8,
                max_length=255,
                pattern=IDEMPOTENCY_KEY_PATTERN,
            ),
        ],
    ) -> Response[Any]:
        """Queue a canonical order (POS, marketplace) for the same pipeline as Shopify's:
        routed, posted once to its ERP, and tracked under `/orders/v1/orders/{channel}/{id}`.
        The ERP's external reference is the channel's own, `channel:{channel}:{order_id}`,
        whatever `order.external_reference` says; one in another namespace (`shopify:...`,
        another channel's) is refused with 422, as is a channel named like a Shopify shop."""
        fp = fingerprint(b"POST /orders/v1/orders", _ENC.encode(data))

        async def accept() -> tuple[int, Accepted]:
            try:
                entry_id = await orders.accept_channel_order(
                    data.channel, data.order_id, data.order
                )
            except ReferenceRefused as exc:
                raise ChannelReferenceRefused(str(exc), errors=exc.errors) from None
            return 202, Accepted(
                shop=data.channel,
                order_id=data.order_id,
                status_url=f"/orders/v1/orders/{data.channel}/{data.order_id}",
                entry_id=entry_id,
            )

        return await idempotency.respond_once("channel-orders", idempotency_key, fp, accept)
