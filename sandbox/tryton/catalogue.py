"""The demo data every scripted ERP instance holds: one catalogue, two regions.

Both instances carry the same SKUs (so a demo shop can sell any of them wherever an order is
routed), priced in the instance's currency. ``DEMO_DATA_VERSION`` is part of each template's
marker: change the data, bump it, and templates rebuild.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from shared.models import Address, Customer

DEMO_DATA_VERSION = "2025.1"


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
)

DEMO_SKUS: tuple[str, ...] = tuple(v.sku for p in DEMO_PRODUCTS for v in p.variants)

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
