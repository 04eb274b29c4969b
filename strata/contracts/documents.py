"""Reading OpenAPI documents: YAML or JSON in, plain dicts out, local ``$ref``s followed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Node = Mapping[str, Any]
EMPTY: Node = {}


class ContractError(ValueError):
    """A contract file cannot be read as an OpenAPI document."""


def parse_document(text: str, *, source: str = "<text>") -> dict[str, Any]:
    """Parse an OpenAPI document from YAML (JSON is YAML too)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or "openapi" not in data:
        raise ContractError(f"{source}: not an OpenAPI document (no `openapi` field)")
    return data


def load_document(path: Path) -> dict[str, Any]:
    """Read and parse the OpenAPI document at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_document(text, source=str(path))


class Document:
    """One OpenAPI document with local ``$ref`` resolution."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def resolve(self, node: Any) -> Node:
        """Follow ``$ref`` chains within this document; anything not a mapping becomes ``{}``."""
        seen: set[str] = set()
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            if ref in seen or not ref.startswith("#/"):
                # A cycle or an external reference: nothing more can be said about it.
                return EMPTY
            seen.add(ref)
            node = self._pointer(ref)
        return node if isinstance(node, Mapping) else EMPTY

    def _pointer(self, ref: str) -> Any:
        target: Any = self.data
        for raw in ref[2:].split("/"):
            part = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                return EMPTY
            target = target[part]
        return target

    def paths(self) -> Mapping[str, Any]:
        """The ``paths`` object, or an empty one."""
        paths = self.data.get("paths")
        return paths if isinstance(paths, Mapping) else EMPTY

    def operations(self, path: str) -> Iterator[tuple[str, Node]]:
        """``(method, operation)`` pairs of one path item, methods lower-case."""
        item = self.resolve(self.paths().get(path))
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, Mapping):
                yield method, operation

    def path_parameters(self, path: str) -> list[Any]:
        """Parameters declared on the path item (shared by its operations)."""
        params = self.resolve(self.paths().get(path)).get("parameters")
        return list(params) if isinstance(params, list) else []

    def security(self, operation: Node) -> list[dict[str, list[str]]]:
        """The operation's effective security alternatives; ``{}`` stands for anonymous."""
        declared = operation.get("security", self.data.get("security"))
        if not isinstance(declared, list) or not declared:
            return [{}]
        alternatives: list[dict[str, list[str]]] = []
        for requirement in declared:
            if isinstance(requirement, Mapping):
                alternatives.append(
                    {str(k): [str(s) for s in (v or [])] for k, v in requirement.items()}
                )
        return alternatives or [{}]
