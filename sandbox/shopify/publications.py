"""Sales channels' publications in the sandbox: ``publications``, ``publication``,
``publishablePublish``, ``publishableUnpublish`` and ``publicationUpdate``, and a product's
``Publishable`` fields.

As in Shopify, a product created through the Admin API is on no sales channel until it is
published to the channel's publication; a shop has one publication per channel (the sandbox
seeds ``Online Store`` and ``Point of Sale``: :meth:`ShopifyState.add_publications`).
``publishablePublish`` takes ``[{publicationId}]`` and answers ``publishable``, ``shop`` and
``userErrors``; a product id or a publication id the shop does not have is a user error and
nothing is published. Publishing to a publication the product is already on changes nothing.
A ``publishDate`` is accepted and the product is published at once (nothing is scheduled).
``publicationUpdate`` adds (``publishablesToAdd``) or removes products of one publication,
at most 50 a call as Shopify allows, its user errors coded (``PUBLICATION_NOT_FOUND``,
``INVALID_PUBLISHABLE_ID``, ``PUBLICATION_UPDATE_LIMIT_EXCEEDED``). Only products are
publishable here (Shopify also publishes collections).
"""

from __future__ import annotations

from typing import Any

from sandbox.shopify.admin_root import IdempotencyStore
from sandbox.shopify.admin_views import Info, Node
from sandbox.shopify.catalogue import CatalogueRoot, CatalogueViews
from sandbox.shopify.commerce import ShopEvent
from sandbox.shopify.payloads import product_payload
from sandbox.shopify.state import (
    Product,
    Publication,
    Shop,
    ShopifyState,
    gid,
    now_utc,
    parse_gid,
)

PUBLICATIONS_SDL = """
interface Publishable {
  availablePublicationsCount: Count
  resourcePublicationsCount(onlyPublished: Boolean = true): Count
  publishedOnPublication(publicationId: ID!): Boolean!
}
extend type Product implements Publishable {
  availablePublicationsCount: Count
  resourcePublicationsCount(onlyPublished: Boolean = true): Count
  publishedOnPublication(publicationId: ID!): Boolean!
}
type Publication {
  id: ID!
  name: String!
  autoPublish: Boolean!
  supportsFuturePublishing: Boolean!
}
input PublicationInput { publicationId: ID publishDate: DateTime }
type PublishablePublishPayload {
  publishable: Publishable
  shop: Shop!
  userErrors: [UserError!]!
}
type PublishableUnpublishPayload {
  publishable: Publishable
  shop: Shop!
  userErrors: [UserError!]!
}
enum PublicationUserErrorCode {
  BLANK INVALID INVALID_PUBLISHABLE_ID PUBLICATION_NOT_FOUND PUBLICATION_UPDATE_LIMIT_EXCEEDED
}
type PublicationUserError { field: [String!] message: String! code: PublicationUserErrorCode }
input PublicationUpdateInput {
  publishablesToAdd: [ID!] = []
  publishablesToRemove: [ID!] = []
  autoPublish: Boolean
}
type PublicationUpdatePayload { publication: Publication userErrors: [PublicationUserError!]! }
extend type QueryRoot {
  publication(id: ID!): Publication
  publications(%(page)s): PublicationConnection!
}
extend type Mutation {
  publishablePublish(id: ID!, input: [PublicationInput!]!): PublishablePublishPayload
  publishableUnpublish(id: ID!, input: [PublicationInput!]!): PublishableUnpublishPayload
  publicationUpdate(id: ID!, input: PublicationUpdateInput!): PublicationUpdatePayload
}
"""


def publication_node(publication: Publication) -> Node:
    return {
        "id": gid("Publication", publication.id),
        "name": publication.name,
        "autoPublish": publication.auto_publish,
        "supportsFuturePublishing": publication.supports_future_publishing,
    }


class PublicationViews(CatalogueViews):
    """Catalogue views whose products carry their ``Publishable`` fields."""

    def product(self, product_id: int | None) -> Node | None:
        node = super().product(product_id)
        product = self.shop.products.get(product_id) if product_id else None
        if node is None or product is None:
            return node
        shop = self.shop

        def published(info: Info, publicationId: str) -> bool:
            number = parse_gid(publicationId, "Publication")
            return number is not None and number in product.publications

        def resource_count(info: Info, onlyPublished: bool = True) -> Node:
            # Nothing is scheduled in the sandbox: published and listed are the same.
            on = len(product.publications & shop.publications.keys())
            return {"count": on, "precision": "EXACT"}

        node["__typename"] = "Product"
        node["publishedOnPublication"] = published
        node["resourcePublicationsCount"] = resource_count
        node["availablePublicationsCount"] = {
            "count": len(product.publications & shop.publications.keys()),
            "precision": "EXACT",
        }
        return node


#: Publishables one ``publicationUpdate`` may add or remove (Shopify's limit).
PUBLICATION_UPDATE_MAX = 50


def _error(field: list[str | int], message: str, code: str | None = None) -> Node:
    error: Node = {"field": [str(f) for f in field], "message": message}
    if code is not None:
        error["code"] = code
    return error


class PublicationRoot(CatalogueRoot):
    """The Admin API root with the publication queries and mutations."""

    views: PublicationViews

    def __init__(
        self,
        state: ShopifyState,
        shop: Shop,
        version: str,
        app: str,
        idempotency: IdempotencyStore,
    ) -> None:
        super().__init__(state, shop, version, app, idempotency)
        self.views = PublicationViews(shop)

    # -- queries -----------------------------------------------------------------------------

    def publication(self, info: Info, id: str) -> Node | None:
        found = self._shop.publications.get(self._id(id, "Publication"))
        return publication_node(found) if found else None

    def publications(self, info: Info, **page: Any) -> list[Any]:
        return [publication_node(p) for _, p in sorted(self._shop.publications.items())]

    # -- mutations ---------------------------------------------------------------------------

    def publishablePublish(self, info: Info, id: str, input: list[dict[str, Any]]) -> Node:
        return self._publish(id, input, publish=True)

    def publishableUnpublish(self, info: Info, id: str, input: list[dict[str, Any]]) -> Node:
        return self._publish(id, input, publish=False)

    def _publish(self, id: str, input: list[dict[str, Any]], *, publish: bool) -> Node:
        number = parse_gid(id, "Product")
        product = self._shop.products.get(number) if number is not None else None
        errors: list[Node] = []
        if product is None:
            errors.append(_error(["id"], "Resource does not exist"))
        wanted: list[int] = []
        for index, item in enumerate(input):
            raw = item.get("publicationId")
            found = parse_gid(raw, "Publication") if raw else None
            if found is None or found not in self._shop.publications:
                errors.append(
                    _error(["input", index, "publicationId"], "Publication does not exist")
                )
            else:
                wanted.append(found)
        if not input:
            errors.append(_error(["input"], "Input can't be blank"))
        if errors or product is None:
            return {"publishable": None, "shop": self.views.shop_node(), "userErrors": errors}
        for publication in wanted:
            self._move(product, publication, publish=publish)
        return {
            "publishable": self._publishable(product),
            "shop": self.views.shop_node(),
            "userErrors": [],
        }

    def _publishable(self, product: Product) -> Node | None:
        return self.views.product(product.id)

    def publicationUpdate(self, info: Info, id: str, input: dict[str, Any]) -> Node:
        number = parse_gid(id, "Publication")
        publication = self._shop.publications.get(number) if number is not None else None
        if publication is None:
            return {
                "publication": None,
                "userErrors": [_error(["id"], "Publication not found", "PUBLICATION_NOT_FOUND")],
            }
        errors: list[Node] = []
        changes: dict[str, list[Product]] = {}
        for name in ("publishablesToAdd", "publishablesToRemove"):
            ids = input.get(name) or []
            if len(ids) > PUBLICATION_UPDATE_MAX:
                errors.append(
                    _error(
                        ["input", name],
                        f"Cannot update more than {PUBLICATION_UPDATE_MAX} publishables at once",
                        "PUBLICATION_UPDATE_LIMIT_EXCEEDED",
                    )
                )
                continue
            found: list[Product] = []
            for index, raw in enumerate(ids):
                product_id = parse_gid(raw, "Product")
                product = self._shop.products.get(product_id) if product_id else None
                if product is None:
                    errors.append(
                        _error(
                            ["input", name, index],
                            "Publishable ID not found",
                            "INVALID_PUBLISHABLE_ID",
                        )
                    )
                else:
                    found.append(product)
            changes[name] = found
        if errors:
            return {"publication": None, "userErrors": errors}
        if input.get("autoPublish") is not None:
            publication.auto_publish = bool(input["autoPublish"])
        for product in changes.get("publishablesToAdd", []):
            self._move(product, publication.id, publish=True)
        for product in changes.get("publishablesToRemove", []):
            self._move(product, publication.id, publish=False)
        return {"publication": publication_node(publication), "userErrors": []}

    def _move(self, product: Product, publication: int, *, publish: bool) -> None:
        if (publication in product.publications) == publish:
            return
        if publish:
            product.publications.add(publication)
        else:
            product.publications.discard(publication)
        product.updated_at = now_utc()
        self.events.append(
            ShopEvent(topic="products/update", payload=product_payload(self._shop, product))
        )
