"""Request bodies are checked strictly against their contract.

Litestar converts a decoded body to the handler's type in lenient mode (so query strings can
become numbers), which would also let a body say ``"quantity": "5"`` or give a date as a unix
number, contrary to the published schema. This hook decodes the raw body once more in strict
mode and answers 400 naming the field, so what the contract says is what is accepted.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException


async def reject_lenient_bodies(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook: a body that only lenient conversion would accept is a 400."""
    field = request.route_handler.parsed_data_field
    if field is None or request.method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return
    body = await request.body()
    if not body.strip():
        # Every contract marks its request body required (``null`` is how an optional one
        # is left out), so a request without one is refused rather than taken as ``null``.
        raise ValidationException(
            detail="A request body is required (send null where the body is optional)",
            extra=[
                {
                    "message": "a request body is required; send null to leave it out",
                    "key": "body",
                    "source": "body",
                }
            ],
        )
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return  # not JSON at all: Litestar answers that with its own 400
    try:
        _money_as_strings(value, msgspec.inspect.type_info(field.annotation), "$")
        msgspec.convert(_whole_floats_as_ints(value), field.annotation, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        key = message.partition("`$.")[2].rstrip("`") or "body"
        raise ValidationException(
            detail=f"Invalid input: {key}",
            extra=[{"message": message, "key": key, "source": "body"}],
        ) from None


def _whole_floats_as_ints(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer; strict msgspec would not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_floats_as_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_floats_as_ints(v) for k, v in value.items()}
    return value


def _money_as_strings(value: Any, info: msgspec.inspect.Type, path: str) -> None:
    """Decimals (money, quantities) must arrive as strings: a JSON number may already have
    lost digits in the sender's float, and the contract says string."""
    if isinstance(info, msgspec.inspect.Metadata):
        _money_as_strings(value, info.type, path)
    elif isinstance(info, msgspec.inspect.DecimalType):
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise msgspec.ValidationError(f"Expected a decimal string, got a number - at `{path}`")
    elif isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        for field in info.fields:
            if field.encode_name in value:
                _money_as_strings(
                    value[field.encode_name], field.type, f"{path}.{field.encode_name}"
                )
    elif isinstance(
        info,
        msgspec.inspect.ListType
        | msgspec.inspect.SetType
        | msgspec.inspect.FrozenSetType
        | msgspec.inspect.VarTupleType,
    ) and isinstance(value, list):
        for i, item in enumerate(value):
            _money_as_strings(item, info.item_type, f"{path}[{i}]")
    elif isinstance(info, msgspec.inspect.UnionType) and value is not None:
        structs = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(structs) == 1:
            _money_as_strings(value, structs[0], path)
