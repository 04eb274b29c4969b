"""The sandbox's sales-channel publications: ``publications``, ``publishablePublish`` with
Shopify's shape and user errors, and a product's ``publishedOnPublication``."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.shopify.admin_graphql import run_admin_graphql
from sandbox.shopify.admin_root import IdempotencyStore
from sandbox.shopify.catalogue import seed_demo_shop
from sandbox.shopify.clock import SandboxClock
from sandbox.shopify.cost import CostBucket
from sandbox.shopify.state import Shop, ShopifyState

PUBLICATIONS = "{ publications(first: 10) { nodes { id name autoPublish } } }"
PUBLISH = """
mutation Publish($id: ID!, $input: [PublicationInput!]!) {
  publishablePublish(id: $id, input: $input) {
    publishable {
      ... on Product { id title }
      availablePublicationsCount { count }
      online: publishedOnPublication(publicationId: $online)
    }
    shop { myshopifyDomain }
    userErrors { field message }
  }
}
""".replace("$input: [PublicationInput!]!)", "$input: [PublicationInput!]!, $online: ID!)")
UNPUBLISH = """
mutation Unpublish($id: ID!, $input: [PublicationInput!]!) {
  publishableUnpublish(id: $id, input: $input) {
    publishable { availablePublicationsCount { count } }
    userErrors { field message }
  }
}
"""
ON = """
query On($id: ID!, $pub: ID!) { product(id: $id) { publishedOnPublication(publicationId: $pub) } }
"""
CREATE = """
mutation Create($input: ProductSetInput!) {
  productSet(input: $input) { product { id } userErrors { field message } }
}
"""


class Admin:
    def __init__(self) -> None:
        self.state = ShopifyState()
        self.shop: Shop = seed_demo_shop(self.state, "demo-eu", [("TOTE-NAT", "Tote", "12.00")])
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
        data: dict[str, Any] = body["data"]
        return data

    def publication(self, name: str) -> str:
        nodes = self(PUBLICATIONS)["publications"]["nodes"]
        return next(n["id"] for n in nodes if n["name"] == name)

    def created(self) -> str:
        """A product created through the API (on no channel yet)."""
        made = self(
            CREATE,
            input={
                "title": "Canvas Sneakers",
                "productOptions": [{"name": "Size", "values": [{"name": "40"}]}],
                "variants": [
                    {
                        "sku": "SNKR-40",
                        "price": "59.00",
                        "optionValues": [{"optionName": "Size", "name": "40"}],
                    }
                ],
            },
        )["productSet"]
        assert made["userErrors"] == []
        product_id: str = made["product"]["id"]
        return product_id


@pytest.fixture
def admin() -> Admin:
    return Admin()


def test_a_shop_has_the_online_store_and_point_of_sale(admin: Admin) -> None:
    nodes = admin(PUBLICATIONS)["publications"]["nodes"]
    assert [n["name"] for n in nodes] == ["Online Store", "Point of Sale"]
    assert all(n["id"].startswith("gid://shopify/Publication/") for n in nodes)


def test_api_products_start_unpublished_merchant_products_on_the_online_store(
    admin: Admin,
) -> None:
    online = admin.publication("Online Store")
    [seeded] = [p for p in admin.shop.products.values() if p.sku == "TOTE-NAT"]
    seeded_on = admin(ON, id=f"gid://shopify/Product/{seeded.id}", pub=online)
    assert seeded_on["product"]["publishedOnPublication"] is True
    created = admin.created()
    assert admin(ON, id=created, pub=online)["product"]["publishedOnPublication"] is False


def test_publish_to_a_publication_once(admin: Admin) -> None:
    online, pos = admin.publication("Online Store"), admin.publication("Point of Sale")
    product = admin.created()

    done = admin(PUBLISH, id=product, input=[{"publicationId": online}], online=online)

    payload = done["publishablePublish"]
    assert payload["userErrors"] == []
    assert payload["shop"]["myshopifyDomain"] == "demo-eu.myshopify.com"
    assert payload["publishable"]["id"] == product
    assert payload["publishable"]["title"] == "Canvas Sneakers"
    assert payload["publishable"]["online"] is True
    assert payload["publishable"]["availablePublicationsCount"]["count"] == 1
    assert admin(ON, id=product, pub=pos)["product"]["publishedOnPublication"] is False
    # Again: nothing changes, still one publication.
    again = admin(PUBLISH, id=product, input=[{"publicationId": online}], online=online)
    assert again["publishablePublish"]["publishable"]["availablePublicationsCount"]["count"] == 1

    gone = admin(UNPUBLISH, id=product, input=[{"publicationId": online}])["publishableUnpublish"]
    assert gone["userErrors"] == []
    assert gone["publishable"]["availablePublicationsCount"]["count"] == 0


def test_unknown_product_or_publication_is_a_user_error_and_nothing_is_published(
    admin: Admin,
) -> None:
    online = admin.publication("Online Store")
    product = admin.created()

    missing = admin(
        PUBLISH,
        id=product,
        input=[{"publicationId": online}, {"publicationId": "gid://shopify/Publication/999999"}],
        online=online,
    )["publishablePublish"]

    assert missing["publishable"] is None
    assert missing["userErrors"] == [
        {"field": ["input", "1", "publicationId"], "message": "Publication does not exist"}
    ]
    assert admin(ON, id=product, pub=online)["product"]["publishedOnPublication"] is False

    nowhere = admin(
        PUBLISH,
        id="gid://shopify/Product/999999",
        input=[{"publicationId": online}],
        online=online,
    )["publishablePublish"]
    assert nowhere["publishable"] is None
    assert nowhere["userErrors"] == [{"field": ["id"], "message": "Resource does not exist"}]


UPDATE = """
mutation Update($id: ID!, $input: PublicationUpdateInput!) {
  publicationUpdate(id: $id, input: $input) {
    publication { id name }
    userErrors { field message code }
  }
}
"""


def test_publication_update_adds_many_products_at_most_fifty(admin: Admin) -> None:
    pos = admin.publication("Point of Sale")
    products = [admin.created() for _ in range(3)]
    assert len(set(products)) == 3

    done = admin(UPDATE, id=pos, input={"publishablesToAdd": products})["publicationUpdate"]

    assert done["userErrors"] == []
    assert done["publication"] == {"id": pos, "name": "Point of Sale"}
    for product in products:
        assert admin(ON, id=product, pub=pos)["product"]["publishedOnPublication"] is True

    too_many = admin(UPDATE, id=pos, input={"publishablesToAdd": [products[0]] * 51})
    assert [e["code"] for e in too_many["publicationUpdate"]["userErrors"]] == [
        "PUBLICATION_UPDATE_LIMIT_EXCEEDED"
    ]
    unknown = admin(
        UPDATE, id=pos, input={"publishablesToRemove": [products[0], "gid://shopify/Product/9"]}
    )["publicationUpdate"]
    assert unknown["publication"] is None
    assert unknown["userErrors"] == [
        {
            "field": ["input", "publishablesToRemove", "1"],
            "message": "Publishable ID not found",
            "code": "INVALID_PUBLISHABLE_ID",
        }
    ]
    # Refused whole: the first product is still on the publication.
    assert admin(ON, id=products[0], pub=pos)["product"]["publishedOnPublication"] is True
    nowhere = admin(UPDATE, id="gid://shopify/Publication/1", input={"publishablesToAdd": []})
    assert [e["code"] for e in nowhere["publicationUpdate"]["userErrors"]] == [
        "PUBLICATION_NOT_FOUND"
    ]
