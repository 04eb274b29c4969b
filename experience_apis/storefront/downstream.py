"""Calls down to the process APIs, read through this service's own view of their contracts.

Upstream trouble becomes a problem the storefront can show: timeouts 504, unavailability and
overload 503 (with Retry-After), anything else unexpected 502.
"""

from __future__ import annotations

from typing import TypeVar

import httpx
import msgspec

from shared.problems import UpstreamError, UpstreamTimeout, UpstreamUnavailable


class InventoryItem(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    available_to_sell: int
    known: bool = True


class InventoryAnswer(msgspec.Struct, frozen=True, kw_only=True):
    items: list[InventoryItem]
    complete: bool = True


class PipelineShipment(msgspec.Struct, frozen=True, kw_only=True):
    """A shipment as the orders process reports it (once it reports shipments)."""

    tracking_url: str | None = None
    carrier: str | None = None
    shipped_at: float | None = None
    delivered_at: float | None = None


class PipelineStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The orders process's pipeline status: only the fields a customer's answer needs."""

    shop: str
    order_id: str
    state: str
    updated_at: float
    shipments: list[PipelineShipment] = []


T = TypeVar("T")
_INVENTORY = msgspec.json.Decoder(InventoryAnswer)
_PIPELINE = msgspec.json.Decoder(PipelineStatus)


async def _get(
    client: httpx.AsyncClient, what: str, url: str, params: dict[str, list[str]] | None = None
) -> httpx.Response:
    try:
        response = await client.get(url, params=params)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"{what} did not answer in time") from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(f"{what} is unreachable", retry_after=2) from exc
    if response.status_code == 429 or response.status_code >= 500:
        retry = response.headers.get("Retry-After", "")
        raise UpstreamUnavailable(
            f"{what} answered {response.status_code}",
            retry_after=int(retry) if retry.isdigit() else 2,
        )
    return response


def _decoded(decoder: msgspec.json.Decoder[T], response: httpx.Response, what: str) -> T:
    try:
        return decoder.decode(response.content)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"{what} answered an unreadable body") from exc


class InventoryClient:
    """The inventory process API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def availability(self, skus: list[str]) -> InventoryAnswer:
        """Available-to-sell of ``skus`` (at most 100)."""
        response = await _get(self.client, "inventory", "/inventory/v1/availability", {"sku": skus})
        if response.status_code != 200:
            raise UpstreamError(f"inventory answered {response.status_code}")
        return _decoded(_INVENTORY, response, "inventory")


class OrdersClient:
    """The orders process API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def pipeline_status(self, shop: str, order_id: str) -> PipelineStatus | None:
        """The order's pipeline status, or None when the pipeline has no such order."""
        response = await _get(self.client, "orders", f"/orders/v1/orders/{shop}/{order_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise UpstreamError(f"orders answered {response.status_code}")
        return _decoded(_PIPELINE, response, "orders")
