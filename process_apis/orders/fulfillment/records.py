"""An order's fulfillments, from either side, in one place: the views read them here.

Two writers keep them: the fulfillment sender (an ERP shipment, and the Shopify fulfillment
Strata made of it) and the ``fulfillments/*`` webhooks (a fulfillment Shopify holds, made by
Strata or by a warehouse fulfilling in Shopify). One hash per order, beside the order's
pipeline records (same hash tag); one field per fulfillment:

- ``erp:<instance>:<shipment id>`` for a shipment the ERP made, before and after Shopify has
  its fulfillment (``fulfillment_id`` set once it has);
- ``shopify:<fulfillment id>`` for a fulfillment Shopify told us of that no shipment claims.

Each write is a plain ``HSET`` of its own field, so the two writers never race: a
fulfillment Strata made from a shipment may have both entries (the webhook for it can come
before or after the sender records it), and :meth:`FulfillmentRecords.list` merges them, the
shipment's entry taking what Shopify said of the fulfillment (status, tracking, delivery).
"""

from __future__ import annotations

import time
from typing import Literal

import msgspec

from shared.events import RedisClient

#: Who shipped: an ERP shipment (sent to Shopify by Strata), or a fulfillment made in
#: Shopify (a third-party warehouse, the merchant in the admin).
FulfillmentSource = Literal["erp", "shopify"]
#: ``pending``: the ERP shipped, Shopify has no fulfillment of it yet; ``fulfilled``:
#: Shopify holds it; ``cancelled``; ``failed``: it cannot be sent (an exception says why).
FulfillmentState = Literal["pending", "fulfilled", "cancelled", "failed"]

KEEP_FOR = 90 * 24 * 3600
#: A send noted as under way outlives any retry of it (a crashed sender's note lapses).
SENDING_FOR = 3600


class FulfillmentTracking(msgspec.Struct, frozen=True, kw_only=True):
    """One parcel's tracking: number and link (the carrier's page for it)."""

    number: str | None = None
    url: str | None = None


class FulfillmentLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str | None = None
    quantity: int
    line_item_id: int | None = None


class FulfillmentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One fulfillment of an order as Strata knows it (epoch seconds for instants)."""

    key: str
    source: FulfillmentSource
    state: FulfillmentState
    fulfillment_id: int | None = None
    #: Shopify's name for it (``#1001-F1``) and its ``FulfillmentDisplayStatus``.
    name: str | None = None
    display_status: str | None = None
    erp_instance: str | None = None
    shipment_id: str | None = None
    shipment_number: str | None = None
    carrier: str | None = None
    tracking: list[FulfillmentTracking] = []
    lines: list[FulfillmentLine] = []
    #: When the goods left (the ERP's shipment, or Shopify's fulfillment when made there).
    shipped_at: float | None = None
    #: When Shopify's fulfillment was created (for an ERP shipment: the lag ends here).
    fulfilled_at: float | None = None
    delivered_at: float | None = None
    #: Why it is ``failed`` (the exception's id is in ``exception_id``).
    error: str | None = None
    exception_id: str | None = None
    updated_at: float = 0.0


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(FulfillmentRecord)


def shipment_key(erp_instance: str, shipment_id: str) -> str:
    return f"erp:{erp_instance}:{shipment_id}"


class FulfillmentRecords:
    """The per-order fulfillment records in Redis (under the orders process's prefix)."""

    def __init__(self, redis: RedisClient, prefix: str = "strata:orders") -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, shop: str, order_id: str) -> str:
        return f"{self.prefix}:{{{shop}:{order_id}}}:fulfillments"

    async def put(self, shop: str, order_id: str, record: FulfillmentRecord) -> None:
        """Write one entry: an ERP shipment's (``record.key`` from :func:`shipment_key`) or
        what Shopify holds of a fulfillment (``record.key`` from :func:`shopify_key`)."""
        if not record.key.startswith(("erp:", "shopify:")):
            raise ValueError(f"not a fulfillment record's key: {record.key!r}")
        record = msgspec.structs.replace(record, updated_at=time.time())
        key = self._key(shop, order_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, record.key, _ENCODER.encode(record))
            pipe.expire(key, KEEP_FOR)
            await pipe.execute()

    def _sending_key(self, shop: str, order_id: str) -> str:
        return f"{self.prefix}:{{{shop}:{order_id}}}:fulfillments:sending"

    async def sending(self, shop: str, order_id: str, send_key: str) -> None:
        """Note that a fulfillment of the order is being sent under ``send_key``: until
        :meth:`sent`, a fulfillment Shopify tells of may be that one (its id is not known
        yet), so nothing else takes it for one made in Shopify."""
        key = self._sending_key(shop, order_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, send_key)
            pipe.expire(key, SENDING_FOR)
            await pipe.execute()

    async def sent(self, shop: str, order_id: str, send_key: str) -> None:
        await self.redis.srem(self._sending_key(shop, order_id), send_key)

    async def any_sending(self, shop: str, order_id: str) -> bool:
        return bool(await self.redis.scard(self._sending_key(shop, order_id)))

    async def get(self, shop: str, order_id: str, key: str) -> FulfillmentRecord | None:
        raw = await self.redis.hget(self._key(shop, order_id), key)
        return None if raw is None else _DECODER.decode(raw)

    async def list(self, shop: str, order_id: str) -> list[FulfillmentRecord]:
        """Every fulfillment of the order, oldest first: a shipment's entry merged with
        Shopify's entry of the fulfillment made of it."""
        raw = await self.redis.hvals(self._key(shop, order_id))
        return merged([_DECODER.decode(value) for value in raw])


def shopify_key(fulfillment_id: int) -> str:
    return f"shopify:{fulfillment_id}"


def merged(records: list[FulfillmentRecord]) -> list[FulfillmentRecord]:
    """One record per fulfillment: a shipment's entry absorbs the ``shopify:<id>`` entry of
    the fulfillment made of it (Shopify's status, name, display status, delivery, and its
    tracking when it has any: a correction made in Shopify shows)."""
    shopify = {r.fulfillment_id: r for r in records if r.key.startswith("shopify:")}
    out: list[FulfillmentRecord] = []
    for record in records:
        if record.key.startswith("shopify:"):
            continue
        seen = shopify.pop(record.fulfillment_id, None) if record.fulfillment_id else None
        if seen is not None and seen.updated_at >= record.updated_at:
            record = msgspec.structs.replace(
                record,
                state=seen.state,
                name=seen.name or record.name,
                display_status=seen.display_status or record.display_status,
                carrier=seen.carrier or record.carrier if seen.tracking else record.carrier,
                tracking=seen.tracking or record.tracking,
                delivered_at=seen.delivered_at or record.delivered_at,
                fulfilled_at=record.fulfilled_at or seen.fulfilled_at,
            )
        elif seen is not None:
            record = msgspec.structs.replace(
                record,
                name=record.name or seen.name,
                display_status=record.display_status or seen.display_status,
                delivered_at=record.delivered_at or seen.delivered_at,
            )
        out.append(record)
    out.extend(shopify.values())
    return sorted(out, key=lambda r: (r.shipped_at or r.fulfilled_at or 0.0, r.key))


def order_fulfillment_status(records: list[FulfillmentRecord], ordered: int | None) -> str:
    """``unfulfilled``, ``partially_fulfilled`` or ``fulfilled`` from the live records and
    the units ordered (``None`` when unknown: any live fulfillment then reads partial only
    if some record is still pending)."""
    live = [r for r in records if r.state in ("fulfilled", "pending")]
    if not live:
        return "unfulfilled"
    shipped = sum(line.quantity for r in live for line in r.lines)
    if ordered is not None:
        return "fulfilled" if shipped >= ordered else "partially_fulfilled"
    return "partially_fulfilled" if any(r.state == "pending" for r in live) else "fulfilled"
