"""The appender's own RESP packing against redis-py's, and the entry layout's checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from shared.streams import WebhookStreams
from system_apis.shopify.appender import (
    APPEND_ONCE_SHA,
    EntryLayout,
    StreamAppender,
    _Call,
)
from system_apis.shopify.ingress import ENTRY

VALUES = (
    b"orders/create",
    b"demo-eu.myshopify.com",
    b"ev-1",
    b"",
    b"2026-05-01T10:00:00.000Z",
    b"2026-10",
    b"2026-05-01T10:00:00.123Z",
    b'{"id": 1, "note": "100% \\r\\n cotton"}',
)


def appender(**options: Any) -> StreamAppender:
    return StreamAppender(Redis(), ENTRY, **options)


def redis_py_packing(call: _Call, ttl: int, maxlen: int, extra: tuple[bytes, ...]) -> bytes:
    args: tuple[Any, ...] = (
        "EVALSHA", APPEND_ONCE_SHA, 2, call.stream, call.seen_key, ttl, maxlen,
        *ENTRY.fields(call.values, extra),
    )  # fmt: skip
    return b"".join(Connection().pack_command(*args))


@pytest.mark.parametrize("extra", [(), (b"traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16)])
@pytest.mark.parametrize(("ttl", "maxlen"), [(172_800, 0), (60, 100_000)])
async def test_packed_append_is_what_redis_py_would_send(
    extra: tuple[bytes, ...], ttl: int, maxlen: int
) -> None:
    stream = b"strata:webhooks:{orders}"
    seen = WebhookStreams.seen_key_bytes(stream, VALUES[1], VALUES[2])
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    call = _Call(stream, seen, VALUES, extra, future)
    packed = appender(ttl=ttl, maxlen=maxlen)._pack(call)
    assert packed == redis_py_packing(call, ttl, maxlen, extra)


def test_seen_key_is_the_same_from_text_or_bytes() -> None:
    stream = "strata:webhooks:{orders-3}"
    text = WebhookStreams.seen_key(stream, "demo-eu.myshopify.com", "ev-1")
    raw = WebhookStreams.seen_key_bytes(stream.encode(), b"demo-eu.myshopify.com", b"ev-1")
    assert raw == text.encode()


def test_layout_refuses_a_wrong_number_of_values_and_odd_names() -> None:
    with pytest.raises(ValueError, match="expected 8 values"):
        ENTRY.pack(VALUES[:-1])
    with pytest.raises(ValueError, match="must not contain"):
        EntryLayout(("50%",))
    with pytest.raises(ValueError, match="at least 1"):
        appender(ttl=60, max_in_flight=0)
