"""ERP products as Shopify products: mapping, content hash and merge with live data."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from process_apis.catalog.mapping import (
    MappingError,
    PriceMissing,
    desired_product,
    digest,
    merge,
)
from process_apis.catalog.schemas import LiveOption, LiveOptionValue, LiveProduct, LiveVariant
from shared.models import Money, Product, Variant
from shared.models.catalog import VariantOption


def tee(price: str = "19.00", **changes: object) -> Product:
    variants = [
        Variant(
            sku=f"TEE-{size}",
            name=f"Black / {size}",
            price=Money(amount=Decimal(price), currency="EUR"),
            prices=[
                Money(amount=Decimal(price), currency="EUR"),
                Money(amount=Decimal("22.00"), currency="USD"),
            ],
            barcode="4006381333931" if size == "M" else None,
        )
        for size in ("S", "M")
    ]
    product = Product(id="7", name="Organic Tee", variants=variants)
    return msgspec.structs.replace(product, **changes)


def test_mapping_prices_in_the_shops_currency() -> None:
    eur = desired_product(tee(), instance="eu", currency="EUR")
    usd = desired_product(tee(), instance="eu", currency="USD")
    assert eur is not None
    assert usd is not None
    assert eur.handle == "organic-tee-eu-7"
    assert [v.price for v in eur.variants] == ["19.00", "19.00"]
    assert [v.price for v in usd.variants] == ["22.00", "22.00"]
    assert eur.option_names == ["Variant"]
    assert eur.variants[1].options == [("Variant", "Black / M")]
    assert eur.variants[1].barcode == "4006381333931"


def test_no_price_in_the_currency_is_an_error_not_a_conversion() -> None:
    with pytest.raises(PriceMissing) as caught:
        desired_product(tee(), instance="eu", currency="GBP")
    assert caught.value.field == "variants[TEE-S].price"
    assert (caught.value.sku, caught.value.currency) == ("TEE-S", "GBP")
    assert isinstance(caught.value, MappingError)


def test_the_list_price_alone_prices_only_the_erps_currency() -> None:
    """A variant without prices (an ERP without price lists) sells in the ERP's currency
    only: its list price is never converted to another."""
    bare = [msgspec.structs.replace(v, prices=[]) for v in tee().variants]
    eur = desired_product(tee(variants=bare), instance="eu", currency="EUR")
    assert eur is not None
    assert [v.price for v in eur.variants] == ["19.00", "19.00"]
    with pytest.raises(PriceMissing):
        desired_product(tee(variants=bare), instance="eu", currency="USD")


def test_erp_options_and_single_variants() -> None:
    with_options = tee(
        variants=[
            msgspec.structs.replace(v, options=[VariantOption(name="Size", value=v.sku[-1])])
            for v in tee().variants
        ]
    )
    mapped = desired_product(with_options, instance="eu", currency="EUR")
    assert mapped is not None
    assert mapped.option_names == ["Size"]
    single = desired_product(tee(variants=tee().variants[:1]), instance="eu", currency="EUR")
    assert single is not None
    assert single.variants[0].options == [("Title", "Default Title")]


def test_inactive_products_and_subsets_map_to_nothing() -> None:
    assert desired_product(tee(active=False), instance="eu", currency="EUR") is None
    subset = desired_product(tee(), instance="eu", currency="EUR", sku_prefixes=["TEE-M"])
    assert subset is not None
    assert [v.sku for v in subset.variants] == ["TEE-M"]
    assert desired_product(tee(), instance="eu", currency="EUR", sku_prefixes=["MUG"]) is None


def test_hash_changes_with_managed_fields_only() -> None:
    base = desired_product(tee(), instance="eu", currency="EUR")
    same = desired_product(tee(updated_at=None), instance="eu", currency="EUR")
    dearer = desired_product(tee("21.00"), instance="eu", currency="EUR")
    assert base is not None
    assert same is not None
    assert dearer is not None
    assert digest(base) == digest(same)
    assert digest(base) != digest(dearer)
    # Another shop's currency changes nothing in this shop's hash.
    usd_change = tee(
        variants=[
            msgspec.structs.replace(
                v, prices=[v.price, Money(amount=Decimal("30"), currency="USD")]
            )
            for v in tee().variants
        ]
    )
    assert digest(base) == digest(desired_product(usd_change, instance="eu", currency="EUR"))  # type: ignore[arg-type]


def live(*variants: LiveVariant, options: list[LiveOption] | None = None) -> LiveProduct:
    return LiveProduct(
        id=900,
        handle="organic-tee-eu-7",
        status="ACTIVE",
        options=options or [LiveOption(name="Variant", values=["Black / S", "Black / M"])],
        variants=list(variants),
    )


def lv(id: int, sku: str, value: str, name: str = "Variant") -> LiveVariant:
    return LiveVariant(id=id, sku=sku, options=[LiveOptionValue(name=name, value=value)])


def test_merge_keeps_variant_ids_and_unowned_variants() -> None:
    desired = desired_product(tee(), instance="eu", currency="EUR")
    assert desired is not None
    current = live(
        lv(1, "TEE-S", "Black / S"), lv(2, "TEE-M", "Black / M"), lv(3, "GIFT", "Gift wrap")
    )
    body = merge(desired, current, owned_skus={"TEE-S", "TEE-M"})
    assert body["product_id"] == 900
    variants = body["variants"]
    assert isinstance(variants, list)
    assert [(v.get("id"), v.get("sku")) for v in variants] == [
        (1, "TEE-S"),
        (2, "TEE-M"),
        (3, None),
    ]
    # The merchant's own variant is kept with only its options: nothing of it is overwritten.
    assert variants[2] == {"id": 3, "options": [{"name": "Variant", "value": "Gift wrap"}]}
    assert body["options"] == [
        {"name": "Variant", "values": ["Black / S", "Black / M", "Gift wrap"]}
    ]
    assert "status" not in body
    assert "vendor" not in body
    assert "tags" not in body


def test_merge_drops_owned_variants_no_longer_sold() -> None:
    desired = desired_product(tee(variants=tee().variants[1:]), instance="eu", currency="EUR")
    assert desired is not None
    current = live(lv(1, "TEE-S", "Black / S"), lv(2, "TEE-M", "Default Title", "Title"))
    body = merge(desired, current, owned_skus={"TEE-S", "TEE-M"})
    variants = body["variants"]
    assert isinstance(variants, list)
    assert [v.get("sku") for v in variants] == ["TEE-M"]


def test_merge_new_product_is_created_active_by_handle() -> None:
    desired = desired_product(tee(), instance="eu", currency="EUR")
    assert desired is not None
    body = merge(desired, None, owned_skus=())
    assert body["handle"] == "organic-tee-eu-7"
    assert body["status"] == "ACTIVE"
    assert "product_id" not in body


def test_merge_refuses_unowned_variants_on_other_options() -> None:
    desired = desired_product(tee(), instance="eu", currency="EUR")
    assert desired is not None
    current = live(
        lv(3, "GIFT", "Red", "Color"), options=[LiveOption(name="Color", values=["Red"])]
    )
    with pytest.raises(MappingError) as caught:
        merge(desired, current, owned_skus=())
    assert caught.value.field == "options"
