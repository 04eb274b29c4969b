"""An ERP system API's stock route, in memory, for the inventory's unit tests."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import msgspec


class FakeErpStock:
    """Answers ``GET /erp/v1/stock`` from ``stock`` (sku -> warehouse -> available)."""

    def __init__(self, stock: dict[str, dict[str, str]], *, delay: float = 0.0) -> None:
        self.stock = stock
        self.delay = delay
        self.status = 200
        self.calls: list[list[str]] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        skus = request.url.params.get_list("sku")
        self.calls.append(skus)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return httpx.Response(self.status, json={"status": self.status})
        items = [
            {
                "sku": sku,
                "warehouse": warehouse,
                "on_hand": str(Decimal(available) + 1),
                "forecast": available,
                "available": available,
            }
            for sku in skus
            for warehouse, available in self.stock.get(sku, {}).items()
        ]
        return httpx.Response(200, content=msgspec.json.encode({"items": items}))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url="http://erp.test", transport=httpx.MockTransport(self.handle)
        )
