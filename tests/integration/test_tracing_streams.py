"""Trace context through Redis Streams: ``publish`` writes it, the worker's consumer span
continues it, retries keep it, failures are marked on it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from redis.asyncio import Redis

from shared.events import Entry, PermanentFailure, StreamWorker, TransientFailure, publish
from shared.telemetry.tracing import (
    CORRELATION_ID,
    Tracing,
    current_traceparent,
    parse_traceparent,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def stream() -> str:
    return f"trace-streams:{uuid.uuid4().hex[:10]}"


async def consume(worker: StreamWorker, done: asyncio.Event) -> None:
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        worker.stop()
        await running


def spans_of(tracing: Tracing, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    assert tracing.force_flush()
    return list(exporter.get_finished_spans())


async def test_a_published_entry_is_handled_inside_a_child_of_the_publishing_span(
    redis: Redis, traced: tuple[Tracing, InMemorySpanExporter]
) -> None:
    tracing, exporter = traced
    name = stream()
    seen: dict[str, str | None] = {}
    done = asyncio.Event()

    async def handle(entry: Entry) -> None:
        seen["traceparent"] = current_traceparent()
        seen["correlation"] = CORRELATION_ID.get()
        done.set()

    producer = tracing.tracer("strata.orders").start_span("POST /orders/v1/orders")
    with trace.use_span(producer, end_on_exit=True):
        await publish(redis, name, {"topic": "strata/orders.create", "correlation_id": "c-9"})
    entry = (await redis.xrange(f"strata:stream:{{{name}}}"))[0][1]
    written = parse_traceparent(entry[b"traceparent"])
    assert written is not None
    assert written.span_id == producer.get_span_context().span_id

    worker = StreamWorker(redis, name, "orders", handle, block=0.05, tracing=tracing)
    await consume(worker, done)
    (consumer,) = [s for s in spans_of(tracing, exporter) if s.kind == SpanKind.CONSUMER]
    assert consumer.name == f"strata:stream:{{{name}}} process"
    assert consumer.context.trace_id == producer.get_span_context().trace_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.get_span_context().span_id
    inside = parse_traceparent(seen["traceparent"])
    assert inside is not None
    assert inside.span_id == consumer.context.span_id
    assert seen["correlation"] == "c-9"
    assert (consumer.attributes or {})["strata.attempt"] == 1


async def test_publish_keeps_a_traceparent_the_fields_already_carry(redis: Redis) -> None:
    name = stream()
    kept = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await publish(redis, name, {"topic": "replay", "traceparent": kept})
    await publish(redis, name, {"topic": "outside any span"})
    first, second = await redis.xrange(f"strata:stream:{{{name}}}")
    assert first[1][b"traceparent"] == kept.encode()
    assert b"traceparent" not in second[1]


async def test_every_attempt_stays_in_the_trace_and_failures_are_marked(
    redis: Redis, traced: tuple[Tracing, InMemorySpanExporter]
) -> None:
    tracing, exporter = traced
    name = stream()
    attempts: list[int] = []
    buried = asyncio.Event()

    async def flaky(entry: Entry) -> None:
        attempts.append(entry.attempt)
        if entry.attempt == 1:
            raise TransientFailure("ERP answered 503", retry_after=0.05)
        raise PermanentFailure("SKU unknown to the ERP", kind="validation")

    async def on_dead_letter(entry: Entry, reason: str, kind: str) -> None:
        buried.set()

    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await publish(redis, name, {"topic": "orders/create", "traceparent": caller})
    worker = StreamWorker(
        redis,
        name,
        "orders",
        flaky,
        block=0.05,
        base_delay=0.01,
        max_delay=0.05,
        on_dead_letter=on_dead_letter,
        tracing=tracing,
    )
    await consume(worker, buried)
    consumers = sorted(
        (s for s in spans_of(tracing, exporter) if s.kind == SpanKind.CONSUMER),
        key=lambda s: (s.attributes or {})["strata.attempt"],
    )
    assert attempts == [1, 2]
    assert [(s.attributes or {})["strata.attempt"] for s in consumers] == [1, 2]
    for span in consumers:
        assert span.context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
        assert span.parent is not None
        assert span.parent.span_id == 0x00F067AA0BA902B7
        assert span.status.status_code == StatusCode.ERROR
    assert consumers[0].status.description == "ERP answered 503"
    assert consumers[1].status.description == "SKU unknown to the ERP"
