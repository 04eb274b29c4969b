"""Scripted Tryton ERP instances for development, demos and tests.

``build_template(instance, data_dir)`` builds an instance's database once (modules, company,
chart of accounts, fiscal years, catalogue, stock, customers); ``start_server(instance,
data_dir, port)`` serves a fresh copy in about a second; ``run_forever`` does that until
SIGINT/SIGTERM. ``ship_order`` plays the warehouse in tests.
"""

from sandbox.tryton.catalogue import (
    DEMO_COUNTRIES,
    DEMO_CUSTOMERS,
    DEMO_DATA_VERSION,
    DEMO_PRODUCTS,
    DEMO_SKUS,
    INSTANCES,
    DemoInstance,
    DemoProduct,
    DemoVariant,
)
from sandbox.tryton.console import TrytonConsole
from sandbox.tryton.fulfilment import (
    credit_invoice,
    post_invoices,
    return_order,
    ship_order,
)
from sandbox.tryton.run import remove_run, run_forever, start_server
from sandbox.tryton.server import TrytonCredentials, TrytonServer, admin_credentials
from sandbox.tryton.template import (
    build_template,
    drop_run_database,
    template_is_current,
)

__all__ = [
    "DEMO_COUNTRIES",
    "DEMO_CUSTOMERS",
    "DEMO_DATA_VERSION",
    "DEMO_PRODUCTS",
    "DEMO_SKUS",
    "INSTANCES",
    "DemoInstance",
    "DemoProduct",
    "DemoVariant",
    "TrytonConsole",
    "TrytonCredentials",
    "TrytonServer",
    "admin_credentials",
    "build_template",
    "credit_invoice",
    "drop_run_database",
    "post_invoices",
    "remove_run",
    "return_order",
    "run_forever",
    "ship_order",
    "start_server",
    "template_is_current",
]
