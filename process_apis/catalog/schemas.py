"""The catalog process's v1 contract, and the sibling answers it reads (only what it uses)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

ShopDomain = Annotated[
    str, msgspec.Meta(min_length=3, max_length=255, pattern=r"^[a-z0-9][a-z0-9\-.]*$")
]


PublicationMode = Literal["delta", "bulk"]


class PublicationRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What to publish: every configured shop (or ``shop`` only), changes since the
    watermark (or everything with ``full``); ``dry_run`` computes without writing."""

    shop: ShopDomain | None = None
    full: bool = False
    dry_run: bool = False
    #: ``bulk``: a full back-fill through one Shopify bulk operation per shop (needs ``full``);
    #: ``delta``: one ``productSet`` per changed product.
    mode: PublicationMode = "delta"


class Failure(msgspec.Struct, frozen=True, kw_only=True):
    shop: str
    instance: str
    erp_product_id: str
    error: str
    #: The exception record an operator lists and replays (none on a dry run).
    exception_id: str | None = None


class Summary(msgspec.Struct, kw_only=True):
    created: int = 0
    updated: int = 0
    #: Products Shopify already held by SKU, taken over in place (counted in ``updated`` too).
    adopted: int = 0
    unchanged: int = 0
    archived: int = 0
    failed: int = 0
    #: Products published to their shop's sales channels (each product once per shop).
    published: int = 0
    failures: list[Failure] = msgspec.field(default_factory=list)


class BulkRun(msgspec.Struct, kw_only=True):
    """One Shopify bulk operation of a back-fill."""

    shop: str
    #: Shopify's id of the operation (none on a dry run).
    operation_id: int | None = None
    status: str = "CREATED"
    lines: int = 0
    #: Lines Shopify has run, as last seen.
    ran: int = 0
    published: int = 0
    failed: int = 0
    #: How its end became known: Shopify's ``bulk_operations/finish`` webhook, or a poll.
    finished_by: Literal["webhook", "poll"] | None = None
    error: str | None = None


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
    #: Products this run looks at (each once per shop), known once the ERPs' feeds are read.
    total: int = 0
    summary: Summary = msgspec.field(default_factory=Summary)
    error: str | None = None
    #: The exception this run replayed (a run of one product in one shop).
    replay_of: str | None = None
    mode: PublicationMode = "delta"
    #: The bulk operations of a ``bulk`` run, one per shop (more for a very large catalogue,
    #: one after the other).
    bulk: list[BulkRun] = msgspec.field(default_factory=list)


#: ``price-missing-for-currency``: the ERP has no price in the shop's currency for a variant
#: (a price list of that currency is what the shop needs; a price is never converted).
ExceptionKind = Literal["mapping", "rejected", "sku-held-elsewhere", "price-missing-for-currency"]
ExceptionState = Literal["open", "resolved"]


class ExceptionEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt at the product: when, in which run, and what happened."""

    at: str
    publication_id: str | None = None
    outcome: Literal["failed", "resolved"]
    error: str | None = None


class CatalogException(msgspec.Struct, kw_only=True):
    """A product that could not be published to a shop, until a later run or a replay
    publishes (or archives) it. One record per shop and ERP product."""

    id: str
    shop: str
    instance: str
    erp_product_id: str
    #: The product's SKUs as the ERP held them at the last failure.
    skus: list[str] = []
    kind: ExceptionKind
    #: The field that is wrong (``variants[TOTE-NAT].price``), where one is named.
    field: str | None = None
    error: str
    state: ExceptionState
    created_at: str
    updated_at: str
    attempts: int = 1
    history: list[ExceptionEvent] = []


class ExceptionPage(msgspec.Struct, kw_only=True):
    items: list[CatalogException]
    total: int
    offset: int
    limit: int


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


class LivePublication(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str


class LivePublished(msgspec.Struct, frozen=True, kw_only=True):
    """Products published to publications (``publishablePublish``), as the Shopify system
    API answers."""

    publications: list[LivePublication]
    product_ids: list[int]


class LiveBulkOperation(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    status: str
    object_count: int = 0
    error_code: str | None = None


class LiveBulkVariant(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    sku: str | None
    inventory_item_id: int | None = None


class LiveBulkProduct(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    handle: str
    variants: list[LiveBulkVariant]


class LiveBulkError(msgspec.Struct, frozen=True, kw_only=True):
    message: str
    field: str | None = None
    code: str | None = None


class LiveBulkLine(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    product: LiveBulkProduct | None = None
    errors: list[LiveBulkError] = []


class LiveBulkResults(msgspec.Struct, frozen=True, kw_only=True):
    operation: LiveBulkOperation
    items: list[LiveBulkLine]
    total: int


class LiveVariantPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[LiveVariantRef]
    next_cursor: str | None = None
