"""Stock reads from one ERP instance's system API (``GET /erp/v1/stock``)."""

from __future__ import annotations

import httpx
import msgspec

from shared.models import StockLevel


class StockReadFailed(Exception):
    """The ERP system API of an instance did not give a usable stock answer."""


class _StockLevels(msgspec.Struct):
    items: list[StockLevel]


_DECODER = msgspec.json.Decoder(_StockLevels)


class ErpStock:
    """The stock levels of one ERP instance, through its system API."""

    def __init__(self, instance: str, client: httpx.AsyncClient) -> None:
        self.instance = instance
        self.client = client

    async def levels(self, skus: list[str]) -> list[StockLevel]:
        """Stock of ``skus`` (at most 100) in every warehouse; unknown SKUs are left out."""
        try:
            response = await self.client.get("/erp/v1/stock", params={"sku": skus})
        except httpx.TimeoutException as exc:
            raise StockReadFailed(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise StockReadFailed(f"unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise StockReadFailed(f"answered {response.status_code}")
        try:
            return _DECODER.decode(response.content).items
        except msgspec.DecodeError as exc:
            raise StockReadFailed(f"answered an unreadable body ({exc})") from exc
