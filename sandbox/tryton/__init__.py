"""Scripted Tryton ERP instances for development, demos and tests.

``build_template(instance, data_dir)`` builds an instance's database once (modules, company,
chart of accounts, fiscal years, catalogue, price lists, stock, customers);
``start_server(instance, data_dir, port)`` serves a fresh copy in about a second;
``run_forever`` does that until SIGINT/SIGTERM. ``ship_order`` plays the warehouse (carriers,
parcels, tracking numbers).
"""

from sandbox.tryton.catalogue import (
    DEMO_CARRIERS,
    DEMO_COUNTRIES,
    DEMO_CUSTOMERS,
    DEMO_DATA_VERSION,
    DEMO_PRODUCTS,
    DEMO_SKUS,
    INSTANCES,
    DemoCarrier,
    DemoInstance,
    DemoProduct,
    DemoVariant,
)
from sandbox.tryton.console import TrytonConsole
from sandbox.tryton.fulfilment import (
    DemoPackage,
    cancel_shipment,
    credit_invoice,
    find_sale,
    post_invoices,
    return_order,
    set_tracking,
    ship_order,
    ship_sale,
)
from sandbox.tryton.run import remove_run, run_forever, start_server
from sandbox.tryton.server import TrytonCredentials, TrytonServer, admin_credentials
from sandbox.tryton.template import (
    build_template,
    drop_run_database,
    template_is_current,
)

__all__ = [
    "DEMO_CARRIERS",
    "DEMO_COUNTRIES",
    "DEMO_CUSTOMERS",
    "DEMO_DATA_VERSION",
    "DEMO_PRODUCTS",
    "DEMO_SKUS",
    "INSTANCES",
    "DemoCarrier",
    "DemoInstance",
    "DemoPackage",
    "DemoProduct",
    "DemoVariant",
    "TrytonConsole",
    "TrytonCredentials",
    "TrytonServer",
    "admin_credentials",
    "build_template",
    "cancel_shipment",
    "credit_invoice",
    "drop_run_database",
    "find_sale",
    "post_invoices",
    "remove_run",
    "return_order",
    "run_forever",
    "set_tracking",
    "ship_order",
    "ship_sale",
    "start_server",
    "template_is_current",
]
