"""Calculated query cost and the leaky bucket, after Shopify's documented rules.

Requested cost, before execution: scalars and enums 0, objects 1, a connection
``2 + first (or last) x cost of one node``, each top-level mutation field 10.
An interface (``node(id:)``) costs like an object.
Approximations (Shopify's exact per-field costs are not published): the ``edges`` wrapper is
free, ``pageInfo`` is inside the connection's 2, a plain list of objects costs like one object,
and a mutation's payload selection adds nothing beyond the 10.
Actual cost, after execution, applies the same rules to what came back: a connection counts
the nodes it returned, a null object costs nothing. It never exceeds the requested cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)

from sandbox.shopify.clock import SandboxClock

MUTATION_COST = 10
CONNECTION_BASE_COST = 2


class ThrottleStatus(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    maximum_available: float
    currently_available: int
    restore_rate: float


class CostBucket:
    """A leaky bucket of query-cost points for one app on one shop."""

    def __init__(self, maximum: float, restore_rate: float, clock: SandboxClock) -> None:
        self.maximum = maximum
        self.restore_rate = restore_rate
        self.clock = clock
        self._available = maximum
        self._updated = clock.now()

    def _restore(self) -> None:
        now = self.clock.now()
        self._available = min(
            self.maximum, self._available + (now - self._updated) * self.restore_rate
        )
        self._updated = now

    @property
    def available(self) -> float:
        self._restore()
        return self._available

    def try_take(self, points: int) -> bool:
        """Take ``points`` if the bucket holds them; take nothing otherwise."""
        self._restore()
        if points > self._available:
            return False
        self._available -= points
        return True

    def give_back(self, points: int) -> None:
        self._restore()
        self._available = min(self.maximum, self._available + points)

    def configure(
        self,
        *,
        maximum: float | None = None,
        restore_rate: float | None = None,
        currently_available: float | None = None,
    ) -> None:
        """Change size, rate or fill level (a control for tests and demos)."""
        self._restore()
        if maximum is not None:
            self.maximum = maximum
            self._available = min(self._available, maximum)
        if restore_rate is not None:
            self.restore_rate = restore_rate
        if currently_available is not None:
            self._available = min(self.maximum, currently_available)

    def status(self) -> ThrottleStatus:
        return ThrottleStatus(
            maximum_available=float(self.maximum),
            currently_available=int(self.available),
            restore_rate=float(self.restore_rate),
        )


class QueryCoster:
    """Requested and actual cost of one operation of one document against a schema."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        self.variables = dict(variables or {})

    def _root(self) -> GraphQLObjectType | None:
        if self.operation.operation == OperationType.MUTATION:
            return self.schema.mutation_type
        return self.schema.query_type

    def requested(self) -> int:
        root = self._root()
        if root is None:
            return 0
        if self.operation.operation == OperationType.MUTATION:
            return MUTATION_COST * len(self._fields(self.operation.selection_set))
        return self._selection_cost(root, self.operation.selection_set, None)

    def actual(self, data: Mapping[str, Any] | None) -> int:
        root = self._root()
        if root is None or data is None:
            return 0
        if self.operation.operation == OperationType.MUTATION:
            ran = [f for f in self._fields(self.operation.selection_set) if _key(f) in data]
            return MUTATION_COST * len(ran)
        return min(self.requested(), self._selection_cost(root, self.operation.selection_set, data))

    def _fields(self, selection_set: SelectionSetNode | None) -> list[FieldNode]:
        """Fields of a selection with fragments flattened (type conditions ignored)."""
        found: list[FieldNode] = []
        if selection_set is None:
            return found
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                found.extend(self._fields(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    found.extend(self._fields(fragment.selection_set))
        return found

    def _selection_cost(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode | None, data: Any
    ) -> int:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0
        total = 0
        for field_node in self._fields(selection_set):
            definition = self._definition(parent, field_node.name.value)
            if definition is None:
                continue
            if data is None:
                total += self._field_cost(definition, field_node, None, estimate=True)
            elif isinstance(data, Mapping) and _key(field_node) in data:
                total += self._field_cost(
                    definition, field_node, data[_key(field_node)], estimate=False
                )
        return total

    def _definition(
        self, parent: GraphQLObjectType | GraphQLInterfaceType, name: str
    ) -> GraphQLField | None:
        """A field of ``parent``; of an interface, also a field its types add (selected in
        ``... on Type`` fragments, which are flattened)."""
        found: GraphQLField | None = parent.fields.get(name)
        if found is None and isinstance(parent, GraphQLInterfaceType):
            for possible in self.schema.get_possible_types(parent):
                found = possible.fields.get(name)
                if found is not None:
                    break
        return found

    def _field_cost(
        self, definition: GraphQLField, node: FieldNode, value: Any, *, estimate: bool
    ) -> int:
        named = get_named_type(definition.type)
        if isinstance(named, GraphQLInterfaceType):
            # An interface (``node``) costs what an object does.
            if estimate:
                return 1 + self._selection_cost(named, node.selection_set, None)
            if value is None:
                return 0
            return 1 + self._selection_cost(named, node.selection_set, value)
        if not isinstance(named, GraphQLObjectType):
            return 0
        if named.name.endswith("Connection"):
            return self._connection_cost(named, node, value, estimate=estimate)
        if estimate:
            return 1 + self._selection_cost(named, node.selection_set, None)
        if value is None:
            return 0
        items = value if isinstance(value, list) else [value]
        return sum(1 + self._selection_cost(named, node.selection_set, item) for item in items)

    def _connection_cost(
        self, connection: GraphQLObjectType, node: FieldNode, value: Any, *, estimate: bool
    ) -> int:
        if not estimate and value is None:
            return 0
        node_type = _node_type(connection)
        if node_type is None:
            return CONNECTION_BASE_COST
        item_selections: list[tuple[FieldNode, str]] = []
        for field_node in self._fields(node.selection_set):
            if field_node.name.value == "nodes":
                item_selections.append((field_node, "nodes"))
            elif field_node.name.value == "edges":
                item_selections.extend(
                    (inner, "edges")
                    for inner in self._fields(field_node.selection_set)
                    if inner.name.value == "node"
                )
        if estimate:
            size = self._page_size(node)
            per_item = sum(
                1 + self._selection_cost(node_type, sel.selection_set, None)
                for sel, _ in item_selections
            )
            return CONNECTION_BASE_COST + size * per_item
        total = CONNECTION_BASE_COST
        for field_node, kind in item_selections:
            if kind == "nodes":
                items = value.get(_key(field_node)) or []
            else:
                edges_key = next(
                    (_key(f) for f in self._fields(node.selection_set) if f.name.value == "edges"),
                    "edges",
                )
                items = [edge.get(_key(field_node)) for edge in value.get(edges_key) or []]
            total += sum(
                1 + self._selection_cost(node_type, field_node.selection_set, item)
                for item in items
                if item is not None
            )
        return total

    def _page_size(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                value = value_from_ast_untyped(argument.value, self.variables)
                if isinstance(value, int):
                    return max(0, value)
        return 0


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _node_type(connection: GraphQLObjectType) -> GraphQLObjectType | None:
    nodes = connection.fields.get("nodes")
    if nodes is None:
        return None
    named = get_named_type(nodes.type)
    return named if isinstance(named, GraphQLObjectType) else None
