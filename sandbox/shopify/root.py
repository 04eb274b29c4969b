"""The Admin API root the sandbox executes queries against: every part's resolvers in one."""

from __future__ import annotations

from sandbox.shopify.bulk import BulkRoot
from sandbox.shopify.fulfillments import FulfillmentRoot
from sandbox.shopify.publications import PublicationRoot


class SandboxRoot(FulfillmentRoot, PublicationRoot, BulkRoot):
    """Orders, inventory, fulfillments, products, publications and bulk operations."""
