"""Warehouse work on a demo instance: ship a sales order, as a picker and packer would."""

from __future__ import annotations

from sandbox.tryton.console import TrytonConsole
from sandbox.tryton.server import TrytonServer

_OPEN = ("waiting", "assigned", "picked", "packed")


def ship_order(server: TrytonServer, sale_id: int | str, *, force: bool = False) -> list[int]:
    """Assign, pick, pack and finish every open customer shipment of sale ``sale_id``.

    Returns the ids of the shipments now done. Raises RuntimeError when stock can't be
    assigned, unless ``force`` assigns it anyway (stock may go negative).
    """
    with TrytonConsole(server.url, server.database, server.user, server.password) as c:
        [sale] = c.execute("sale.sale", "read", [int(sale_id)], ["shipments"])
        rows = c.execute("stock.shipment.out", "read", sale["shipments"], ["state"])
        open_ids = [r["id"] for r in rows if r["state"] in _OPEN]
        if not open_ids:
            return []
        waiting = [r["id"] for r in rows if r["state"] == "waiting"]
        if waiting:
            c.execute("stock.shipment.out", "assign_try", waiting)
        rows = c.execute("stock.shipment.out", "read", open_ids, ["state"])
        states = {r["id"]: r["state"] for r in rows}
        still_waiting = [i for i, s in states.items() if s == "waiting"]
        if still_waiting:
            if not force:
                raise RuntimeError(f"not enough stock to ship sale {sale_id}")
            c.execute("stock.shipment.out", "assign_force", still_waiting)
            states.update(dict.fromkeys(still_waiting, "assigned"))
        to_pick = [i for i, s in states.items() if s == "assigned"]
        if to_pick:
            c.execute("stock.shipment.out", "pick", to_pick)
        to_pack = [i for i, s in states.items() if s in ("assigned", "picked")]
        if to_pack:
            c.execute("stock.shipment.out", "pack", to_pack)
        c.execute("stock.shipment.out", "do", open_ids)
        return open_ids


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
