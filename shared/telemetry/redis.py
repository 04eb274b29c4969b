"""Redis client spans: one CLIENT span per command or pipeline, inside traced work only.

redis-py (8.x) has OpenTelemetry metrics but no traces yet, and the contrib instrumentation
patches the client globally with SDK spans (about 20 µs each). :class:`TracedRedis` is a
``redis.asyncio.Redis`` whose commands and pipelines make a lean span (see
``shared.telemetry.tracing``) when, and only when, a recording span is current: a handler's
idempotency check or an ``XACK`` appears in the order's trace, while background polling
(``XREADGROUP`` loops, metric scrapes) makes no root traces of its own. Without a recording
span the only cost is one context lookup.

The inbound rate limiter keeps its own client (a pipelined script client on the hot path of
every request; its decisions are counted in metrics, not traced).
"""

from __future__ import annotations

from typing import Any, cast

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared.telemetry.spans import Tracing, process_tracing

_SYSTEM = {"db.system.name": "redis"}


def _command_name(args: tuple[Any, ...]) -> str:
    if not args:
        return "UNKNOWN"
    head = args[0]
    name = head.decode("latin-1") if isinstance(head, bytes) else str(head)
    # "CLIENT SETNAME", "SCRIPT LOAD", ...: keep only the command itself.
    return name.split(" ", 1)[0].upper()


class _Traced:
    """What both the client and its pipelines know: the tracer and the server's attributes."""

    _strata_tracer: trace.Tracer | None = None
    _strata_attributes: dict[str, Any] = _SYSTEM

    def _strata_span(
        self, command: tuple[Any, ...] | str, extra: dict[str, Any] | None = None
    ) -> trace.Span | None:
        """A span for ``command`` (its arguments, or a name), or None outside traced work;
        the name is worked out only when a span is made."""
        tracer = self._strata_tracer
        if tracer is None or not trace.get_current_span().is_recording():
            return None
        name = command if isinstance(command, str) else _command_name(command)
        attributes = {**self._strata_attributes, "db.operation.name": name}
        if extra:
            attributes.update(extra)
        return tracer.start_span(name, None, SpanKind.CLIENT, attributes)


def _fail(span: trace.Span, exc: BaseException) -> None:
    if span.is_recording():
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        span.set_attribute("error.type", type(exc).__name__)


class TracedRedis(_Traced, Redis):  # type: ignore[misc]  # redis-py's own stubs clash
    """``redis.asyncio.Redis`` with a client span per command (see the module)."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        span = self._strata_span(args)
        if span is None:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            span.end()

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = TracedPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe._strata_tracer = self._strata_tracer
        pipe._strata_attributes = self._strata_attributes
        return pipe


class TracedPipeline(_Traced, Pipeline):  # type: ignore[misc]  # as above
    """A pipeline whose ``execute`` is one span (``MULTI`` when transactional)."""

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        span = self._strata_span(
            "MULTI" if self.is_transaction else "PIPELINE",
            {"db.operation.batch.size": len(self.command_stack)},
        )
        if span is None:
            return await super().execute(raise_on_error)
        try:
            return await super().execute(raise_on_error)
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            span.end()


def traced_redis(url: str, *, tracing: Tracing | None = None, **options: Any) -> TracedRedis:
    """A Redis client for ``url`` (``options`` as ``Redis.from_url``'s) whose commands are
    traced inside traced work; ``tracing`` defaults to the process's."""
    client = cast(TracedRedis, TracedRedis.from_url(url, **options))
    traces = tracing or process_tracing()
    if traces.enabled:
        client._strata_tracer = traces.tracer("strata.redis")
        kwargs = client.connection_pool.connection_kwargs
        attributes: dict[str, Any] = dict(_SYSTEM)
        if "host" in kwargs:
            attributes["server.address"] = str(kwargs["host"])
            attributes["server.port"] = int(kwargs.get("port", 6379))
        attributes["db.namespace"] = str(kwargs.get("db", 0))
        client._strata_attributes = attributes
    return client


def service_redis(url: str, *, cluster: bool = False, **options: Any) -> Any:
    """A service's Redis client: one node's (traced), or with ``cluster`` a Redis Cluster
    client that routes each key to the node holding its slot (no Redis spans there)."""
    if cluster:
        from redis.asyncio.cluster import RedisCluster

        return RedisCluster.from_url(url, **options)
    return traced_redis(url, **options)
