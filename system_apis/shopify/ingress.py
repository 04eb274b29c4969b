"""Shopify webhook ingress: verify, check, de-duplicate and append to a Redis Stream.

The checks run cheapest-first and never trust the body before its signature: the declared
size, the HMAC and shop headers, the shop allow-list, then the body (read with a limit) and
its HMAC-SHA256 in constant time against the shop's current and previous secret. Only then
are the topic, the ids and the JSON looked at. The answer is 200 once the append succeeded
(or the event had already been appended); 401 for a missing or forged signature or a shop we
cannot verify; 400 for a malformed delivery or a topic we do not take; 413 for an oversized
body; 503 with ``Retry-After`` when Redis could not take it, so Shopify retries.

This path reads ASGI headers and the body stream directly: it is the hottest route Strata
has, and the per-request cost of header objects and parameter models shows in throughput.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from collections.abc import Iterable, Mapping
from typing import Final

import msgspec
from litestar.types import Receive
from redis.exceptions import RedisError

from shared.problems import StrataError
from shared.streams import TOPIC_FAMILIES, WEBHOOK_LAYOUT, WebhookStreams
from shared.telemetry.context import recording_traceparent
from system_apis.shopify.appender import Appended, EntryLayout, StreamAppender
from system_apis.shopify.metrics import IngressMetrics
from system_apis.shopify.problems import (
    EventStoreUnavailable,
    WebhookBodyMalformed,
    WebhookBodyTooLarge,
    WebhookHeaderMissing,
    WebhookShopUnknown,
    WebhookSignatureInvalid,
    WebhookTopicUnsupported,
)
from system_apis.shopify.settings import ShopConfig, ShopifySettings

# Shopify's headers, with and without the ``X-`` prefix (newer deliveries drop it, and
# Shopify's own ``shopify_app`` accepts both); ASGI servers lower-case header names.
_HEADERS: Final[dict[bytes, str]] = {}
for _name in (
    "hmac-sha256",
    "topic",
    "shop-domain",
    "event-id",
    "webhook-id",
    "triggered-at",
    "api-version",
):
    _HEADERS[f"x-shopify-{_name}".encode()] = _name
    _HEADERS[f"shopify-{_name}".encode()] = _name
_HEADERS[b"content-length"] = "content-length"
_HEADERS[b"traceparent"] = "traceparent"
_HEADERS[b"tracestate"] = "tracestate"

_ID = re.compile(rb"[\x21-\x7e]{1,128}")
_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_MAX_TRACESTATE = 512
_TOPICS: Final = {topic.encode(): topic for topic in TOPIC_FAMILIES}

#: The packing template of :data:`shared.streams.WEBHOOK_LAYOUT` (``traceparent`` and
#: ``tracestate`` may follow); consumers read the entries back with ``decode_entry``.
ENTRY: Final = EntryLayout(WEBHOOK_LAYOUT)


class _Envelope(msgspec.Struct):
    """Decoding into this proves the body is a JSON object without building it."""


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def shopify_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, bytes]:
    """The Shopify and trace headers of a request, by short name (the ``X-`` form wins).

    Values stay bytes: they go to Redis as they came, and most are never read as text.
    """
    found: dict[str, bytes] = {}
    for name, value in raw:
        key = _HEADERS.get(name)
        if key is not None and (key not in found or name[:2] == b"x-"):
            found[key] = value
    return found


def signature_matches(body: bytes, signature: str | bytes, secrets: tuple[bytes, ...]) -> bool:
    """Whether ``signature`` (base64 HMAC-SHA256 of ``body``) was made with one of ``secrets``.

    Each secret is compared in constant time and every secret is tried, so the timing does
    not say which one matched.
    """
    try:
        received = binascii.a2b_base64(signature, strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(hmac.digest(secret, body, "sha256"), received)
    return matched


def sign(secret: str, body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify sends for ``body`` (tests, the demo)."""
    return base64.b64encode(hmac.digest(secret.encode(), body, "sha256")).decode("ascii")


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing it with 413 as soon as it passes ``limit`` bytes."""
    message = await receive()
    if message["type"] != "http.request":
        raise WebhookBodyMalformed("The client went away before sending the body")
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise WebhookBodyTooLarge(f"The body exceeds {limit} bytes")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise WebhookBodyMalformed("The client went away before sending the whole body")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise WebhookBodyTooLarge(f"The body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class _Clock:
    """``received_at`` stamps (ISO 8601, milliseconds, UTC); the formatted second is kept,
    since formatting it costs more than the rest of the stamp."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = b""

    def stamp(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
            self._second = second
        return b"%b.%03dZ" % (self._text, int((now - second) * 1000))


def _secrets(config: ShopConfig) -> tuple[bytes, ...]:
    if config.previous_secret:
        return (config.secret.encode(), config.previous_secret.encode())
    return (config.secret.encode(),)


class WebhookIngress:
    """Verifies a Shopify webhook and appends it once to its topic's stream."""

    def __init__(
        self,
        settings: ShopifySettings,
        appender: StreamAppender,
        metrics: IngressMetrics,
        streams: WebhookStreams | None = None,
    ) -> None:
        self.streams = streams or WebhookStreams(settings.stream_prefix, settings.stream_shards)
        self.appender = appender
        self.metrics = metrics
        self.max_body = settings.webhook_max_body_bytes
        self.retry_after = settings.unavailable_retry_after
        self._secrets: Mapping[bytes, tuple[bytes, ...]] = {
            shop.encode(): _secrets(config) for shop, config in settings.shops.items()
        }
        # Bounded: accepted topics times configured shops.
        self._stream_names: dict[tuple[str, bytes], bytes] = {}
        self._clock = _Clock()

    async def receive(
        self, raw_headers: Iterable[tuple[bytes, bytes]], receive: Receive
    ) -> Appended:
        """Check one delivery and append it; raise the problem to answer with otherwise."""
        try:
            return await self._receive(shopify_headers(raw_headers), receive)
        except StrataError as exc:
            self.metrics.rejected(exc.slug)
            raise

    def _stream(self, topic: str, shop: bytes) -> bytes:
        stream = self._stream_names.get((topic, shop))
        if stream is None:
            name = self.streams.for_topic(topic, shop.decode())
            assert name is not None, "only accepted topics are looked up"
            stream = self._stream_names[(topic, shop)] = name.encode()
        return stream

    async def _receive(self, headers: dict[str, bytes], receive: Receive) -> Appended:
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            raise WebhookBodyTooLarge(f"The body exceeds {self.max_body} bytes")
        signature = headers.get("hmac-sha256")
        if not signature:
            raise WebhookSignatureInvalid("The X-Shopify-Hmac-Sha256 header is missing")
        shop = headers.get("shop-domain", b"").lower()
        if not shop:
            raise WebhookHeaderMissing("The X-Shopify-Shop-Domain header is missing")
        secrets = self._secrets.get(shop)
        if secrets is None:
            # We hold no secret for this shop, so its deliveries cannot be verified at all.
            raise WebhookShopUnknown(
                f"{shop.decode('latin-1')} is not a shop this deployment serves"
            )
        body = await read_body(receive, self.max_body)
        if not signature_matches(body, signature, secrets):
            raise WebhookSignatureInvalid("The HMAC does not match the body for this shop")
        raw_topic = headers.get("topic")
        if not raw_topic:
            raise WebhookHeaderMissing("The X-Shopify-Topic header is missing")
        topic = _TOPICS.get(raw_topic)
        if topic is None:
            raise WebhookTopicUnsupported(
                f"{raw_topic.decode('latin-1')} is not accepted here; accepted: "
                f"{', '.join(TOPIC_FAMILIES)}"
            )
        webhook_id = headers.get("webhook-id", b"")
        event_id = headers.get("event-id") or webhook_id
        if not event_id:
            raise WebhookHeaderMissing("Neither X-Shopify-Event-Id nor X-Shopify-Webhook-Id")
        if _ID.fullmatch(event_id) is None or (webhook_id and _ID.fullmatch(webhook_id) is None):
            raise WebhookHeaderMissing("The event or webhook id is not 1 to 128 visible chars")
        try:
            _ENVELOPE.decode(body)
        except msgspec.DecodeError:
            raise WebhookBodyMalformed("The body is not a JSON object") from None
        stream = self._stream(topic, shop)
        # In WEBHOOK_LAYOUT's order (a unit test decodes what is packed here).
        values = (
            raw_topic, shop, event_id, webhook_id, headers.get("triggered-at", b""),
            headers.get("api-version", b""), self._clock.stamp(), body,
        )  # fmt: skip
        extra: tuple[bytes, ...] = ()
        # The entry continues this request's server span where spans are recorded, else it
        # passes the caller's trace context through.
        own = recording_traceparent()
        traceparent = own.encode() if own is not None else headers.get("traceparent")
        if traceparent is not None and _TRACEPARENT.fullmatch(traceparent):
            extra = (b"traceparent", traceparent)
            tracestate = headers.get("tracestate")
            if tracestate and len(tracestate) <= _MAX_TRACESTATE:
                extra += (b"tracestate", tracestate)
        try:
            appended = await self.appender.append(
                stream, self.streams.seen_key_bytes(stream, shop, event_id), values, extra
            )
        except RedisError as exc:
            raise EventStoreUnavailable(
                f"The event store did not take the webhook ({type(exc).__name__}); retry",
                retry_after=self.retry_after,
            ) from exc
        self.metrics.appended(topic, appended.duplicate)
        return appended
