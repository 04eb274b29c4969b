"""Customers in Tryton: parties found by email contact, with their addresses.

A sale needs a party, its email contact and an invoice and a shipment address; this module
finds them (from a cache of recent customers when allowed) or creates what is missing.
A business order's party is the company (found by its exact name), with the buyer's email
as one of its contacts.
"""

from __future__ import annotations

import asyncio
import time

import msgspec

from shared.models import Address, Customer, SalesOrderDraft
from system_apis.erp.adapters.tryton.rows import Row
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.adapters.tryton_settings import TrytonSettings
from system_apis.erp.port import ErpRejected

_CUSTOMER_FIELDS = [
    "name",
    "contact_mechanisms.type",
    "contact_mechanisms.value",
    "addresses.party_name",
    "addresses.street",
    "addresses.city",
    "addresses.postal_code",
    "addresses.country.code",
]
# Customers remembered by email for repeat orders (the oldest is dropped beyond this).
_CUSTOMER_CACHE_SIZE = 10_000
_PARTY_CREATE_ATTEMPTS = 3


class SaleParty(msgspec.Struct, frozen=True, kw_only=True):
    """The party, email contact and address ids a Tryton sale is created with."""

    party: int
    contact: int | None
    email: str
    invoice_address: int
    shipment_address: int


class Customers:
    """Tryton parties as customers, with recent ones cached by email and countries by code."""

    def __init__(self, rpc: TrytonRpc, settings: TrytonSettings) -> None:
        """Read and write through ``rpc``; cache for ``settings.customer_cache_seconds``."""
        self._rpc = rpc
        self._settings = settings
        self._parties: dict[str, tuple[float, list[Row]]] = {}
        self._countries: dict[str, int] = {}
        self._party_lock = asyncio.Lock()

    async def find_customers(self, email: str) -> list[Customer]:
        """Parties with an email contact equal to ``email`` (case-insensitive)."""
        rows = await self._parties_by_email(email)
        return [_customer(row, email) for row in rows]

    async def _parties_by_email(self, email: str) -> list[Row]:
        domain = [
            (
                "contact_mechanisms",
                "where",
                [("type", "=", "email"), ("value", "ilike", _like_literal(email))],
            )
        ]
        rows: list[Row] = await self._rpc.execute(
            "party.party",
            "search_read",
            domain,
            0,
            20,
            [("id", "ASC")],
            [*_CUSTOMER_FIELDS, "addresses", "contact_mechanisms"],
        )
        return rows

    async def _parties_by_name(self, name: str) -> list[Row]:
        rows: list[Row] = await self._rpc.execute(
            "party.party",
            "search_read",
            [("name", "=", name)],
            0,
            20,
            [("id", "ASC")],
            [*_CUSTOMER_FIELDS, "addresses", "contact_mechanisms"],
        )
        return rows

    async def parties_for(
        self, email: str, *, cached: bool, company: str | None = None
    ) -> list[Row]:
        """Parties by email, or the company's by name when a company buys, from the cache
        when allowed and fresh."""
        key = _cache_key(email, company)
        now = time.monotonic()
        entry = self._parties.get(key) if cached else None
        if entry is not None and entry[0] > now:
            return entry[1]
        rows = await (self._parties_by_name(company) if company else self._parties_by_email(email))
        if rows and self._settings.customer_cache_seconds > 0:
            if len(self._parties) >= _CUSTOMER_CACHE_SIZE:
                self._parties.pop(next(iter(self._parties)))
            self._parties[key] = (now + self._settings.customer_cache_seconds, rows)
        return rows

    def forget(self, email: str, *, company: str | None = None) -> bool:
        """Drop the cached parties of ``email`` (or ``company``); say whether any were held."""
        return self._parties.pop(_cache_key(email, company), None) is not None

    async def customer_party(self, draft: SalesOrderDraft, parties: list[Row]) -> SaleParty:
        """The party, email contact and addresses for the draft (created where missing)."""
        customer = draft.customer
        invoice_wanted = customer.addresses[0] if customer.addresses else draft.shipping_address
        shipment_wanted = draft.shipping_address or invoice_wanted
        company = draft.company_name
        if company:
            # The company buys: its party carries the buyer as an email contact.
            customer = msgspec.structs.replace(customer, name=company)
        if not parties:
            # One new customer at a time: Tryton numbers parties from a sequence, and on
            # SQLite two concurrent creations can draw the same code ("must be unique").
            async with self._party_lock:
                parties = await (
                    self._parties_by_name(company)
                    if company
                    else self._parties_by_email(customer.email)
                )
                if not parties:
                    return await self._create_party_retrying(
                        customer, invoice_wanted, shipment_wanted
                    )
        party = parties[0]
        contact = _email_mechanism(party, customer.email)
        if contact is None and company:
            contact = await self._add_email(party, customer.email)
        # The cached row's list: addresses added here are remembered for the next order.
        addresses = party.setdefault("addresses.", [])
        invoice = await self._address_for(party["id"], addresses, invoice_wanted)
        shipment = (
            invoice
            if shipment_wanted == invoice_wanted
            else await self._address_for(party["id"], addresses, shipment_wanted)
        )
        return SaleParty(
            party=party["id"],
            contact=contact[0] if contact else None,
            email=contact[1] if contact else customer.email,
            invoice_address=invoice,
            shipment_address=shipment,
        )

    async def _add_email(self, party: Row, email: str) -> tuple[int, str]:
        [mechanism] = await self._rpc.execute(
            "party.contact_mechanism",
            "create",
            [{"party": party["id"], "type": "email", "value": email}],
        )
        # The cached row's list: the contact is found on the company's next order.
        party.setdefault("contact_mechanisms.", []).append(
            {"id": mechanism, "type": "email", "value": email}
        )
        return int(mechanism), email

    async def _address_for(
        self, party_id: int, addresses: list[Row], wanted: Address | None
    ) -> int:
        if wanted is None:
            if addresses:
                return int(addresses[0]["id"])
            wanted = Address()
        for row in addresses:
            if _same_address(row, wanted):
                return int(row["id"])
        values = await self._address_values(wanted)
        [address] = await self._rpc.execute(
            "party.address", "create", [{**values, "party": party_id}]
        )
        addresses.append(
            {
                **values,
                "id": address,
                "country.": {"code": wanted.country} if values["country"] else None,
            }
        )
        return int(address)

    async def _create_party_retrying(
        self, customer: Customer, invoice_wanted: Address | None, shipment_wanted: Address | None
    ) -> SaleParty:
        """Create the party; retry a code collision with another replica's creation."""
        for attempt in range(_PARTY_CREATE_ATTEMPTS):
            try:
                return await self._create_party(customer, invoice_wanted, shipment_wanted)
            except ErpRejected as rejection:
                if "unique" not in str(rejection) or attempt == _PARTY_CREATE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _create_party(
        self, customer: Customer, invoice_wanted: Address | None, shipment_wanted: Address | None
    ) -> SaleParty:
        mechanisms: list[Row] = [{"type": "email", "value": customer.email}]
        if customer.phone:
            mechanisms.append({"type": "phone", "value": customer.phone})
        wanted = [invoice_wanted or Address()]
        if shipment_wanted is not None and shipment_wanted != wanted[0]:
            wanted.append(shipment_wanted)
        addresses = [await self._address_values(address) for address in wanted]
        [party] = await self._rpc.execute(
            "party.party",
            "create",
            [
                {
                    "name": customer.name or customer.email,
                    "contact_mechanisms": [["create", mechanisms]],
                    "addresses": [["create", addresses]],
                }
            ],
        )
        [row] = await self._rpc.execute(
            "party.party", "read", [party], ["addresses", "contact_mechanisms"]
        )
        address_ids = sorted(row["addresses"])
        return SaleParty(
            party=int(party),
            contact=min(row["contact_mechanisms"]) if row["contact_mechanisms"] else None,
            email=customer.email,
            invoice_address=address_ids[0],
            shipment_address=address_ids[-1],
        )

    async def _address_values(self, address: Address) -> Row:
        country = await self._country_id(address.country) if address.country else None
        return {
            "party_name": address.name or None,
            "street": address.street or None,
            "city": address.city or None,
            "postal_code": address.postal_code or None,
            "country": country,
        }

    async def _country_id(self, code: str) -> int | None:
        if not self._countries:
            rows = await self._rpc.execute(
                "country.country", "search_read", [], 0, None, None, ["code"]
            )
            self._countries = {row["code"]: row["id"] for row in rows if row.get("code")}
        return self._countries.get(code)


# -- Tryton rows to canonical models ---------------------------------------------------------


def _customer(row: Row, email: str) -> Customer:
    mechanisms = row.get("contact_mechanisms.") or []
    emails = [m["value"] for m in mechanisms if m.get("type") == "email" and m.get("value")]
    matched = next((e for e in emails if e.casefold() == email.casefold()), email)
    phone = next(
        (m["value"] for m in mechanisms if m.get("type") in ("phone", "mobile") and m.get("value")),
        None,
    )
    addresses = [
        Address(
            name=a.get("party_name") or "",
            street=a.get("street") or "",
            city=a.get("city") or "",
            postal_code=a.get("postal_code") or "",
            country=(a.get("country.") or {}).get("code"),
        )
        for a in row.get("addresses.") or []
    ]
    return Customer(
        id=str(row["id"]),
        email=matched,
        name=row.get("name") or "",
        phone=phone,
        addresses=addresses,
    )


def _cache_key(email: str, company: str | None) -> str:
    return f"company:{company}" if company else email.casefold()


def _email_mechanism(party: Row, email: str) -> tuple[int, str] | None:
    """The id and stored value of the party's email contact matching ``email``."""
    for mechanism in party.get("contact_mechanisms.") or []:
        value = mechanism.get("value") or ""
        if mechanism.get("type") == "email" and value.casefold() == email.casefold():
            return int(mechanism["id"]), value
    return None


def _same_address(row: Row, wanted: Address) -> bool:
    def norm(value: object) -> str:
        return " ".join(str(value or "").split()).casefold()

    country = (row.get("country.") or {}).get("code")
    return (
        norm(row.get("street")) == norm(wanted.street)
        and norm(row.get("postal_code")) == norm(wanted.postal_code)
        and norm(row.get("city")) == norm(wanted.city)
        and (wanted.country is None or country == wanted.country)
    )


def _like_literal(text: str) -> str:
    # ilike without wildcards: the backslash escapes Tryton's SQL LIKE patterns.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
