"""The sandbox's product side of Admin GraphQL: productSet, productChangeStatus, queries."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.shopify.admin_graphql import run_admin_graphql
from sandbox.shopify.admin_root import IdempotencyStore
from sandbox.shopify.catalogue import seed_demo_shop
from sandbox.shopify.clock import SandboxClock
from sandbox.shopify.cost import CostBucket
from sandbox.shopify.state import Shop, ShopifyState

PRODUCT = "id handle title status vendor productType tags descriptionHtml"
VARIANTS = (
    "variants(first: 250) { nodes { id sku price barcode title"
    " selectedOptions { name value } inventoryItem { id sku } } }"
)
SET = f"""
mutation Set($input: ProductSetInput!, $identifier: ProductSetIdentifiers, $sync: Boolean) {{
  productSet(input: $input, identifier: $identifier, synchronous: $sync) {{
    product {{ {PRODUCT} options {{ name values }} {VARIANTS} }}
    productSetOperation {{ id status }}
    userErrors {{ field message code }}
  }}
}}
"""


class Admin:
    def __init__(self) -> None:
        self.state = ShopifyState()
        self.shop: Shop = seed_demo_shop(self.state, "demo-eu", [])
        self.bucket = CostBucket(1_000_000, 1_000_000, SandboxClock())
        self.idempotency = IdempotencyStore()

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        reply = run_admin_graphql(
            state=self.state,
            shop=self.shop,
            version="2026-04",
            app="strata",
            bucket=self.bucket,
            idempotency=self.idempotency,
            payload={"query": query, "variables": variables},
            max_query_cost=100_000,
        )
        assert reply.status == 200
        body: dict[str, Any] = reply.body
        assert "errors" not in body, body["errors"]
        assert body["extensions"]["cost"]["actualQueryCost"] is not None
        data: dict[str, Any] = body["data"]
        return data


def tee(price: str = "19.00", sizes: tuple[str, ...] = ("S", "M")) -> dict[str, Any]:
    return {
        "title": "Organic Cotton T-Shirt",
        "productOptions": [{"name": "Size", "values": [{"name": s} for s in sizes]}],
        "variants": [
            {
                "sku": f"TSHIRT-{s}",
                "price": price,
                "barcode": f"871000000000{i}",
                "optionValues": [{"optionName": "Size", "name": s}],
            }
            for i, s in enumerate(sizes)
        ],
    }


@pytest.fixture
def admin() -> Admin:
    return Admin()


def test_product_set_creates_then_updates_by_handle(admin: Admin) -> None:
    ident = {"handle": "organic-cotton-t-shirt-1"}
    first = admin(SET, input=tee(), identifier=ident)["productSet"]
    assert first["userErrors"] == []
    product = first["product"]
    assert product["handle"] == "organic-cotton-t-shirt-1"
    assert product["options"] == [{"name": "Size", "values": ["S", "M"]}]
    ids = {v["sku"]: v["id"] for v in product["variants"]["nodes"]}
    # The same input again: the same product and variants (matched by option values).
    again = admin(SET, input=tee("21.00"), identifier=ident)["productSet"]["product"]
    assert again["id"] == product["id"]
    assert {v["sku"]: v["id"] for v in again["variants"]["nodes"]} == ids
    assert {v["price"] for v in again["variants"]["nodes"]} == {"21.00"}
    assert len(admin.shop.products) == 1
    assert {i.sku for i in admin.shop.inventory_items.values()} == {"TSHIRT-S", "TSHIRT-M"}


def test_variants_left_out_are_deleted_and_omitted_scalars_kept(admin: Admin) -> None:
    ident = {"handle": "tee"}
    created = admin(SET, input={**tee(), "vendor": "Acme", "tags": ["x"]}, identifier=ident)
    assert created["productSet"]["userErrors"] == []
    smaller = admin(SET, input=tee(sizes=("M",)), identifier=ident)["productSet"]["product"]
    assert [v["sku"] for v in smaller["variants"]["nodes"]] == ["TSHIRT-M"]
    assert smaller["vendor"] == "Acme"
    assert smaller["tags"] == ["x"]
    assert {i.sku for i in admin.shop.inventory_items.values()} == {"TSHIRT-M"}


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"title": None}, "MISSING_FIELD_REQUIRED", ["input", "title"]),
        ({"productOptions": None}, "PRODUCT_OPTIONS_INPUT_MISSING", ["input", "productOptions"]),
        ({"id": "gid://shopify/Product/1"}, "PRODUCT_DOES_NOT_EXIST", ["input", "id"]),
        (
            {"variants": [{"sku": "A", "optionValues": [{"optionName": "Size", "name": "XL"}]}]},
            "OPTION_VALUE_DOES_NOT_EXIST",
            ["input", "variants", "0", "optionValues", "0"],
        ),
        (
            {
                "variants": [
                    {"sku": "A", "optionValues": [{"optionName": "Size", "name": "S"}]},
                    {"sku": "B", "optionValues": [{"optionName": "Size", "name": "S"}]},
                ]
            },
            "INVALID_VARIANT",
            ["input", "variants", "1"],
        ),
        (
            {
                "variants": [
                    {
                        "sku": "A",
                        "price": "-1",
                        "optionValues": [{"optionName": "Size", "name": "S"}],
                    }
                ]
            },
            "INVALID_VARIANT",
            ["input", "variants", "0", "price"],
        ),
    ],
)
def test_user_errors_change_nothing(
    admin: Admin, change: dict[str, Any], code: str, field: list[str]
) -> None:
    data = {**tee(), **change}
    answer = admin(SET, input={k: v for k, v in data.items() if v is not None})["productSet"]
    assert answer["product"] is None
    assert next((e["code"], e["field"]) for e in answer["userErrors"]) == (code, field)
    assert admin.shop.products == {}


def test_id_with_identifier_is_refused(admin: Admin) -> None:
    answer = admin(
        SET, input={**tee(), "id": "gid://shopify/Product/1"}, identifier={"handle": "tee"}
    )["productSet"]
    assert answer["userErrors"][0]["code"] == "ID_NOT_ALLOWED"


def test_variant_limits(admin: Admin) -> None:
    sizes = tuple(f"S{i}" for i in range(2049))
    reply = run_admin_graphql(
        state=admin.state,
        shop=admin.shop,
        version="2026-04",
        app="strata",
        bucket=admin.bucket,
        idempotency=admin.idempotency,
        payload={"query": SET, "variables": {"input": tee(sizes=sizes)}},
        max_query_cost=100_000,
    )
    assert reply.body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    # Past the 250-item input limit but within 2,048: productSet takes it.
    fine = admin(SET, input=tee(sizes=sizes[:2048]))["productSet"]
    assert fine["userErrors"] == []
    assert len(next(iter(admin.shop.products.values())).variants) == 2048


def test_asynchronous_product_set_and_operation(admin: Admin) -> None:
    answer = admin(SET, input=tee(), sync=False)["productSet"]
    assert answer["product"] is None
    operation = answer["productSetOperation"]
    assert operation["status"] == "CREATED"
    read = admin(
        "query Op($id: ID!) { productOperation(id: $id) { ... on ProductSetOperation {"
        " status product { handle } userErrors { code } } } }",
        id=operation["id"],
    )["productOperation"]
    assert read == {
        "status": "COMPLETE",
        "product": {"handle": "organic-cotton-t-shirt"},
        "userErrors": [],
    }


def test_change_status_and_queries(admin: Admin) -> None:
    product = admin(SET, input=tee(), identifier={"handle": "tee"})["productSet"]["product"]
    archived = admin(
        "mutation A($id: ID!) { productChangeStatus(productId: $id, status: ARCHIVED) {"
        " product { status } userErrors { code field } } }",
        id=product["id"],
    )["productChangeStatus"]
    assert archived == {"product": {"status": "ARCHIVED"}, "userErrors": []}
    missing = admin(
        'mutation A { productChangeStatus(productId: "gid://shopify/Product/9", status: ARCHIVED)'
        " { product { id } userErrors { code field } } }"
    )["productChangeStatus"]
    assert missing["userErrors"] == [{"code": "PRODUCT_NOT_FOUND", "field": ["productId"]}]
    by_handle = admin('query { productByIdentifier(identifier: {handle: "tee"}) { id status } }')[
        "productByIdentifier"
    ]
    assert by_handle == {"id": product["id"], "status": "ARCHIVED"}
    variants = admin(
        'query { productVariants(first: 5, query: "sku:TSHIRT-M") {'
        " nodes { sku product { id } } } }"
    )["productVariants"]["nodes"]
    assert variants == [{"sku": "TSHIRT-M", "product": {"id": product["id"]}}]
    page = admin(
        'query { products(first: 1, query: "status:ARCHIVED") {'
        " nodes { handle } pageInfo { hasNextPage } } }"
    )["products"]
    assert page == {"nodes": [{"handle": "tee"}], "pageInfo": {"hasNextPage": False}}
