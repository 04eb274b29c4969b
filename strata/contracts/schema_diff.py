"""Breaking changes between two JSON Schemas of one request or response body.

Which way a change breaks depends on who sends the data. A request schema must keep
accepting everything it accepted (no narrower types, fewer enum values, tighter limits, new
required properties); a response schema must keep promising everything it promised (no
removed or newly optional properties, no new types or enum values clients do not expect).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import msgspec

from strata.contracts.documents import Document, Node

Direction = Literal["request", "response"]

# (rule id, message) pairs; the caller adds the path and operation.
Change = tuple[str, str]

_UNIONS = ("oneOf", "anyOf")
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_ALLOF_DEPTH = 16


def compare_schemas(
    old_doc: Document,
    new_doc: Document,
    old_schema: Any,
    new_schema: Any,
    *,
    direction: Direction,
    at: str,
) -> list[Change]:
    """Every breaking change from ``old_schema`` to ``new_schema`` sent in ``direction``.

    ``at`` names where the schema sits (``request body application/json``); property paths
    are appended to it (``$.lines[].sku``).
    """
    walk = _SchemaWalk(old_doc, new_doc, direction)
    walk.compare(old_schema, new_schema, f"{at} $")
    return walk.changes


class _SchemaWalk:
    def __init__(self, old: Document, new: Document, direction: Direction) -> None:
        self.old = old
        self.new = new
        self.request = direction == "request"
        self.changes: list[Change] = []
        # Pairs of $refs being compared further up: a recursive schema stops here.
        self._stack: set[tuple[str | None, str | None]] = set()

    def report(self, rule: str, message: str) -> None:
        self.changes.append((rule, message))

    def compare(
        self,
        old_raw: Any,
        new_raw: Any,
        at: str,
        old_null: bool = False,
        new_null: bool = False,
    ) -> None:
        pair = (_ref(old_raw), _ref(new_raw))
        if pair != (None, None):
            if pair in self._stack:
                return
            self._stack.add(pair)
        try:
            self._compare(old_raw, new_raw, at, old_null, new_null)
        finally:
            self._stack.discard(pair)

    def _compare(self, old_raw: Any, new_raw: Any, at: str, old_null: bool, new_null: bool) -> None:
        old = self.old.resolve(old_raw)
        new = self.new.resolve(new_raw)
        old_branch, old_wrapped = _nullable_branch(old, self.old)
        new_branch, new_wrapped = _nullable_branch(new, self.new)
        if old_branch is not None or new_branch is not None:
            # Litestar writes `T | None` as oneOf [T, null]: compare T, carry the null along.
            self.compare(
                old_branch if old_branch is not None else old,
                new_branch if new_branch is not None else new,
                at,
                old_null or old_wrapped,
                new_null or new_wrapped,
            )
            return
        old_null = old_null or _null_in_type(old)
        new_null = new_null or _null_in_type(new)
        self._types(old, new, old_null, new_null, at)
        self._enum(old, new, at)
        if self.request:
            self._constraints(old, new, at)
        self._alternatives(old, new, at)
        self._object(old, new, at)
        self._items(old, new, at)

    def _types(self, old: Node, new: Node, old_null: bool, new_null: bool, at: str) -> None:
        old_types = _declared_types(old, self.old)
        new_types = _declared_types(new, self.new)
        if old_types is None or new_types is None:
            # Unknown on one side: only the null-ness can still be compared.
            old_types, new_types = set(), set()
        if old_null:
            old_types = old_types | {"null"}
        if new_null:
            new_types = new_types | {"null"}
        if self.request:
            lost = {t for t in old_types if not _accepts(new_types, t)}
            if lost:
                self.report(
                    "request-type-narrowed",
                    f"{at}: accepted type {_types(old_types)} narrowed to {_types(new_types)}",
                )
        else:
            gained = {t for t in new_types if not _accepts(old_types, t)}
            if gained:
                self.report(
                    "response-type-widened",
                    f"{at}: type {_types(old_types)} became {_types(new_types)}; clients "
                    f"do not expect {_types(gained)}",
                )

    def _enum(self, old: Node, new: Node, at: str) -> None:
        old_values = _enum_values(old)
        new_values = _enum_values(new)
        if old_values == new_values:
            return
        if self.request:
            if new_values is None:
                return
            if old_values is None:
                self.report(
                    "request-enum-value-removed",
                    f"{at}: now limited to the enum {_values(new_values)}",
                )
                return
            removed = [v for k, v in old_values.items() if k not in new_values]
            if removed:
                self.report(
                    "request-enum-value-removed",
                    f"{at}: enum no longer accepts {_values_list(removed)}",
                )
        else:
            if old_values is None:
                return
            if new_values is None:
                self.report(
                    "response-enum-value-added",
                    f"{at}: no longer limited to the enum {_values(old_values)}",
                )
                return
            added = [v for k, v in new_values.items() if k not in old_values]
            if added:
                self.report(
                    "response-enum-value-added",
                    f"{at}: enum gained {_values_list(added)}, which clients do not expect",
                )

    def _constraints(self, old: Node, new: Node, at: str) -> None:
        tightened: list[str] = []
        for keyword in _UPPER_BOUNDS:
            before, after = _number(old.get(keyword), math.inf), _number(new.get(keyword), math.inf)
            if after < before:
                tightened.append(f"{keyword} {_bound(before)} -> {_bound(after)}")
        for keyword in _LOWER_BOUNDS:
            before, after = (
                _number(old.get(keyword), -math.inf),
                _number(new.get(keyword), -math.inf),
            )
            if keyword.endswith(("Length", "Items", "Properties")):
                before, after = max(before, 0.0), max(after, 0.0)
            if after > before:
                tightened.append(f"{keyword} {_bound(before)} -> {_bound(after)}")
        for keyword in ("pattern", "format"):
            before_value, after_value = old.get(keyword), new.get(keyword)
            if after_value is not None and after_value != before_value:
                was = "added" if before_value is None else f"was {before_value!r}"
                tightened.append(f"{keyword} {after_value!r} ({was})")
        old_step, new_step = old.get("multipleOf"), new.get("multipleOf")
        if (
            isinstance(new_step, int | float)
            and new_step
            and not (
                isinstance(old_step, int | float) and old_step and _is_multiple(old_step, new_step)
            )
        ):
            tightened.append(f"multipleOf {old_step} -> {new_step}")
        if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
            tightened.append("uniqueItems added")
        if (
            new.get("additionalProperties") is False
            and old.get("additionalProperties") is not False
        ):
            tightened.append("additionalProperties now false")
        for what in tightened:
            self.report("request-constraint-tightened", f"{at}: {what}")

    def _alternatives(self, old: Node, new: Node, at: str) -> None:
        old_branches = dict(_branches(old, self.old))
        new_branches = dict(_branches(new, self.new))
        if not old_branches or not new_branches:
            return
        for key, branch in old_branches.items():
            if key in new_branches:
                self.compare(branch, new_branches[key], f"{at}<{key}>")
            elif self.request:
                self.report(
                    "request-alternative-removed",
                    f"{at}: alternative {key} is no longer accepted",
                )
        if not self.request:
            for key in new_branches.keys() - old_branches.keys():
                self.report(
                    "response-alternative-added",
                    f"{at}: new alternative {key}, which clients do not expect",
                )

    def _object(self, old: Node, new: Node, at: str) -> None:
        old_props, old_required = _properties(old, self.old)
        new_props, new_required = _properties(new, self.new)
        for name, old_prop in old_props.items():
            where = f"{at}.{name}"
            if name in new_props:
                self.compare(old_prop, new_props[name], where)
            elif not self.request:
                self.report("response-property-removed", f"{where}: removed from the response")
            elif new.get("additionalProperties") is False:
                self.report(
                    "request-property-removed",
                    f"{where}: removed while unknown properties are refused",
                )
            if self.request and name in new_required and name not in old_required:
                self.report("request-property-became-required", f"{where}: now required")
            if not self.request and name in old_required and name not in new_required:
                self.report(
                    "response-property-became-optional",
                    f"{where}: no longer always present in the response",
                )
        if self.request:
            for name in sorted(new_required - old_required - old_props.keys()):
                self.report(
                    "new-required-request-property",
                    f"{at}.{name}: new required property; existing clients do not send it",
                )
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
            self.compare(old_extra, new_extra, f"{at}.*")

    def _items(self, old: Node, new: Node, at: str) -> None:
        old_items, new_items = old.get("items"), new.get("items")
        if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
            self.compare(old_items, new_items, f"{at}[]")


def _ref(raw: Any) -> str | None:
    if isinstance(raw, Mapping) and isinstance(raw.get("$ref"), str):
        return str(raw["$ref"])
    return None


def _is_null(schema: Node) -> bool:
    return schema.get("type") == "null" or schema.get("type") == ["null"]


def _nullable_branch(schema: Node, doc: Document) -> tuple[Any, bool]:
    """For ``oneOf/anyOf [T, null]`` return the raw ``T`` and ``True``; else ``(None, False)``."""
    for keyword in _UNIONS:
        raw_branches = schema.get(keyword)
        if not isinstance(raw_branches, list) or len(raw_branches) < 2:
            continue
        kept = [b for b in raw_branches if not _is_null(doc.resolve(b))]
        if len(kept) == 1:
            return kept[0], True
    return None, False


def _null_in_type(schema: Node) -> bool:
    declared = schema.get("type")
    return schema.get("nullable") is True or (isinstance(declared, list) and "null" in declared)


def _declared_types(schema: Node, doc: Document, depth: int = 0) -> set[str] | None:
    """The JSON types a schema allows, without ``null``; ``None`` when it does not say."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared} - {"null"}
    if isinstance(declared, list):
        return {str(t) for t in declared} - {"null"}
    if depth > _ALLOF_DEPTH:
        return None
    for keyword in _UNIONS:
        branches = schema.get(keyword)
        if isinstance(branches, list) and branches:
            union: set[str] = set()
            for branch in branches:
                resolved = doc.resolve(branch)
                if _is_null(resolved):
                    continue
                types = _declared_types(resolved, doc, depth + 1)
                if types is None:
                    return None
                union |= types
            return union
    return None


def _accepts(types: set[str], kind: str) -> bool:
    return kind in types or (kind == "integer" and "number" in types)


def _types(types: set[str]) -> str:
    return "|".join(sorted(types)) or "(any)"


def _enum_values(schema: Node) -> dict[bytes, Any] | None:
    if "const" in schema:
        values = [schema["const"]]
    elif isinstance(schema.get("enum"), list):
        values = list(schema["enum"])
    else:
        return None
    # Keyed by canonical JSON so 1 and "1" stay different values.
    return {msgspec.json.encode(v, order="sorted"): v for v in values}


def _values(values: dict[bytes, Any]) -> str:
    return _values_list(list(values.values()))


def _values_list(values: list[Any]) -> str:
    return ", ".join(msgspec.json.encode(v).decode() for v in values)


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def _bound(value: float) -> str:
    if math.isinf(value):
        return "none"
    return str(int(value)) if value.is_integer() else str(value)


def _is_multiple(old_step: float, new_step: float) -> bool:
    """Every multiple of ``old_step`` is a multiple of ``new_step``."""
    ratio = old_step / new_step
    return abs(ratio - round(ratio)) < 1e-9


def _branches(schema: Node, doc: Document) -> Iterator[tuple[str, Any]]:
    """Alternatives of a oneOf/anyOf, keyed by component name, title or position."""
    for keyword in _UNIONS:
        raw_branches = schema.get(keyword)
        if not isinstance(raw_branches, list):
            continue
        for index, raw in enumerate(raw_branches):
            resolved = doc.resolve(raw)
            if _is_null(resolved):
                # Null-ness is compared with the types, not as an alternative.
                continue
            ref = _ref(raw)
            if ref is not None:
                yield ref.rsplit("/", 1)[-1], raw
            elif isinstance(resolved.get("title"), str):
                yield str(resolved["title"]), raw
            else:
                yield f"#{index}", raw
        return


def _properties(schema: Node, doc: Document, depth: int = 0) -> tuple[dict[str, Any], set[str]]:
    """Properties and required names, with allOf members folded in."""
    props: dict[str, Any] = {}
    required: set[str] = set()
    own = schema.get("properties")
    if isinstance(own, Mapping):
        props.update(own)
    names = schema.get("required")
    if isinstance(names, list):
        required.update(str(n) for n in names)
    members = schema.get("allOf")
    if isinstance(members, list) and depth < _ALLOF_DEPTH:
        for member in members:
            member_props, member_required = _properties(doc.resolve(member), doc, depth + 1)
            for name, prop in member_props.items():
                props.setdefault(name, prop)
            required |= member_required
    return props, required
