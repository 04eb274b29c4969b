"""How the order context reader calls its upstreams and keeps the customer index.

The ``context`` part of :class:`~process_apis.orders.settings.OrdersSettings`, read from
``STRATA_ORDERS_CONTEXT_*`` with the rest of the service's settings at start-up.
"""

from __future__ import annotations

from typing import Annotated

import msgspec


class ContextSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the context reader calls its upstreams (``STRATA_ORDERS_CONTEXT_*``)."""

    # Each upstream call gets this long; a slower one marks its section unavailable.
    upstream_timeout: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0
    # Orders kept per customer in the index (the newest win).
    orders_per_customer: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500
    index_keep_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 730
