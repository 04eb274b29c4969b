"""Customer shipments in Tryton: lines, carrier, packages with tracking, and a change feed.

A shipment (``stock.shipment.out``) carries a carrier (``carrier``: a party and the service
product it is bought as) and packages (``stock.package``) whose ``shipping_reference`` is
the carrier's tracking number. Tryton gives a tracking link only through a carrier's
shipping service module; without one, the carrier's public tracking page is used.

Tryton sends no events, so followers poll :meth:`CustomerShipments.changes`: shipments from
sales orders created or written since an instant, or whose packages were. A shipment's
``updated_at`` is the latest of those timestamps; the feed orders by it, then by id.
Tryton stamps ``write_date`` when a transaction writes, not when it commits, so a follower
re-reads with an overlap (a change committed late carries an earlier stamp). The order is
computed here (Tryton can't sort by the latest of several records' stamps): the feed reads
the timestamps of every shipment changed since the instant, then the page in full, so a
follower polling from a recent watermark reads little.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import quote

from shared.models import Shipment, ShipmentLine, ShipmentPackage
from shared.problems import ValidationFailed
from system_apis.erp.adapters.tryton.rows import SHIPPED_STATES, Row, quantity, utc
from system_apis.erp.adapters.tryton_rpc import TrytonRpc

_MODEL = "stock.shipment.out"
_MOVES = "outgoing_moves"
_FIELDS = [
    "number",
    "reference",
    "state",
    "create_date",
    "write_date",
    "effective_date",
    "shipping_reference",
    "warehouse.code",
    "carrier.party.name",
    "carrier.carrier_product.name",
    f"{_MOVES}.product.code",
    f"{_MOVES}.quantity",
    f"{_MOVES}.state",
    f"{_MOVES}.package",
    f"{_MOVES}.origin.sale.reference",
    "root_packages.number",
    "root_packages.shipping_reference",
    "root_packages.shipping_tracking_url",
    "packages.parent",
    "packages.create_date",
    "packages.write_date",
]
# What the change feed reads to order shipments before reading the page in full.
_STAMP_FIELDS = ["create_date", "write_date", "packages.create_date", "packages.write_date"]
# Shipments that come from a sales order (the rest are the warehouse's own business).
_FROM_SALES = ("moves.origin.sale", "!=", None, "sale.line")

# Carrier name as the ERP spells it (lower-cased) -> the carrier's public tracking page.
TRACKING_PAGES = {
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "gls": "https://gls-group.com/track/{number}",
    "la poste": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "colissimo": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "postnl": "https://postnl.nl/tracktrace/?B={number}",
    "royal mail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
}


def tracking_url(carrier: str | None, number: str | None, given: str | None = None) -> str | None:
    """The ERP's own tracking link when it has one, else the carrier's page for ``number``."""
    if given:
        return given
    if not (carrier and number):
        return None
    page = TRACKING_PAGES.get(carrier.strip().lower())
    return page.format(number=quote(number.strip(), safe="")) if page else None


class CustomerShipments:
    """Outgoing customer shipments of sales orders, read in full."""

    def __init__(self, rpc: TrytonRpc) -> None:
        """Read through ``rpc``."""
        self._rpc = rpc

    async def of_sale(self, sale_id: int) -> list[Shipment]:
        """The customer shipments of one sale, oldest first."""
        rows = await self._rpc.execute(
            _MODEL,
            "search_read",
            [("moves.origin.sale", "=", sale_id, "sale.line")],
            0,
            None,
            [("id", "ASC")],
            _FIELDS,
        )
        return [customer_shipment(row) for row in rows]

    async def changes(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> tuple[list[Shipment], bool]:
        """Shipments of sales orders changed since ``since``, by ``updated_at`` then id.

        Without ``after_id`` a shipment changed at ``since`` itself is included; with it
        (paging on from the last shipment seen), only those after it at that instant. The
        flag says whether more follow.
        """
        stamp = since.astimezone(dt.UTC) if since.tzinfo else since.replace(tzinfo=dt.UTC)
        changed = [
            "OR",
            ("write_date", ">=", stamp),
            ("create_date", ">=", stamp),
            ("packages.write_date", ">=", stamp),
            ("packages.create_date", ">=", stamp),
        ]
        rows = await self._rpc.execute(
            _MODEL, "search_read", [_FROM_SALES, changed], 0, None, None, _STAMP_FIELDS
        )
        ordered = sorted((_updated_at(row), int(row["id"])) for row in rows)
        if after_id is not None:
            if not after_id.isdigit():
                raise ValidationFailed(
                    f"no Tryton shipment has the id {after_id!r}",
                    errors=[{"field": "query.cursor", "message": "names no Tryton shipment"}],
                )
            ordered = [key for key in ordered if key > (stamp, int(after_id))]
        page = ordered[:limit]
        if not page:
            return [], False
        full = await self._rpc.execute(_MODEL, "read", [i for _, i in page], _FIELDS)
        by_id = {int(row["id"]): row for row in full}
        return [customer_shipment(by_id[i]) for _, i in page if i in by_id], len(ordered) > limit


def _updated_at(row: Row) -> dt.datetime:
    # Tryton keeps naive UTC timestamps; a row always has its create_date.
    stamps: list[dt.datetime | None] = [row.get("write_date"), row.get("create_date")]
    for package in row.get("packages.") or []:
        stamps += [package.get("write_date"), package.get("create_date")]
    latest = max(s for s in stamps if s is not None)
    return latest.replace(tzinfo=dt.UTC)


def customer_shipment(row: Row) -> Shipment:
    """A ``stock.shipment.out`` row (read with the shipment fields) as a canonical shipment."""
    carrier = row.get("carrier.") or {}
    carrier_name = (carrier.get("party.") or {}).get("name")
    service = (carrier.get("carrier_product.") or {}).get("name")
    cancelled = row["state"] == "cancelled"
    # A cancelled shipment still says what it was to carry; otherwise cancelled moves are gone.
    moves = [
        m
        for m in row.get(f"{_MOVES}.") or []
        if m.get("quantity") and (cancelled or m.get("state") != "cancelled")
    ]
    lines, order_id, reference = _lines(moves)
    contents = _package_contents(moves, row.get("packages.") or [])
    packages = [
        ShipmentPackage(
            id=str(package["id"]),
            number=package.get("number"),
            tracking_number=package.get("shipping_reference") or None,
            tracking_url=tracking_url(
                carrier_name,
                package.get("shipping_reference"),
                package.get("shipping_tracking_url"),
            ),
            lines=contents.get(int(package["id"]), []),
        )
        for package in sorted(row.get("root_packages.") or [], key=lambda p: int(p["id"]))
    ]
    tracked = next((p for p in packages if p.tracking_number), None)
    own_reference = row.get("shipping_reference") or None
    number = tracked.tracking_number if tracked else own_reference
    shipped_at = (
        utc(row.get("write_date") or row.get("create_date"))
        if row["state"] in SHIPPED_STATES
        else None
    )
    return Shipment(
        id=str(row["id"]),
        number=row.get("number"),
        state=row["state"],
        lines=lines,
        carrier=carrier_name,
        carrier_service=service,
        tracking_number=number,
        tracking_url=tracked.tracking_url if tracked else tracking_url(carrier_name, number),
        packages=packages,
        shipped_at=shipped_at,
        order_id=order_id,
        external_reference=reference,
        warehouse=(row.get("warehouse.") or {}).get("code"),
        effective_date=row.get("effective_date"),
        created_at=utc(row.get("create_date")),
        updated_at=_updated_at(row),
        reference=row.get("reference") or None,
    )


def _lines(moves: list[Row]) -> tuple[list[ShipmentLine], str | None, str | None]:
    """Quantities per order line (a line split over packages is one), and the sale shipped."""
    quantities: dict[tuple[str | None, str], Decimal] = {}
    order_id = reference = None
    for move in sorted(moves, key=lambda m: int(m["id"])):
        sku = (move.get("product.") or {}).get("code") or ""
        origin = move.get("origin.") or {}
        sale = origin.get("sale.") or {}
        line_id = str(origin["id"]) if sale and origin.get("id") is not None else None
        if sale and order_id is None:
            order_id, reference = str(sale["id"]), sale.get("reference")
        key = (line_id, sku)
        quantities[key] = quantities.get(key, Decimal(0)) + quantity(move.get("quantity"))
    lines = [
        ShipmentLine(sku=sku, quantity=qty, order_line_id=line_id)
        for (line_id, sku), qty in quantities.items()
    ]
    return lines, order_id, reference


def _package_contents(moves: list[Row], packages: list[Row]) -> dict[int, list[ShipmentLine]]:
    """What each outer package holds, the contents of the packages inside it included."""
    parents = {int(p["id"]): p.get("parent") for p in packages}

    def outermost(package: int) -> int:
        seen = {package}
        while (parent := parents.get(package)) is not None and int(parent) not in seen:
            package = int(parent)
            seen.add(package)
        return package

    contents: dict[int, dict[str, Decimal]] = {}
    for move in moves:
        if move.get("package") is None:
            continue
        package = outermost(int(move["package"]))
        sku = (move.get("product.") or {}).get("code") or ""
        held = contents.setdefault(int(package), {})
        held[sku] = held.get(sku, Decimal(0)) + quantity(move.get("quantity"))
    return {
        package: [ShipmentLine(sku=sku, quantity=qty) for sku, qty in held.items()]
        for package, held in contents.items()
    }
