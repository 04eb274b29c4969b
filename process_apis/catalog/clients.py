"""The catalog process's siblings: ERP products and Shopify products, over their system APIs."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from typing import Protocol

import httpx
import msgspec

from process_apis.catalog.schemas import (
    LiveBulkOperation,
    LiveBulkResults,
    LiveProduct,
    LivePublished,
    LiveVariantList,
    LiveVariantPage,
)
from shared.models import Product
from shared.sibling import SiblingClient, SiblingNotFound, SiblingRejected


def product_refused(exc: SiblingRejected) -> bool:
    """Shopify's userErrors (422) or a body the API refused (400) fail the product; a refused
    token (401, 403) or a missing shop (404) fails the whole run."""
    return exc.sibling_status in (400, 409, 422)


class _ProductPage(msgspec.Struct):
    items: list[Product]
    next_offset: int | None = None


class ProductFeed(Protocol):
    """Where a publication reads one ERP instance's products (:class:`ErpProducts` over the
    ERP system API; a generated catalogue in tests and benchmarks)."""

    def changed_since(self, since: dt.datetime | None) -> AsyncIterator[Product]:
        """Every product changed since ``since`` (all for sale when None)."""
        ...

    async def by_sku(self, sku: str) -> Product | None:
        """The product holding ``sku`` while it is for sale."""
        ...


class ErpProducts:
    """Products of one ERP instance (``GET /erp/v1/products``)."""

    def __init__(self, instance: str, client: httpx.AsyncClient, page_size: int = 50) -> None:
        self.instance = instance
        self.erp = SiblingClient(f"erp {instance}", client)
        self.page_size = page_size

    async def changed_since(self, since: dt.datetime | None) -> AsyncIterator[Product]:
        """Every product changed since ``since`` (all for sale when None), page by page."""
        offset: int | None = 0
        while offset is not None:
            params: dict[str, str | int] = {"offset": offset, "limit": self.page_size}
            if since is not None:
                params["updated_since"] = since.isoformat()
            page = await self.erp.get_json("/erp/v1/products", params=params, type=_ProductPage)
            for product in page.items:
                yield product
            offset = page.next_offset

    async def by_sku(self, sku: str) -> Product | None:
        """The product holding ``sku`` while it is for sale (None once it is not)."""
        try:
            return await self.erp.get_json("/erp/v1/products/{sku}", sku=sku, type=Product)
        except SiblingNotFound:
            return None


class ShopifyProducts:
    """Products of the shops, through the Shopify system API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.shopify = SiblingClient("shopify", client)

    async def by_id(self, shop: str, product_id: int) -> LiveProduct | None:
        try:
            return await self.shopify.get_json(
                "/shopify/v1/shops/{shop}/products/{id}", shop=shop, id=product_id, type=LiveProduct
            )
        except SiblingNotFound:
            return None

    async def by_handle(self, shop: str, handle: str) -> LiveProduct | None:
        try:
            return await self.shopify.get_json(
                "/shopify/v1/shops/{shop}/products/by-handle/{handle}",
                shop=shop,
                handle=handle,
                type=LiveProduct,
            )
        except SiblingNotFound:
            return None

    async def variants_by_sku(self, shop: str, sku: str) -> LiveVariantList:
        return await self.shopify.get_json(
            "/shopify/v1/shops/{shop}/variants",
            shop=shop,
            params={"sku": sku},
            type=LiveVariantList,
        )

    async def set(self, shop: str, body: dict[str, object], run: str) -> LiveProduct:
        """``productSet``. The idempotency key is the run's and the body's: a retry within the
        run is a replay, while another run always reaches Shopify (a stored answer from an
        earlier run could name a product deleted since)."""
        encoded = msgspec.json.encode(body)
        digest = hashlib.sha256(f"{shop}\0{run}\0".encode() + encoded).hexdigest()[:40]
        return await self.shopify.post_json(
            "/shopify/v1/shops/{shop}/products/set",
            shop=shop,
            body=body,
            type=LiveProduct,
            idempotency_key=f"catalog-{digest}",
        )

    async def archive(self, shop: str, product_id: int, run: str) -> LiveProduct:
        key = f"catalog-archive-{run}-{product_id}"
        return await self.shopify.post_json(
            "/shopify/v1/shops/{shop}/products/{id}/status",
            shop=shop,
            id=product_id,
            body={"status": "ARCHIVED"},
            type=LiveProduct,
            idempotency_key=key,
        )

    async def publish(
        self, shop: str, product_ids: list[int], publications: list[str], run: str
    ) -> LivePublished:
        """Publish products to the shop's sales channels' publications, named (``Online
        Store``): Shopify's ``publishablePublish``. Publishing again changes nothing; the key
        is the run's and the call's, so a retry after a lost answer is a replay."""
        body: dict[str, object] = {"product_ids": product_ids, "publications": publications}
        encoded = msgspec.json.encode(body)
        digest = hashlib.sha256(f"{shop}\0{run}\0".encode() + encoded).hexdigest()[:40]
        return await self.shopify.post_json(
            "/shopify/v1/shops/{shop}/publications/products",
            shop=shop,
            body=body,
            type=LivePublished,
            idempotency_key=f"catalog-publish-{digest}",
        )

    async def variants_page(self, shop: str, cursor: str | None) -> LiveVariantPage:
        """A page of every variant the shop holds (``next_cursor`` reads on)."""
        params: dict[str, str | int] = {"limit": 250}
        if cursor is not None:
            params["cursor"] = cursor
        return await self.shopify.get_json(
            "/shopify/v1/shops/{shop}/variants", shop=shop, params=params, type=LiveVariantPage
        )

    async def bulk_set(
        self, shop: str, bodies: list[dict[str, object]], run: str, chunk: int
    ) -> LiveBulkOperation | None:
        """Start one bulk ``productSet`` of ``bodies``; None while Shopify already runs the
        bulk mutations it allows on the shop (409). The key is the run's and the chunk's: a
        retry after a lost answer gets the operation started the first time."""
        try:
            return await self.shopify.post_json(
                "/shopify/v1/shops/{shop}/bulk/product-sets",
                shop=shop,
                body={"inputs": bodies, "client_identifier": f"strata-catalog-{run}-{chunk}"},
                type=LiveBulkOperation,
                idempotency_key=f"catalog-bulk-{run}-{shop}-{chunk}",
            )
        except SiblingRejected as exc:
            if exc.sibling_status == 409:
                return None
            raise

    async def bulk_current(self, shop: str) -> LiveBulkOperation | None:
        try:
            return await self.shopify.get_json(
                "/shopify/v1/shops/{shop}/bulk/current", shop=shop, type=LiveBulkOperation
            )
        except SiblingNotFound:
            return None

    async def bulk_operation(self, shop: str, operation_id: int) -> LiveBulkOperation:
        return await self.shopify.get_json(
            "/shopify/v1/shops/{shop}/bulk/operations/{id}",
            shop=shop,
            id=operation_id,
            type=LiveBulkOperation,
        )

    async def bulk_results(
        self, shop: str, operation_id: int, offset: int, limit: int
    ) -> LiveBulkResults:
        return await self.shopify.get_json(
            "/shopify/v1/shops/{shop}/bulk/operations/{id}/product-sets",
            shop=shop,
            id=operation_id,
            params={"offset": offset, "limit": limit},
            type=LiveBulkResults,
        )
