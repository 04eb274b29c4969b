"""Bulk operations and staged uploads of the Admin API, served by :class:`BulkRoot`."""

from __future__ import annotations

from sandbox.shopify.catalogue import CatalogueRoot


class BulkRoot(CatalogueRoot):
    """The Admin API root with bulk operations and staged uploads."""
