"""ERP products as Shopify products: pure, typed functions, unit-tested without I/O.

What Strata manages on a Shopify product: title, description (when the ERP has one), the
options, and of each variant it owns (by SKU) the SKU, option values, price in the shop's
currency, barcode and weight. Everything else (vendor, type, tags, SEO, metafields, variants
Strata does not own) is left as Shopify holds it.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Collection, Sequence
from decimal import Decimal

import msgspec

from process_apis.catalog.schemas import LiveProduct
from shared.models import Product

_CENT = Decimal("0.01")


class MappingError(Exception):
    """The ERP product cannot be published as it is; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PriceMissing(MappingError):
    """The ERP has no price for a variant in the shop's currency (no price list of that
    currency prices it): the shop needs one from the ERP, never a converted price."""

    def __init__(self, sku: str, currency: str) -> None:
        super().__init__(f"variants[{sku}].price", f"the ERP has no {currency} price")
        self.sku = sku
        self.currency = currency


class DesiredVariant(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    options: list[tuple[str, str]]
    price: str
    barcode: str | None = None
    weight_grams: float | None = None


class DesiredProduct(msgspec.Struct, frozen=True, kw_only=True):
    """The fields Strata manages, as the ERP says they should be in one shop."""

    handle: str
    title: str
    option_names: list[str]
    variants: list[DesiredVariant]
    description_html: str | None = None


def handleize(text: str) -> str:
    """Shopify's handle alphabet: lower-case letters, digits, single dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "product"


def handle_for(product: Product, instance: str) -> str:
    """A handle unique per ERP instance and product: the name for people, the instance and
    id for uniqueness. A product keeps the handle it was created with (merge keeps Shopify's)."""
    return f"{handleize(product.name)[:200]}-{handleize(instance)}-{handleize(product.id)}"


def desired_product(
    product: Product, *, instance: str, currency: str, sku_prefixes: Sequence[str] = ()
) -> DesiredProduct | None:
    """What ``product`` should look like in a shop selling in ``currency`` (None when none of
    its variants is for sale there). Prices come from the ERP in that currency (its price
    list of that currency), never converted: a variant without one raises PriceMissing."""
    variants = [
        v
        for v in product.variants
        if v.active and (not sku_prefixes or v.sku.startswith(tuple(sku_prefixes)))
    ]
    if not product.active or not variants:
        return None
    names = [o.name for o in variants[0].options]
    if names and all([o.name for o in v.options] == names for v in variants):
        options = [[(o.name, o.value) for o in v.options] for v in variants]
    elif len(variants) == 1:
        names, options = ["Title"], [[("Title", "Default Title")]]
    else:
        names, options = ["Variant"], [[("Variant", v.name)] for v in variants]
    seen: set[tuple[tuple[str, str], ...]] = set()
    out = []
    for variant, values in zip(variants, options, strict=True):
        key = tuple(values)
        if key in seen:
            raise MappingError(
                f"variants[{variant.sku}].options", f"two variants are both {values!r}"
            )
        seen.add(key)
        prices = variant.prices or [variant.price]
        price = next((p for p in prices if p.currency == currency), None)
        if price is None:
            raise PriceMissing(variant.sku, currency)
        out.append(
            DesiredVariant(
                sku=variant.sku,
                options=values,
                price=_amount(price.amount),
                barcode=variant.barcode,
                weight_grams=float(variant.weight_grams)
                if variant.weight_grams is not None
                else None,
            )
        )
    return DesiredProduct(
        handle=handle_for(product, instance),
        title=product.name,
        option_names=names,
        variants=out,
        description_html=f"<p>{html.escape(product.description)}</p>"
        if product.description
        else None,
    )


def digest(desired: DesiredProduct) -> str:
    """The content hash of what Strata manages: equal hashes, nothing to publish."""
    return hashlib.sha256(msgspec.json.encode(desired)).hexdigest()[:32]


def merge(
    desired: DesiredProduct, live: LiveProduct | None, owned_skus: Collection[str]
) -> dict[str, object]:
    """The ``productSet`` body for the Shopify system API: ``desired`` merged with ``live``.

    Variants of ``live`` whose SKU Strata does not own (not desired, not in ``owned_skus``)
    are kept by id with their option values, so ``productSet`` does not delete them; owned
    variants no longer desired are left out, and so deleted. A variant keeps its Shopify id
    by SKU. MappingError if kept variants use other options than Strata's.
    """
    by_sku = {v.sku: v for v in live.variants if v.sku} if live else {}
    wanted = {v.sku for v in desired.variants}
    kept = [
        v
        for v in (live.variants if live else [])
        if not (v.sku and (v.sku in wanted or v.sku in owned_skus))
    ]
    values: dict[str, list[str]] = {name: [] for name in desired.option_names}
    for variant in desired.variants:
        for name, value in variant.options:
            if value not in values[name]:
                values[name].append(value)
    for kept_variant in kept:
        names = [o.name for o in kept_variant.options]
        if sorted(names) != sorted(desired.option_names):
            raise MappingError(
                "options",
                f"Shopify variant {kept_variant.id} (not Strata's) uses options {names}, "
                f"Strata's product {desired.option_names}",
            )
        for option in kept_variant.options:
            if option.value not in values[option.name]:
                values[option.name].append(option.value)
    variants: list[dict[str, object]] = []
    for d in desired.variants:
        item: dict[str, object] = {
            "sku": d.sku,
            "price": d.price,
            "options": [{"name": n, "value": v} for n, v in d.options],
        }
        if d.sku in by_sku:
            item["id"] = by_sku[d.sku].id
        if d.barcode is not None:
            item["barcode"] = d.barcode
        if d.weight_grams is not None:
            item["weight_grams"] = d.weight_grams
        variants.append(item)
    for other in kept:
        variants.append(
            {
                "id": other.id,
                "options": [{"name": o.name, "value": o.value} for o in other.options],
            }
        )
    body: dict[str, object] = {
        "handle": live.handle if live else desired.handle,
        "title": desired.title,
        "options": [{"name": n, "values": values[n]} for n in desired.option_names],
        "variants": variants,
    }
    if live is not None:
        body["product_id"] = live.id
    else:
        body["status"] = "ACTIVE"
    if desired.description_html is not None:
        body["description_html"] = desired.description_html
    return body


def _amount(value: Decimal) -> str:
    """Money as Shopify writes it: at least two decimals."""
    exponent = value.as_tuple().exponent
    return str(value.quantize(_CENT) if isinstance(exponent, int) and exponent > -2 else value)
