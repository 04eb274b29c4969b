"""Admin API versions: which are served, and how an expired one falls forward."""

from __future__ import annotations

import re

SUPPORTED_VERSIONS: tuple[str, ...] = ("2026-01", "2026-04", "2026-07", "2026-10")
UNSTABLE = "unstable"
# From this version inventorySetQuantities needs changeFromQuantity and @idempotent is mandatory.
CONCURRENCY_PROTECTION_VERSION = "2026-04"

_QUARTERLY = re.compile(r"^(\d{4})-(01|04|07|10)$")


def resolve_version(requested: str, supported: tuple[str, ...] = SUPPORTED_VERSIONS) -> str | None:
    """The version that serves ``requested``, or None if Shopify would answer 404.

    A supported version serves itself; a well-formed quarterly version older than the oldest
    supported one falls forward to the oldest supported (Shopify's documented behaviour; the
    response's ``X-Shopify-API-Version`` header names it). ``unstable`` is served as is.
    Malformed versions and versions newer than the newest release are not found.
    """
    if requested == UNSTABLE:
        return UNSTABLE
    if requested in supported:
        return requested
    if _QUARTERLY.match(requested) and requested < supported[0]:
        return supported[0]
    return None


def at_least(version: str, minimum: str) -> bool:
    """Whether ``version`` has the behaviour introduced in ``minimum`` (unstable has all)."""
    return version == UNSTABLE or version >= minimum
