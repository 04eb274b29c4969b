"""A customer's orders: an index by email kept in Redis, read back with each order's pipeline state.

The index is written when the pipeline posts an order (:class:`RedisCustomerIndex`, with the
service's :class:`~process_apis.orders.context_settings.ContextSettings`): the pipeline sees every
order of every shop and channel, so the index needs no call to Shopify or the ERPs, and Shopify
orders whose webhook was lost reach it once reconciliation re-enqueues them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from process_apis.orders.context_schemas import CustomerOrder, CustomerOrderPage
from process_apis.orders.context_settings import ContextSettings
from process_apis.orders.ports import ExceptionQueue, OrderPipeline
from shared.events import RedisClient
from shared.models import SalesOrderDraft

CUSTOMER_PREFIX = "strata:orders:customers"


class IndexedOrder(msgspec.Struct, kw_only=True):
    shop: str
    order_id: str
    placed_at: float
    currency: str
    total: str
    external_reference: str


_INDEXED = msgspec.json.Encoder()
_INDEXED_DECODER = msgspec.json.Decoder(IndexedOrder)


def normalise_email(email: str) -> str:
    """Email addresses are matched case-insensitively, without surrounding blanks."""
    return email.strip().lower()


def customer_key(email: str, prefix: str = CUSTOMER_PREFIX) -> str:
    # A digest, not the address: key names show up in monitoring and must not leak PII.
    digest = hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]
    return f"{prefix}:{{{digest}}}"


async def index_customer_order(
    redis: RedisClient,
    shop: str,
    order_id: str,
    draft: SalesOrderDraft,
    *,
    settings: ContextSettings | None = None,
    prefix: str = CUSTOMER_PREFIX,
) -> None:
    """Add the order to its customer's index (idempotent: a repeat only refreshes the entry).

    Called when the pipeline posts an order; orders without a customer email are skipped.
    ``settings`` bound the index (``orders_per_customer``, ``index_keep_days``); left out,
    their defaults apply.
    """
    s = settings or ContextSettings()
    email = normalise_email(draft.customer.email)
    if not email:
        return
    placed = draft.ordered_at.timestamp() if draft.ordered_at else time.time()
    total = sum((line.unit_price * line.quantity for line in draft.lines), Decimal(0))
    entry = IndexedOrder(
        shop=shop,
        order_id=order_id,
        placed_at=placed,
        currency=draft.currency,
        total=str(total),
        external_reference=draft.external_reference,
    )
    key = customer_key(email, prefix)
    member = f"{shop}|{order_id}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {member: placed})
        pipe.hset(key + ":orders", member, _INDEXED.encode(entry))
        # Keep only the newest orders (a trimmed order's document lingers until expiry).
        pipe.zremrangebyrank(key, 0, -s.orders_per_customer - 1)
        pipe.expire(key, s.index_keep_days * 86_400)
        pipe.expire(key + ":orders", s.index_keep_days * 86_400)
        await pipe.execute()


class RedisCustomerIndex:
    """Writes the index (:class:`~process_apis.orders.ports.CustomerIndex`), bounded by the
    service's settings."""

    def __init__(
        self, redis: RedisClient, settings: ContextSettings, prefix: str = CUSTOMER_PREFIX
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.prefix = prefix

    async def add(self, shop: str, order_id: str, draft: SalesOrderDraft) -> None:
        """Index the posted order under its customer's email (idempotent)."""
        await index_customer_order(
            self.redis, shop, order_id, draft, settings=self.settings, prefix=self.prefix
        )


class CustomerOrders:
    """Reads a customer's orders from the index, newest first, with their pipeline state."""

    def __init__(
        self,
        redis: RedisClient,
        pipeline: OrderPipeline,
        exceptions: ExceptionQueue,
        prefix: str = CUSTOMER_PREFIX,
    ) -> None:
        self.redis = redis
        self.pipeline = pipeline
        self.exceptions = exceptions
        self.prefix = prefix

    async def page(
        self, email: str, *, shops: Sequence[str] = (), offset: int = 0, limit: int = 20
    ) -> CustomerOrderPage:
        """A page of the customer's orders, limited to ``shops`` when any are given."""
        key = customer_key(email, self.prefix)
        members = [_text(m) for m in await self.redis.zrevrange(key, 0, -1)]
        wanted = {s.lower() for s in shops}
        if wanted:
            members = [m for m in members if m.split("|", 1)[0].lower() in wanted]
        chosen = members[offset : offset + limit]
        items: list[CustomerOrder] = []
        if chosen:
            docs = await self.redis.hmget(key + ":orders", chosen)
            entries = [_INDEXED_DECODER.decode(d) for d in docs if d]
            summaries = await asyncio.gather(
                *(self.pipeline.summary(e.shop, e.order_id) for e in entries)
            )
            for entry, summary in zip(entries, summaries, strict=True):
                items.append(
                    CustomerOrder(
                        shop=entry.shop,
                        order_id=entry.order_id,
                        placed_at=dt.datetime.fromtimestamp(entry.placed_at, dt.UTC),
                        currency=entry.currency,
                        total=entry.total,
                        external_reference=entry.external_reference,
                        state=summary.get("state"),
                        erp_instance=summary.get("erp_instance"),
                        erp_order_id=summary.get("erp_order_id"),
                        erp_order_number=summary.get("erp_order_number") or None,
                        open_exception=summary.get("state") == "exception",
                    )
                )
        more = offset + limit < len(members)
        return CustomerOrderPage(
            email=normalise_email(email),
            items=items,
            total=len(members),
            offset=offset,
            limit=limit,
            next_offset=offset + limit if more else None,
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
