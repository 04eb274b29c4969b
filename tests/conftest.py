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


#: Modules that run ``strata up`` itself: one stack at a time on a machine (it keeps its ERP
#: data in the checkout's ``var/erp`` and prefers fixed ports), so they share one worker.
STRATA_UP_MODULES = frozenset({"tests/e2e/test_make_up.py", "tests/e2e/test_demo.py"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``-n`` (pytest-xdist, ``--dist loadgroup``): each module's tests stay in one
    worker, as its module-scoped stacks and servers expect; ``strata up`` modules share one."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        group = "strata-up" if module in STRATA_UP_MODULES else module
        item.add_marker(pytest.mark.xdist_group(group))
