"""What the ingress packs for Redis is the entry ``shared.streams`` describes.

The ingress writes entries from pre-encoded values in the layout's order, straight into a
RESP command; these tests read that command back the way Redis would store it and decode it
with the contract consumers use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from shared.streams import (
    ORDERS,
    WEBHOOK_LAYOUT,
    WebhookEvent,
    WebhookStreams,
    decode_entry,
)
from system_apis.shopify.appender import Appended, StreamAppender, _Call
from system_apis.shopify.ingress import ENTRY, WebhookIngress
from system_apis.shopify.metrics import IngressMetrics
from tests.unit.shopify.deliveries import SHOP, headers, order_body, settings

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class RecordingAppender(StreamAppender):
    """Packs each append as it would go to Redis, and keeps the command instead of sending."""

    def __init__(self) -> None:
        super().__init__(Redis(), ENTRY, ttl=172_800)
        self.commands: list[bytes] = []

    async def append(
        self, stream: bytes, seen_key: bytes, values: Sequence[bytes], extra: Sequence[bytes] = ()
    ) -> Appended:
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self.commands.append(self._pack(_Call(stream, seen_key, values, extra, future)))
        return Appended(f"{len(self.commands)}-0", duplicate=False)


def resp_arguments(command: bytes) -> list[bytes]:
    """The bulk strings of one RESP array (what Redis receives as the command's arguments)."""
    head, rest = command.split(b"\r\n", 1)
    assert head[:1] == b"*"
    arguments: list[bytes] = []
    for _ in range(int(head[1:])):
        size, rest = rest.split(b"\r\n", 1)
        assert size[:1] == b"$"
        length = int(size[1:])
        arguments.append(rest[:length])
        assert rest[length : length + 2] == b"\r\n"
        rest = rest[length + 2 :]
    assert rest == b""
    return arguments


def stored_entry(command: bytes) -> tuple[str, dict[str, str]]:
    """The stream and the field map XADD stores from one append script call."""
    # EVALSHA sha 2 stream seen-key ttl maxlen, then the entry's field/value pairs.
    arguments = resp_arguments(command)
    assert arguments[0] == b"EVALSHA"
    pairs = arguments[7:]
    fields = {
        name.decode(): value.decode() for name, value in zip(pairs[::2], pairs[1::2], strict=True)
    }
    return arguments[3].decode(), fields


async def deliver(ingress: WebhookIngress, body: bytes, sent: dict[str, str]) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    raw = [(name.lower().encode(), value.encode()) for name, value in sent.items()]
    await ingress.receive(raw, receive)  # type: ignore[arg-type]


def ingress(**overrides: Any) -> tuple[WebhookIngress, RecordingAppender]:
    appender = RecordingAppender()
    taking = WebhookIngress(
        settings("strata:webhooks", **overrides), appender, IngressMetrics(CollectorRegistry())
    )
    return taking, appender


async def test_the_packed_entry_decodes_into_the_webhook_event() -> None:
    taking, appender = ingress()
    body = order_body()
    sent = headers(body, event_id="ev-1", webhook_id="wh-1", traceparent=TRACEPARENT,
                   tracestate="vendor=1")  # fmt: skip
    await deliver(taking, body, sent)
    (command,) = appender.commands
    stream, fields = stored_entry(command)
    assert stream == "strata:webhooks:{orders}"
    assert list(fields)[: len(WEBHOOK_LAYOUT)] == list(WEBHOOK_LAYOUT)
    event = decode_entry(fields)
    assert event == WebhookEvent(
        topic="orders/create",
        shop=SHOP,
        body=body.decode(),
        event_id="ev-1",
        webhook_id="wh-1",
        triggered_at="2026-05-01T10:00:00.000Z",
        api_version="2026-10",
        received_at=fields["received_at"],
        traceparent=TRACEPARENT,
        tracestate="vendor=1",
    )
    assert event.received_at.endswith("Z")
    assert len(event.received_at) == len("2026-05-01T10:00:00.123Z")


@pytest.mark.parametrize("prefixed", [True, False])
async def test_optional_headers_left_out_decode_to_the_defaults(prefixed: bool) -> None:
    taking, appender = ingress()
    body = b'{"id": 1}'
    sent = headers(body, topic="refunds/create", event_id="ev-2", prefixed=prefixed)
    x = "X-" if prefixed else ""
    for name in ("Shopify-Webhook-Id", "Shopify-Triggered-At", "Shopify-API-Version"):
        del sent[f"{x}{name}"]
    await deliver(taking, body, sent)
    _, fields = stored_entry(appender.commands[0])
    event = decode_entry(fields)
    assert isinstance(event, WebhookEvent)
    assert (event.topic, event.shop, event.event_id, event.body) == (
        "refunds/create", SHOP, "ev-2", '{"id": 1}',
    )  # fmt: skip
    assert (event.webhook_id, event.triggered_at, event.api_version) == ("", "", "")
    assert event.traceparent is None
    assert event.tracestate is None


async def test_a_sharded_ingress_appends_to_the_shops_shard_of_the_family() -> None:
    taking, appender = ingress(stream_shards=3)
    body = order_body()
    await deliver(taking, body, headers(body))
    stream, _ = stored_entry(appender.commands[0])
    streams = WebhookStreams("strata:webhooks", shards=3)
    assert stream == streams.for_shop(ORDERS, SHOP)
    assert stream in streams.streams(ORDERS)
