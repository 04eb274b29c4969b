"""Marking an operation public in the contract: ``x-strata-public: true``.

Spectral's ``strata-operation-security`` rule wants every operation either secured by
scopes or explicitly public. Litestar writes extension fields only from an ``Operation``
subclass, so a public route says ``@get(..., operation_class=PublicOperation)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from litestar.openapi.spec import Operation

PUBLIC_EXTENSION = "x-strata-public"


@dataclass
class PublicOperation(Operation):
    """An OpenAPI operation callable without credentials (health probes, metrics)."""

    strata_public: bool = field(default=True, metadata={"alias": PUBLIC_EXTENSION})
