"""``strata erp ship``: the demo warehouse ships an order, in full or in part, in parcels.

    strata erp ship --instance eu --reference shopify:demo-eu.myshopify.com:1001 \\
        --sku TSHIRT-BLK-M=1 --package "DHL:JD014600006281230001"

Each ``--package CARRIER:TRACKING[:SKU=QTY,...]`` is one parcel (a parcel naming no contents
takes a share of what the others leave); ``--sku SKU=QTY`` ships only that much, and the ERP
keeps the rest for a later shipment. The Tryton instance is the one ``strata up`` runs
(``var/stack.json``), or ``--url``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sandbox.tryton import DemoPackage, TrytonConsole, admin_credentials, find_sale, ship_sale
from sandbox.tryton.server import database_name
from shared.problems import StrataError
from strata.demo.failures import StackNotFound, StepFailed
from strata.demo.state import load_state

_DEFAULT_PORTS = {"eu": 8201, "us": 8202}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ship`` to the ``strata erp`` subcommands."""
    ship = subparsers.add_parser(
        "ship", help="ship a sales order from the demo warehouse (partially, in parcels)"
    )
    ship.add_argument("--instance", choices=sorted(_DEFAULT_PORTS), default="eu")
    which = ship.add_mutually_exclusive_group(required=True)
    which.add_argument("--reference", help="the order's external reference (shopify:...)")
    which.add_argument("--order-id", help="the ERP's sales order id")
    ship.add_argument(
        "--sku",
        action="append",
        default=[],
        metavar="SKU=QTY",
        help="ship only this much of a SKU (repeat); without it, everything open ships",
    )
    ship.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="CARRIER:TRACKING[:SKU=QTY,...]",
        help="one parcel with its carrier and tracking number (repeat for several)",
    )
    ship.add_argument("--carrier", help="the carrier when no --package names one")
    ship.add_argument("--force", action="store_true", help="ship even when stock can't be assigned")
    ship.add_argument("--url", help="the Tryton server (default: the running stack's)")
    ship.add_argument("--stack", type=Path, default=Path("var/stack.json"))
    ship.add_argument("--data-dir", type=Path, default=Path("var/erp"))
    return ship  # type: ignore[no-any-return]


def run(args: argparse.Namespace) -> int:
    """Ship as asked; print what shipped as JSON. 1 with a message when it can't."""
    try:
        lines = dict(_sku_quantity(item) for item in args.sku) or None
        parcels = [_parcel(item) for item in args.package]
        credentials = admin_credentials(args.instance, args.data_dir)
        with TrytonConsole(
            _tryton_url(args), database_name(args.instance), credentials.user, credentials.password
        ) as console:
            sale_id = int(args.order_id) if args.order_id else find_sale(console, args.reference)
            shipped = ship_sale(
                console,
                sale_id,
                force=args.force,
                lines=lines,
                packages=parcels,
                carrier=args.carrier,
            )
    except (ValueError, LookupError, RuntimeError, StrataError, StackNotFound, StepFailed) as exc:
        print(f"strata erp ship: {exc}", file=sys.stderr)
        return 1
    if not shipped:
        print(f"strata erp ship: sales order {sale_id} has nothing open to ship", file=sys.stderr)
        return 1
    print(json.dumps({"instance": args.instance, "order_id": str(sale_id), "shipments": shipped}))
    return 0


def _tryton_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    if args.stack.exists():
        return load_state(args.stack).address(f"tryton-{args.instance}")
    return f"http://127.0.0.1:{_DEFAULT_PORTS[args.instance]}"


def _sku_quantity(text: str) -> tuple[str, int]:
    sku, sep, qty = text.partition("=")
    if not (sep and sku.strip() and qty.strip().isdigit() and int(qty) > 0):
        raise ValueError(f"{text!r}: expected SKU=QTY with a quantity of at least 1")
    return sku.strip(), int(qty)


def _parcel(text: str) -> DemoPackage:
    carrier, sep, rest = text.partition(":")
    tracking, _, contents = rest.partition(":")
    if not (sep and carrier.strip() and tracking.strip()):
        raise ValueError(f"{text!r}: expected CARRIER:TRACKING[:SKU=QTY,...]")
    lines = dict(_sku_quantity(item) for item in contents.split(",")) if contents else None
    return DemoPackage(carrier=carrier.strip(), tracking=tracking.strip(), lines=lines)
