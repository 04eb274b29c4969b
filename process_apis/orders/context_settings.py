"""How the order context reader calls its upstreams and keeps the customer index
(``STRATA_ORDERS_CONTEXT_*``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from shared.settings import load_settings

PREFIX = "STRATA_ORDERS_CONTEXT_"


class ContextSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the context reader calls its upstreams (``STRATA_ORDERS_CONTEXT_*``)."""

    # Each upstream call gets this long; a slower one marks its section unavailable.
    upstream_timeout: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0
    # Orders kept per customer in the index (the newest win).
    orders_per_customer: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500
    index_keep_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 730


def load_context_settings(environ: Mapping[str, str] | None = None) -> ContextSettings:
    """Read :class:`ContextSettings` from ``STRATA_ORDERS_CONTEXT_*``."""
    return load_settings(ContextSettings, environ, prefix=PREFIX)
