"""The Shopify mapping carries every part of an order's total, in shop money."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from process_apis.orders.mapping import MappingError, to_sales_order
from shared.models import ChargeKind, DiscountScope, LineKind, OrderSource, SalesOrderDraft

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "shopify_orders"
ORDERS = sorted(FIXTURES.glob("*.json"))
SHOP = "demo.myshopify.com"


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return payload


def parts_total(draft: SalesOrderDraft) -> Decimal:
    """The order's total from its parts, as Shopify adds them."""
    total = Decimal(0)
    for line in draft.lines:
        total += line.unit_price * line.quantity - line.discount_total
        total += Decimal(0) if draft.taxes_included else line.tax_total
    for charge in draft.charges:
        sign = -1 if charge.kind is ChargeKind.DISCOUNT else 1
        amount = charge.amount - charge.discount_total
        amount += Decimal(0) if draft.taxes_included else charge.tax_total
        total += sign * amount
    return total


@pytest.mark.parametrize("path", ORDERS, ids=[p.stem for p in ORDERS])
def test_every_fixture_maps_to_parts_that_add_up_to_shopifys_total(path: Path) -> None:
    payload = json.loads(path.read_text())
    draft = to_sales_order(SHOP, payload, custom_item_sku="CUSTOM-ITEM")
    expected = Decimal(payload["current_total_price_set"]["shop_money"]["amount"])
    assert draft.expected_total == expected
    assert parts_total(draft) == expected
    assert draft.currency == payload["currency"]


def test_line_discounts_and_taxes_come_from_shop_money_with_their_codes() -> None:
    draft = to_sales_order(SHOP, load("02_discount_code_order_level"))
    jeans = draft.lines[0]
    assert jeans.discount_total == Decimal("6.90")
    assert [(d.title, d.scope) for d in jeans.discounts] == [("PRINTEMPS10", DiscountScope.ORDER)]
    assert [(t.rate, t.amount) for t in jeans.taxes] == [(Decimal("0.2"), Decimal("10.35"))]
    assert draft.taxes_included is True
    assert draft.discount_codes == ["PRINTEMPS10"]
    [shipping] = draft.charges
    assert (shipping.kind, shipping.amount, shipping.tax_total) == (
        ChargeKind.SHIPPING,
        Decimal("5.90"),
        Decimal("0.98"),
    )


def test_presentment_money_is_kept_beside_shop_money() -> None:
    payload = load("08_presentment_gbp_shop_eur")
    draft = to_sales_order(SHOP, payload)
    assert draft.currency == "EUR"
    assert draft.presentment_currency == "GBP"
    assert draft.presentment_total == Decimal(
        payload["current_total_price_set"]["presentment_money"]["amount"]
    )
    assert draft.lines[0].unit_price == Decimal("29.00")
    assert draft.lines[0].presentment_unit_price == Decimal("24.68")
    # Only shop money is posted: the expected total is in the shop's currency.
    assert draft.expected_total == Decimal("86.50")


def test_shop_money_wins_over_the_plain_amount() -> None:
    payload = load("08_presentment_gbp_shop_eur")
    payload["line_items"][0]["price"] = "24.68"  # a presentment amount where it shouldn't be
    assert to_sales_order(SHOP, payload).lines[0].unit_price == Decimal("29.00")


def test_zero_and_three_decimal_currencies_are_exact() -> None:
    yen = to_sales_order(SHOP, load("07_jpy_zero_decimal"))
    assert yen.expected_total == Decimal("18140")
    dinar = to_sales_order(SHOP, load("16_kwd_three_decimals"))
    assert dinar.expected_total == Decimal("29.125")
    payload = load("07_jpy_zero_decimal")
    payload["current_total_price_set"]["shop_money"]["amount"] = "18140.5"
    with pytest.raises(MappingError) as info:
        to_sales_order(SHOP, payload)
    assert "not a whole number of JPY minor units" in str(info.value)


def test_a_purchased_gift_card_is_its_own_kind_and_untaxed() -> None:
    draft = to_sales_order(SHOP, load("09_gift_card_purchase"))
    card = draft.lines[0]
    assert card.kind is LineKind.GIFT_CARD
    assert card.taxes == []


def test_a_gift_card_payment_is_recorded_not_subtracted() -> None:
    payload = load("10_paid_with_gift_card")
    draft = to_sales_order(SHOP, payload)
    assert "gift_card" in draft.payment_gateways
    assert draft.expected_total == Decimal(payload["total_price"])
    assert parts_total(draft) == draft.expected_total


def test_a_custom_item_uses_the_shops_product_or_is_refused_by_name() -> None:
    payload = load("11_custom_item_without_sku")
    draft = to_sales_order(SHOP, payload, custom_item_sku="CUSTOM-ITEM")
    custom = draft.lines[1]
    assert (custom.sku, custom.kind) == ("CUSTOM-ITEM", LineKind.CUSTOM)
    assert custom.description == "Monogram embroidery (E.d.J.)"
    with pytest.raises(MappingError) as info:
        to_sales_order(SHOP, payload)
    [error] = info.value.errors
    assert error["field"] == "line_items[1].sku"
    assert "custom item" in error["message"]
    assert "STRATA_ORDERS_CUSTOM_ITEM_SKUS" in error["message"]


def test_a_product_line_without_sku_is_still_refused() -> None:
    payload = load("01_eu_vat_multi_line_tax_included")
    payload["line_items"][0]["sku"] = None
    with pytest.raises(MappingError) as info:
        to_sales_order(SHOP, payload, custom_item_sku="CUSTOM-ITEM")
    assert info.value.errors == [{"field": "line_items[0].sku", "message": "the line has no SKU"}]


def test_duties_and_tips_become_charges() -> None:
    draft = to_sales_order(SHOP, load("17_duties_and_tip"))
    assert [line.sku for line in draft.lines] == ["JEANS-IND-30"]
    kinds = {charge.kind: charge for charge in draft.charges}
    assert kinds[ChargeKind.DUTY].amount == Decimal("7.70")
    assert kinds[ChargeKind.DUTY].code == "620342"
    assert kinds[ChargeKind.TIP].amount == Decimal("3.00")
    assert kinds[ChargeKind.SHIPPING].amount == Decimal("19.90")


def test_a_line_titled_tip_is_a_product_when_the_order_has_no_tip() -> None:
    payload = load("17_duties_and_tip")
    payload["total_tip_received"] = "0.00"
    with pytest.raises(MappingError):  # a SKU-less line again, and no custom-item product
        to_sales_order(SHOP, payload)


def test_an_edited_line_is_taxed_on_what_is_left_of_it() -> None:
    payload = load("18_edited_quantity")
    draft = to_sales_order(SHOP, payload)
    hoodie = draft.lines[0]
    assert hoodie.quantity == 2
    original = sum(Decimal(t["price"]) for t in payload["line_items"][0]["tax_lines"])
    assert hoodie.tax_total == pytest.approx(original * 2 / 3, abs=Decimal("0.02"))
    assert parts_total(draft) == draft.expected_total


def test_guest_checkout_and_digital_goods() -> None:
    guest = to_sales_order(SHOP, load("14_guest_checkout"))
    assert guest.customer.email == "noah.guest@example.com"
    assert guest.customer.id is None
    assert guest.customer.name == "Noah Carter"
    digital = to_sales_order(SHOP, load("15_digital_goods_no_shipping_address"))
    assert digital.shipping_address is None
    assert digital.customer.addresses[0].city == "Paris"
    assert digital.charges == []


def test_unicode_survives() -> None:
    draft = to_sales_order(SHOP, load("13_unicode_names_and_addresses"))
    assert draft.customer.name == "Zoë Łukasiewicz-Ørsted"
    assert draft.shipping_address is not None
    assert draft.shipping_address.city == "Kraków"
    assert draft.lines[0].description == "Koc bawełniany „Owies” \u2013 édition spéciale ✨"


def test_source_and_b2b_fields() -> None:
    payload = load("04_us_sales_tax_ohio")
    payload = copy.deepcopy(payload)
    payload["source_name"] = "pos"
    payload["company"] = {"id": 1, "location_id": 2}
    payload["billing_address"]["company"] = "Brooks Studio LLC"
    payload["po_number"] = "PO-7781"
    payload["payment_terms"] = {"payment_terms_name": "Net 30", "due_in_days": 30}
    draft = to_sales_order(SHOP, payload)
    assert draft.source is OrderSource.POS
    assert (draft.company_name, draft.purchase_order_number, draft.payment_terms) == (
        "Brooks Studio LLC",
        "PO-7781",
        "Net 30",
    )
    assert draft.is_business
    assert to_sales_order(SHOP, load("04_us_sales_tax_ohio")).company_name is None


def test_a_bad_tax_line_names_its_field() -> None:
    payload = load("04_us_sales_tax_ohio")
    payload["line_items"][2]["tax_lines"][1]["rate"] = "seven"
    with pytest.raises(MappingError) as info:
        to_sales_order(SHOP, payload)
    assert info.value.errors[0]["field"] == "line_items[2].tax_lines[1]"


def test_the_canonical_draft_round_trips_as_json() -> None:
    draft = to_sales_order(SHOP, load("17_duties_and_tip"))
    again = msgspec.json.decode(msgspec.json.encode(draft), type=SalesOrderDraft)
    assert again == draft
