"""Seeding sandbox shops from a demo catalogue of ``(sku, title, price)`` products."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

import msgspec

from sandbox.shopify.settings import DEMO_PRODUCTS, LocationSpec, ShopSpec
from sandbox.shopify.state import (
    InventoryItem,
    InventoryLevel,
    Location,
    Product,
    Shop,
    ShopifyState,
    normalise_domain,
)

ProductRow = tuple[str, str, str | Decimal]


class DemoShop(msgspec.Struct, kw_only=True, frozen=True):
    """A shop to seed: its spec, the products it sells and their stock at every location."""

    spec: ShopSpec
    products: tuple[ProductRow, ...] = DEMO_PRODUCTS

    def seed(self, state: ShopifyState, access_token: str) -> Shop:
        """Create (or replace) this shop in ``state`` and return it."""
        return seed_demo_shop(state, self.spec, self.products, access_token=access_token)


def seed_demo_shop(
    state: ShopifyState,
    spec: ShopSpec | str,
    products: Iterable[ProductRow] = DEMO_PRODUCTS,
    *,
    access_token: str = "shpat_sandbox_token",  # noqa: S107 - a sandbox-only token
) -> Shop:
    """Create a shop from ``spec`` (or a bare domain) selling ``products``.

    Each product becomes a product with one variant and one inventory item (by SKU), stocked at
    every location with the location's ``stock`` as both ``available`` and ``on_hand``.
    """
    if isinstance(spec, str):
        spec = ShopSpec(domain=spec)
    domain = normalise_domain(spec.domain)
    shop = Shop(
        domain=domain,
        name=spec.name or domain.split(".")[0].replace("-", " ").title(),
        currency=spec.currency,
        country_code=spec.country_code,
        access_tokens={spec.access_token or access_token},
        tax_rate=Decimal(spec.tax_rate),
        taxes_included=spec.taxes_included,
        shipping_price=Decimal(spec.shipping_price),
    )
    locations = spec.locations or (
        LocationSpec(name="Main warehouse", country_code=spec.country_code),
    )
    stock: dict[int, int] = {}
    for loc in locations:
        location = Location(
            id=state.ids.next("Location"),
            name=loc.name,
            country_code=loc.country_code,
            city=loc.city,
            address1=loc.address1,
            zip=loc.zip,
        )
        shop.locations[location.id] = location
        stock[location.id] = loc.stock
    add_products(state, shop, products, stock)
    state.shops[domain] = shop
    return shop


def add_products(
    state: ShopifyState,
    shop: Shop,
    products: Iterable[ProductRow],
    stock: dict[int, int] | None = None,
) -> list[Product]:
    """Add ``(sku, title, price)`` products to ``shop``, stocked per location id in ``stock``."""
    added = []
    for sku, title, price in products:
        product = Product(
            id=state.ids.next("Product"),
            title=title,
            variant_id=state.ids.next("ProductVariant"),
            sku=sku,
            price=Decimal(price),
            inventory_item_id=state.ids.next("InventoryItem"),
        )
        shop.products[product.id] = product
        shop.inventory_items[product.inventory_item_id] = InventoryItem(
            id=product.inventory_item_id,
            sku=sku,
            variant_id=product.variant_id,
            product_id=product.id,
        )
        for location_id in shop.locations:
            quantity = (stock or {}).get(location_id, 0)
            shop.levels[(product.inventory_item_id, location_id)] = InventoryLevel(
                inventory_item_id=product.inventory_item_id,
                location_id=location_id,
                quantities={"available": quantity, "on_hand": quantity, "committed": 0},
            )
        added.append(product)
    return added


def demo_shops(specs: Sequence[ShopSpec], products: Iterable[ProductRow]) -> list[DemoShop]:
    """One :class:`DemoShop` per spec, all selling the same ``products``."""
    rows = tuple(products)
    return [DemoShop(spec=spec, products=rows) for spec in specs]
