"""Fulfillment changes of the Admin API (tracking updates, cancellations), served by
:class:`FulfillmentRoot`."""

from __future__ import annotations

from sandbox.shopify.admin_root import AdminRoot


class FulfillmentRoot(AdminRoot):
    """The Admin API root with fulfillment changes."""
