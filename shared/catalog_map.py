"""Where each ERP product lives in each shop: the one mapping catalog publication writes and
the inventory sync (and anyone needing a SKU's Shopify ids) reads.

Keys, all under one hash tag per shop (so a transaction on one shop works on Redis Cluster)::

    strata:catalog:{<shop>}:product:<instance>:<erp product id>  -> CatalogEntry (JSON)
    strata:catalog:{<shop>}:sku:<sku>                             -> VariantRef (JSON)
    strata:catalog:{<shop>}:products                              -> set of "<instance>:<id>"

Contract: the catalog process is the only writer; it writes an entry, its SKU keys and the
index in one transaction (``MULTI``), after Shopify accepted the product, so a reader sees
either the old mapping or the new one, never half of it. A SKU key exists only while the
product is published and the variant is Strata's; an archived product keeps its entry (with
``status == "ARCHIVED"``) and its SKU keys, since Shopify keeps it too. Shopify ids are
numeric (legacy) ids.
"""

from __future__ import annotations

import msgspec

from shared.ratelimit.scripts import RedisClient

KEY_PREFIX = "strata:catalog"


class VariantRef(msgspec.Struct, frozen=True, kw_only=True):
    """A SKU's place in one shop."""

    sku: str
    variant_id: int
    product_id: int
    inventory_item_id: int | None = None
    instance: str = ""
    erp_product_id: str = ""


class CatalogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One ERP product as published to one shop."""

    shop: str
    instance: str
    erp_product_id: str
    product_id: int
    handle: str
    #: Shopify's product status as Strata last left it: ACTIVE or ARCHIVED.
    status: str
    #: The content hash of the fields Strata manages, as last published.
    digest: str
    variants: list[VariantRef] = []
    published_at: str = ""


_ENTRY = msgspec.json.Decoder(CatalogEntry)
_REF = msgspec.json.Decoder(VariantRef)
_ENCODE = msgspec.json.Encoder()


def _shop_prefix(prefix: str, shop: str) -> str:
    return f"{prefix}:{{{shop}}}"


class CatalogMap:
    """Read and write the mapping in Redis (keys in the module docstring)."""

    def __init__(self, redis: RedisClient, prefix: str = KEY_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix

    def entry_key(self, shop: str, instance: str, erp_product_id: str) -> str:
        return f"{_shop_prefix(self.prefix, shop)}:product:{instance}:{erp_product_id}"

    def sku_key(self, shop: str, sku: str) -> str:
        return f"{_shop_prefix(self.prefix, shop)}:sku:{sku}"

    def index_key(self, shop: str) -> str:
        return f"{_shop_prefix(self.prefix, shop)}:products"

    async def entry(self, shop: str, instance: str, erp_product_id: str) -> CatalogEntry | None:
        """The published product, or None if Strata never published it to ``shop``."""
        raw = await self.redis.get(self.entry_key(shop, instance, erp_product_id))
        return None if raw is None else _ENTRY.decode(raw)

    async def variant(self, shop: str, sku: str) -> VariantRef | None:
        """Where ``sku`` lives in ``shop``, or None if Strata has not published it there."""
        raw = await self.redis.get(self.sku_key(shop, sku))
        return None if raw is None else _REF.decode(raw)

    async def products(self, shop: str) -> list[tuple[str, str]]:
        """Every ``(instance, erp product id)`` published to ``shop``."""
        members = await self.redis.smembers(self.index_key(shop))
        pairs = []
        for member in members:
            text = member.decode() if isinstance(member, bytes) else str(member)
            instance, _, erp_id = text.partition(":")
            pairs.append((instance, erp_id))
        return sorted(pairs)

    async def record(self, entry: CatalogEntry, previous: CatalogEntry | None) -> None:
        """Write ``entry`` (replacing ``previous``): entry, SKU keys and index at once."""
        gone = (
            {v.sku for v in previous.variants} - {v.sku for v in entry.variants}
            if previous
            else set()
        )
        async with self.redis.pipeline(transaction=True) as tx:
            tx.set(
                self.entry_key(entry.shop, entry.instance, entry.erp_product_id),
                _ENCODE.encode(entry),
            )
            for ref in entry.variants:
                tx.set(self.sku_key(entry.shop, ref.sku), _ENCODE.encode(ref))
            for sku in gone:
                tx.delete(self.sku_key(entry.shop, sku))
            tx.sadd(self.index_key(entry.shop), f"{entry.instance}:{entry.erp_product_id}")
            await tx.execute()
