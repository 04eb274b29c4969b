"""Stock reads from one ERP instance's system API (``GET /erp/v1/stock``)."""

from __future__ import annotations

import httpx
import msgspec

from shared.models import StockLevel
from shared.sibling import NO_RETRIES, SiblingClient


class _StockLevels(msgspec.Struct):
    items: list[StockLevel]


class ErpStock:
    """The stock levels of one ERP instance, through its system API."""

    def __init__(self, instance: str, client: httpx.AsyncClient) -> None:
        self.instance = instance
        # No retries here: the stock board bounds each read by ``erp_timeout`` (its one
        # deadline) and, on a failure, serves the other instances and leaves this one alone
        # for a moment.
        self.erp = SiblingClient(f"erp {instance}", client, retry=NO_RETRIES)

    async def levels(self, skus: list[str]) -> list[StockLevel]:
        """Stock of ``skus`` (at most 100) in every warehouse; unknown SKUs are left out.

        Raises :class:`shared.sibling.SiblingError` when the instance gives no usable answer.
        """
        answer = await self.erp.get_json("/erp/v1/stock", params={"sku": skus}, type=_StockLevels)
        return answer.items
