"""The catalog process's v1 contract, and the sibling answers it reads (only what it uses)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

ShopDomain = Annotated[
    str, msgspec.Meta(min_length=3, max_length=255, pattern=r"^[a-z0-9][a-z0-9\-.]*$")
]


class PublicationRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What to publish: every configured shop (or ``shop`` only), changes since the
    watermark (or everything with ``full``); ``dry_run`` computes without writing."""

    shop: ShopDomain | None = None
    full: bool = False
    dry_run: bool = False


class Failure(msgspec.Struct, frozen=True, kw_only=True):
    shop: str
    instance: str
    erp_product_id: str
    error: str


class Summary(msgspec.Struct, kw_only=True):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    archived: int = 0
    failed: int = 0
    failures: list[Failure] = msgspec.field(default_factory=list)


class Publication(msgspec.Struct, kw_only=True):
    """One publication run and its progress."""

    id: str
    status: Literal["running", "succeeded", "failed"]
    shop: str | None
    full: bool
    dry_run: bool
    started_at: str
    finished_at: str | None = None
    #: Products looked at so far (each product counts once per shop).
    processed: int = 0
    summary: Summary = msgspec.field(default_factory=Summary)
    error: str | None = None


# -- what the siblings answer (unknown fields ignored) --------------------------------------


class LiveOption(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    values: list[str]


class LiveOptionValue(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    value: str


class LiveVariant(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    sku: str | None
    options: list[LiveOptionValue]
    inventory_item_id: int | None = None


class LiveProduct(msgspec.Struct, frozen=True, kw_only=True):
    """A product as the Shopify system API returns it."""

    id: int
    handle: str
    status: str
    options: list[LiveOption]
    variants: list[LiveVariant]


class LiveVariantRef(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    sku: str | None
    product_id: int
    product_handle: str


class LiveVariantList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[LiveVariantRef]
