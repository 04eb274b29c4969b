"""Catalog process API v1: start a publication, follow its progress, list and replay the
products that failed."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, Parameter, QueryParameter

from process_apis.catalog import examples
from process_apis.catalog.mapping import MappingError
from process_apis.catalog.schemas import (
    CatalogException,
    ExceptionPage,
    Publication,
    PublicationRequest,
)
from process_apis.catalog.service import CatalogService, NotReplayable
from shared.auth import requires
from shared.problems import NotFound, ValidationFailed, problem_responses

JOB_ID = Parameter(title="Publication id", min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")
EXCEPTION_ID = Parameter(
    title="Exception id", min_length=20, max_length=20, pattern=r"^[0-9a-f]{20}$"
)
SHOP = QueryParameter(
    title="Shop domain",
    min_length=3,
    max_length=255,
    pattern=r"^[a-z0-9][a-z0-9\-.]*$",
)


class PublicationNotFound(NotFound):
    slug = "publication-not-found"
    title = "No such publication"


class UnknownShop(ValidationFailed):
    slug = "unknown-shop"
    title = "The shop is not one this deployment publishes to"


class BulkNeedsFull(ValidationFailed):
    slug = "catalog-bulk-needs-full"
    title = "A bulk publication is a full back-fill"


class CatalogExceptionNotFound(NotFound):
    slug = "catalog-exception-not-found"
    title = "No such catalog exception"


class ExceptionNotReplayable(ValidationFailed):
    slug = "catalog-exception-not-replayable"
    title = "The exception's shop or ERP instance is no longer configured"


class CatalogController(Controller):
    path = "/catalog/v1"
    tags = ["catalog"]

    @post(
        "/publications",
        operation_id="startCatalogPublication",
        summary="Publish ERP products to the shops (delta, or everything with full)",
        status_code=202,
        **requires(
            "catalog:publish",
            responses={
                **examples.started(Publication),
                **problem_responses(400, 409, 422, 429, 503),
            },
        ),
    )
    async def start(
        self,
        catalog: NamedDependency[CatalogService],
        data: Annotated[PublicationRequest, Body(title="What to publish", examples=examples.START)],
    ) -> Response[Publication]:
        """Start a run in the background; follow it at `GET /catalog/v1/publications/{id}`.
        One run at a time: another answers 409. `mode: bulk` (with `full`) back-fills every
        shop through one Shopify bulk operation per shop; the run's `bulk` lists them, and
        every line Shopify refused is an exception. `mode: bulk` without `full` answers 422."""
        try:
            job = await catalog.start(
                data.shop, full=data.full, dry_run=data.dry_run, mode=data.mode
            )
        except MappingError as exc:
            if exc.field == "mode":
                raise BulkNeedsFull(
                    exc.message, errors=[{"field": "mode", "message": exc.message}]
                ) from None
            raise UnknownShop(
                f"{data.shop} is not a configured shop",
                errors=[{"field": "shop", "message": exc.message}],
            ) from None
        return Response(job, status_code=202)

    @get(
        "/publications/{job_id:str}",
        operation_id="getCatalogPublication",
        summary="A publication's progress and summary",
        **requires(
            "catalog:read",
            responses={
                **examples.publication(Publication),
                **problem_responses(400, 404, 429, 503),
            },
        ),
    )
    async def publication(
        self, catalog: NamedDependency[CatalogService], job_id: Annotated[str, JOB_ID]
    ) -> Publication:
        """Status, products processed, and created, updated, unchanged, archived and failed
        counts with each failure's product and error."""
        job = await catalog.publication(job_id)
        if job is None:
            raise PublicationNotFound(f"No publication {job_id}")
        return job

    @get(
        "/exceptions",
        operation_id="listCatalogExceptions",
        summary="Products that could not be published",
        **requires(
            "catalog:read",
            responses={
                **examples.exception_page(ExceptionPage),
                **problem_responses(400, 429, 503),
            },
        ),
    )
    async def exceptions(
        self,
        catalog: NamedDependency[CatalogService],
        state_filter: Annotated[
            Literal["open", "resolved"] | None, QueryParameter(name="state")
        ] = None,
        shop: Annotated[str | None, SHOP] = None,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> ExceptionPage:
        """Exceptions, latest change first: the shop, the ERP product and its SKUs, what was
        wrong (a price missing in the shop's currency, Shopify's `userErrors`, a SKU on
        another product) and every attempt; filter by state and shop."""
        items, total = await catalog.exceptions.page(
            state=state_filter, shop=shop, offset=offset, limit=limit
        )
        return ExceptionPage(items=items, total=total, offset=offset, limit=limit)

    @get(
        "/exceptions/{exception_id:str}",
        operation_id="getCatalogException",
        summary="One exception",
        **requires(
            "catalog:read",
            responses={
                **examples.exception(CatalogException),
                **problem_responses(400, 404, 429, 503),
            },
        ),
    )
    async def exception(
        self,
        catalog: NamedDependency[CatalogService],
        exception_id: Annotated[str, EXCEPTION_ID],
    ) -> CatalogException:
        """The exception with its history of attempts."""
        record = await catalog.exceptions.get(exception_id)
        if record is None:
            raise CatalogExceptionNotFound(f"No catalog exception {exception_id}")
        return record

    @post(
        "/exceptions/{exception_id:str}/replay",
        operation_id="replayCatalogException",
        summary="Publish the exception's product again, now",
        status_code=200,
        **requires(
            "catalog:publish",
            responses={
                **examples.replayed(CatalogException),
                **problem_responses(400, 404, 409, 422, 429, 503),
            },
        ),
    )
    async def replay(
        self,
        catalog: NamedDependency[CatalogService],
        exception_id: Annotated[str, EXCEPTION_ID],
    ) -> CatalogException:
        """Read the product from its ERP as it is now and publish it to the exception's shop
        (or archive it there if it is no longer for sale). Answers the record: `resolved` if
        it went through, else still `open` with the new attempt in its history. Safe to
        repeat. 409 while a publication runs."""
        try:
            return await catalog.replay(exception_id)
        except LookupError:
            raise CatalogExceptionNotFound(f"No catalog exception {exception_id}") from None
        except NotReplayable as exc:
            raise ExceptionNotReplayable(str(exc)) from None
