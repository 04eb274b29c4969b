"""Say ``additionalProperties: false`` in a contract wherever a Struct forbids unknown fields.

Litestar's schema generator leaves it out, so clients (and schemathesis) would believe extra
fields are accepted while the service answers 400. The Structs are found from the app's own
route signatures, so the answer never depends on what else the process has imported.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec
from litestar import Litestar


def _handler_types(app: Litestar) -> list[Any]:
    types: list[Any] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            try:
                hints = typing.get_type_hints(handler.fn, include_extras=True)
            except (NameError, TypeError):
                continue
            types.extend(hints.values())
    return types


def _structs(types: list[Any]) -> dict[str, list[msgspec.inspect.StructType]]:
    found: dict[str, list[msgspec.inspect.StructType]] = {}
    pending: list[Any] = []
    for annotation in types:
        try:
            pending.append(msgspec.inspect.type_info(annotation))
        except (TypeError, ValueError):
            continue  # not a msgspec-describable type (Request, State, dependencies)
    seen: set[int] = set()
    while pending:
        info = pending.pop()
        if id(info) in seen:
            continue
        seen.add(id(info))
        if isinstance(info, msgspec.inspect.StructType):
            found.setdefault(info.cls.__name__, []).append(info)
            pending.extend(field.type for field in info.fields)
        for attr in ("type", "item_type", "key_type", "value_type"):
            child = getattr(info, attr, None)
            if isinstance(child, msgspec.inspect.Type):
                pending.append(child)
        for child in getattr(info, "types", ()) or ():
            if isinstance(child, msgspec.inspect.Type):
                pending.append(child)
    return found


def document_closed_structs(app: Litestar) -> None:
    """Mark the component schemas of Structs that forbid unknown fields as closed."""
    document = app.openapi_schema
    schemas = document.components.schemas if document.components else None
    if not schemas:
        return
    structs = _structs(_handler_types(app))
    for name, schema in schemas.items():
        candidates = structs.get(name) or structs.get(name.rsplit("_", 1)[-1], [])
        if candidates and all(c.forbid_unknown_fields for c in candidates):
            schema.additional_properties = False
