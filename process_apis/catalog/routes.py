"""Catalog process API v1: start a publication, follow its progress."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from process_apis.catalog.mapping import MappingError
from process_apis.catalog.schemas import Publication, PublicationRequest
from process_apis.catalog.service import CatalogService
from shared.auth import requires
from shared.problems import NotFound, ValidationFailed, problem_responses

JOB_ID = Parameter(title="Publication id", min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")


class PublicationNotFound(NotFound):
    slug = "publication-not-found"
    title = "No such publication"


class UnknownShop(ValidationFailed):
    slug = "unknown-shop"
    title = "The shop is not one this deployment publishes to"


class CatalogController(Controller):
    path = "/catalog/v1"
    tags = ["catalog"]

    @post(
        "/publications",
        operation_id="startCatalogPublication",
        summary="Publish ERP products to the shops (delta, or everything with full)",
        status_code=202,
        **requires("catalog:publish", responses=problem_responses(400, 409, 422, 429, 503)),
    )
    async def start(
        self, catalog: NamedDependency[CatalogService], data: JSONBody[PublicationRequest]
    ) -> Response[Publication]:
        """Start a run in the background; follow it at `GET /catalog/v1/publications/{id}`.
        One run at a time: another answers 409."""
        try:
            job = await catalog.start(data.shop, full=data.full, dry_run=data.dry_run)
        except MappingError as exc:
            raise UnknownShop(
                f"{data.shop} is not a configured shop",
                errors=[{"field": "shop", "message": exc.message}],
            ) from None
        return Response(job, status_code=202)

    @get(
        "/publications/{job_id:str}",
        operation_id="getCatalogPublication",
        summary="A publication's progress and summary",
        **requires("catalog:read", responses=problem_responses(400, 404, 429, 503)),
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
