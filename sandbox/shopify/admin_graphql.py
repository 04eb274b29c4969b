"""One Admin GraphQL request, end to end, the way Shopify answers it.

Auth, version fall-forward, parse and validate errors (HTTP 200), the 250-item input limit,
the single-query cost limit, the cost bucket (``THROTTLED`` spends nothing; the requested cost
is taken up front and the unused part given back), execution, and ``extensions.cost`` on
every answer that got as far as GraphQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    ListValueNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    execute,
    parse,
    validate,
    visit,
)
from graphql.language import Visitor

from sandbox.shopify.admin_root import IdempotencyStore
from sandbox.shopify.admin_views import field_resolver
from sandbox.shopify.bulk import DEFAULT_BASE_URL
from sandbox.shopify.catalogue import MAX_VARIANTS
from sandbox.shopify.commerce import ShopEvent
from sandbox.shopify.cost import CostBucket, QueryCoster
from sandbox.shopify.root import SandboxRoot
from sandbox.shopify.schema import admin_schema
from sandbox.shopify.state import BulkOperation, Shop, ShopifyState
from sandbox.shopify.versions import CONCURRENCY_PROTECTION_VERSION, at_least

MAX_INPUT_ITEMS = 250
# Input lists allowed past MAX_INPUT_ITEMS, by field name: productSet takes 2,048 variants
# (and as many values of one option).
LONGER_INPUTS = {"variants": MAX_VARIANTS, "values": MAX_VARIANTS}
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"


class GraphQLReply(msgspec.Struct, kw_only=True):
    """What the endpoint answers: status, JSON body, the events to publish afterwards and
    the bulk operations to start."""

    status: int
    body: Any
    events: list[ShopEvent] = msgspec.field(default_factory=list)
    bulk_started: list[BulkOperation] = msgspec.field(default_factory=list)


def _error(message: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, **extra}}


def formatted_error(error: GraphQLError) -> dict[str, Any]:
    shown: dict[str, Any] = {"message": error.message}
    if error.locations:
        shown["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        shown["path"] = list(error.path)
    shown["extensions"] = {"code": _code_for(error), **(error.extensions or {})}
    return shown


def _code_for(error: GraphQLError) -> str:
    if error.extensions and "code" in error.extensions:
        return str(error.extensions["code"])
    message = error.message
    if message.startswith("Syntax Error"):
        return "PARSE_ERROR"
    if message.startswith("Cannot query field"):
        return "undefinedField"
    if "is required, but it was not provided" in message:
        return "missingRequiredArguments"
    if message.startswith("Unknown argument"):
        return "argumentNotAccepted"
    if message.startswith("Variable"):
        return "variableMismatch"
    if "cannot represent" in message or "Expected value of type" in message:
        return "argumentLiteralsIncompatible"
    return "GRAPHQL_VALIDATION_FAILED"


class _ListSizes(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.largest: tuple[int, ListValueNode | None] = (0, None)

    def enter_list_value(self, node: ListValueNode, _key: Any, parent: Any, *_: Any) -> None:
        size = len(node.values)
        if isinstance(parent, ObjectFieldNode) and size <= LONGER_INPUTS.get(parent.name.value, 0):
            return
        if size > self.largest[0]:
            self.largest = (size, node)


def _largest_variable_list(value: Any, path: list[str | int]) -> tuple[int, list[str | int]]:
    best: tuple[int, list[str | int]] = (0, path)
    if isinstance(value, list):
        key = path[-1] if path else None
        allowed = LONGER_INPUTS.get(key, 0) if isinstance(key, str) else 0
        best = (0 if len(value) <= allowed else len(value), path)
        items = enumerate(value)
    elif isinstance(value, Mapping):
        items = value.items()  # type: ignore[assignment]
    else:
        return best
    for key, item in items:
        found = _largest_variable_list(item, [*path, key])
        if found[0] > best[0]:
            best = found
    return best


def _input_too_large(document: DocumentNode, variables: Mapping[str, Any]) -> dict[str, Any] | None:
    sizes = _ListSizes()
    visit(document, sizes)
    size, node = sizes.largest
    if size > MAX_INPUT_ITEMS:
        error = _error(
            f"The input array size of {size} is greater than the maximum allowed of "
            f"{MAX_INPUT_ITEMS}.",
            "MAX_INPUT_SIZE_EXCEEDED",
        )
        if node is not None and node.loc is not None:
            loc = node.loc.source.get_location(node.loc.start)
            error["locations"] = [{"line": loc.line, "column": loc.column}]
        return error
    size, path = _largest_variable_list(dict(variables), ["variables"])
    if size > MAX_INPUT_ITEMS:
        error = _error(
            f"The input array size of {size} is greater than the maximum allowed of "
            f"{MAX_INPUT_ITEMS}.",
            "MAX_INPUT_SIZE_EXCEEDED",
        )
        error["path"] = path
        return error
    return None


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == name), None)


def run_admin_graphql(
    *,
    state: ShopifyState,
    shop: Shop,
    version: str,
    app: str,
    bucket: CostBucket,
    idempotency: IdempotencyStore,
    payload: Any,
    max_query_cost: int,
    base_url: str = DEFAULT_BASE_URL,
) -> GraphQLReply:
    """Answer one parsed JSON request body for ``shop`` at ``version``; ``base_url`` is where
    the sandbox was reached (staged upload targets and result files are served from it)."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("query"), str):
        return GraphQLReply(
            status=400, body={"errors": {"query": "Required parameter missing or invalid"}}
        )
    query: str = payload["query"]
    variables = payload.get("variables") or {}
    operation_name = payload.get("operationName")
    if not isinstance(variables, Mapping):
        return GraphQLReply(status=400, body={"errors": {"variables": "must be an object"}})

    def answer(
        errors: list[dict[str, Any]] | None, data: Any, requested: int, actual: int | None
    ) -> GraphQLReply:
        body: dict[str, Any] = {}
        if errors:
            body["errors"] = errors
        if data is not None:
            body["data"] = data
        body["extensions"] = {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": msgspec.to_builtins(bucket.status()),
            }
        }
        return GraphQLReply(status=200, body=body)

    schema = admin_schema(at_least(version, CONCURRENCY_PROTECTION_VERSION))
    try:
        document = parse(query)
    except GraphQLError as exc:
        return answer([formatted_error(exc)], None, 0, None)
    problems = validate(schema, document)
    if problems:
        return answer([formatted_error(e) for e in problems], None, 0, None)
    too_large = _input_too_large(document, variables)
    if too_large is not None:
        return answer([too_large], None, 0, None)
    operation = _operation(document, operation_name)
    if operation is None:
        return answer(
            [_error("An operation name is required", "OPERATION_NAME_REQUIRED")], None, 0, None
        )
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    coster = QueryCoster(schema, operation, fragments, variables)
    requested = coster.requested()
    if requested > max_query_cost:
        message = (
            f"Query cost is {requested}, which exceeds the single query max cost limit "
            f"({max_query_cost}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for "
            "more information on how the\ncost of a query is calculated.\n\nTo query larger "
            "amounts of data with fewer limits, bulk operations should be used instead.\nSee "
            "https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage "
            "details.\n"
        )
        return answer(
            [_error(message, "MAX_COST_EXCEEDED", cost=requested, maxCost=max_query_cost)],
            None,
            requested,
            None,
        )
    if not bucket.try_take(requested):
        return answer(
            [_error("Throttled", "THROTTLED", documentation=RATE_LIMIT_DOCS)], None, requested, None
        )
    root = SandboxRoot(state, shop, version, app, idempotency)
    root.base_url = base_url
    result = execute(
        schema,
        document,
        root_value=root,
        variable_values=dict(variables),
        operation_name=operation_name,
        field_resolver=field_resolver,
    )
    if not isinstance(result, ExecutionResult):
        raise TypeError("resolvers are synchronous; execution must not return an awaitable")
    actual = coster.actual(result.data) if result.data is not None else 0
    bucket.give_back(requested - actual)
    reply = answer(
        [formatted_error(e) for e in result.errors or ()], result.data, requested, actual
    )
    reply.events = root.events
    reply.bulk_started = root.bulk_started
    return reply
