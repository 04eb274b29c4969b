"""Every Redis Stream Strata uses, and the typed entries that travel on them.

Producers and consumers both import this module: a stream's name, its topic families and the
layout of its entries are written here once.

Streams. Shopify webhooks go to one stream per *family* (``orders``: orders, refunds and
fulfillments, consumed by the orders process; ``inventory``: inventory levels; ``compliance``:
the mandatory privacy topics), under a prefix (``strata:webhooks`` by default). Every key
carries a Redis Cluster hash tag, ``{orders}``, or ``{orders-3}`` when the family is sharded,
and an event's de-duplication key shares its stream's tag, so the one script that checks and
appends touches a single slot. A shop always maps to the same shard, which keeps one shop's
events in arrival order. Consumers read every shard of their family
(:meth:`WebhookStreams.streams`).

Entries. Redis stores an entry as a flat map of text fields; :func:`encode_entry` and
:func:`decode_entry` turn it into one of the Structs below and back, choosing the Struct by
the ``topic`` field. New fields always get defaults, so an older consumer reads a newer entry
and the other way round. Fields whose names start with ``strata_`` belong to the stream worker
(attempt counts, retry history) and never reach a Struct.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Final

import msgspec

# -- families and topics -------------------------------------------------------------------

ORDERS: Final = "orders"
INVENTORY: Final = "inventory"
COMPLIANCE: Final = "compliance"
CATALOG: Final = "catalog"
FAMILIES: Final = (ORDERS, INVENTORY, COMPLIANCE, CATALOG)

ORDERS_CREATE: Final = "orders/create"
ORDERS_UPDATED: Final = "orders/updated"
ORDERS_PAID: Final = "orders/paid"
ORDERS_CANCELLED: Final = "orders/cancelled"
#: An order edit committed: the body is an ``order_edit`` (deltas by line item), not the order.
ORDERS_EDITED: Final = "orders/edited"
ORDERS_FULFILLED: Final = "orders/fulfilled"
ORDERS_PARTIALLY_FULFILLED: Final = "orders/partially_fulfilled"
REFUNDS_CREATE: Final = "refunds/create"
FULFILLMENTS_CREATE: Final = "fulfillments/create"
FULFILLMENTS_UPDATE: Final = "fulfillments/update"
INVENTORY_LEVELS_UPDATE: Final = "inventory_levels/update"
CUSTOMERS_DATA_REQUEST: Final = "customers/data_request"
CUSTOMERS_REDACT: Final = "customers/redact"
SHOP_REDACT: Final = "shop/redact"
#: A bulk operation ended (the catalog's back-fill waits for it).
BULK_OPERATIONS_FINISH: Final = "bulk_operations/finish"
PRODUCTS_CREATE: Final = "products/create"
PRODUCTS_UPDATE: Final = "products/update"
PRODUCTS_DELETE: Final = "products/delete"

#: Every Shopify webhook topic the ingress accepts, and the family stream it goes to.
TOPIC_FAMILIES: Final[dict[str, str]] = {
    ORDERS_CREATE: ORDERS,
    ORDERS_UPDATED: ORDERS,
    ORDERS_PAID: ORDERS,
    ORDERS_CANCELLED: ORDERS,
    ORDERS_FULFILLED: ORDERS,
    ORDERS_PARTIALLY_FULFILLED: ORDERS,
    REFUNDS_CREATE: ORDERS,
    FULFILLMENTS_CREATE: ORDERS,
    FULFILLMENTS_UPDATE: ORDERS,
    ORDERS_EDITED: ORDERS,
    INVENTORY_LEVELS_UPDATE: INVENTORY,
    CUSTOMERS_DATA_REQUEST: COMPLIANCE,
    CUSTOMERS_REDACT: COMPLIANCE,
    SHOP_REDACT: COMPLIANCE,
    BULK_OPERATIONS_FINISH: CATALOG,
    PRODUCTS_CREATE: CATALOG,
    PRODUCTS_UPDATE: CATALOG,
    PRODUCTS_DELETE: CATALOG,
}
COMPLIANCE_TOPICS: Final = frozenset(t for t, f in TOPIC_FAMILIES.items() if f == COMPLIANCE)

#: A canonical order from another channel (POS, marketplace, B2B), on the orders stream.
CHANNEL_ORDER_TOPIC: Final = "strata/orders.create"

DEFAULT_PREFIX: Final = "strata:webhooks"
WORKER_FIELD_PREFIX: Final = "strata_"


class WebhookStreams:
    """Stream and de-duplication key names under one prefix, with ``shards`` per family."""

    __slots__ = ("prefix", "shards")

    def __init__(self, prefix: str = DEFAULT_PREFIX, shards: int = 1) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")
        self.prefix = prefix
        self.shards = shards

    def stream(self, family: str, shard: int = 0) -> str:
        """The stream of one family shard, e.g. ``strata:webhooks:{orders}``."""
        tag = family if self.shards == 1 else f"{family}-{shard}"
        return f"{self.prefix}:{{{tag}}}"

    def streams(self, family: str) -> list[str]:
        """Every shard's stream of a family (what a consumer group reads)."""
        return [self.stream(family, n) for n in range(self.shards)]

    def shard_of(self, shop: str) -> int:
        """The shard a shop's events go to (stable across processes and restarts)."""
        if self.shards == 1:
            return 0
        return zlib.crc32(shop.encode()) % self.shards

    def for_shop(self, family: str, shop: str) -> str:
        """The stream of ``family`` that carries ``shop``'s entries."""
        return self.stream(family, self.shard_of(shop))

    def for_topic(self, topic: str, shop: str) -> str | None:
        """The stream a webhook of ``topic`` from ``shop`` is appended to; None if refused."""
        family = TOPIC_FAMILIES.get(topic)
        if family is None:
            return None
        return self.for_shop(family, shop)

    @staticmethod
    def seen_key(stream: str, shop: str, event_id: str) -> str:
        """The de-duplication key of one event: in the same hash slot as ``stream``."""
        return f"{stream}:seen:{shop}:{event_id}"

    @staticmethod
    def seen_key_bytes(stream: bytes, shop: bytes, event_id: bytes) -> bytes:
        """:meth:`seen_key` from the bytes a delivery carries (the ingress's hot path)."""
        return b"%b:seen:%b:%b" % (stream, shop, event_id)


# -- entries ---------------------------------------------------------------------------------


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A verified Shopify webhook, as the ingress appended it (``body`` is the raw JSON)."""

    topic: str
    shop: str
    body: str
    event_id: str = ""
    webhook_id: str = ""
    triggered_at: str = ""
    api_version: str = ""
    received_at: str = ""
    traceparent: str | None = None
    tracestate: str | None = None
    # Set when an operator replays an exception: its id, and the correlation id it keeps.
    replay_of: str | None = None
    correlation_id: str | None = None


class ChannelOrder(msgspec.Struct, frozen=True, kw_only=True):
    """A canonical sales order from another channel; ``body`` is a ``SalesOrderDraft`` JSON."""

    shop: str  # the channel's namespace, e.g. ``pos:store-12``
    order_id: str
    body: str
    topic: str = CHANNEL_ORDER_TOPIC
    correlation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    replay_of: str | None = None


#: The leading fields of a webhook entry, in the order the ingress packs them.
WEBHOOK_LAYOUT: Final = (
    "topic",
    "shop",
    "event_id",
    "webhook_id",
    "triggered_at",
    "api_version",
    "received_at",
    "body",
)

StreamEntry = WebhookEvent | ChannelOrder


class MalformedEntry(ValueError):
    """A stream entry that fits none of the contract's Structs."""


def encode_entry(entry: StreamEntry) -> dict[str, str]:
    """The entry as Redis stream fields; fields left at None are omitted."""
    fields: dict[str, str] = {}
    for name in entry.__struct_fields__:
        value = getattr(entry, name)
        if value is not None:
            fields[name] = value
    return fields


def decode_entry(fields: Mapping[str, str]) -> StreamEntry:
    """The Struct an entry's fields describe; :class:`MalformedEntry` says what is wrong."""
    own = {k: v for k, v in fields.items() if not k.startswith(WORKER_FIELD_PREFIX)}
    kind: type[StreamEntry] = (
        ChannelOrder if own.get("topic") == CHANNEL_ORDER_TOPIC else WebhookEvent
    )
    known = {k: v for k, v in own.items() if k in kind.__struct_fields__}
    try:
        return msgspec.convert(known, kind)
    except msgspec.ValidationError as exc:
        raise MalformedEntry(f"not a {kind.__name__} entry: {exc}") from exc


# -- ERP shipment changes ---------------------------------------------------------------------

#: The stream of ERP shipment changes the orders process's fulfillment follower found. Its
#: de-duplication hash and its pending set carry the same hash tag (one Redis Cluster slot).
SHIPMENTS_STREAM: Final = "strata:fulfillment:{shipments}"
SHIPMENT_TOPIC: Final = "erp/shipment"


class ShipmentChange(msgspec.Struct, frozen=True, kw_only=True):
    """A shipment of a Shopify order that changed in an ERP: it left (``shipped``), its
    lines or tracking changed, or it was ``cancelled``. ``body`` is the canonical
    ``Shipment`` JSON as the ERP system API answered it; ``seen_at`` (epoch seconds) is when
    the follower first saw it shipped."""

    erp_instance: str
    shop: str
    order_id: str
    shipment_id: str
    #: ``shipped`` (the goods left: the ERP's shipped or done) or ``cancelled``.
    change: str
    body: str
    seen_at: str
    topic: str = SHIPMENT_TOPIC
    traceparent: str | None = None
    tracestate: str | None = None


def encode_shipment_change(entry: ShipmentChange) -> dict[str, str]:
    """The change as Redis stream fields; fields left at None are omitted."""
    return {
        name: value
        for name in entry.__struct_fields__
        if (value := getattr(entry, name)) is not None
    }


def decode_shipment_change(fields: Mapping[str, str]) -> ShipmentChange:
    """The change an entry's fields describe; :class:`MalformedEntry` says what is wrong."""
    own = {
        k: v
        for k, v in fields.items()
        if not k.startswith(WORKER_FIELD_PREFIX) and k in ShipmentChange.__struct_fields__
    }
    try:
        return msgspec.convert(own, ShipmentChange)
    except msgspec.ValidationError as exc:
        raise MalformedEntry(f"not a ShipmentChange entry: {exc}") from exc
