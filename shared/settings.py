"""Settings from ``STRATA_*`` environment variables, one frozen msgspec Struct per service.

``load_settings(MySettings, environ, prefix="STRATA_ERP_")`` reads one variable per field
(upper-cased field name after the prefix) and converts it with msgspec, so a bad value stops
start-up with a message naming the variable. No settings object lives at module level.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def env_name(prefix: str, field: str) -> str:
    return f"{prefix}{field}".upper()


def load_settings(
    cls: type[S], environ: Mapping[str, str] | None = None, *, prefix: str = "STRATA_"
) -> S:
    """Build ``cls`` from environment variables ``<prefix><FIELD>``.

    Values are strings; lists and dicts may be given as JSON. Unset variables take the
    Struct's defaults.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        name = env_name(prefix, field.encode_name)
        if name not in env:
            continue
        value = env[name]
        stripped = value.strip()
        if stripped[:1] in "[{":
            try:
                raw[field.encode_name] = msgspec.json.decode(stripped)
            except msgspec.DecodeError as exc:
                raise SettingsError(f"{name}: not valid JSON ({exc})") from None
        else:
            raw[field.encode_name] = value
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name_the_variable(str(exc), prefix)) from None


def _name_the_variable(message: str, prefix: str) -> str:
    # msgspec says "... - at `$.field`"; point at the variable instead.
    if "`$." in message:
        head, _, path = message.partition(" - at `$.")
        field = path.rstrip("`").split(".")[0].split("[")[0]
        return f"{env_name(prefix, field)}: {head}"
    if "missing required field" in message:
        field = message.split("`")[1] if "`" in message else ""
        return f"{env_name(prefix, field)}: required but not set"
    return message
