"""Following each ERP instance's shipment change feed into the shipments stream.

Tryton sends no events, so the follower asks each ERP system API for the customer shipments
changed since a watermark it keeps in Redis (per instance), asking again from ``overlap``
before it: the ERP stamps a change when it writes it, not when it commits it, so a late
commit lands behind a watermark that has already moved past it. What is seen twice is dropped
by content: each shipment's last offered content (its state class, lines, carrier and
tracking) sits in a hash beside the stream, and one script compares it and appends the
change only when it differs. Only one follower per instance polls at a time (a lease in
Redis), though two would offer nothing twice.

A shipment of an order that did not come from Shopify (a channel order) or a return
shipment has no Shopify fulfillment: it is passed over. A shipment that left (``shipped``,
``done``) joins the *pending* set, scored by when it was first seen, until the sender has
made its fulfillment: the gauge of shipments not yet reflected in Shopify.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping

import msgspec

from process_apis.orders.fulfillment.matching import tracking_of
from process_apis.orders.fulfillment.settings import FulfillmentSettings
from shared.events import RedisClient
from shared.models import Shipment, ShipmentChanges
from shared.sibling import SiblingClient, SiblingError
from shared.streams import SHIPMENTS_STREAM, ShipmentChange, encode_shipment_change

log = logging.getLogger("strata.orders.fulfillment")

SHIPPED_STATES = frozenset({"shipped", "done"})
#: Seen content per shipment, and shipments left but not yet in Shopify (by first sight).
SEEN_KEY = SHIPMENTS_STREAM + ":seen"
PENDING_KEY = SHIPMENTS_STREAM + ":pending"
STREAM_MAXLEN = 1_000_000

# KEYS: seen hash, stream, pending zset. ARGV: field, fingerprint, now, pending (1/0), then
# the entry's field/value pairs. Appends only when the content differs from the last offer.
_OFFER = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] == '1' then redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[1]) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', unpack(ARGV, 6))
return 1
"""

# KEYS: lease. ARGV: token, ttl ms. Take or renew.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


def parse_reference(reference: str | None) -> tuple[str, str] | None:
    """``shopify:<shop>:<order id>`` -> (shop, order id); None for any other channel."""
    if not reference or not reference.startswith("shopify:"):
        return None
    _, _, rest = reference.partition(":")
    shop, sep, order_id = rest.rpartition(":")
    if not sep or not shop or not order_id.isdigit():
        return None
    return shop, order_id


def pending_member(change: ShipmentChange) -> str:
    """The shipment's member of the pending set (and field of the seen hash)."""
    return f"{change.erp_instance}:{change.shipment_id}:{change.shop}:{change.order_id}"


def change_of(shipment: Shipment) -> str | None:
    if shipment.state in SHIPPED_STATES:
        return "shipped"
    if shipment.state == "cancelled":
        return "cancelled"
    return None


def fingerprint(change: str, shipment: Shipment) -> str:
    content = [
        change,
        sorted((line.sku, str(line.quantity)) for line in shipment.lines),
        tracking_of(shipment),
    ]
    return hashlib.sha256(msgspec.json.encode(content)).hexdigest()[:24]


class ShipmentFollower:
    """Polls every ERP instance's shipment change feed and offers changes to the stream."""

    def __init__(
        self,
        redis: RedisClient,
        erps: Mapping[str, SiblingClient],
        settings: FulfillmentSettings,
        *,
        prefix: str = "strata:fulfillment",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.erps = erps
        self.settings = settings
        self.prefix = prefix
        self.clock = clock
        self.token = uuid.uuid4().hex
        self._offer = redis.register_script(_OFFER)
        self._lease = redis.register_script(_LEASE)
        self._stopping = asyncio.Event()

    def watermark_key(self, instance: str) -> str:
        return f"{self.prefix}:watermark:{{{instance}}}"

    def lease_key(self, instance: str) -> str:
        return f"{self.prefix}:lease:{{{instance}}}"

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Poll every instance every ``poll_interval`` until :meth:`stop`."""
        while not self._stopping.is_set():
            await asyncio.gather(*(self._poll_logged(name) for name in self.erps))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.poll_interval)

    async def _poll_logged(self, instance: str) -> None:
        try:
            await self.poll(instance)
        except (SiblingError, OSError) as exc:
            log.warning("shipment feed of %s: %s", instance, exc)
        except Exception:
            log.exception("shipment feed of %s failed", instance)

    async def poll(self, instance: str) -> int:
        """One pass over the instance's changes since its watermark; the changes offered.

        Without the instance's lease (another follower holds it) nothing is read."""
        # A lease outlives a few polls: a follower that died hands over within that.
        ttl_ms = int(max(self.settings.poll_interval * 3, 1.0) * 1000)
        if not await self._lease(keys=[self.lease_key(instance)], args=[self.token, ttl_ms]):
            return 0
        raw = await self.redis.get(self.watermark_key(instance))
        now = self.clock()
        if raw is None:
            since = dt.datetime.fromtimestamp(now - self.settings.initial_lookback, dt.UTC)
        else:
            mark = dt.datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)
            since = mark - dt.timedelta(seconds=self.settings.overlap)
        newest = None if raw is None else mark
        offered = 0
        cursor: str | None = None
        erp = self.erps[instance]
        while True:
            params: dict[str, str | int] = {"limit": self.settings.page_size}
            if cursor:
                params["cursor"] = cursor
            else:
                params["since"] = since.isoformat()
            page = await erp.get_json(
                "/erp/v1/shipments/changes", type=ShipmentChanges, params=params
            )
            for shipment in page.items:
                offered += await self.offer(instance, shipment)
                if shipment.updated_at is not None:
                    stamp = shipment.updated_at
                    if stamp.tzinfo is None:
                        stamp = stamp.replace(tzinfo=dt.UTC)
                    newest = stamp if newest is None else max(newest, stamp)
            cursor = page.next_cursor
            if not cursor:
                break
        if newest is None:
            # Nothing yet: keep the start of this window, so a later first shipment is seen.
            newest = since + dt.timedelta(seconds=self.settings.overlap if raw else 0)
        await self.redis.set(self.watermark_key(instance), newest.isoformat())
        return offered

    async def offer(self, instance: str, shipment: Shipment) -> int:
        """Append the shipment's change unless the stream already has this content of it."""
        if shipment.is_return:
            return 0
        order = parse_reference(shipment.external_reference)
        change = change_of(shipment)
        if order is None or change is None:
            return 0
        shop, order_id = order
        field = f"{instance}:{shipment.id}:{shop}:{order_id}"
        now = self.clock()
        entry = ShipmentChange(
            erp_instance=instance,
            shop=shop,
            order_id=order_id,
            shipment_id=shipment.id,
            change=change,
            body=msgspec.json.encode(shipment).decode(),
            seen_at=repr(now),
        )
        pairs = [item for pair in encode_shipment_change(entry).items() for item in pair]
        appended = await self._offer(
            keys=[SEEN_KEY, SHIPMENTS_STREAM, PENDING_KEY],
            args=[
                field,
                fingerprint(change, shipment),
                now,
                "1" if change == "shipped" else "0",
                STREAM_MAXLEN,
                *pairs,
            ],
        )
        return int(appended)
