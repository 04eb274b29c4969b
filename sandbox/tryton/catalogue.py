"""The demo data every scripted ERP instance holds: one catalogue, two regions.

Both instances carry the same SKUs (so a demo shop can sell any of them wherever an order is
routed), list-priced in the instance's currency, and a price list per currency of
``DemoProduct.prices`` (the demo shops' EUR and USD): the instance's own follows the list
price, the other holds the business's own prices. ``DEMO_DATA_VERSION`` is part of each
template's marker: change the data, bump it, and templates rebuild.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from shared.models import Address, Customer

DEMO_DATA_VERSION = "2025.3"


class DemoVariant(msgspec.Struct, frozen=True, kw_only=True):
    """One sellable SKU (a Tryton ``product.product``)."""

    sku: str
    title: str
    stock: int


class DemoProduct(msgspec.Struct, frozen=True, kw_only=True):
    """A product with its variants (a Tryton ``product.template``), priced per currency."""

    title: str
    prices: dict[str, Decimal]
    variants: tuple[DemoVariant, ...]

    def price(self, currency: str) -> Decimal:
        """The list price in ``currency``."""
        return self.prices[currency]


class DemoInstance(msgspec.Struct, frozen=True, kw_only=True):
    """A region's legal entity: its company, currency and home country."""

    code: str
    company: str
    currency: str
    country: str
    city: str
    # The carrier the warehouse ships with unless told otherwise (a DEMO_CARRIERS name).
    default_carrier: str = "DHL"


INSTANCES: dict[str, DemoInstance] = {
    "eu": DemoInstance(
        code="eu",
        company="Strata Retail Europe B.V.",
        currency="EUR",
        country="NL",
        city="Rotterdam",
    ),
    "us": DemoInstance(
        code="us",
        company="Strata Retail US Inc.",
        currency="USD",
        country="US",
        city="Columbus",
        default_carrier="USPS",
    ),
}

# Countries created in every instance (Tryton ships none); addresses elsewhere stay blank.
DEMO_COUNTRIES: dict[str, str] = {
    "AT": "Austria",
    "BE": "Belgium",
    "CA": "Canada",
    "CH": "Switzerland",
    "DE": "Germany",
    "DK": "Denmark",
    "ES": "Spain",
    "FR": "France",
    "GB": "United Kingdom",
    "IE": "Ireland",
    "IT": "Italy",
    "JP": "Japan",
    "KW": "Kuwait",
    "NL": "Netherlands",
    "PL": "Poland",
    "PT": "Portugal",
    "SE": "Sweden",
    "US": "United States",
}


def _p(eur: str, usd: str) -> dict[str, Decimal]:
    return {"EUR": Decimal(eur), "USD": Decimal(usd)}


def _v(sku: str, title: str, stock: int) -> DemoVariant:
    return DemoVariant(sku=sku, title=title, stock=stock)


DEMO_PRODUCTS: tuple[DemoProduct, ...] = (
    DemoProduct(
        title="Organic Cotton T-Shirt",
        prices=_p("19.00", "22.00"),
        variants=(
            _v("TSHIRT-BLK-S", "Black / S", 60),
            _v("TSHIRT-BLK-M", "Black / M", 120),
            _v("TSHIRT-BLK-L", "Black / L", 90),
            _v("TSHIRT-WHT-M", "White / M", 80),
            _v("TSHIRT-WHT-L", "White / L", 70),
        ),
    ),
    DemoProduct(
        title="Heavyweight Hoodie",
        prices=_p("49.00", "55.00"),
        variants=(
            _v("HOODIE-GRY-M", "Grey / M", 40),
            _v("HOODIE-GRY-L", "Grey / L", 35),
            _v("HOODIE-NVY-M", "Navy / M", 3),
        ),
    ),
    DemoProduct(
        title="Slim Selvedge Jeans",
        prices=_p("69.00", "79.00"),
        variants=(
            _v("JEANS-IND-30", "Indigo / 30", 25),
            _v("JEANS-IND-32", "Indigo / 32", 30),
            _v("JEANS-IND-34", "Indigo / 34", 20),
        ),
    ),
    DemoProduct(
        title="Canvas Sneakers",
        prices=_p("59.00", "65.00"),
        variants=(
            _v("SNKR-WHT-40", "White / 40", 15),
            _v("SNKR-WHT-42", "White / 42", 18),
            _v("SNKR-WHT-44", "White / 44", 0),
        ),
    ),
    DemoProduct(
        title="Merino Beanie",
        prices=_p("15.00", "18.00"),
        variants=(_v("BEANIE-CHR", "Charcoal", 100),),
    ),
    DemoProduct(
        title="Canvas Tote Bag",
        prices=_p("12.00", "14.00"),
        variants=(_v("TOTE-NAT", "Natural", 150),),
    ),
    DemoProduct(
        title="Stoneware Mug 350 ml",
        prices=_p("14.00", "16.00"),
        variants=(_v("MUG-STONE-350", "Stone", 200),),
    ),
    DemoProduct(
        title="Linen Cushion Cover",
        prices=_p("24.00", "28.00"),
        variants=(_v("CUSHION-LIN-45", "Oat / 45 cm", 45),),
    ),
    DemoProduct(
        title="Scented Candle",
        prices=_p("22.00", "25.00"),
        variants=(_v("CANDLE-FIG-200", "Fig / 200 g", 60),),
    ),
    DemoProduct(
        title="Waffle Bath Towel",
        prices=_p("29.00", "33.00"),
        variants=(
            _v("TOWEL-BATH-WHT", "White", 50),
            _v("TOWEL-BATH-SGE", "Sage", 40),
        ),
    ),
    DemoProduct(
        title="Cotton Throw Blanket",
        prices=_p("59.00", "69.00"),
        variants=(_v("THROW-OAT", "Oat", 12),),
    ),
    DemoProduct(
        title="Terracotta Plant Pot",
        prices=_p("18.00", "21.00"),
        variants=(_v("POT-TERRA-M", "Medium", 70),),
    ),
    DemoProduct(
        title="Linen Care Guide (e-book)",
        prices=_p("9.00", "10.00"),
        # Delivered as a download: stock that never runs out.
        variants=(_v("EBOOK-LINEN-CARE", "PDF", 100_000),),
    ),
)

DEMO_SKUS: tuple[str, ...] = tuple(v.sku for p in DEMO_PRODUCTS for v in p.variants)


class DemoService(msgspec.Struct, frozen=True, kw_only=True):
    """A non-stock product orders are posted with: shipping, discounts, duties and the like."""

    code: str
    title: str


#: The ERP's products for what is not merchandise (codes the Tryton adapter posts with).
DEMO_SERVICES: tuple[DemoService, ...] = (
    DemoService(code="SHIPPING", title="Shipping"),
    DemoService(code="DISCOUNT", title="Order discount"),
    DemoService(code="DUTY", title="Import duties"),
    DemoService(code="TIP", title="Tip"),
    DemoService(code="FEE", title="Additional fee"),
    DemoService(code="CUSTOM-ITEM", title="Custom item"),
    DemoService(code="GIFT-CARD", title="Gift card"),
    DemoService(code="ADJUSTMENT", title="Rounding adjustment"),
)


class DemoCarrier(msgspec.Struct, frozen=True, kw_only=True):
    """A carrier the warehouses ship with: a party and the service product it is bought as."""

    name: str
    service: str
    code: str


#: Carriers of every instance (Tryton's ``carrier``: a party and a service product).
DEMO_CARRIERS: tuple[DemoCarrier, ...] = (
    DemoCarrier(name="DHL", service="DHL Express", code="CARRIER-DHL-EXPRESS"),
    DemoCarrier(name="UPS", service="UPS Standard", code="CARRIER-UPS-STANDARD"),
    DemoCarrier(name="La Poste", service="Colissimo", code="CARRIER-LAPOSTE-COLISSIMO"),
    DemoCarrier(name="USPS", service="Priority Mail", code="CARRIER-USPS-PRIORITY"),
    DemoCarrier(name="FedEx", service="FedEx Ground", code="CARRIER-FEDEX-GROUND"),
)

#: Package types the warehouses pack in.
DEMO_PACKAGE_TYPES: tuple[str, ...] = ("Box", "Envelope")


class DemoTax(msgspec.Struct, frozen=True, kw_only=True):
    """A sales tax: ``rate`` as a fraction (``0.2`` is 20 %)."""

    name: str
    rate: Decimal


#: Sales taxes of every instance: EU VAT rates and the US sales taxes the demo shops charge.
DEMO_TAXES: tuple[DemoTax, ...] = tuple(
    DemoTax(name=name, rate=Decimal(rate))
    for name, rate in (
        ("VAT 21%", "0.21"),
        ("VAT 20%", "0.20"),
        ("VAT 19%", "0.19"),
        ("VAT 10%", "0.10"),
        ("VAT 9%", "0.09"),
        ("VAT 5.5%", "0.055"),
        ("VAT 0%", "0"),
        ("Ohio State Tax 5.75%", "0.0575"),
        ("Franklin County Tax 1.25%", "0.0125"),
        ("COTA Transit Tax 0.5%", "0.005"),
        ("New York State Tax 4%", "0.04"),
        ("New York City Tax 4.5%", "0.045"),
        ("Metropolitan Commuter Transportation District 0.375%", "0.00375"),
        ("California State Tax 7.25%", "0.0725"),
        ("San Francisco District Tax 1.375%", "0.01375"),
        ("Texas State Tax 6.25%", "0.0625"),
    )
)

#: Payment terms business customers buy on: name -> days after the invoice date.
DEMO_PAYMENT_TERMS: dict[str, int] = {
    "Due on receipt": 0,
    "Net 15": 15,
    "Net 30": 30,
    "Net 60": 60,
}

DEMO_CUSTOMERS: tuple[Customer, ...] = (
    Customer(
        email="emma.dejong@example.com",
        name="Emma de Jong",
        phone="+31 20 555 0101",
        addresses=[
            Address(
                name="Emma de Jong",
                street="Prinsengracht 263",
                city="Amsterdam",
                postal_code="1016 GV",
                country="NL",
            )
        ],
    ),
    Customer(
        email="lukas.schmidt@example.com",
        name="Lukas Schmidt",
        phone="+49 30 555 0102",
        addresses=[
            Address(
                name="Lukas Schmidt",
                street="Torstrasse 12",
                city="Berlin",
                postal_code="10119",
                country="DE",
            )
        ],
    ),
    Customer(
        email="camille.martin@example.com",
        name="Camille Martin",
        addresses=[
            Address(
                name="Camille Martin",
                street="12 rue Oberkampf",
                city="Paris",
                postal_code="75011",
                country="FR",
            )
        ],
    ),
    Customer(
        email="olivia.brooks@example.com",
        name="Olivia Brooks",
        phone="+1 614 555 0104",
        addresses=[
            Address(
                name="Olivia Brooks",
                street="455 High Street",
                city="Columbus",
                postal_code="43215",
                country="US",
            )
        ],
    ),
    Customer(
        email="noah.carter@example.com",
        name="Noah Carter",
        addresses=[
            Address(
                name="Noah Carter",
                street="88 Mission Street",
                city="San Francisco",
                postal_code="94105",
                country="US",
            )
        ],
    ),
)
