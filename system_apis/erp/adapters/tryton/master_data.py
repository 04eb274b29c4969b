"""The ERP's master data a sale is priced with, read once and cached: sales taxes by rate,
payment terms by name, currencies by code."""

from __future__ import annotations

import time
from decimal import Decimal

from system_apis.erp.adapters.tryton.pricing import SaleTax
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.adapters.tryton_settings import TrytonSettings
from system_apis.erp.port import ErpRejected


class SalesMasterData:
    """Sales taxes by rate, payment terms by name and currencies by code, cached."""

    def __init__(self, rpc: TrytonRpc, settings: TrytonSettings) -> None:
        """Read through ``rpc``; keep taxes and terms for ``settings.master_data_cache_seconds``."""
        self._rpc = rpc
        self._ttl = settings.master_data_cache_seconds
        self._taxes: dict[Decimal, list[SaleTax]] = {}
        self._taxes_expire = 0.0
        self._terms: dict[str, int] = {}
        self._terms_expire = 0.0
        self._currencies: dict[str, int] = {}

    async def taxes(self, rates: set[Decimal]) -> dict[Decimal, list[SaleTax]]:
        """Tryton's sales taxes by rate; read again when stale or a wanted rate is missing."""
        if not rates:
            return {}
        now = time.monotonic()
        if now >= self._taxes_expire or not rates <= set(self._taxes):
            rows = await self._rpc.execute(
                "account.tax",
                "search_read",
                [("type", "=", "percentage"), ("parent", "=", None)],
                0,
                None,
                [("sequence", "ASC"), ("id", "ASC")],
                ["rate", "name"],
            )
            taxes: dict[Decimal, list[SaleTax]] = {}
            for row in rows:
                rate = Decimal(row["rate"]).normalize()
                taxes.setdefault(rate, []).append(SaleTax(row["id"], rate, row["name"]))
            self._taxes, self._taxes_expire = taxes, now + self._ttl
        return self._taxes

    async def payment_term(self, name: str | None) -> int | None:
        """The id of payment term ``name`` (case-insensitive), None for none named;
        ErpRejected naming it if the ERP has no such term."""
        if not name:
            return None
        now = time.monotonic()
        key = name.casefold()
        if now >= self._terms_expire or key not in self._terms:
            rows = await self._rpc.execute(
                "account.invoice.payment_term", "search_read", [], 0, None, None, ["name"]
            )
            self._terms = {row["name"].casefold(): row["id"] for row in rows}
            self._terms_expire = now + self._ttl
        try:
            return self._terms[key]
        except KeyError:
            raise ErpRejected(
                f"the ERP has no payment term {name!r}",
                errors=[{"field": "payment_terms", "message": f"unknown payment term {name!r}"}],
            ) from None

    async def currency(self, code: str) -> int:
        """The id of currency ``code``; ErpRejected naming it if the ERP has none."""
        # Currencies are never recoded: read them all again only when one is missing.
        if code not in self._currencies:
            rows = await self._rpc.execute(
                "currency.currency", "search_read", [], 0, None, None, ["code"]
            )
            self._currencies = {row["code"]: row["id"] for row in rows}
        try:
            return self._currencies[code]
        except KeyError:
            raise ErpRejected(
                f"the ERP does not know the currency {code}",
                errors=[{"field": "currency", "message": f"unknown currency {code}"}],
            ) from None
