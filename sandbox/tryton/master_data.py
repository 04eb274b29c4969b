"""Master data of a demo instance, written over JSON-RPC as a user of the ERP would.

Order matters: currencies, countries, company (and the admin's company), chart of accounts,
fiscal years with strict sequences, product category, products, price lists, stock,
customers. No on-change logic runs over RPC, so every value the client would compute is set
here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sandbox.tryton.catalogue import (
    DEMO_CARRIERS,
    DEMO_COUNTRIES,
    DEMO_CUSTOMERS,
    DEMO_PACKAGE_TYPES,
    DEMO_PAYMENT_TERMS,
    DEMO_PRODUCTS,
    DEMO_SERVICES,
    DEMO_TAXES,
    DemoInstance,
)
from sandbox.tryton.console import TrytonConsole

CURRENCIES = {
    # code: (name, symbol, rate against the euro, ISO 4217 digits); one fixed rate lets
    # either company accept orders in another currency (shops selling in yen or dinars).
    "EUR": ("Euro", "€", Decimal("1.0"), 2),
    "USD": ("US Dollar", "$", Decimal("1.08"), 2),
    "JPY": ("Japanese Yen", "¥", Decimal("162"), 0),
    "KWD": ("Kuwaiti Dinar", "KD", Decimal("0.332"), 3),
    "GBP": ("Pound Sterling", "£", Decimal("0.85"), 2),
}
RATE_DATE = dt.date(2000, 1, 1)
# Accounts of the universal chart the demo uses (it has several of each kind).
RECEIVABLE, PAYABLE, REVENUE, EXPENSE = "1.2.1", "2.1.1", "4.1.1", "5.1.1"
# Services revenue (shipping, duties, tips, adjustments) and accrued sales taxes.
SERVICE_REVENUE, TAXES = "4.1.2", "2.2.3"
ACCOUNT_CODES = [RECEIVABLE, PAYABLE, REVENUE, EXPENSE, SERVICE_REVENUE, TAXES]


def fiscal_years(today: dt.date | None = None) -> list[int]:
    """The fiscal years a template covers: last year to next year."""
    year = (today or dt.date.today()).year
    return [year - 1, year, year + 1]


def load_master_data(console: TrytonConsole, instance: DemoInstance) -> None:
    """Write every piece of master data a sale needs to ship and invoice."""
    currencies = _currencies(console)
    countries = _countries(console)
    company = _company(console, instance, currencies[instance.currency], countries)
    _chart_of_accounts(console, company)
    for year in fiscal_years():
        _fiscal_year(console, company, year)
    category = _product_category(console, company)
    _products(console, instance, category)
    _price_lists(console, instance)
    _services(console, company)
    _carriers(console, company)
    _taxes(console, company)
    _payment_terms(console)
    _stock(console, company)
    _customers(console, countries)


def _currencies(c: TrytonConsole) -> dict[str, int]:
    values = [
        {
            "name": name,
            "code": code,
            "symbol": symbol,
            "digits": digits,
            "rounding": Decimal(1).scaleb(-digits),
            "rates": [["create", [{"date": RATE_DATE, "rate": rate}]]],
        }
        for code, (name, symbol, rate, digits) in CURRENCIES.items()
    ]
    ids = c.execute("currency.currency", "create", values)
    return dict(zip(CURRENCIES, ids, strict=True))


def _countries(c: TrytonConsole) -> dict[str, int]:
    values = [{"name": name, "code": code} for code, name in DEMO_COUNTRIES.items()]
    ids = c.execute("country.country", "create", values)
    return dict(zip(DEMO_COUNTRIES, ids, strict=True))


def _company(
    c: TrytonConsole, instance: DemoInstance, currency: int, countries: dict[str, int]
) -> int:
    address = {"city": instance.city, "country": countries[instance.country]}
    [party] = c.execute(
        "party.party",
        "create",
        [{"name": instance.company, "addresses": [["create", [address]]]}],
    )
    [company] = c.execute("company.company", "create", [{"party": party, "currency": currency}])
    c.execute(
        "res.user", "write", [c.user_id], {"companies": [["add", [company]]], "company": company}
    )
    c.refresh_context()
    return int(company)


def _chart_of_accounts(c: TrytonConsole, company: int) -> None:
    template = c.search_one(
        "account.account.template",
        [("parent", "=", None), ("name", "=", "Universal Chart of Accounts")],
    )
    c.run_wizard(
        "account.create_chart",
        [
            ("account", {}),
            ("create_account", {"account": {"account_template": template, "company": company}}),
        ],
    )
    accounts = _accounts_by_code(c, company)
    c.run_wizard(
        "account.create_chart",
        [
            (
                "create_properties",
                {
                    "properties": {
                        "company": company,
                        "account_receivable": accounts[RECEIVABLE],
                        "account_payable": accounts[PAYABLE],
                    }
                },
            )
        ],
    )


def _accounts_by_code(c: TrytonConsole, company: int) -> dict[str, int]:
    rows = c.execute(
        "account.account",
        "search_read",
        [("company", "=", company), ("code", "in", ACCOUNT_CODES)],
        0,
        None,
        None,
        ["code"],
    )
    return {row["code"]: row["id"] for row in rows}


def _strict_sequence(c: TrytonConsole, company: int, type_name: str, name: str) -> int:
    sequence_type = c.search_one("ir.sequence.type", [("name", "=", type_name)])
    [sequence] = c.execute(
        "ir.sequence.strict",
        "create",
        [{"name": name, "sequence_type": sequence_type, "company": company, "prefix": ""}],
    )
    return int(sequence)


def _fiscal_year(c: TrytonConsole, company: int, year: int) -> None:
    moves = _strict_sequence(c, company, "Account Move", f"Account moves {year}")
    invoices = _strict_sequence(c, company, "Invoice", f"Invoices {year}")
    credit_notes = _strict_sequence(c, company, "Invoice", f"Credit notes {year}")
    invoice_sequences = {
        "company": company,
        "out_invoice_sequence": invoices,
        "out_credit_note_sequence": credit_notes,
        "in_invoice_sequence": invoices,
        "in_credit_note_sequence": credit_notes,
    }
    [fiscal_year] = c.execute(
        "account.fiscalyear",
        "create",
        [
            {
                "name": str(year),
                "start_date": dt.date(year, 1, 1),
                "end_date": dt.date(year, 12, 31),
                "company": company,
                "move_sequence": moves,
                "invoice_sequences": [["create", [invoice_sequences]]],
            }
        ],
    )
    c.execute("account.fiscalyear", "create_period", [fiscal_year])


def _product_category(c: TrytonConsole, company: int) -> int:
    accounts = _accounts_by_code(c, company)
    [category] = c.execute(
        "product.category",
        "create",
        [
            {
                "name": "Merchandise",
                "accounting": True,
                "account_revenue": accounts[REVENUE],
                "account_expense": accounts[EXPENSE],
            }
        ],
    )
    return int(category)


def _products(c: TrytonConsole, instance: DemoInstance, category: int) -> None:
    unit = c.search_one("product.uom", [("symbol", "=", "u")])
    templates: list[dict[str, Any]] = [
        {
            "name": product.title,
            "type": "goods",
            "default_uom": unit,
            "salable": True,
            "sale_uom": unit,
            "list_price": product.price(instance.currency),
            "account_category": category,
            "products": [
                [
                    "create",
                    [
                        {"suffix_code": variant.sku, "description": variant.title}
                        for variant in product.variants
                    ],
                ]
            ],
        }
        for product in DEMO_PRODUCTS
    ]
    c.execute("product.template", "create", templates)


def price_list_name(currency: str) -> str:
    """The demo's name of the price list of ``currency``: the ERP system API reads a price
    list named for a currency (its last word) as that currency's prices."""
    return f"Shop prices {currency}"


def _price_lists(c: TrytonConsole, instance: DemoInstance) -> None:
    """One price list per currency the demo shops sell in.

    The list of the company's own currency follows the list price (one line, ``unit_price``
    of the list price), so a list price change reaches the shops; the others hold a fixed
    price per variant, set by the business rather than converted at a rate.
    """
    currencies = sorted({code for product in DEMO_PRODUCTS for code in product.prices})
    rows = c.execute(
        "product.product",
        "search_read",
        [("code", "in", [v.sku for p in DEMO_PRODUCTS for v in p.variants])],
        0,
        None,
        None,
        ["code"],
    )
    ids = {row["code"]: row["id"] for row in rows}
    lists: list[dict[str, Any]] = []
    for currency in currencies:
        if currency == instance.currency:
            lines = [{"formula": "unit_price"}]
            price: str | None = "list_price"
        else:
            lines = [
                {"product": ids[variant.sku], "formula": str(product.price(currency))}
                for product in DEMO_PRODUCTS
                for variant in product.variants
            ]
            price = None
        lists.append(
            {"name": price_list_name(currency), "price": price, "lines": [["create", lines]]}
        )
    c.execute("product.price_list", "create", lists)


def _services(c: TrytonConsole, company: int) -> None:
    """Non-stock products for shipping, discounts, duties, tips, fees, custom items, gift
    cards and the adjustment a channel's total may need, in a category of their own."""
    accounts = _accounts_by_code(c, company)
    unit = c.search_one("product.uom", [("symbol", "=", "u")])
    [category] = c.execute(
        "product.category",
        "create",
        [
            {
                "name": "Order charges",
                "accounting": True,
                "account_revenue": accounts[SERVICE_REVENUE],
                "account_expense": accounts[EXPENSE],
            }
        ],
    )
    c.execute(
        "product.template",
        "create",
        [
            {
                "name": service.title,
                "type": "service",
                "default_uom": unit,
                "salable": True,
                "sale_uom": unit,
                "list_price": Decimal(0),
                "account_category": category,
                "products": [["create", [{"suffix_code": service.code}]]],
            }
            for service in DEMO_SERVICES
        ],
    )


def _carriers(c: TrytonConsole, company: int) -> None:
    """Carriers (a party and the service product it is bought as) and package types."""
    accounts = _accounts_by_code(c, company)
    unit = c.search_one("product.uom", [("symbol", "=", "u")])
    [category] = c.execute(
        "product.category",
        "create",
        [
            {
                "name": "Carriage",
                "accounting": True,
                "account_revenue": accounts[SERVICE_REVENUE],
                "account_expense": accounts[EXPENSE],
            }
        ],
    )
    c.execute(
        "product.template",
        "create",
        [
            {
                "name": carrier.service,
                "type": "service",
                "default_uom": unit,
                "salable": False,
                "list_price": Decimal(0),
                "account_category": category,
                "products": [["create", [{"suffix_code": carrier.code}]]],
            }
            for carrier in DEMO_CARRIERS
        ],
    )
    rows = c.execute(
        "product.product",
        "search_read",
        [("code", "in", [carrier.code for carrier in DEMO_CARRIERS])],
        0,
        None,
        None,
        ["code"],
    )
    products = {row["code"]: row["id"] for row in rows}
    parties = c.execute(
        "party.party", "create", [{"name": carrier.name} for carrier in DEMO_CARRIERS]
    )
    c.execute(
        "carrier",
        "create",
        [
            {"party": party, "carrier_product": products[carrier.code]}
            for carrier, party in zip(DEMO_CARRIERS, parties, strict=True)
        ],
    )
    c.execute("stock.package.type", "create", [{"name": name} for name in DEMO_PACKAGE_TYPES])


def _taxes(c: TrytonConsole, company: int) -> None:
    """Sales taxes, rounded per line as shops round them (Tryton's default is per document)."""
    accounts = _accounts_by_code(c, company)
    c.execute(
        "account.tax",
        "create",
        [
            {
                "name": tax.name,
                "description": tax.name,
                "type": "percentage",
                "rate": tax.rate,
                "company": company,
                "invoice_account": accounts[TAXES],
                "credit_note_account": accounts[TAXES],
            }
            for tax in DEMO_TAXES
        ],
    )
    configurations = c.execute("account.configuration", "search", [])
    if configurations:
        c.execute("account.configuration", "write", configurations, {"tax_rounding": "line"})
    else:
        c.execute("account.configuration", "create", [{"tax_rounding": "line"}])


def _payment_terms(c: TrytonConsole) -> None:
    c.execute(
        "account.invoice.payment_term",
        "create",
        [
            {
                "name": name,
                "lines": [
                    [
                        "create",
                        [
                            {
                                "type": "remainder",
                                "relativedeltas": [["create", [{"days": days}]]],
                            }
                        ],
                    ]
                ],
            }
            for name, days in DEMO_PAYMENT_TERMS.items()
        ],
    )


def _stock(c: TrytonConsole, company: int) -> None:
    storage = c.search_one("stock.location", [("code", "=", "STO")])
    rows = c.execute("product.product", "search_read", [], 0, None, None, ["code"])
    ids = {row["code"]: row["id"] for row in rows}
    lines = [
        {"product": ids[variant.sku], "quantity": float(variant.stock)}
        for product in DEMO_PRODUCTS
        for variant in product.variants
        if variant.stock > 0
    ]
    [inventory] = c.execute(
        "stock.inventory",
        "create",
        [{"location": storage, "company": company, "lines": [["create", lines]]}],
    )
    c.execute("stock.inventory", "confirm", [inventory])


def _customers(c: TrytonConsole, countries: dict[str, int]) -> None:
    values: list[dict[str, Any]] = []
    for customer in DEMO_CUSTOMERS:
        mechanisms: list[dict[str, Any]] = [{"type": "email", "value": customer.email}]
        if customer.phone:
            mechanisms.append({"type": "phone", "value": customer.phone})
        addresses = [
            {
                "party_name": address.name or None,
                "street": address.street,
                "city": address.city,
                "postal_code": address.postal_code,
                "country": countries.get(address.country or ""),
            }
            for address in customer.addresses
        ]
        values.append(
            {
                "name": customer.name,
                "contact_mechanisms": [["create", mechanisms]],
                "addresses": [["create", addresses]],
            }
        )
    c.execute("party.party", "create", values)
