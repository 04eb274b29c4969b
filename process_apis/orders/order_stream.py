"""The orders stream as the service writes to it: replays and channel orders, typed entries;
and the shipments stream, for a replayed shipment change."""

from __future__ import annotations

from shared.events import RedisClient, publish
from shared.streams import (
    ORDERS,
    SHIPMENTS_STREAM,
    ShipmentChange,
    StreamEntry,
    WebhookStreams,
    encode_entry,
    encode_shipment_change,
)


class RedisOrderStream:
    """Appends typed entries to the orders stream, on the shard of the entry's shop
    (:class:`~process_apis.orders.ports.OrderStream`)."""

    def __init__(self, redis: RedisClient, streams: WebhookStreams) -> None:
        self.redis = redis
        self.streams = streams

    def stream_for(self, shop: str) -> str:
        """The shard a shop's (or a channel's) entries go to."""
        return self.streams.for_shop(ORDERS, shop)

    async def append(self, entry: StreamEntry) -> str:
        """Append the entry (with the current trace context unless it carries one)."""
        return await publish(self.redis, self.stream_for(entry.shop), encode_entry(entry))

    async def append_shipment(self, change: ShipmentChange) -> str:
        """Append an ERP shipment change to the shipments stream (an operator's replay)."""
        return await publish(self.redis, SHIPMENTS_STREAM, encode_shipment_change(change))
