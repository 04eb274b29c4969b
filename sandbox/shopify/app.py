"""The Shopify sandbox as a Litestar app: Admin GraphQL plus the ``/_sandbox`` control API.

Run it with ``uvicorn --factory sandbox.shopify.app:create_app`` (settings from
``STRATA_SANDBOX_*``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath

from sandbox.shopify.control import SandboxControl, sandbox_of
from sandbox.shopify.service import ShopifySandbox
from sandbox.shopify.settings import SandboxSettings, load_sandbox_settings
from shared.problems import EXCEPTION_HANDLERS


async def _answer(
    request: Request[Any, Any, State], version: str, path_shop: str | None
) -> Response[bytes]:
    sandbox = sandbox_of(request.app.state)
    reply, headers = sandbox.admin_graphql(
        version=version,
        token=request.headers.get("x-shopify-access-token"),
        body=await request.body(),
        path_shop=path_shop,
        host=request.headers.get("host"),
        header_shop=request.headers.get("x-shopify-shop-domain"),
    )
    return Response(
        content=msgspec.json.encode(reply.body),
        status_code=reply.status,
        media_type="application/json",
        headers=headers,
    )


@post("/admin/api/{version:str}/graphql.json", operation_id="adminGraphQL", include_in_schema=False)
async def admin_graphql(
    request: Request[Any, Any, State], version: FromPath[str]
) -> Response[bytes]:
    """Shopify's Admin GraphQL endpoint; the shop comes from the Host header or the token."""
    return await _answer(request, version, None)


@post(
    "/shops/{shop:str}/admin/api/{version:str}/graphql.json",
    operation_id="adminGraphQLForShop",
    include_in_schema=False,
)
async def admin_graphql_for_shop(
    request: Request[Any, Any, State], shop: FromPath[str], version: FromPath[str]
) -> Response[bytes]:
    """The same endpoint with the shop in the path, for clients given one base URL per shop."""
    return await _answer(request, version, shop)


def create_app(
    settings: SandboxSettings | None = None, sandbox: ShopifySandbox | None = None
) -> Litestar:
    """Build the sandbox app (settings from the environment unless given)."""
    service = sandbox or ShopifySandbox(settings or load_sandbox_settings())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await service.close()

    return Litestar(
        route_handlers=[admin_graphql, admin_graphql_for_shop, SandboxControl],
        state=State({"sandbox": service}),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
    )
