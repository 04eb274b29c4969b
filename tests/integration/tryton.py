"""Reusable pytest fixtures for a real Tryton ERP (import them in a conftest or test module).

- ``tryton_template_dir`` (session): builds the ``eu`` and ``us`` templates once into a cache
  (``$STRATA_TEST_CACHE/tryton``, default ``<repo>/var/test-cache/tryton``); later sessions
  reuse them while the demo data version is unchanged.
- ``start_tryton`` (function): a factory ``start_tryton(instance="eu", port=None)`` that serves
  a fresh copy and stops it (and removes its run folder) after the test.
- ``tryton_eu``, ``tryton_us`` (module): one fresh server of that instance shared by a test
  module; ``erps`` (function): a Tryton adapter on each, closed after the test.

Usage::

    from tests.integration.tryton import start_tryton, tryton_eu, tryton_template_dir  # noqa
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.tryton import TrytonServer, build_template, remove_run, start_server
from system_apis.erp.adapters.tryton import TrytonAdapter

REPO = Path(__file__).resolve().parents[2]
StartTryton = Callable[..., TrytonServer]


def tryton_cache_dir() -> Path:
    """Where test templates live between sessions."""
    root = os.environ.get("STRATA_TEST_CACHE") or str(REPO / "var" / "test-cache")
    return Path(root) / "tryton"


@pytest.fixture(scope="session")
def tryton_template_dir() -> Path:
    """The data dir holding current ``eu`` and ``us`` templates (built once, then cached)."""
    data_dir = tryton_cache_dir()
    for instance in ("eu", "us"):
        build_template(instance, data_dir)
    return data_dir


def _serve(data_dir: Path, instance: str, port: int | None) -> TrytonServer:
    return start_server(instance, data_dir, port, fresh=True)


@pytest.fixture
def start_tryton(tryton_template_dir: Path) -> Iterator[StartTryton]:
    """Factory: ``start_tryton("eu")`` serves a fresh copy of a template for this test."""
    started: list[TrytonServer] = []

    def start(instance: str = "eu", port: int | None = None) -> TrytonServer:
        server = _serve(tryton_template_dir, instance, port)
        started.append(server)
        return server

    yield start
    for server in started:
        remove_run(server)


@pytest.fixture(scope="module")
def tryton_eu(tryton_template_dir: Path) -> Iterator[TrytonServer]:
    """A fresh ``eu`` server shared by the tests of one module."""
    server = _serve(tryton_template_dir, "eu", None)
    try:
        yield server
    finally:
        remove_run(server)


@pytest.fixture(scope="module")
def tryton_us(tryton_template_dir: Path) -> Iterator[TrytonServer]:
    """A fresh ``us`` server shared by the tests of one module."""
    server = _serve(tryton_template_dir, "us", None)
    try:
        yield server
    finally:
        remove_run(server)


@pytest.fixture
async def erps(
    tryton_eu: TrytonServer, tryton_us: TrytonServer
) -> AsyncIterator[dict[str, TrytonAdapter]]:
    """The Tryton adapter on each of ``eu`` and ``us`` (the servers of this module)."""
    adapters = {
        name: TrytonAdapter(httpx.AsyncClient(), server.settings())
        for name, server in (("eu", tryton_eu), ("us", tryton_us))
    }
    try:
        yield adapters
    finally:
        for adapter in adapters.values():
            await adapter.aclose()
