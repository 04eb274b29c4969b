"""The Shopify sandbox as a Litestar app: Admin GraphQL plus the ``/_sandbox`` control API.

Run it with ``uvicorn --factory sandbox.shopify.app:create_app`` (settings from
``STRATA_SANDBOX_*``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.params import FromPath

from sandbox.shopify.bulk import FILES_PATH, MAX_BULK_FILE_BYTES, UPLOAD_PATH
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
        base_url=str(request.base_url).rstrip("/"),
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


def _xml(status: int, body: str) -> Response[bytes]:
    return Response(
        content=f'<?xml version="1.0" encoding="UTF-8"?>{body}'.encode(),
        status_code=status,
        media_type="application/xml",
    )


@post(
    UPLOAD_PATH,
    operation_id="stagedUpload",
    include_in_schema=False,
    request_max_body_size=MAX_BULK_FILE_BYTES + 1024 * 1024,
)
async def staged_upload(request: Request[Any, Any, State]) -> Response[bytes]:
    """The storage bucket behind ``stagedUploadsCreate``: a multipart POST of the target's
    parameters and then ``file``; answers as Google Cloud Storage does (XML)."""
    form = await request.form()
    key, file = form.get("key"), form.get("file")
    if not isinstance(key, str) or not isinstance(file, UploadFile):
        return _xml(
            400,
            "<Error><Code>InvalidArgument</Code><Message>The form needs a key and a file."
            "</Message></Error>",
        )
    refused = sandbox_of(request.app.state).receive_upload(key, await file.read())
    if refused is not None:
        return _xml(
            refused.status,
            f"<Error><Code>{refused.code}</Code><Message>{refused.message}</Message></Error>",
        )
    if form.get("success_action_status") != "201":
        return Response(content=b"", status_code=204)
    location = f"{str(request.base_url).rstrip('/')}{UPLOAD_PATH}/{key}"
    return _xml(
        201,
        f"<PostResponse><Location>{location}</Location><Bucket>sandbox-staged-uploads</Bucket>"
        f"<Key>{key}</Key></PostResponse>",
    )


@get(f"{FILES_PATH}/{{key:path}}", operation_id="sandboxFile", include_in_schema=False)
async def sandbox_file(request: Request[Any, Any, State], key: FromPath[str]) -> Response[bytes]:
    """A file the sandbox serves: a bulk operation's result JSONL."""
    content = sandbox_of(request.app.state).file(key.lstrip("/"))
    if content is None:
        return _xml(404, "<Error><Code>NoSuchKey</Code></Error>")
    return Response(content=content, media_type="application/jsonl")


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
        route_handlers=[
            admin_graphql,
            admin_graphql_for_shop,
            staged_upload,
            sandbox_file,
            SandboxControl,
        ],
        state=State({"sandbox": service}),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
    )
