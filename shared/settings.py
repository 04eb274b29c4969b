"""Settings from ``STRATA_*`` environment variables, one frozen msgspec Struct per service.

``load_settings(MySettings, environ, prefix="STRATA_ERP_")`` reads one variable per field
(upper-cased field name after the prefix) and converts it with msgspec, so a bad value stops
start-up with a message naming the variable. A field whose type is itself a settings Struct
is read from its own variables under ``<prefix><FIELD>_`` (``STRATA_ORDERS_CONTEXT_*``), so a
service keeps one settings object with nested parts; a part shared by every service keeps its
own prefix when the field says so with :func:`own_prefix` (``STRATA_AUTH_*``). With
``reject_unknown=True`` a variable under the prefix that names no setting stops start-up too
(a misspelt variable would otherwise be ignored and its default silently used). No settings
object lives at module level.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, TypeVar, get_args, get_origin

import msgspec

S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def env_name(prefix: str, field: str) -> str:
    return f"{prefix}{field}".upper()


def load_settings(
    cls: type[S],
    environ: Mapping[str, str] | None = None,
    *,
    prefix: str = "STRATA_",
    reject_unknown: bool = False,
) -> S:
    """Build ``cls`` from environment variables ``<prefix><FIELD>``.

    Values are strings; lists and dicts may be given as JSON. Unset variables take the
    Struct's defaults. ``reject_unknown`` refuses a ``<prefix>*`` variable that is no setting.
    """
    env = os.environ if environ is None else environ
    if reject_unknown:
        unknown = unknown_variables(cls, env, prefix=prefix)
        if unknown:
            raise SettingsError(_unknown_message(cls, unknown, prefix))
    return _build(cls, env, prefix)


def _build(cls: type[S], env: Mapping[str, str], prefix: str) -> S:
    try:
        return msgspec.convert(_raw(cls, env, prefix), cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name_the_variable(str(exc), prefix, cls)) from None


def own_prefix(prefix: str) -> msgspec.Meta:
    """Mark a nested settings part read from ``prefix`` (``Annotated[AuthSettings, ...]``).

    Such a part is shared by every service (authentication, telemetry), so it is not read
    under the service's prefix, and its variables are not the service's to call unknown.
    """
    return msgspec.Meta(extra={"env_prefix": prefix})


def _part(annotation: Any, prefix: str, name: str) -> tuple[type[msgspec.Struct], str, bool] | None:
    """A nested settings part: its Struct, its prefix, and whether that is the service's own."""
    own = f"{prefix}{name}_".upper()
    if get_origin(annotation) is Annotated:
        base, *metas = get_args(annotation)
        for meta in metas:
            if isinstance(meta, msgspec.Meta) and meta.extra and "env_prefix" in meta.extra:
                nested = _nested_struct(base)
                if nested is not None:
                    return nested, str(meta.extra["env_prefix"]), False
        annotation = base
    nested = _nested_struct(annotation)
    return (nested, own, True) if nested is not None else None


def _raw(cls: type[msgspec.Struct], env: Mapping[str, str], prefix: str) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        part = _part(field.type, prefix, field.encode_name)
        if part is not None:
            sub = _raw(part[0], env, part[1])
            if sub:
                raw[field.encode_name] = sub
            continue
        name = env_name(prefix, field.encode_name)
        if name not in env:
            continue
        value = env[name]
        stripped = value.strip()
        if stripped[:1] in ("[", "{"):
            try:
                raw[field.encode_name] = msgspec.json.decode(stripped)
            except msgspec.DecodeError as exc:
                raise SettingsError(f"{name}: not valid JSON ({exc})") from None
        else:
            raw[field.encode_name] = value
    return raw


def _nested_struct(annotation: Any) -> type[msgspec.Struct] | None:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    return None


def setting_names(cls: type[msgspec.Struct], *, prefix: str) -> Iterator[str]:
    """Every environment variable ``cls`` reads under ``prefix``, nested parts included."""
    for field in msgspec.structs.fields(cls):
        part = _part(field.type, prefix, field.encode_name)
        if part is None:
            yield env_name(prefix, field.encode_name)
        elif part[2]:
            yield from setting_names(part[0], prefix=part[1])


def unknown_variables(
    cls: type[msgspec.Struct], environ: Mapping[str, str], *, prefix: str
) -> list[str]:
    """The ``<prefix>*`` variables in ``environ`` that are no setting of ``cls``."""
    known = set(setting_names(cls, prefix=prefix))
    return sorted(name for name in environ if name.startswith(prefix) and name not in known)


def _unknown_message(cls: type[msgspec.Struct], unknown: list[str], prefix: str) -> str:
    known = sorted(setting_names(cls, prefix=prefix))
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        parts.append(f"{name}: not a setting" + (f" (did you mean {close[0]}?)" if close else ""))
    return "; ".join(parts)


def _name_the_variable(message: str, prefix: str, cls: type[msgspec.Struct]) -> str:
    # msgspec says "... - at `$.field`" (or `$.part.field` in a nested part); point at the
    # variable instead.
    if "`$." in message:
        head, _, path = message.partition(" - at `$.")
        segments = path.rstrip("`").split(".")
        if "missing required field" in head and "`" in head:
            segments.append(head.split("`")[1])
            head = "required but not set"
        return f"{_variable(cls, prefix, segments)}: {head}"
    if "missing required field" in message:
        field = message.split("`")[1] if "`" in message else ""
        return f"{env_name(prefix, field)}: required but not set"
    return message


def _variable(cls: type[msgspec.Struct], prefix: str, segments: list[str]) -> str:
    """The variable a JSON path into the settings points at (nested parts followed)."""
    name = segments[0].split("[")[0]
    for field in msgspec.structs.fields(cls):
        if field.encode_name == name:
            part = _part(field.type, prefix, name)
            if part is not None and len(segments) > 1 and "[" not in segments[0]:
                return _variable(part[0], part[1], segments[1:])
            break
    return env_name(prefix, name)
