"""Warehouse work on a demo instance: ship a sales order, as a picker and packer would.

A shipment leaves with a carrier (the instance's default unless told), in full or in part
(``lines``: what leaves now; the sale makes a new shipment for the rest), in one or several
packages, each with the carrier's tracking number (Tryton's ``stock.package``
``shipping_reference``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from sandbox.tryton.catalogue import INSTANCES
from sandbox.tryton.console import TrytonConsole
from sandbox.tryton.server import TrytonServer

_OPEN = ("waiting", "assigned", "picked", "packed")
_OUT = "stock.shipment.out"


class DemoPackage(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One parcel: its carrier (a carrier's party name), tracking number and contents (SKU to
    quantity); a parcel without ``lines`` takes a share of what no parcel names."""

    carrier: str | None = None
    tracking: str | None = None
    lines: dict[str, int] | None = None


def ship_order(
    server: TrytonServer,
    sale_id: int | str,
    *,
    force: bool = False,
    lines: Mapping[str, int] | None = None,
    packages: Sequence[DemoPackage | Mapping[str, Any]] | None = None,
    carrier: str | None = None,
) -> list[int]:
    """Ship sale ``sale_id``: see :func:`ship_sale`."""
    with TrytonConsole(server.url, server.database, server.user, server.password) as c:
        return ship_sale(c, sale_id, force=force, lines=lines, packages=packages, carrier=carrier)


def find_sale(console: TrytonConsole, reference: str) -> int:
    """The id of the sale carrying external ``reference`` (its return sales aside)."""
    ids = console.execute(
        "sale.sale", "search", [("reference", "=", reference)], 0, 1, [("id", "ASC")]
    )
    if not ids:
        raise LookupError(f"no sale has the reference {reference!r}")
    return int(ids[0])


def ship_sale(
    c: TrytonConsole,
    sale_id: int | str,
    *,
    force: bool = False,
    lines: Mapping[str, int] | None = None,
    packages: Sequence[DemoPackage | Mapping[str, Any]] | None = None,
    carrier: str | None = None,
) -> list[int]:
    """Assign, pick, pack and finish the open customer shipments of sale ``sale_id``.

    ``lines`` (SKU to quantity) ships only that much, from the open shipments in turn; the
    sale then makes a new shipment for the rest. ``packages`` packs each shipment that
    leaves into parcels with tracking numbers (one carrier per shipment). Returns the ids of
    the shipments now done. Raises RuntimeError when stock can't be assigned, unless
    ``force`` assigns it anyway (stock may go negative), and ValueError for a SKU or
    quantity the open shipments do not hold.
    """
    parcels = [
        p if isinstance(p, DemoPackage) else msgspec.convert(p, DemoPackage) for p in packages or []
    ]
    carrier_id = _carrier(c, carrier, parcels)
    [sale] = c.execute("sale.sale", "read", [int(sale_id)], ["shipments"])
    rows = c.execute(_OUT, "read", sale["shipments"], ["state"])
    open_ids = sorted(r["id"] for r in rows if r["state"] in _OPEN)
    if not open_ids:
        return []
    if parcels and len(open_ids) > 1:
        raise ValueError("parcels pack one shipment: ship the sale's shipments one at a time")
    # Check what is asked against what is open before the warehouse touches anything.
    held = _outgoing_units(c, open_ids)
    if lines is not None:
        if any(qty < 1 for qty in lines.values()):
            raise ValueError("quantities to ship must be at least 1")
        short = {sku: qty for sku, qty in lines.items() if held.get(sku, 0) < qty}
        if short:
            raise ValueError(f"the open shipments do not hold {short}")
    if parcels:
        parcel_contents(dict(lines) if lines is not None else held, [p.lines for p in parcels])
    if lines is not None:
        open_ids = _keep_only(c, open_ids, dict(lines))
    c.execute(_OUT, "write", open_ids, {"carrier": carrier_id})
    states = _assign(c, open_ids, sale_id, force=force)
    to_pick = [i for i, s in states.items() if s == "assigned"]
    if to_pick:
        c.execute(_OUT, "pick", to_pick)
    if parcels:
        for shipment in open_ids:
            _pack_parcels(c, shipment, parcels)
    to_pack = [i for i, s in states.items() if s in ("assigned", "picked")]
    if to_pack:
        c.execute(_OUT, "pack", to_pack)
    c.execute(_OUT, "do", open_ids)
    return open_ids


def _carrier(c: TrytonConsole, name: str | None, parcels: list[DemoPackage]) -> int:
    named = {p.carrier for p in parcels if p.carrier} | ({name} if name else set())
    if len(named) > 1:
        raise ValueError(f"one shipment leaves with one carrier, not {sorted(named)}")
    if not named:
        named = {_default_carrier(c)}
    [wanted] = named
    ids = c.execute("carrier", "search", [("party.name", "ilike", wanted)], 0, 1, None)
    if not ids:
        raise ValueError(f"no carrier named {wanted!r}")
    return int(ids[0])


def _default_carrier(c: TrytonConsole) -> str:
    [company] = c.execute("company.company", "read", [c.context["company"]], ["party.name"])
    name = (company.get("party.") or {}).get("name")
    return next((i.default_carrier for i in INSTANCES.values() if i.company == name), "DHL")


def _keep_only(c: TrytonConsole, shipment_ids: list[int], wanted: dict[str, int]) -> list[int]:
    """Cut the inventory moves of the open shipments down to ``wanted``; return the shipments
    that ship something."""
    rows = c.execute(_OUT, "read", shipment_ids, ["state"])
    if any(r["state"] not in ("waiting", "assigned") for r in rows):
        raise ValueError("a partial shipment must be chosen before picking begins")
    # Back to waiting, as the warehouse would: assigned moves can't change quantity.
    c.execute(_OUT, "wait", shipment_ids)
    rows = c.execute(_OUT, "read", shipment_ids, ["inventory_moves"])
    moves = c.execute(
        "stock.move",
        "read",
        [m for r in rows for m in r["inventory_moves"]],
        ["shipment", "product.code", "quantity", "state"],
    )
    moves = [m for m in moves if m["state"] != "cancelled"]
    for move in moves:
        move["shipment"] = int(move["shipment"].split(",")[1])
    moves.sort(key=lambda m: (m["shipment"], m["id"]))
    remaining = dict(wanted)
    takes: dict[int, int] = {}
    for move in moves:
        sku = (move.get("product.") or {}).get("code") or ""
        take = min(remaining.get(sku, 0), int(move["quantity"]))
        remaining[sku] = remaining.get(sku, 0) - take
        takes[move["id"]] = take
    left = {sku: qty for sku, qty in remaining.items() if qty > 0}
    if left:
        raise ValueError(f"the open shipments do not hold {left}")
    shipping = sorted({m["shipment"] for m in moves if takes[m["id"]]})
    for move in moves:
        if move["shipment"] in shipping and takes[move["id"]] != move["quantity"]:
            c.execute("stock.move", "write", [move["id"]], {"quantity": takes[move["id"]]})
    return shipping


def _outgoing_units(c: TrytonConsole, shipment_ids: list[int]) -> dict[str, int]:
    """What the shipments are to carry, per SKU."""
    rows = c.execute(_OUT, "read", shipment_ids, ["outgoing_moves"])
    moves = c.execute(
        "stock.move",
        "read",
        [m for r in rows for m in r["outgoing_moves"]],
        ["product.code", "quantity", "state"],
    )
    units: dict[str, int] = {}
    for move in moves:
        if move["state"] != "cancelled" and move["quantity"]:
            sku = (move.get("product.") or {}).get("code") or ""
            units[sku] = units.get(sku, 0) + int(move["quantity"])
    return units


def _assign(
    c: TrytonConsole, open_ids: list[int], sale_id: int | str, *, force: bool
) -> dict[int, str]:
    rows = c.execute(_OUT, "read", open_ids, ["state"])
    waiting = [r["id"] for r in rows if r["state"] == "waiting"]
    if waiting:
        c.execute(_OUT, "assign_try", waiting)
    rows = c.execute(_OUT, "read", open_ids, ["state"])
    states = {r["id"]: r["state"] for r in rows}
    still_waiting = [i for i, s in states.items() if s == "waiting"]
    if still_waiting:
        if not force:
            raise RuntimeError(f"not enough stock to ship sale {sale_id}")
        c.execute(_OUT, "assign_force", still_waiting)
        states.update(dict.fromkeys(still_waiting, "assigned"))
    return states


def _pack_parcels(c: TrytonConsole, shipment_id: int, parcels: list[DemoPackage]) -> None:
    """Put the shipment's outgoing moves into one package per parcel (splitting a move
    through Tryton's packing wizard where a parcel takes part of it)."""
    contents = parcel_contents(_outgoing_units(c, [shipment_id]), [p.lines for p in parcels])
    package_type = c.search_one("stock.package.type", [("name", "=", "Box")])
    package_ids = c.execute(
        "stock.package",
        "create",
        [
            {
                "shipment": f"{_OUT},{shipment_id}",
                "type": package_type,
                "shipping_reference": parcel.tracking,
            }
            for parcel in parcels
        ],
    )
    for package_id, content in zip(package_ids, contents, strict=True):
        for sku, qty in content.items():
            _pack(c, shipment_id, package_id, sku, qty)


def _pack(c: TrytonConsole, shipment_id: int, package_id: int, sku: str, qty: int) -> None:
    need = qty
    while need:
        [shipment] = c.execute(_OUT, "read", [shipment_id], ["outgoing_moves"])
        moves = c.execute(
            "stock.move",
            "read",
            shipment["outgoing_moves"],
            ["product.code", "quantity", "state", "package"],
        )
        move = next(
            m
            for m in sorted(moves, key=lambda m: m["id"])
            if not m["package"]
            and m["state"] != "cancelled"
            and m["quantity"]
            and (m.get("product.") or {}).get("code") == sku
        )
        take = min(need, int(move["quantity"]))
        context = {
            "active_model": "stock.package",
            "active_id": package_id,
            "active_ids": [package_id],
        }
        c.run_wizard(
            "stock.package.pack",
            [("next_", {}), ("add_move", {"move": {"source": move["id"], "quantity": take}})],
            **context,
        )
        need -= take


def parcel_contents(
    units: Mapping[str, int], asked: Sequence[Mapping[str, int] | None]
) -> list[dict[str, int]]:
    """What goes in each parcel: the contents asked for, and what no parcel names shared
    out in turn among the parcels that name nothing (each getting at least one unit).

    ValueError when the parcels ask for more than ships, or leave something unpacked.
    """
    left = dict(units)
    contents: list[dict[str, int]] = []
    for wanted in asked:
        content = dict(wanted or {})
        for sku, qty in content.items():
            if qty < 1 or left.get(sku, 0) < qty:
                raise ValueError(f"the shipment does not hold {qty} x {sku} to pack")
            left[sku] -= qty
        contents.append(content)
    rest = [sku for sku, qty in left.items() for _ in range(qty)]
    open_parcels = [i for i, wanted in enumerate(asked) if not wanted]
    if rest and not open_parcels:
        raise ValueError(f"nothing packs {dict((s, rest.count(s)) for s in dict.fromkeys(rest))}")
    if len(rest) < len(open_parcels):
        raise ValueError(f"{len(open_parcels)} parcels share {len(rest)} units: some stay empty")
    # Contiguous shares, as even as they can be: a SKU stays together where it can.
    for n, index in enumerate(open_parcels):
        share = rest[n * len(rest) // len(open_parcels) : (n + 1) * len(rest) // len(open_parcels)]
        for sku in share:
            contents[index][sku] = contents[index].get(sku, 0) + 1
    return contents


def set_tracking(server: TrytonServer, package_id: int | str, tracking: str) -> None:
    """Correct a package's tracking number (the carrier relabelled it)."""
    with TrytonConsole(server.url, server.database, server.user, server.password) as c:
        c.execute("stock.package", "write", [int(package_id)], {"shipping_reference": tracking})


def cancel_shipment(server: TrytonServer, shipment_id: int | str) -> None:
    """Cancel a customer shipment, done or not (the parcel never left, or came back)."""
    with TrytonConsole(server.url, server.database, server.user, server.password) as c:
        c.execute(_OUT, "cancel", [int(shipment_id)])


def post_invoices(server: TrytonServer, sale_id: int | str) -> list[int]:
    """Post the draft invoices of sale ``sale_id`` (numbering them); return their ids."""
    with TrytonConsole(server.url, server.database, server.user, server.password) as c:
        [sale] = c.execute("sale.sale", "read", [int(sale_id)], ["invoices"])
        rows = c.execute("account.invoice", "read", sale["invoices"], ["state"])
        draft = [r["id"] for r in rows if r["state"] in ("draft", "validated")]
        if draft:
            c.execute("account.invoice", "post", draft)
        return draft


def credit_invoice(server: TrytonServer, invoice_id: int) -> int:
    """Credit a posted invoice in full through Tryton's credit wizard; return the credit note."""
    with TrytonConsole(server.url, server.database, server.user, server.password) as c:
        context = {
            "active_model": "account.invoice",
            "active_id": invoice_id,
            "active_ids": [invoice_id],
        }
        c.run_wizard(
            "account.invoice.credit", [("credit", {"start": {"with_refund": False}})], **context
        )
        [credit_note] = c.execute(
            "account.invoice", "search", [("origin_invoices", "=", invoice_id)], 0, 1, None
        )
        return int(credit_note)


def return_order(server: TrytonServer, sale_id: int | str) -> int:
    """Return sale ``sale_id`` in full through Tryton's return wizard; confirm the return.

    The return sale (negative quantities) gets a customer return shipment and a credit
    note. Returns the return sale's id.
    """
    with TrytonConsole(server.url, server.database, server.user, server.password) as c:
        context = {
            "active_model": "sale.sale",
            "active_id": int(sale_id),
            "active_ids": [int(sale_id)],
        }
        c.run_wizard("sale.return_sale", [("return_", {})], **context)
        [returned] = c.execute(
            "sale.sale",
            "search",
            [("origin", "=", f"sale.sale,{int(sale_id)}")],
            0,
            1,
            [("id", "DESC")],
        )
        c.execute("sale.sale", "quote", [returned])
        c.execute("sale.sale", "confirm", [returned])
        return int(returned)
