"""Which webhook topics are accepted and which Redis Stream each one is appended to.

Three families of streams: ``orders`` (orders, refunds and fulfillments, consumed by the
orders process), ``inventory`` (inventory levels, consumed by the inventory process) and
``compliance`` (the mandatory GDPR topics, consumed by the compliance handler).

Every key carries a Redis Cluster hash tag, ``{orders}`` or ``{orders-3}`` when sharded, and
the de-duplication key of an event shares its stream's tag, so the one script that checks and
appends touches a single slot. With several shards a shop always maps to the same shard, which
keeps one shop's events in arrival order and its duplicates on the key that saw the first.
"""

from __future__ import annotations

import zlib
from typing import Final

ORDERS: Final = "orders"
INVENTORY: Final = "inventory"
COMPLIANCE: Final = "compliance"

TOPIC_FAMILIES: Final[dict[str, str]] = {
    "orders/create": ORDERS,
    "orders/updated": ORDERS,
    "orders/paid": ORDERS,
    "orders/cancelled": ORDERS,
    "orders/fulfilled": ORDERS,
    "refunds/create": ORDERS,
    "fulfillments/create": ORDERS,
    "fulfillments/update": ORDERS,
    "inventory_levels/update": INVENTORY,
    "customers/data_request": COMPLIANCE,
    "customers/redact": COMPLIANCE,
    "shop/redact": COMPLIANCE,
}
COMPLIANCE_TOPICS: Final = frozenset(t for t, f in TOPIC_FAMILIES.items() if f == COMPLIANCE)


class WebhookStreams:
    """Stream and de-duplication key names under one prefix, with ``shards`` per family."""

    __slots__ = ("prefix", "shards")

    def __init__(self, prefix: str = "strata:webhooks", shards: int = 1) -> None:
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

    def for_topic(self, topic: str, shop: str) -> str | None:
        """The stream a webhook of ``topic`` from ``shop`` is appended to; None if refused."""
        family = TOPIC_FAMILIES.get(topic)
        if family is None:
            return None
        return self.stream(family, self.shard_of(shop))

    @staticmethod
    def seen_key(stream: str, shop: str, event_id: str) -> str:
        """The de-duplication key of one event: in the same hash slot as ``stream``."""
        return f"{stream}:seen:{shop}:{event_id}"

    @staticmethod
    def seen_key_bytes(stream: bytes, shop: bytes, event_id: bytes) -> bytes:
        """:meth:`seen_key` from the bytes a delivery carries (the ingress's hot path)."""
        return b"%b:seen:%b:%b" % (stream, shop, event_id)
