"""Recording in Tryton a customer shipment that left from elsewhere, exactly once.

A third-party warehouse may fulfil an order outside the ERP (in Shopify): the goods are gone,
and the ERP has to show them shipped. This module does, over JSON-RPC, what a picker and
packer would do in Tryton: it ships exactly the units that left from one of the sale's open
customer shipments (``stock.shipment.out``), cutting its moves down to them when only part
of it left (Tryton's sale then plans a new shipment for the rest), assigns it (by force when
the stock can't be: the goods have left in reality, so the ERP's stock may go negative rather
than the record being refused), picks it, packs the parcels with their tracking numbers
(``stock.package`` ``shipping_reference``, through Tryton's packing wizard, which splits a
move a parcel takes part of) and takes it to done.

The caller's reference of the shipment goes on the shipment (``reference``, Tryton's
external identifier of a shipment) once its moves are cut and before it is finished: a
repeat finds the shipment by it and answers it as it stands, and a retry after a crash part
way finds it open and finishes it, never cutting or shipping a second time. A crash before the
reference is written leaves a shipment cut to exactly the units asked, which the retry takes
again (it is the first open shipment that holds them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from shared.models import Shipment, ShipmentRecord, ShipmentRecordLine
from system_apis.erp.adapters.tryton.rows import Row, parse_sale_id
from system_apis.erp.adapters.tryton.shipments import CustomerShipments
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.port import (
    ErpRejected,
    NotOnOpenShipments,
    OrderNotFound,
    ShipmentNotRecordable,
)

_OUT = "stock.shipment.out"
# Shipments whose goods have not left: what a recorded shipment is shipped from.
_OPEN = ("waiting", "assigned", "picked", "packed")
# Shipments whose quantities can still be chosen (picking has not begun).
_CUTTABLE = ("waiting", "assigned")
_SHIPMENT_FIELDS = [
    "state",
    "reference",
    "carrier",
    "warehouse_storage",
    "warehouse_output",
    "packages",
]

Units = dict[str, int]
# The most units of one line (as many as an order line may hold).
MAX_UNITS = 100_000


# -- what is asked (pure) ---------------------------------------------------------------------


def requested_units(lines: Sequence[ShipmentRecordLine], field: str = "lines") -> Units:
    """The units asked per SKU (a SKU on several lines summed); NotOnOpenShipments naming
    each line whose quantity is out of range (lines made in code are not validated)."""
    units: Units = {}
    bad = []
    for index, line in enumerate(lines):
        if not 1 <= line.quantity <= MAX_UNITS:
            message = f"from 1 to {MAX_UNITS} units"
            bad.append({"field": f"{field}[{index}].quantity", "message": message})
            continue
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    if bad:
        raise NotOnOpenShipments("quantities shipped are out of range", errors=bad)
    return units


def shortfalls(
    lines: Sequence[ShipmentRecordLine], held: Mapping[str, int]
) -> list[dict[str, str]]:
    """The lines asking for a SKU ``held`` does not have, or for more units than it has (a
    SKU on several lines counts once, on its first line)."""
    asked = requested_units(lines)
    errors = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.sku in seen:
            continue
        seen.add(line.sku)
        have = held.get(line.sku, 0)
        if not have:
            message = f"{line.sku!r} is on none of the order's open shipments"
            errors.append({"field": f"lines[{index}].sku", "message": message})
        elif asked[line.sku] > have:
            message = f"{asked[line.sku]} x {line.sku} asked, {have} open"
            errors.append({"field": f"lines[{index}].quantity", "message": message})
    return errors


def parcel_contents(
    units: Mapping[str, int], asked: Sequence[Sequence[ShipmentRecordLine]]
) -> list[Units]:
    """What goes in each parcel: the contents asked for, and what no parcel names shared out
    among the parcels that name nothing, in contiguous shares as even as they can be.

    More parcels than units to share leaves some empty: they carry their tracking number
    only (a carrier may label one item twice; the goods have left either way).
    No parcels, no contents. NotOnOpenShipments naming the parcel lines that ask for more
    than ships, or when something is left that no parcel may take.
    """
    if not asked:
        return []  # no parcels: nothing is packed
    left = dict(units)
    contents: list[Units] = []
    errors = []
    for p, lines in enumerate(asked):
        content = requested_units(lines, f"packages[{p}].lines")
        for index, line in enumerate(lines):
            need = content.get(line.sku, 0)
            if need and left.get(line.sku, 0) < need:
                message = f"the shipment does not hold {need} x {line.sku} to pack"
                errors.append({"field": f"packages[{p}].lines[{index}]", "message": message})
                content.pop(line.sku)
        for sku, qty in content.items():
            left[sku] -= qty
        contents.append(content)
    if errors:
        raise NotOnOpenShipments("the parcels hold more than ships", errors=errors)
    rest = [sku for sku, qty in left.items() for _ in range(qty)]
    sharing = [i for i, lines in enumerate(asked) if not lines]
    if rest and not sharing:
        held = {sku: qty for sku, qty in left.items() if qty}
        raise NotOnOpenShipments(
            f"no parcel holds {held}",
            errors=[{"field": "packages", "message": f"no parcel holds {held}"}],
        )
    for n, index in enumerate(sharing):
        share = rest[n * len(rest) // len(sharing) : (n + 1) * len(rest) // len(sharing)]
        for sku in share:
            contents[index][sku] = contents[index].get(sku, 0) + 1
    return contents


def move_takes(moves: Sequence[Row], wanted: Mapping[str, int]) -> dict[int, int]:
    """How many units each move (by id) keeps so the moves carry exactly ``wanted``: the
    oldest moves of a SKU first."""
    remaining = dict(wanted)
    takes: dict[int, int] = {}
    for move in sorted(moves, key=lambda m: int(m["id"])):
        sku = _sku(move)
        take = min(remaining.get(sku, 0), int(move.get("quantity") or 0))
        remaining[sku] = remaining.get(sku, 0) - take
        takes[int(move["id"])] = take
    return takes


def _sku(move: Row) -> str:
    return str((move.get("product.") or {}).get("code") or "")


def _units(moves: Sequence[Row]) -> Units:
    units: Units = {}
    for move in moves:
        if move.get("state") != "cancelled" and move.get("quantity"):
            units[_sku(move)] = units.get(_sku(move), 0) + int(move["quantity"])
    return units


# -- Tryton -----------------------------------------------------------------------------------


class ShipmentRecorder:
    """Ships in Tryton what left from elsewhere, from the sale's open shipments."""

    def __init__(self, rpc: TrytonRpc, customer_shipments: CustomerShipments) -> None:
        """Write through ``rpc``; read the result back through ``customer_shipments``."""
        self._rpc = rpc
        self._customer_shipments = customer_shipments

    async def record(self, order_id: str, request: ShipmentRecord) -> Shipment:
        """Ship ``request.lines`` from one open shipment of the sale under
        ``request.reference``; a shipment of the sale carrying the reference is answered as
        it stands (finished first if an interrupted call left it open)."""
        sale_id = parse_sale_id(order_id)
        wanted = requested_units(request.lines)
        sales = await self._rpc.execute(
            "sale.sale", "search_read", [("id", "=", sale_id)], 0, 1, None, ["shipments"]
        )
        if not sales:
            raise OrderNotFound(f"no sales order {order_id}")
        rows: list[Row] = await self._rpc.execute(
            _OUT, "read", sales[0]["shipments"], _SHIPMENT_FIELDS
        )
        rows.sort(key=lambda r: int(r["id"]))
        mine = next((r for r in rows if r.get("reference") == request.reference), None)
        if mine is not None:
            if mine["state"] in _OPEN:
                parcels = [] if mine.get("packages") else request.packages
                await self._finish(mine, [p.tracking_number for p in parcels], [])
            return await self._read(sale_id, int(mine["id"]))
        open_rows = [r for r in rows if r["state"] in _OPEN]
        moves = await self._outgoing_moves(open_rows)
        held: dict[int, Units] = {
            int(r["id"]): _units([m for m in moves if m["shipment"] == int(r["id"])])
            for r in open_rows
        }
        total: Units = {}
        for units in held.values():
            for sku, qty in units.items():
                total[sku] = total.get(sku, 0) + qty
        errors = shortfalls(request.lines, total)
        if errors:
            raise NotOnOpenShipments(
                "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
            )
        holding = [
            r
            for r in open_rows
            if all(held[int(r["id"])].get(s, 0) >= q for s, q in wanted.items())
        ]
        # One that ships whole, else one whose quantities can still be cut, else the first.
        row = next(
            (r for r in holding if held[int(r["id"])] == wanted),
            next((r for r in holding if r["state"] in _CUTTABLE), next(iter(holding), None)),
        )
        if row is None:
            raise ShipmentNotRecordable(
                "the lines are spread over several open shipments of the order: record one "
                "shipment per ERP shipment"
            )
        shipment_id = int(row["id"])
        contents = parcel_contents(wanted, [p.lines for p in request.packages])
        carrier = await self._carrier(request.carrier) if request.carrier else None
        if wanted != held[shipment_id]:
            if row["state"] not in _CUTTABLE:
                raise ShipmentNotRecordable(
                    f"shipment {shipment_id} is being {row['state']} in the ERP: only all of "
                    "it can be recorded as shipped"
                )
            await self._cut(row, wanted)
        values: dict[str, Any] = {"reference": request.reference}
        if carrier is not None:
            values["carrier"] = carrier
        await self._rpc.execute(_OUT, "write", [shipment_id], values)
        [row] = await self._rpc.execute(_OUT, "read", [shipment_id], _SHIPMENT_FIELDS)
        await self._finish(row, [p.tracking_number for p in request.packages], contents)
        return await self._read(sale_id, shipment_id)

    async def _outgoing_moves(self, shipments: list[Row]) -> list[Row]:
        """The live outgoing moves of ``shipments``, each with its shipment's id."""
        ids = [int(r["id"]) for r in shipments]
        if not ids:
            return []
        rows = await self._rpc.execute(_OUT, "read", ids, ["outgoing_moves"])
        of = {m: int(r["id"]) for r in rows for m in r["outgoing_moves"]}
        moves: list[Row] = await self._rpc.execute(
            "stock.move", "read", list(of), ["product.code", "quantity", "state", "package"]
        )
        for move in moves:
            move["shipment"] = of[int(move["id"])]
        return [m for m in moves if m["state"] != "cancelled"]

    async def _carrier(self, name: str) -> int:
        # The name as it is, any case: its LIKE wildcards escaped.
        literal = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        ids = await self._rpc.execute(
            "carrier", "search", [("party.name", "ilike", literal)], 0, 1, None
        )
        if not ids:
            raise ErpRejected(
                f"the ERP knows no carrier named {name!r}",
                errors=[{"field": "carrier", "message": f"no carrier named {name!r}"}],
            )
        return int(ids[0])

    async def _cut(self, row: Row, wanted: Units) -> None:
        """Bring the shipment's moves down to ``wanted`` (the moves the warehouse picks from:
        the inventory moves in a two-step warehouse, else the outgoing ones)."""
        shipment_id = int(row["id"])
        if row["state"] == "assigned":
            # Assigned moves can't change quantity: back to waiting, as a warehouse would.
            await self._rpc.execute(_OUT, "wait", [shipment_id])
        two_step = row.get("warehouse_storage") != row.get("warehouse_output")
        field = "inventory_moves" if two_step else "outgoing_moves"
        [ids] = await self._rpc.execute(_OUT, "read", [shipment_id], [field])
        moves = await self._rpc.execute(
            "stock.move", "read", ids[field], ["product.code", "quantity", "state"]
        )
        moves = [m for m in moves if m["state"] != "cancelled"]
        takes = move_takes(moves, wanted)
        for move in moves:
            if takes[int(move["id"])] != int(move.get("quantity") or 0):
                await self._rpc.execute(
                    "stock.move", "write", [int(move["id"])], {"quantity": takes[int(move["id"])]}
                )

    async def _finish(self, row: Row, tracking: list[str], contents: list[Units]) -> None:
        """Assign (by force if need be), pick, pack into parcels and finish the shipment."""
        shipment_id = int(row["id"])
        state = row["state"]
        if state == "waiting":
            await self._rpc.execute(_OUT, "assign_try", [shipment_id])
            state = await self._state(shipment_id)
            if state == "waiting":
                # The goods have left: the ERP's stock follows reality, even below zero.
                await self._rpc.execute(_OUT, "assign_force", [shipment_id])
                state = "assigned"
        two_step = row.get("warehouse_storage") != row.get("warehouse_output")
        if state == "assigned" and two_step:
            await self._rpc.execute(_OUT, "pick", [shipment_id])
            state = "picked"
        if tracking and state in ("assigned", "picked"):
            await self._pack_parcels(shipment_id, tracking, contents)
        if state in ("assigned", "picked"):
            await self._skip_no_carrier(row)
            await self._rpc.execute(_OUT, "pack", [shipment_id])
        await self._skip_no_carrier(row)
        await self._rpc.execute(_OUT, "do", [shipment_id])

    async def _skip_no_carrier(self, row: Row) -> None:
        """Accept Tryton's warning that the shipment has no carrier (``stock_package_shipping``
        warns on pack and on done), as a user of its client would: the goods left with a
        carrier the caller did not name, and no warehouse step is left for it to stop.

        The warning's name is Tryton's ``res.user.warning.format("no_carrier", [shipment])``;
        an accepted warning serves one transaction, so each step accepts it anew."""
        if row.get("carrier"):
            return
        record = f"{_OUT},{int(row['id'])}"
        name = f"{hashlib.md5(record.encode()).hexdigest()}.no_carrier"  # noqa: S324 - Tryton's key
        await self._rpc.execute("res.user.warning", "skip", name, False)

    async def _state(self, shipment_id: int) -> str:
        [row] = await self._rpc.execute(_OUT, "read", [shipment_id], ["state"])
        return str(row["state"])

    async def _pack_parcels(
        self, shipment_id: int, tracking: list[str], contents: list[Units]
    ) -> None:
        """One package per parcel with its tracking number, holding its contents (shared
        anew from what the shipment carries when resuming, whose contents are not known)."""
        moves = await self._outgoing_moves([{"id": shipment_id}])
        if not contents:
            contents = parcel_contents(_units(moves), [[] for _ in tracking])
        types = await self._rpc.execute("stock.package.type", "search", [], 0, 1, [("id", "ASC")])
        if not types:
            raise ShipmentNotRecordable("the ERP has no package type to pack parcels in")
        package_ids = await self._rpc.execute(
            "stock.package",
            "create",
            [
                {
                    "shipment": f"{_OUT},{shipment_id}",
                    "type": types[0],
                    "shipping_reference": number,
                }
                for number in tracking
            ],
        )
        for package_id, content in zip(package_ids, contents, strict=True):
            for sku, qty in content.items():
                await self._pack(shipment_id, int(package_id), sku, qty)

    async def _pack(self, shipment_id: int, package_id: int, sku: str, qty: int) -> None:
        need = qty
        while need:
            moves = await self._outgoing_moves([{"id": shipment_id}])
            move = min(
                (
                    m
                    for m in moves
                    if not m.get("package")
                    and m["state"] != "cancelled"
                    and m.get("quantity")
                    and _sku(m) == sku
                ),
                key=lambda m: int(m["id"]),
            )
            take = min(need, int(move["quantity"]))
            await self._run_wizard(
                "stock.package.pack",
                [
                    ("next_", {}),
                    ("add_move", {"move": {"source": int(move["id"]), "quantity": take}}),
                ],
                {
                    "active_model": "stock.package",
                    "active_id": package_id,
                    "active_ids": [package_id],
                },
            )
            need -= take

    async def _run_wizard(
        self, name: str, steps: list[tuple[str, dict[str, Any]]], context: dict[str, Any]
    ) -> None:
        if self._rpc.user_id is None:
            await self._rpc.login()
        ctx = {**self._rpc.context, **context}
        session, _, _ = await self._rpc.call(f"wizard.{name}.create", ctx)
        try:
            for state, data in steps:
                await self._rpc.call(f"wizard.{name}.execute", session, data, state, ctx)
        finally:
            await self._rpc.call(f"wizard.{name}.delete", session, ctx)

    async def _read(self, sale_id: int, shipment_id: int) -> Shipment:
        shipments = await self._customer_shipments.of_sale(sale_id)
        found = next((s for s in shipments if s.id == str(shipment_id)), None)
        if found is None:  # pragma: no cover - the sale's own shipment, just written
            raise ShipmentNotRecordable(f"shipment {shipment_id} is not the order's")
        return found
