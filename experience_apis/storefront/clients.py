"""Calls down to the process APIs, read through this service's own view of their contracts.

Trouble below becomes a problem the storefront can show (the shared sibling client's errors
answer for themselves): a timeout 504, unavailability and overload 503 with Retry-After, and
anything else unexpected 502. Each call has one deadline (``timeout``, from the settings),
which covers all of it: the service token, the HTTP exchange and a retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import httpx
import msgspec

from shared.sibling import SiblingClient, SiblingNotFound, SiblingTimeout

T = TypeVar("T")

# Seconds a customer's app is told to wait when the process API names no Retry-After.
RETRY_AFTER = 2


class InventoryItem(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    available_to_sell: int
    known: bool = True


class InventoryAnswer(msgspec.Struct, frozen=True, kw_only=True):
    items: list[InventoryItem]
    complete: bool = True


class PipelineTracking(msgspec.Struct, frozen=True, kw_only=True):
    number: str | None = None
    url: str | None = None


class PipelineFulfillment(msgspec.Struct, frozen=True, kw_only=True):
    """A fulfillment as the orders process reports it: an ERP shipment or one made in
    Shopify (``state``: ``pending`` while Shopify has no fulfillment of the shipment yet)."""

    source: str = "erp"
    state: str
    carrier: str | None = None
    tracking: list[PipelineTracking] = []
    shipped_at: float | None = None
    delivered_at: float | None = None


class PipelineStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The orders process's pipeline status: only the fields a customer's answer needs."""

    shop: str
    order_id: str
    state: str
    updated_at: float
    fulfillment_status: str | None = None
    fulfillments: list[PipelineFulfillment] = []


class _ProcessApi:
    """One process API: a :class:`SiblingClient` whose calls each get ``timeout`` seconds,
    retries included (``None``: only the HTTP client's own timeouts)."""

    def __init__(self, name: str, client: httpx.AsyncClient, timeout: float | None) -> None:
        self.sibling = SiblingClient(name, client, default_retry_after=RETRY_AFTER)
        self.timeout = timeout

    async def _within(self, call: Awaitable[T]) -> T:
        """``call``, cut at the deadline: past it a :class:`SiblingTimeout` (504)."""
        if self.timeout is None:
            return await call
        try:
            async with asyncio.timeout(self.timeout):
                return await call
        except TimeoutError:
            raise SiblingTimeout(
                self.sibling.name,
                f"timed out (no answer within {self.timeout:g} s)",
                retry_after=RETRY_AFTER,
            ) from None


class InventoryClient(_ProcessApi):
    """The inventory process API."""

    def __init__(self, client: httpx.AsyncClient, *, timeout: float | None = None) -> None:
        super().__init__("inventory", client, timeout)

    async def availability(self, skus: list[str]) -> InventoryAnswer:
        """Available-to-sell of ``skus`` (at most 100)."""
        return await self._within(
            self.sibling.get_json(
                "/inventory/v1/availability", params={"sku": skus}, type=InventoryAnswer
            )
        )


class OrdersClient(_ProcessApi):
    """The orders process API."""

    def __init__(self, client: httpx.AsyncClient, *, timeout: float | None = None) -> None:
        super().__init__("orders", client, timeout)

    async def pipeline_status(self, shop: str, order_id: str) -> PipelineStatus | None:
        """The order's pipeline status, or None when the pipeline has no such order."""
        try:
            return await self._within(
                self.sibling.get_json(
                    "/orders/v1/orders/{shop}/{order_id}",
                    shop=shop,
                    order_id=order_id,
                    type=PipelineStatus,
                )
            )
        except SiblingNotFound:
            return None
