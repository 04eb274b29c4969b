"""The ERP system API reads one settings object at start-up, refuses variables it does not
know, and gives a Tryton call one timeout: ``STRATA_ERP_READ_TIMEOUT``."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
import pytest

from shared.http import HttpClientSettings, make_client
from shared.problems import UpstreamTimeout
from shared.ratelimit import RateLimitSettings
from shared.settings import SettingsError
from shared.telemetry.spans import Tracing
from system_apis.erp.adapters.tryton import TrytonAdapter
from system_apis.erp.app import build_port, erp_http_settings
from system_apis.erp.settings import ErpSettings, load_erp_settings

# -- one settings object -----------------------------------------------------------------


def test_the_nested_parts_are_read_under_their_own_variables() -> None:
    settings = load_erp_settings(
        {
            "STRATA_ERP_INSTANCE": "us",
            "STRATA_ERP_RATELIMIT_ENABLED": "false",
            "STRATA_ERP_RATELIMIT_CLUSTER": "true",
            "STRATA_AUTH_AUDIENCE": "strata-test",
        }
    )
    assert settings.instance == "us"
    assert settings.ratelimit.enabled is False
    assert settings.ratelimit.cluster is True
    assert settings.auth.audience == "strata-test"


def test_rate_limits_default_to_the_service_redis_and_the_default_policy() -> None:
    settings = load_erp_settings({"STRATA_ERP_REDIS_URL": "redis://erp:6379/1"})
    assert settings.ratelimit.redis_url == "redis://erp:6379/1"
    [policy] = settings.ratelimit.policies
    assert (policy.name, policy.limit, policy.burst, policy.paths) == (
        "default",
        200,
        400,
        ("/erp/",),
    )
    assert ErpSettings() == load_erp_settings({})
    # Built directly (tests), the settings follow the service's Redis too.
    assert ErpSettings(redis_url="redis://erp:6379/2").ratelimit.redis_url == "redis://erp:6379/2"


def test_configured_rate_limits_are_kept() -> None:
    settings = load_erp_settings(
        {
            "STRATA_ERP_RATELIMIT_REDIS_URL": "redis://limits:6379/0",
            "STRATA_ERP_RATELIMIT_POLICIES": '[{"name": "tight", "limit": 5, "period": 1,'
            ' "paths": ["/erp/v1/"]}]',
        }
    )
    assert settings.ratelimit.redis_url == "redis://limits:6379/0"
    assert [p.name for p in settings.ratelimit.policies] == ["tight"]
    given = ErpSettings(ratelimit=RateLimitSettings(redis_url="redis://limits:6379/3"))
    assert given.ratelimit.redis_url == "redis://limits:6379/3"


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        ("STRATA_ERP_READ_TIMOUT", "STRATA_ERP_READ_TIMEOUT"),
        ("STRATA_ERP_TRYTON_TIMEOUT", "STRATA_ERP_READ_TIMEOUT"),
        ("STRATA_ERP_RATE_LIMIT_ENABLED", "STRATA_ERP_RATELIMIT_ENABLED"),
        ("STRATA_ERP_RATELIMIT_ENABLE", "STRATA_ERP_RATELIMIT_ENABLED"),
    ],
)
def test_a_misspelt_variable_stops_start_up(variable: str, hint: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable}: not a setting.*{hint}"):
        load_erp_settings({variable: "20"})


def test_every_variable_the_stack_helm_and_bench_set_is_a_setting() -> None:
    settings = load_erp_settings(
        {
            # strata serve erp --instance, the demo stack, the Helm chart, tests and bench.
            "STRATA_ERP_INSTANCE": "eu",
            "STRATA_ERP_REDIS_URL": "redis://redis:6379/0",
            "STRATA_ERP_TRYTON_URL": "http://tryton:8000/",
            "STRATA_ERP_TRYTON_DATABASE": "strata_eu",
            "STRATA_ERP_TRYTON_USER": "strata",
            "STRATA_ERP_TRYTON_PASSWORD": "secret",
            "STRATA_ERP_RATELIMIT_ENABLED": "false",
            "STRATA_ERP_RATELIMIT_CLUSTER": "true",
        }
    )
    assert settings.tryton().url == "http://tryton:8000/"


def test_strata_serve_erp_reports_an_unknown_variable_and_exits_2() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_ERP_")}
    env["STRATA_ERP_READ_TIMOUT"] = "40"
    done = subprocess.run(
        [sys.executable, "-m", "strata.cli", "serve", "erp", "--instance", "eu", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert (
        "strata serve erp: STRATA_ERP_READ_TIMOUT: not a setting "
        "(did you mean STRATA_ERP_READ_TIMEOUT?)" in done.stderr
    )


# -- one timeout per Tryton call -----------------------------------------------------------


async def test_a_read_timeout_above_15_seconds_is_the_timeout_of_a_tryton_call() -> None:
    settings = load_erp_settings({"STRATA_ERP_READ_TIMEOUT": "40"})
    assert settings.tryton().timeout == 40
    port = build_port(settings)
    assert isinstance(port, TrytonAdapter)
    try:
        assert port.rpc.timeout == 40
    finally:
        await port.aclose()
    http = erp_http_settings(settings)
    # No phase of the client outlasts the call, nor cuts it short.
    assert (http.read_timeout, http.write_timeout, http.pool_timeout) == (40, 40, 40)
    assert http.connect_timeout == settings.connect_timeout


def test_connecting_never_outlasts_the_call() -> None:
    http = erp_http_settings(ErpSettings(connect_timeout=5, read_timeout=0.5))
    assert http.connect_timeout == 0.5


Respond = Callable[[str], tuple[object, float, float]]


@asynccontextmanager
async def tryton_stand_in(respond: Respond) -> AsyncIterator[str]:
    """A JSON-RPC server on a real socket: ``respond(method)`` gives the result, the seconds
    to wait before answering, and the seconds between the answer's bytes (a slow trickle)."""

    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                found = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
                request = msgspec.json.decode(
                    await reader.readexactly(int(found[1]) if found else 0)
                )
                result, wait, gap = respond(request["method"])
                await asyncio.sleep(wait)
                body = msgspec.json.encode({"id": request["id"], "result": result})
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body)
                )
                for byte in range(len(body)):
                    writer.write(body[byte : byte + 1])
                    await writer.drain()
                    if gap:
                        await asyncio.sleep(gap)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def slow_version(wait: float = 0.0, gap: float = 0.0) -> Respond:
    def respond(method: str) -> tuple[object, float, float]:
        if method == "common.db.login":
            return [1, "session"], 0.0, 0.0
        if method == "model.res.user.get_preferences":
            return {"company": 1}, 0.0, 0.0
        if method == "common.db.logout":
            return True, 0.0, 0.0
        return "7.0", wait, gap

    return respond


def adapter(url: str, *, call_timeout: float, client_read_timeout: float) -> TrytonAdapter:
    settings = ErpSettings(tryton_url=url, tryton_database="db", read_timeout=call_timeout)
    # A client whose own read timeout is shorter than the call's: the call's one wins.
    client = make_client(
        url,
        HttpClientSettings(read_timeout=client_read_timeout, pool_timeout=client_read_timeout),
        tracing=Tracing.disabled(),
    )
    return TrytonAdapter(client, settings.tryton())


async def test_the_call_timeout_wins_over_the_client_s_own() -> None:
    async with tryton_stand_in(slow_version(wait=0.4)) as url:
        erp = adapter(url, call_timeout=3.0, client_read_timeout=0.1)
        try:
            assert await erp.rpc.call("common.version") == "7.0"
        finally:
            await erp.aclose()


async def test_a_call_past_its_timeout_is_an_upstream_timeout() -> None:
    async with tryton_stand_in(slow_version(wait=2.0)) as url:
        erp = adapter(url, call_timeout=0.3, client_read_timeout=10)
        try:
            with pytest.raises(UpstreamTimeout):
                await erp.rpc.call("common.version")
        finally:
            await erp.aclose()


async def test_the_timeout_bounds_the_whole_call_not_each_read() -> None:
    # Every byte comes well within any read timeout; the whole answer takes over a second.
    async with tryton_stand_in(slow_version(gap=0.1)) as url:
        erp = adapter(url, call_timeout=0.5, client_read_timeout=0.5)
        started = time.monotonic()
        try:
            with pytest.raises(UpstreamTimeout, match=r"within 0\.5s"):
                await erp.rpc.call("common.version")
        finally:
            await erp.aclose()
        assert time.monotonic() - started < 1.0
