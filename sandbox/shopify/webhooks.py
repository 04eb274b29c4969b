"""Webhook sender that behaves like Shopify's: signed, retried, sometimes duplicated or late.

Each event (one merchant action, one ``X-Shopify-Event-Id``) becomes one delivery per matching
subscription (one ``X-Shopify-Webhook-Id``, kept across that delivery's retries). A delivery
fails on a non-2xx answer (redirects included), on no answer within ``timeout`` seconds, or on a
connection error; it is then retried ``retries`` times with exponential backoff spread over
``retry_window`` sandbox seconds (Shopify: 8 times over 4 hours), always with the payload and
address of the moment it was triggered. A subscription whose delivery exhausts its retries is
removed, as Shopify does for subscriptions made through the API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from sandbox.shopify.clock import SandboxClock
from sandbox.shopify.commerce import ShopEvent

log = logging.getLogger("strata.sandbox.shopify.webhooks")

USER_AGENT = "Shopify-Captain-Hook"


def sign(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256 over the raw body, keyed by the secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def backoff_schedule(retries: int, window: float) -> tuple[float, ...]:
    """Delays before each retry, doubling each time and summing to ``window`` seconds."""
    if retries <= 0:
        return ()
    base = window / (2**retries - 1)
    return tuple(base * 2**i for i in range(retries))


def _utc_stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Subscription(msgspec.Struct, kw_only=True):
    id: int
    shop: str
    topic: str
    address: str
    api_version: str
    name: str | None = None
    active: bool = True
    removed_reason: str | None = None
    created_at: str = msgspec.field(default_factory=_utc_stamp)


class Attempt(msgspec.Struct, kw_only=True):
    number: int
    at: str
    status: int | None
    error: str | None
    duration_ms: float
    signed_with: str


class Delivery(msgspec.Struct, kw_only=True):
    """One delivery of one event to one subscription, with every attempt made."""

    webhook_id: str
    event_id: str
    subscription_id: int
    shop: str
    topic: str
    address: str
    api_version: str
    triggered_at: str
    body: bytes
    name: str | None = None
    state: str = "queued"
    duplicate_of: str | None = None
    attempts: list[Attempt] = msgspec.field(default_factory=list)
    sequence: int = 0

    def view(self, include_body: bool = False) -> dict[str, Any]:
        """The delivery as the control API shows it."""
        shown: dict[str, Any] = {
            "webhook_id": self.webhook_id,
            "event_id": self.event_id,
            "subscription_id": self.subscription_id,
            "shop": self.shop,
            "topic": self.topic,
            "address": self.address,
            "api_version": self.api_version,
            "triggered_at": self.triggered_at,
            "state": self.state,
            "duplicate_of": self.duplicate_of,
            "sequence": self.sequence,
            "body_bytes": len(self.body),
            "attempts": msgspec.to_builtins(self.attempts),
        }
        if include_body:
            shown["body"] = self.body.decode("utf-8")
        return shown


class WebhookSender:
    """Subscriptions per shop, signed deliveries, retries, duplicates, holds and a log."""

    def __init__(
        self,
        *,
        client_secret: str,
        clock: SandboxClock,
        retries: int = 8,
        retry_window: float = 4 * 3600.0,
        timeout: float = 5.0,
        connect_timeout: float = 1.0,
        remove_failing_subscriptions: bool = True,
        default_api_version: str = "2026-04",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.clock = clock
        self.retries = retries
        self.delays = backoff_schedule(retries, retry_window)
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self.remove_failing_subscriptions = remove_failing_subscriptions
        self.default_api_version = default_api_version
        self._secret = client_secret
        self._old_secret: str | None = None
        self._old_secret_until = 0.0
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._subscriptions: dict[int, Subscription] = {}
        self._sub_ids = itertools.count(1_310_000_001)
        self._sequence = itertools.count(1)
        self._deliveries: list[Delivery] = []
        self._held: list[Delivery] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.hold_deliveries = False
        self.duplicates_per_delivery = 0
        self.duplicates_keep_webhook_id = True

    # -- lifecycle --------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                follow_redirects=False,
                trust_env=False,
                transport=self._transport,
            )
        return self._client

    async def close(self) -> None:
        """Cancel pending retries and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drain(self, within: float = 30.0) -> None:
        """Wait up to ``within`` real seconds until no delivery is in flight or retrying."""
        deadline = time.monotonic() + within
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._tasks)} webhook deliveries still pending")
            await asyncio.wait(set(self._tasks), timeout=remaining)

    # -- secrets ----------------------------------------------------------------------------

    @property
    def client_secret(self) -> str:
        return self._secret

    def rotate_secret(self, new_secret: str, *, old_secret_for: float = 0.0) -> None:
        """Sign with ``new_secret``; keep signing with the old one for ``old_secret_for`` s.

        Shopify may go on signing with the previous secret for up to an hour after a rotation.
        """
        self._old_secret = self._secret
        self._old_secret_until = self.clock.now() + old_secret_for
        self._secret = new_secret

    def _signing_secret(self) -> tuple[str, str]:
        if self._old_secret is not None and self.clock.now() < self._old_secret_until:
            return self._old_secret, "previous"
        return self._secret, "current"

    # -- subscriptions ----------------------------------------------------------------------

    def subscribe(
        self,
        shop: str,
        topic: str,
        address: str,
        *,
        api_version: str | None = None,
        name: str | None = None,
    ) -> Subscription:
        """Subscribe ``address`` to ``topic`` of ``shop`` (one delivery per event)."""
        subscription = Subscription(
            id=next(self._sub_ids),
            shop=shop,
            topic=topic,
            address=address,
            api_version=api_version or self.default_api_version,
            name=name,
        )
        self._subscriptions[subscription.id] = subscription
        return subscription

    def unsubscribe(self, subscription_id: int) -> bool:
        return self._subscriptions.pop(subscription_id, None) is not None

    def subscriptions(self, shop: str | None = None) -> list[Subscription]:
        return [s for s in self._subscriptions.values() if shop is None or s.shop == shop]

    # -- deliveries -------------------------------------------------------------------------

    def publish(self, shop: str, events: Sequence[ShopEvent]) -> list[Delivery]:
        """Turn events into deliveries to every active subscription and send (or hold) them."""
        created: list[Delivery] = []
        for event in events:
            event_id = str(uuid.uuid4())
            triggered_at = _utc_stamp()
            body = msgspec.json.encode(event.payload)
            for sub in list(self._subscriptions.values()):
                if not sub.active or sub.shop != shop or sub.topic != event.topic:
                    continue
                delivery = self._new_delivery(sub, event_id, triggered_at, body)
                created.append(delivery)
                copies = [
                    self._copy(delivery, keep_id=self.duplicates_keep_webhook_id)
                    for _ in range(self.duplicates_per_delivery)
                ]
                if self.hold_deliveries:
                    delivery.state = "held"
                    self._held.append(delivery)
                    for copy in copies:
                        copy.state = "held"
                        self._held.append(copy)
                else:
                    self._spawn(self._deliver_then_copies(delivery, copies))
        return created

    def _new_delivery(
        self, sub: Subscription, event_id: str, triggered_at: str, body: bytes
    ) -> Delivery:
        delivery = Delivery(
            webhook_id=str(uuid.uuid4()),
            event_id=event_id,
            subscription_id=sub.id,
            shop=sub.shop,
            topic=sub.topic,
            address=sub.address,
            api_version=sub.api_version,
            triggered_at=triggered_at,
            body=body,
            name=sub.name,
            sequence=next(self._sequence),
        )
        self._deliveries.append(delivery)
        return delivery

    def _copy(self, original: Delivery, *, keep_id: bool) -> Delivery:
        copy = msgspec.structs.replace(
            original,
            webhook_id=original.webhook_id if keep_id else str(uuid.uuid4()),
            duplicate_of=original.webhook_id,
            state="queued",
            attempts=[],
            sequence=next(self._sequence),
        )
        self._deliveries.append(copy)
        return copy

    def redeliver(
        self, webhook_id: str, count: int = 1, *, keep_webhook_id: bool = True
    ) -> list[Delivery]:
        """Send ``count`` duplicates of an earlier delivery (same event id and body)."""
        original = self.find(webhook_id)
        if original is None:
            raise KeyError(webhook_id)
        copies = [self._copy(original, keep_id=keep_webhook_id) for _ in range(count)]
        for copy in copies:
            self._spawn(self._deliver(copy))
        return copies

    def held(self) -> list[Delivery]:
        return list(self._held)

    async def release(self, order: str | Sequence[str] = "fifo") -> list[Delivery]:
        """Send held deliveries one after the other, in the given order.

        ``order`` is ``"fifo"``, ``"reverse"``, or a list of topics and/or webhook ids: those
        named go first in that order, the rest follow in arrival order. Each delivery's first
        attempt finishes before the next starts, so the receiver sees exactly this order.
        """
        queue = list(self._held)
        self._held.clear()
        if order == "reverse":
            queue.reverse()
        elif not isinstance(order, str):
            rank = {key: i for i, key in enumerate(order)}
            queue.sort(key=lambda d: rank.get(d.webhook_id, rank.get(d.topic, len(rank))))
        for delivery in queue:
            first_attempt = asyncio.Event()
            self._spawn(self._deliver(delivery, first_attempt))
            await first_attempt.wait()
        return queue

    def find(self, webhook_id: str) -> Delivery | None:
        return next((d for d in self._deliveries if d.webhook_id == webhook_id), None)

    def log(
        self, *, shop: str | None = None, topic: str | None = None, state: str | None = None
    ) -> list[Delivery]:
        """Every delivery so far (oldest first), optionally filtered."""
        return [
            d
            for d in self._deliveries
            if (shop is None or d.shop == shop)
            and (topic is None or d.topic == topic)
            and (state is None or d.state == state)
        ]

    def clear_log(self) -> None:
        self._deliveries = [
            d for d in self._deliveries if d.state in ("queued", "retrying", "held")
        ]

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_then_copies(self, delivery: Delivery, copies: list[Delivery]) -> None:
        first_attempt = asyncio.Event()
        self._spawn(self._deliver(delivery, first_attempt))
        await first_attempt.wait()
        for copy in copies:
            await self._deliver(copy)

    async def _deliver(
        self, delivery: Delivery, first_attempt: asyncio.Event | None = None
    ) -> None:
        try:
            for number in range(1, self.retries + 2):
                ok = await self._attempt(delivery, number)
                if first_attempt is not None:
                    first_attempt.set()
                if ok:
                    delivery.state = "delivered"
                    return
                if number > self.retries:
                    break
                delivery.state = "retrying"
                await self.clock.sleep(self.delays[number - 1])
            delivery.state = "failed"
            self._give_up(delivery)
        finally:
            if first_attempt is not None:
                first_attempt.set()

    def _give_up(self, delivery: Delivery) -> None:
        sub = self._subscriptions.get(delivery.subscription_id)
        if self.remove_failing_subscriptions and sub is not None and sub.active:
            sub.active = False
            sub.removed_reason = f"{self.retries + 1} failed attempts of {delivery.webhook_id}"
            log.info("removed subscription %s (%s) after repeated failures", sub.id, sub.topic)

    def headers_for(self, delivery: Delivery, secret: str) -> dict[str, str]:
        """The headers Shopify sends with a delivery."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Shopify-Topic": delivery.topic,
            "X-Shopify-Hmac-Sha256": sign(secret, delivery.body),
            "X-Shopify-Shop-Domain": delivery.shop,
            "X-Shopify-API-Version": delivery.api_version,
            "X-Shopify-Webhook-Id": delivery.webhook_id,
            "X-Shopify-Event-Id": delivery.event_id,
            "X-Shopify-Triggered-At": delivery.triggered_at,
        }
        if delivery.name:
            headers["X-Shopify-Name"] = delivery.name
        return headers

    async def _attempt(self, delivery: Delivery, number: int) -> bool:
        secret, which = self._signing_secret()
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            response = await self._http().post(
                delivery.address, content=delivery.body, headers=self.headers_for(delivery, secret)
            )
            status = response.status_code
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.TransportError as exc:
            error = f"connection error: {type(exc).__name__}"
        delivery.attempts.append(
            Attempt(
                number=number,
                at=_utc_stamp(),
                status=status,
                error=error,
                duration_ms=round((time.monotonic() - started) * 1000, 2),
                signed_with=which,
            )
        )
        return status is not None and 200 <= status < 300
