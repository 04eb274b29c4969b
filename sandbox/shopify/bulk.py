"""Bulk operations and staged uploads of the Admin API, served by :class:`BulkRoot`.

``stagedUploadsCreate`` hands out an upload target on the sandbox's own HTTP app (a multipart
POST of the form parameters and then ``file``, as to Shopify's storage bucket); its ``key``
parameter is the ``stagedUploadPath`` that ``bulkOperationRunMutation`` names. The mutation
is checked at once (one mutation, one top-level field, valid against the schema; the file
uploaded and JSONL) and the operation answered ``CREATED``; the sandbox then runs it in the
background (:mod:`sandbox.shopify.bulk_runner`). Per Shopify, from API version 2026-01 an app
may run five bulk mutations at once on a shop, before that one. ``node(id:)`` resolves bulk
operations only (other ids answer null); the sandbox runs no bulk queries.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from graphql import (
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    parse,
    validate,
)

from sandbox.shopify.admin_root import IdempotencyStore
from sandbox.shopify.admin_views import Info, Node, stamp
from sandbox.shopify.catalogue import CatalogueRoot
from sandbox.shopify.schema import admin_schema
from sandbox.shopify.state import (
    BulkOperation,
    Shop,
    ShopifyState,
    StagedUpload,
    gid,
    parse_gid,
)
from sandbox.shopify.versions import CONCURRENCY_PROTECTION_VERSION, at_least

#: Shopify refuses a bulk mutation's variables file past 20 MB (its storage bucket's limit).
MAX_BULK_FILE_BYTES = 20 * 1024 * 1024
#: From this version an app may run several bulk mutations on a shop at once.
CONCURRENT_BULK_VERSION = "2026-01"
BULK_MUTATIONS_AT_ONCE = 5
UPLOAD_PATH = "/staged-uploads"
FILES_PATH = "/sandbox-files"
DEFAULT_BASE_URL = "http://127.0.0.1"


def bulk_mutations_allowed(version: str) -> int:
    """How many bulk mutations an app may run on one shop at once at ``version``."""
    return BULK_MUTATIONS_AT_ONCE if at_least(version, CONCURRENT_BULK_VERSION) else 1


def _bulk_error(message: str, code: str, field: list[str] | None = None) -> Node:
    return {"field": field, "message": message, "code": code}


def jsonl_lines(content: bytes) -> list[dict[str, Any]] | None:
    """The variables of each line of a JSONL file, or None if a line is not a JSON object."""
    lines: list[dict[str, Any]] = []
    for raw in content.splitlines():
        if not raw.strip():
            continue
        try:
            value = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return None
        if not isinstance(value, dict):
            return None
        lines.append(value)
    return lines


def result_url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}{FILES_PATH}/{key}"


class BulkViews:
    """Bulk operations as Admin GraphQL values."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def operation(self, op: BulkOperation | None) -> Node | None:
        if op is None:
            return None
        url = result_url(self.base_url, op.result_key) if op.result_key else None
        return {
            "__typename": "BulkOperation",
            "id": gid("BulkOperation", op.id),
            "status": op.status,
            "type": "MUTATION",
            "errorCode": op.error_code,
            "createdAt": stamp(op.created_at),
            "completedAt": stamp(op.completed_at),
            "objectCount": str(op.object_count),
            "rootObjectCount": str(op.object_count),
            "fileSize": str(op.result_size) if op.result_size is not None else None,
            "url": url if op.status == "COMPLETED" else None,
            "partialDataUrl": url if op.status in ("FAILED", "CANCELED") else None,
            "query": op.mutation,
        }


class BulkRoot(CatalogueRoot):
    """The Admin API root with bulk operations and staged uploads."""

    #: Where the sandbox is reached (upload targets and result files are served from it);
    #: set per request by :func:`sandbox.shopify.admin_graphql.run_admin_graphql`.
    base_url: str = DEFAULT_BASE_URL

    def __init__(
        self,
        state: ShopifyState,
        shop: Shop,
        version: str,
        app: str,
        idempotency: IdempotencyStore,
    ) -> None:
        super().__init__(state, shop, version, app, idempotency)
        #: Bulk operations created by this request, for the sandbox to start once answered.
        self.bulk_started: list[BulkOperation] = []

    # -- queries -----------------------------------------------------------------------------

    def currentBulkOperation(self, info: Info, type: str = "QUERY") -> Node | None:
        if type != "MUTATION":
            return None  # the sandbox runs no bulk queries
        mine = [op for op in self._shop.bulk_operations.values() if op.app == self.app]
        return BulkViews(self.base_url).operation(mine[-1] if mine else None)

    def node(self, info: Info, id: str) -> Node | None:
        number = parse_gid(id, "BulkOperation")
        if number is None:
            if id.startswith("gid://shopify/"):
                return None
            raise GraphQLError(
                f"Invalid global id '{id}'",
                extensions={"code": "argumentLiteralsIncompatible", "typeName": "CoercionError"},
            )
        op = self._shop.bulk_operations.get(number)
        if op is None or op.app != self.app:
            return None
        return BulkViews(self.base_url).operation(op)

    # -- mutations ---------------------------------------------------------------------------

    def stagedUploadsCreate(self, info: Info, input: list[dict[str, Any]]) -> Node:
        targets: list[Node] = []
        errors: list[Node] = []
        for i, wanted in enumerate(input):
            if wanted["resource"] != "BULK_MUTATION_VARIABLES":
                errors.append(
                    {
                        "field": ["input", str(i), "resource"],
                        "message": "The sandbox stages only BULK_MUTATION_VARIABLES uploads",
                    }
                )
                continue
            if wanted.get("httpMethod", "PUT") != "POST":
                errors.append(
                    {
                        "field": ["input", str(i), "httpMethod"],
                        "message": "Bulk mutation variables are uploaded with POST",
                    }
                )
                continue
            size = wanted.get("fileSize")
            if size is not None and int(size) > MAX_BULK_FILE_BYTES:
                errors.append(
                    {
                        "field": ["input", str(i), "fileSize"],
                        "message": f"File size must be at most {MAX_BULK_FILE_BYTES} bytes",
                    }
                )
                continue
            key = f"tmp/{self._shop.domain}/bulk/{uuid.uuid4()}/{wanted['filename']}"
            self.state.staged_uploads[key] = StagedUpload(
                key=key,
                shop=self._shop.domain,
                filename=wanted["filename"],
                mime_type=wanted["mimeType"],
                resource=wanted["resource"],
            )
            targets.append(
                {
                    "url": f"{self.base_url.rstrip('/')}{UPLOAD_PATH}",
                    "resourceUrl": None,
                    "parameters": [
                        {"name": "key", "value": key},
                        {"name": "Content-Type", "value": wanted["mimeType"]},
                        {"name": "success_action_status", "value": "201"},
                        {"name": "acl", "value": "private"},
                    ],
                }
            )
        return {"stagedTargets": None if errors else targets, "userErrors": errors}

    def bulkOperationRunMutation(
        self,
        info: Info,
        mutation: str,
        stagedUploadPath: str,
        clientIdentifier: str | None = None,
        groupObjects: bool = True,
    ) -> Node:
        def refused(message: str, code: str, field: list[str] | None = None) -> Node:
            return {"bulkOperation": None, "userErrors": [_bulk_error(message, code, field)]}

        running = [
            op
            for op in self._shop.bulk_operations.values()
            if op.app == self.app and not op.finished
        ]
        if len(running) >= bulk_mutations_allowed(self.version):
            if bulk_mutations_allowed(self.version) == 1:
                return refused(
                    "A bulk mutation operation for this app and shop is already in progress: "
                    f"{gid('BulkOperation', running[0].id)}.",
                    "OPERATION_IN_PROGRESS",
                )
            return refused(
                "Bulk operations limit reached. Please try again later.", "LIMIT_REACHED"
            )
        problem = self._invalid_mutation(mutation)
        if problem is not None:
            return refused(problem, "INVALID_MUTATION", ["mutation"])
        upload = self.state.staged_uploads.get(stagedUploadPath)
        if upload is None or upload.shop != self._shop.domain or upload.content is None:
            return refused(
                "The JSONL file could not be found. Try uploading the file again, and check "
                "that you've entered the URL correctly for the stagedUploadPath mutation "
                "argument.",
                "NO_SUCH_FILE",
                ["stagedUploadPath"],
            )
        lines = jsonl_lines(upload.content)
        if lines is None:
            return refused(
                "Unexpected file structure - expected JSONL",
                "INVALID_STAGED_UPLOAD_FILE",
                ["stagedUploadPath"],
            )
        if clientIdentifier is not None and not 10 <= len(clientIdentifier) <= 255:
            return refused(
                "Client identifier must be between 10 and 255 characters",
                "INVALID_MUTATION",
                ["clientIdentifier"],
            )
        op = BulkOperation(
            id=self.state.ids.next("BulkOperation"),
            app=self.app,
            mutation=mutation,
            staged_upload_path=stagedUploadPath,
            version=self.version,
            client_identifier=clientIdentifier,
            lines=len(lines),
        )
        self._shop.bulk_operations[op.id] = op
        self.bulk_started.append(op)
        return {"bulkOperation": BulkViews(self.base_url).operation(op), "userErrors": []}

    def bulkOperationCancel(self, info: Info, id: str) -> Node:
        number = parse_gid(id, "BulkOperation")
        op = self._shop.bulk_operations.get(number) if number else None
        if op is None or op.app != self.app:
            return {
                "bulkOperation": None,
                "userErrors": [
                    {"field": ["id"], "message": "Bulk operation does not exist", "code": None}
                ],
            }
        if op.finished:
            return {
                "bulkOperation": BulkViews(self.base_url).operation(op),
                "userErrors": [
                    {
                        "field": None,
                        "message": f"A bulk operation cannot be canceled when it is "
                        f"{op.status.lower()}",
                        "code": None,
                    }
                ],
            }
        op.status = "CANCELING"
        return {"bulkOperation": BulkViews(self.base_url).operation(op), "userErrors": []}

    def _invalid_mutation(self, mutation: str) -> str | None:
        """Why ``mutation`` cannot run in bulk, or None."""
        try:
            document = parse(mutation)
        except GraphQLError as exc:
            return f"Failed to parse the mutation - {exc.message}"
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1 or operations[0].operation != OperationType.MUTATION:
            return "Invalid mutation: the document must hold exactly one mutation"
        fields = [s for s in operations[0].selection_set.selections if isinstance(s, FieldNode)]
        if len(fields) != 1 or fields[0].name.value.startswith("bulkOperation"):
            return "Invalid mutation: a bulk mutation runs exactly one mutation field"
        schema = admin_schema(at_least(self.version, CONCURRENCY_PROTECTION_VERSION))
        problems = validate(schema, document)
        if problems:
            return f"Invalid mutation: {problems[0].message}"
        return None
