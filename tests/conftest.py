from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry.tracing import TelemetrySettings, Tracing
from tests.support.processes import RedisServer, running_redis
from tests.support.tokens import TokenMint

# Real Tryton servers for any test that asks: tryton_template_dir, start_tryton, tryton_eu.
pytest_plugins = ("tests.integration.tryton",)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole test session (tests use distinct key prefixes)."""
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def token_mint() -> TokenMint:
    """Signs access tokens; ``token_mint.settings()`` makes a service trust them."""
    return TokenMint()


@pytest.fixture
def traced() -> Iterator[tuple[Tracing, InMemorySpanExporter]]:
    """A recording :class:`Tracing` of its own and the in-memory exporter its spans go to."""
    exporter = InMemorySpanExporter()
    tracing = Tracing.from_settings(TelemetrySettings(), exporter=exporter)
    yield tracing, exporter
    tracing.shutdown()
