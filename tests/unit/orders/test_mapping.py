from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from process_apis.orders.mapping import MappingError, external_reference, to_sales_order
from process_apis.orders.routing import NoRoute, choose_instance
from process_apis.orders.settings import OrdersSettings, RoutingRule

ORDER: dict[str, Any] = {
    "id": 820982911946154508,
    "name": "#1001",
    "email": "ada@example.com",
    "currency": "EUR",
    "created_at": "2026-11-20T10:00:00+01:00",
    "total_price": "59.70",
    "customer": {"id": 115310627314723954, "first_name": "Ada", "last_name": "Lovelace"},
    "line_items": [
        {"sku": "TSHIRT-BLK-M", "quantity": 2, "price": "19.90", "title": "Tee"},
        {"sku": "MUG-WHT", "quantity": 1, "price": "19.90", "title": "Mug"},
    ],
    "shipping_address": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address1": "1 Main St",
        "city": "Paris",
        "zip": "75001",
        "country_code": "FR",
    },
}


def test_maps_a_shopify_order() -> None:
    draft = to_sales_order("demo.myshopify.com", ORDER)
    assert draft.external_reference == "shopify:demo.myshopify.com:820982911946154508"
    assert draft.currency == "EUR"
    assert draft.customer.email == "ada@example.com"
    assert draft.customer.name == "Ada Lovelace"
    assert [(line.sku, line.quantity, line.unit_price) for line in draft.lines] == [
        ("TSHIRT-BLK-M", 2, Decimal("19.90")),
        ("MUG-WHT", 1, Decimal("19.90")),
    ]
    assert draft.shipping_address is not None
    assert draft.shipping_address.country == "FR"


def test_removed_lines_are_skipped() -> None:
    order = copy.deepcopy(ORDER)
    order["line_items"][1]["current_quantity"] = 0
    assert [line.sku for line in to_sales_order("s", order).lines] == ["TSHIRT-BLK-M"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda o: o["line_items"][0].update(sku=""), "line_items[0].sku"),
        (lambda o: o["line_items"][1].update(price="abc"), "line_items[1].price"),
        (lambda o: o.update(line_items=[]), "line_items"),
        (lambda o: o.update(email=None, customer={}), "email"),
        (lambda o: o.update(currency="euro"), "currency"),
        (lambda o: o.pop("id"), "id"),
    ],
)
def test_bad_payloads_name_the_field(change: Callable[[dict[str, Any]], Any], field: str) -> None:
    order = copy.deepcopy(ORDER)
    change(order)
    with pytest.raises(MappingError) as info:
        to_sales_order("s", order)
    assert field in [e["field"] for e in info.value.errors]


def test_routing_rules() -> None:
    settings = OrdersSettings()
    eu = to_sales_order("s", ORDER)
    us_order = copy.deepcopy(ORDER)
    us_order["shipping_address"]["country_code"] = "US"
    us = to_sales_order("s", us_order)
    known = {"eu", "us"}
    assert choose_instance(eu, "s", settings.routes, "eu", known) == "eu"
    assert choose_instance(us, "s", settings.routes, "eu", known) == "us"
    by_prefix = [RoutingRule(instance="us", sku_prefixes=["TSHIRT-", "MUG-"])]
    assert choose_instance(eu, "s", by_prefix, "eu", known) == "us"
    by_shop = [RoutingRule(instance="us", shops=["other"])]
    assert choose_instance(eu, "s", by_shop, "eu", known) == "eu"
    with pytest.raises(NoRoute):
        choose_instance(eu, "s", [RoutingRule(instance="apac")], "eu", known)


def test_reference_is_unique_across_shops() -> None:
    assert external_reference("a.myshopify.com", 1) != external_reference("b.myshopify.com", 1)
