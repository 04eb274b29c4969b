"""The sandbox's product catalogue: seeding shops from ``(sku, title, price)`` rows, and the
Admin API's product side (``productSet``, ``productChangeStatus``, product and variant
queries) served by :class:`CatalogueRoot`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from graphql import GraphQLError

from sandbox.shopify.admin_root import AdminRoot, IdempotencyStore, search_terms
from sandbox.shopify.admin_views import Info, ShopViews, stamp
from sandbox.shopify.commerce import ShopEvent
from sandbox.shopify.payloads import product_delete_payload, product_payload
from sandbox.shopify.settings import DEMO_PRODUCTS, LocationSpec, ShopSpec
from sandbox.shopify.state import (
    InventoryItem,
    InventoryLevel,
    Location,
    Product,
    ProductOption,
    ProductSetOperation,
    Shop,
    ShopifyState,
    Variant,
    gid,
    money,
    normalise_domain,
    now_utc,
    parse_gid,
)
from sandbox.tryton.catalogue import DEMO_PRODUCTS as DEMO_PRODUCTS_OF_ERP
from sandbox.tryton.catalogue import DemoProduct

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

    The rows become products as :func:`seed_products` groups them (the variants of one demo
    ERP product on one product), each variant with one inventory item (by SKU), stocked at
    every location with the location's ``stock`` as both ``available`` and ``on_hand``, on the
    shop's Online Store.
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
    state.add_publications(shop)
    seed_products(state, shop, products, stock)
    state.shops[domain] = shop
    return shop


def add_products(
    state: ShopifyState,
    shop: Shop,
    products: Iterable[ProductRow],
    stock: dict[int, int] | None = None,
) -> list[Product]:
    """Add ``(sku, title, price)`` products to ``shop``, stocked per location id in ``stock``,
    published to its Online Store (the merchant's own products, on sale there)."""
    return [
        _add_product(state, shop, title, "Title", [(sku, price, "Default Title")], stock)
        for sku, title, price in products
    ]


def seed_products(
    state: ShopifyState,
    shop: Shop,
    products: Iterable[ProductRow],
    stock: dict[int, int] | None = None,
) -> list[Product]:
    """Add ``(sku, title, price)`` rows as a shop selling the demo ERPs' catalogue holds them.

    Rows whose SKUs are variants of one product of the demo ERPs (two or more of them) become
    one product: the ERP's title, a ``Variant`` option valued with the ERP's variant titles,
    each row's SKU and price; catalog publication adopts it in place, as it does any product
    holding all of an ERP product's SKUs. Every other row is a product of its own, as
    :func:`add_products` adds it.
    """
    rows = list(products)
    present = {row[0] for row in rows}
    group_of: dict[str, DemoProduct] = {}
    for demo in DEMO_PRODUCTS_OF_ERP:
        skus = [v.sku for v in demo.variants if v.sku in present]
        if len(skus) > 1:
            group_of.update(dict.fromkeys(skus, demo))
    by_sku = {row[0]: row for row in rows}
    added: list[Product] = []
    for sku, title, price in rows:
        erp = group_of.get(sku)
        if erp is None:
            added += add_products(state, shop, [(sku, title, price)], stock)
        elif sku == _first_present(erp, by_sku):
            # The product is added where its first variant's row is; the others join it.
            variants = [(v.sku, by_sku[v.sku][2], v.title) for v in erp.variants if v.sku in by_sku]
            added.append(_add_product(state, shop, erp.title, "Variant", variants, stock))
    return added


def _first_present(erp: DemoProduct, rows: dict[str, ProductRow]) -> str:
    return next(v.sku for v in erp.variants if v.sku in rows)


def _add_product(
    state: ShopifyState,
    shop: Shop,
    title: str,
    option: str,
    variants: Sequence[tuple[str, str | Decimal, str]],
    stock: dict[int, int] | None,
) -> Product:
    """One product with one option and a variant per ``(sku, price, option value)``, stocked
    per location id in ``stock`` and published to the shop's Online Store."""
    online = {p.id for p in shop.publications.values() if p.name == "Online Store"}
    made = [
        Variant(
            id=state.ids.next("ProductVariant"),
            sku=sku,
            price=Decimal(price),
            inventory_item_id=state.ids.next("InventoryItem"),
            option_values=[value],
        )
        for sku, price, value in variants
    ]
    product = Product(
        id=state.ids.next("Product"),
        title=title,
        handle=unique_handle(shop, handleize(title)),
        variants=made,
        options=[
            ProductOption(
                id=state.ids.next("ProductOption"),
                name=option,
                values=[value for _, _, value in variants],
            )
        ],
        publications=online,
    )
    shop.products[product.id] = product
    for variant in made:
        stock_variant(shop, product, variant, stock)
    return product


def stock_variant(
    shop: Shop, product: Product, variant: Variant, stock: dict[int, int] | None = None
) -> None:
    """Give ``variant`` its inventory item, stocked per location id in ``stock`` (else 0)."""
    shop.inventory_items[variant.inventory_item_id] = InventoryItem(
        id=variant.inventory_item_id, sku=variant.sku, variant_id=variant.id, product_id=product.id
    )
    for location_id in shop.locations:
        quantity = (stock or {}).get(location_id, 0)
        shop.levels[(variant.inventory_item_id, location_id)] = InventoryLevel(
            inventory_item_id=variant.inventory_item_id,
            location_id=location_id,
            quantities={"available": quantity, "on_hand": quantity, "committed": 0},
        )


def unstock_variant(shop: Shop, variant: Variant) -> None:
    """Remove a deleted variant's inventory item and its levels."""
    shop.inventory_items.pop(variant.inventory_item_id, None)
    for key in [k for k in shop.levels if k[0] == variant.inventory_item_id]:
        del shop.levels[key]


def delete_product(shop: Shop, product_id: int) -> list[ShopEvent] | None:
    """A merchant deletes a product in the admin: it goes with its variants and their stock;
    ``products/delete``. None if the shop has no such product."""
    product = shop.products.pop(product_id, None)
    if product is None:
        return None
    for variant in product.variants:
        unstock_variant(shop, variant)
    return [ShopEvent(topic="products/delete", payload=product_delete_payload(product.id))]


def handleize(title: str) -> str:
    """Shopify's handle of a title: lower case, runs of other characters as one dash."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "product"


def unique_handle(shop: Shop, handle: str) -> str:
    """``handle``, or ``handle-1``, ``handle-2``... as Shopify suffixes a taken one."""
    taken = {p.handle for p in shop.products.values()}
    candidate, n = handle, 0
    while candidate in taken:
        n += 1
        candidate = f"{handle}-{n}"
    return candidate


def demo_shops(specs: Sequence[ShopSpec], products: Iterable[ProductRow]) -> list[DemoShop]:
    """One :class:`DemoShop` per spec, all selling the same ``products``."""
    rows = tuple(products)
    return [DemoShop(spec=spec, products=rows) for spec in specs]


# -- the Admin API's product side ------------------------------------------------------------
# productSet (synchronous or as a ProductSetOperation), productChangeStatus, and the product
# and variant queries. Per Shopify: list fields given (options, variants) are made to match
# the input (entries left out are deleted); scalar fields left out keep their value.

MAX_VARIANTS = 2048
MAX_OPTIONS = 3
WEIGHT_GRAMS = {"GRAMS": 1.0, "KILOGRAMS": 1000.0, "OUNCES": 28.349523125, "POUNDS": 453.59237}
PRODUCT_STATUSES = frozenset({"ACTIVE", "ARCHIVED", "DRAFT", "UNLISTED"})

Node = dict[str, Any]


def _user_error(field: list[str | int], message: str, code: str) -> Node:
    return {"field": [str(f) for f in field], "message": message, "code": code}


class CatalogueViews(ShopViews):
    """Shop views where a product has options and many variants."""

    def product(self, product_id: int | None) -> Node | None:
        product = self.shop.products.get(product_id) if product_id else None
        if product is None:
            return None
        return {
            "id": gid("Product", product.id),
            "legacyResourceId": str(product.id),
            "title": product.title,
            "vendor": product.vendor,
            "handle": product.handle,
            "status": product.status,
            "descriptionHtml": product.description_html,
            "productType": product.product_type,
            "tags": list(product.tags),
            "createdAt": stamp(product.created_at),
            "updatedAt": stamp(product.updated_at),
            "options": lambda info, first=None: [
                self._option(product, o, i + 1)
                for i, o in enumerate(product.options[: first or None])
            ],
            "variants": lambda info, **page: [
                self.variant_of(product, v) for v in product.variants
            ],
            "variantsCount": {"count": len(product.variants), "precision": "EXACT"},
        }

    def _option(self, product: Product, option: ProductOption, position: int) -> Node:
        used = {v.option_values[position - 1] for v in product.variants}
        return {
            "id": gid("ProductOption", option.id),
            "name": option.name,
            "position": position,
            "values": [v for v in option.values if v in used],
            "optionValues": [
                {
                    "id": gid("ProductOptionValue", option.id * 100 + i),
                    "name": value,
                    "hasVariants": value in used,
                }
                for i, value in enumerate(option.values)
            ],
        }

    def variant(self, variant_id: int | None) -> Node | None:
        found = self.shop.variant(variant_id) if variant_id else None
        if found is None:
            return None
        return self.variant_of(*found)

    def variant_of(self, product: Product, variant: Variant) -> Node:
        """The variant's value, from the objects (no search of the shop)."""
        item = self.shop.inventory_items.get(variant.inventory_item_id)
        return {
            "id": gid("ProductVariant", variant.id),
            "legacyResourceId": str(variant.id),
            "sku": variant.sku,
            "title": variant.title,
            "displayName": f"{product.title} - {variant.title}",
            "price": money(variant.price),
            "compareAtPrice": (
                money(variant.compare_at_price) if variant.compare_at_price is not None else None
            ),
            "barcode": variant.barcode,
            "position": product.variants.index(variant) + 1,
            "taxable": variant.taxable,
            "selectedOptions": [
                {"name": o.name, "value": value}
                for o, value in zip(product.options, variant.option_values, strict=False)
            ],
            "createdAt": stamp(variant.created_at),
            "updatedAt": stamp(variant.updated_at),
            "product": lambda info: self.product(product.id),
            "inventoryItem": lambda info: self.inventory_item(item),
            "inventoryQuantity": lambda info: sum(
                lv.get("available") for lv in self.shop.levels_of(variant.inventory_item_id)
            ),
        }

    def inventory_item(self, item: InventoryItem | None) -> Node | None:
        node = super().inventory_item(item)
        if node is None or item is None:
            return node

        def weight(info: Info) -> Node:
            found = self.shop.variant(item.variant_id)
            grams = found[1].grams if found else 0
            return {"unit": "GRAMS", "value": float(grams)}

        node["measurement"] = {"id": gid("InventoryItemMeasurement", item.id), "weight": weight}
        return node


class CatalogueRoot(AdminRoot):
    """The Admin API root with the product queries and mutations."""

    views: CatalogueViews

    def __init__(
        self,
        state: ShopifyState,
        shop: Shop,
        version: str,
        app: str,
        idempotency: IdempotencyStore,
    ) -> None:
        super().__init__(state, shop, version, app, idempotency)
        self.views = CatalogueViews(shop)

    # -- queries -----------------------------------------------------------------------------

    def product(self, info: Info, id: str) -> Node | None:
        return self.views.product(self._id(id, "Product"))

    def productByIdentifier(self, info: Info, identifier: dict[str, Any]) -> Node | None:
        if identifier.get("id"):
            return self.views.product(self._id(identifier["id"], "Product"))
        if identifier.get("handle"):
            found = self._shop.product_by_handle(identifier["handle"])
            return self.views.product(found.id) if found else None
        raise GraphQLError(
            "identifier needs one of id or handle", extensions={"code": "BAD_REQUEST"}
        )

    def products(
        self, info: Info, query: str | None = None, sortKey: str = "ID", **page: Any
    ) -> list[Any]:
        chosen = [p for p in self._shop.products.values() if product_matches(p, query)]
        if sortKey == "UPDATED_AT":
            chosen.sort(key=lambda p: (p.updated_at, p.id))
        elif sortKey == "TITLE":
            chosen.sort(key=lambda p: (p.title, p.id))
        else:
            chosen.sort(key=lambda p: p.id)
        return [self.views.product(p.id) for p in chosen]

    def productVariants(self, info: Info, query: str | None = None, **page: Any) -> list[Any]:
        wanted = search_terms(query)
        return [
            self.views.variant_of(p, v)
            for p in sorted(self._shop.products.values(), key=lambda p: p.id)
            for v in p.variants
            if _variant_matches(wanted, p, v)
        ]

    def productOperation(self, info: Info, id: str) -> Node | None:
        operation = self._shop.product_operations.get(self._id(id, "ProductSetOperation"))
        if operation is None:
            return None
        # The sandbox applies the change at once; the first read after the answer completes it.
        operation.status = "COMPLETE"
        return self._operation_node(operation)

    def _operation_node(self, operation: ProductSetOperation) -> Node:
        product_id = operation.product_id
        return {
            "id": gid("ProductSetOperation", operation.id),
            "status": operation.status,
            "product": lambda info: self.views.product(product_id),
            "userErrors": list(operation.user_errors),
        }

    # -- mutations ---------------------------------------------------------------------------

    def productSet(
        self,
        info: Info,
        input: dict[str, Any],
        synchronous: bool = True,
        identifier: dict[str, Any] | None = None,
    ) -> Node:
        run = ProductSetRun(self.state, self._shop, input, identifier)
        product, errors = run.run()
        if product is not None:
            topic = "products/create" if run.created else "products/update"
            self.events.append(ShopEvent(topic=topic, payload=product_payload(self._shop, product)))
        if synchronous:
            return {
                "product": self.views.product(product.id) if product else None,
                "productSetOperation": None,
                "userErrors": errors,
            }
        operation = ProductSetOperation(
            id=self.state.ids.next("ProductSetOperation"),
            product_id=product.id if product else None,
            user_errors=errors,
        )
        self._shop.product_operations[operation.id] = operation
        return {
            "product": None,
            "productSetOperation": self._operation_node(operation),
            "userErrors": [],
        }

    def productChangeStatus(self, info: Info, productId: str, status: str) -> Node:
        product = self._shop.products.get(self._id(productId, "Product"))
        if product is None:
            return {
                "product": None,
                "userErrors": [
                    _user_error(["productId"], "Product does not exist", "PRODUCT_NOT_FOUND")
                ],
            }
        if product.status != status:
            product.status = status
            product.updated_at = now_utc()
            self.events.append(
                ShopEvent(topic="products/update", payload=product_payload(self._shop, product))
            )
        return {"product": self.views.product(product.id), "userErrors": []}


class ProductSetRun:
    """One ``productSet``: validate everything first, then change the shop (all or nothing)."""

    def __init__(
        self,
        state: ShopifyState,
        shop: Shop,
        data: dict[str, Any],
        identifier: dict[str, Any] | None,
    ) -> None:
        self.state = state
        self.shop = shop
        self.data = data
        self.identifier = identifier
        self.errors: list[Node] = []
        #: Whether the run made a new product (``products/create`` rather than ``update``).
        self.created = False

    def fail(self, field: list[str | int], message: str, code: str) -> None:
        self.errors.append(_user_error(field, message, code))

    def run(self) -> tuple[Product | None, list[Node]]:
        product = self._target()
        if self.errors:
            return None, self.errors
        if product is None and not (self.data.get("title") or "").strip():
            self.fail(["input", "title"], "Title can't be blank", "MISSING_FIELD_REQUIRED")
        status = self.data.get("status")
        options = self._options(product)
        variants = self._variants(product, options)
        if self.errors:
            return None, self.errors
        return self._apply(product, status, options, variants), []

    # -- which product ------------------------------------------------------------------------

    def _target(self) -> Product | None:
        data, ident = self.data, self.identifier
        if ident:
            if data.get("id"):
                self.fail(
                    ["input", "id"],
                    "The id field is not allowed if identifier is provided.",
                    "ID_NOT_ALLOWED",
                )
                return None
            if ident.get("id"):
                number = parse_gid(ident["id"], "Product")
                product = self.shop.products.get(number) if number else None
                if product is None:
                    self.fail(
                        ["identifier", "id"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST"
                    )
                return product
            if ident.get("handle"):
                if data.get("handle") and data["handle"] != ident["handle"]:
                    self.fail(
                        ["input", "handle"],
                        "The identifier value does not match the value of the corresponding "
                        "field in the input.",
                        "INPUT_MISMATCH",
                    )
                return self.shop.product_by_handle(ident["handle"])
            self.fail(["identifier"], "An identifier needs an id or a handle", "INVALID_INPUT")
            return None
        if data.get("id"):
            number = parse_gid(data["id"], "Product")
            product = self.shop.products.get(number) if number else None
            if product is None:
                self.fail(["input", "id"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
            return product
        handle = data.get("handle")
        if handle and self.shop.product_by_handle(handle) is not None:
            self.fail(
                ["input", "handle"],
                f"Handle '{handle}' already in use. Please provide a new handle.",
                "HANDLE_NOT_UNIQUE",
            )
        return None

    # -- options and variants -------------------------------------------------------------------

    def _options(self, product: Product | None) -> list[tuple[int | None, str, list[str]]] | None:
        given = self.data.get("productOptions")
        if given is None:
            if self.data.get("variants") is not None:
                self.fail(
                    ["input", "productOptions"],
                    "Product options input is required when updating variants.",
                    "PRODUCT_OPTIONS_INPUT_MISSING",
                )
            return None
        if len(given) > MAX_OPTIONS:
            self.fail(
                ["input", "productOptions"],
                "Can only specify a maximum of 3 options",
                "OPTIONS_OVER_LIMIT",
            )
            return None
        existing = {o.id: o for o in product.options} if product else {}
        options: list[tuple[int | None, str, list[str]]] = []
        names: set[str] = set()
        for i, option in enumerate(given):
            option_id = parse_gid(option["id"], "ProductOption") if option.get("id") else None
            if option.get("id") and option_id not in existing:
                self.fail(
                    ["input", "productOptions", i, "id"],
                    "Option does not exist",
                    "OPTION_DOES_NOT_EXIST",
                )
                continue
            name = (option.get("name") or (existing[option_id].name if option_id else "")).strip()
            if not name:
                self.fail(
                    ["input", "productOptions", i, "name"],
                    "Option name can't be blank",
                    "INVALID_INPUT",
                )
                continue
            if name.lower() in names:
                self.fail(
                    ["input", "productOptions", i, "name"],
                    f"Duplicated option name '{name}'.",
                    "DUPLICATED_OPTION_NAME",
                )
                continue
            names.add(name.lower())
            values: list[str] = []
            for j, value in enumerate(option.get("values") or []):
                text = (value.get("name") or "").strip()
                if not text:
                    self.fail(
                        ["input", "productOptions", i, "values", j, "name"],
                        "Option value name can't be blank",
                        "INVALID_INPUT",
                    )
                elif text in values:
                    self.fail(
                        ["input", "productOptions", i, "values", j],
                        f"Duplicated option value '{text}'.",
                        "DUPLICATED_OPTION_VALUE",
                    )
                else:
                    values.append(text)
            if not values:
                self.fail(
                    ["input", "productOptions", i, "values"],
                    "Option values can't be empty",
                    "OPTION_VALUES_MISSING",
                )
            options.append((option_id, name, values))
        return options

    def _variants(
        self, product: Product | None, options: list[tuple[int | None, str, list[str]]] | None
    ) -> list[tuple[Variant | None, dict[str, Any], list[str]]] | None:
        given = self.data.get("variants")
        if given is None:
            if options is not None:
                self.fail(
                    ["input", "variants"],
                    "Variants input is required when updating product options.",
                    "VARIANTS_INPUT_MISSING",
                )
            return None
        if options is None:
            return None
        if len(given) > MAX_VARIANTS:
            self.fail(
                ["input", "variants"],
                f"Exceeded the maximum of {MAX_VARIANTS} variants.",
                "VARIANTS_OVER_LIMIT",
            )
            return None
        if not given:
            self.fail(
                ["input", "variants"],
                "A product needs at least one variant",
                "VARIANTS_INPUT_MISSING",
            )
            return None
        existing = {v.id: v for v in product.variants} if product else {}
        by_name = {name.lower(): k for k, (_, name, _) in enumerate(options)}
        by_id = {oid: k for k, (oid, _, _) in enumerate(options) if oid is not None}
        chosen: list[tuple[Variant | None, dict[str, Any], list[str]]] = []
        combinations: set[tuple[str, ...]] = set()
        for i, data in enumerate(given):
            where: list[str | int] = ["input", "variants", i]
            current = None
            if data.get("id"):
                current = existing.get(parse_gid(data["id"], "ProductVariant") or 0)
                if current is None:
                    self.fail(
                        [*where, "id"],
                        "Product variant does not exist",
                        "PRODUCT_VARIANT_DOES_NOT_EXIST",
                    )
                    continue
            values: list[str | None] = [None] * len(options)
            for j, value in enumerate(data.get("optionValues") or []):
                k = None
                if value.get("optionId"):
                    k = by_id.get(parse_gid(value["optionId"], "ProductOption") or 0)
                elif value.get("optionName"):
                    k = by_name.get(value["optionName"].strip().lower())
                if k is None:
                    self.fail(
                        [*where, "optionValues", j],
                        "Option does not exist",
                        "OPTION_DOES_NOT_EXIST",
                    )
                    continue
                name = (value.get("name") or "").strip()
                if name not in options[k][2]:
                    self.fail(
                        [*where, "optionValues", j],
                        f"Option value '{name}' does not exist",
                        "OPTION_VALUE_DOES_NOT_EXIST",
                    )
                    continue
                values[k] = name
            if any(v is None for v in values):
                self.fail(
                    [*where, "optionValues"],
                    "Variant needs a value for every product option",
                    "OPTION_VALUES_MISSING",
                )
                continue
            combination = tuple(v for v in values if v is not None)
            if combination in combinations:
                self.fail(
                    [*where],
                    f"The variant '{' / '.join(combination)}' already exists.",
                    "INVALID_VARIANT",
                )
                continue
            combinations.add(combination)
            if current is None and product is not None:
                # Without an id, a variant with the same option values is the one updated.
                current = next(
                    (v for v in product.variants if tuple(v.option_values) == combination), None
                )
            for field in ("price", "compareAtPrice"):
                if data.get(field) is not None:
                    try:
                        amount = Decimal(str(data[field]))
                    except InvalidOperation:
                        amount = Decimal(-1)
                    if not amount.is_finite() or amount < 0:
                        self.fail(
                            [*where, field],
                            f"{field} must be a non-negative amount",
                            "INVALID_VARIANT",
                        )
            if current is None and data.get("price") is None:
                data = {**data, "price": "0"}
            chosen.append((current, data, list(combination)))
        return chosen

    # -- the change ---------------------------------------------------------------------------

    def _apply(
        self,
        product: Product | None,
        status: str | None,
        options: list[tuple[int | None, str, list[str]]] | None,
        variants: list[tuple[Variant | None, dict[str, Any], list[str]]] | None,
    ) -> Product:
        now = now_utc()
        data = self.data
        if product is None:
            handle = (self.identifier or {}).get("handle") or data.get("handle")
            product = Product(
                id=self.state.ids.next("Product"),
                title=data["title"].strip(),
                handle=handle or unique_handle(self.shop, handleize(data["title"])),
                variants=[],
                created_at=now,
            )
            self.shop.products[product.id] = product
            self.created = True
        for field, attribute in (
            ("title", "title"),
            ("descriptionHtml", "description_html"),
            ("vendor", "vendor"),
            ("productType", "product_type"),
            ("handle", "handle"),
        ):
            if data.get(field) is not None:
                setattr(product, attribute, data[field])
        if data.get("tags") is not None:
            product.tags = list(dict.fromkeys(data["tags"]))
        if status is not None:
            product.status = status
        if options is not None:
            product.options = [
                ProductOption(
                    id=oid or self.state.ids.next("ProductOption"), name=name, values=values
                )
                for oid, name, values in options
            ]
        if variants is not None:
            kept: list[Variant] = []
            for current, vdata, values in variants:
                variant = current or Variant(
                    id=self.state.ids.next("ProductVariant"),
                    sku="",
                    price=Decimal(0),
                    inventory_item_id=self.state.ids.next("InventoryItem"),
                    created_at=now,
                )
                _set_variant(variant, vdata, values)
                variant.updated_at = now
                kept.append(variant)
                if current is None:
                    stock_variant(self.shop, product, variant)
                else:
                    item = self.shop.inventory_items.get(variant.inventory_item_id)
                    if item is not None:
                        item.sku = variant.sku
            keep = {v.id for v in kept}
            for old in product.variants:
                if old.id not in keep:
                    unstock_variant(self.shop, old)
            product.variants = kept
        product.updated_at = now
        return product


def _set_variant(variant: Variant, data: dict[str, Any], values: list[str]) -> None:
    variant.option_values = values
    item = data.get("inventoryItem") or {}
    sku = item.get("sku") if item.get("sku") is not None else data.get("sku")
    if sku is not None:
        variant.sku = sku
    if data.get("price") is not None:
        variant.price = Decimal(str(data["price"]))
    if "compareAtPrice" in data:
        raw = data["compareAtPrice"]
        variant.compare_at_price = None if raw is None else Decimal(str(raw))
    if "barcode" in data:
        variant.barcode = data["barcode"]
    if data.get("taxable") is not None:
        variant.taxable = data["taxable"]
    weight = (item.get("measurement") or {}).get("weight")
    if weight:
        variant.grams = round(weight["value"] * WEIGHT_GRAMS[weight["unit"]])


def _variant_matches(
    terms: list[tuple[str | None, str]], product: Product, variant: Variant
) -> bool:
    for key, value in terms:
        if key == "sku" and value != variant.sku:
            return False
        if key == "id" and value != str(variant.id):
            return False
        if key == "product_id" and value != str(product.id):
            return False
        if key == "barcode" and value != (variant.barcode or ""):
            return False
    return True


def product_matches(product: Product, query: str | None) -> bool:
    """Shopify's product search, for the terms Strata uses: handle, sku, status, id, updated_at."""
    for key, value in search_terms(query):
        if key == "handle" and value != product.handle:
            return False
        if key == "sku" and all(v.sku != value for v in product.variants):
            return False
        if key == "status" and product.status not in {s.strip().upper() for s in value.split(",")}:
            return False
        if key == "id" and value != str(product.id):
            return False
        if key == "updated_at" and not _updated(product.updated_at, value):
            return False
        if key == "title" and value.lower() not in product.title.lower():
            return False
    return True


def _updated(moment: datetime, expression: str) -> bool:
    match = re.fullmatch(r"(>=|<=|>|<)?'?([^']*)'?", expression)
    if match is None:
        return True
    operator, raw = match.groups()
    try:
        bound = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return True
    if bound.tzinfo is None:
        bound = bound.replace(tzinfo=moment.tzinfo)
    return {
        ">": moment > bound,
        ">=": moment >= bound,
        "<": moment < bound,
        "<=": moment <= bound,
    }.get(operator or "", moment.date() == bound.date())
