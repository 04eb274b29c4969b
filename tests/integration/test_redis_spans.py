"""Redis client spans: inside traced work only, one per command or pipeline, errors marked."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from redis.exceptions import ResponseError

from shared.telemetry.redis import traced_redis
from shared.telemetry.tracing import Tracing

pytestmark = pytest.mark.integration


async def test_commands_and_pipelines_in_traced_work_are_child_spans(
    redis_url: str, traced: tuple[Tracing, InMemorySpanExporter]
) -> None:
    tracing, exporter = traced
    client = traced_redis(redis_url, tracing=tracing)
    try:
        await client.set("spans:outside", "1")  # no current span: no trace of its own
        with tracing.tracer("strata.test").start_as_current_span("handle order") as parent:
            await client.set("spans:key", "v")
            pipe = client.pipeline(transaction=False)
            pipe.get("spans:key").incr("spans:counter")
            assert (await pipe.execute())[0] == b"v"
            with pytest.raises(ResponseError):
                await client.incr("spans:key")  # not an integer
        assert tracing.force_flush()
    finally:
        await client.aclose()
    spans = exporter.get_finished_spans()
    redis_spans = [s for s in spans if s.name != "handle order"]
    # redis-py sends INCR as INCRBY.
    assert [s.name for s in redis_spans] == ["SET", "PIPELINE", "INCRBY"]
    for span in redis_spans:
        assert span.kind == SpanKind.CLIENT
        assert span.parent is not None
        assert span.parent.span_id == parent.get_span_context().span_id
        assert span.attributes is not None
        assert span.attributes["db.system.name"] == "redis"
        assert span.attributes["server.port"] == int(redis_url.rsplit(":", 1)[1].split("/")[0])
    assert redis_spans[1].attributes is not None
    assert redis_spans[1].attributes["db.operation.batch.size"] == 2
    assert redis_spans[2].status.status_code == StatusCode.ERROR


async def test_disabled_tracing_makes_no_spans_and_plain_commands_still_work(
    redis_url: str,
) -> None:
    client = traced_redis(redis_url, tracing=Tracing.disabled())
    try:
        assert client._strata_tracer is None
        assert await client.set("spans:plain", "1")
        assert await client.get("spans:plain") == b"1"
    finally:
        await client.aclose()
