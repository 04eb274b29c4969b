"""The RESP script client's encoding, URL reading and choice of client (no Redis needed)."""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis, RedisCluster
from redis.connection import Connection

from shared.ratelimit import REDIS_DOWN_ERRORS, InboundLimiter, Policy, RateLimitSettings
from shared.ratelimit.resp import (
    EncodedCall,
    RespConnectionError,
    RespScriptClient,
    RespTarget,
    RespTimeoutError,
    encode_command,
)
from shared.ratelimit.scripts import GCRA, LuaScript
from tests.support.event_loops import BOTH_LOOPS_QUIET, event_loop_policy  # noqa: F401
from tests.support.processes import free_port

# Every test runs on asyncio's loop and on uvloop's (what strata serve runs).
pytestmark = BOTH_LOOPS_QUIET

SCRIPT = LuaScript(GCRA)
REDIS_PY_CONNECTION: Any = Connection
POLICY = Policy(name="orders", limit=3, period=60, paths=("/",))


def _redis_py_bytes(*args: object) -> bytes:
    """What redis-py itself writes for a command."""
    connection: Any = REDIS_PY_CONNECTION()
    return b"".join(connection.pack_command(*args))


def test_a_call_is_encoded_as_redis_py_encodes_it() -> None:
    call = EncodedCall(SCRIPT, 20_000_000, 60_000_000, 1)
    key = "strata:rl:{orders:acme-é}"
    assert call.command(key) == _redis_py_bytes(
        "EVALSHA", SCRIPT.sha, 1, key, 20_000_000, 60_000_000, 1
    )
    # The EVAL form, sent after NOSCRIPT, swaps the head and keeps key and arguments.
    sent = call.command(key)
    assert call.eval_head + sent[len(call.head) :] == _redis_py_bytes(
        "EVAL", SCRIPT.source, 1, key, 20_000_000, 60_000_000, 1
    )
    assert encode_command("SELECT", 3, b"x", 1.5) == _redis_py_bytes("SELECT", 3, b"x", 1.5)


def test_urls_are_read_as_redis_py_reads_them() -> None:
    target = RespTarget.from_url("redis://alice:s%40cret@redis.example:6380/4")
    assert target is not None
    assert (target.host, target.port, target.db, target.path) == ("redis.example", 6380, 4, None)
    assert (target.username, target.password) == ("alice", "s@cret")
    assert target.ssl is None
    assert target.handshake() == [
        encode_command("AUTH", "alice", "s@cret"),
        encode_command("SELECT", 4),
    ]
    password_only = RespTarget.from_url("redis://:pw@127.0.0.1")
    assert password_only is not None
    assert (password_only.port, password_only.db) == (6379, 0)
    assert password_only.handshake() == [encode_command("AUTH", "pw")]
    plain = RespTarget.from_url("redis://127.0.0.1:6379/0")
    assert plain is not None
    assert plain.handshake() == []
    unix = RespTarget.from_url("unix:///run/redis/redis.sock?db=2")
    assert unix is not None
    assert (unix.path, unix.db) == ("/run/redis/redis.sock", 2)


def test_tls_urls_get_the_default_context_or_what_the_query_says() -> None:
    default = RespTarget.from_url("rediss://cache.example:6380/0")
    assert default is not None
    assert default.ssl is not None
    assert default.ssl.verify_mode == ssl.CERT_REQUIRED
    assert default.ssl.check_hostname
    relaxed = RespTarget.from_url("rediss://cache.example/0?ssl_cert_reqs=none")
    assert relaxed is not None
    assert relaxed.ssl is not None
    assert relaxed.ssl.verify_mode == ssl.CERT_NONE
    assert not relaxed.ssl.check_hostname
    no_hostname = RespTarget.from_url("rediss://10.1.2.3/0?ssl_check_hostname=false")
    assert no_hostname is not None
    assert no_hostname.ssl is not None
    assert no_hostname.ssl.verify_mode == ssl.CERT_REQUIRED
    assert not no_hostname.ssl.check_hostname


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0?health_check_interval=5",  # an option it does not know
        "redis://127.0.0.1:6379/0?ssl_cert_reqs=none",  # TLS options without TLS
        "rediss://127.0.0.1:6379/0?ssl_cert_reqs=sometimes",
        "redis+sentinel://127.0.0.1:26379/mymaster",
        "http://127.0.0.1:6379",
    ],
)
def test_urls_it_does_not_understand_are_left_to_redis_py(url: str) -> None:
    assert RespTarget.from_url(url) is None
    assert RespScriptClient.from_url(url) is None


@pytest.mark.parametrize(
    ("extra", "client_type"),
    [
        ({}, RespScriptClient),
        ({"resp_client": False}, Redis),
        ({"pipeline": False}, Redis),
        ({"cluster": True}, RedisCluster),
        ({"redis_url": "redis://127.0.0.1:6379/0?health_check_interval=5"}, Redis),
    ],
)
async def test_the_limiter_chooses_its_client_from_the_settings(
    extra: dict[str, object], client_type: type
) -> None:
    fields: dict[str, object] = {"policies": (POLICY,), **extra}
    settings = RateLimitSettings(**fields)  # type: ignore[arg-type]
    limiter = InboundLimiter.from_settings(settings, registry=CollectorRegistry())
    assert isinstance(limiter.redis, client_type)
    await limiter.aclose()


def test_its_errors_are_what_the_limiter_falls_back_on() -> None:
    for error in (RespConnectionError("x"), RespTimeoutError("x")):
        assert isinstance(error, REDIS_DOWN_ERRORS)
    assert isinstance(RespConnectionError("x"), ConnectionError)
    assert isinstance(RespTimeoutError("x"), TimeoutError)


async def test_nothing_listening_fails_the_waiting_calls_at_once() -> None:
    client = RespScriptClient(RespTarget(port=free_port()), socket_timeout=5.0, connect_timeout=5.0)
    call = EncodedCall(SCRIPT, 1, 1, 1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.gather(
        *(client.run(call, f"k{i}") for i in range(5)), return_exceptions=True
    )
    assert loop.time() - started < 1.0
    assert all(isinstance(r, RespConnectionError) for r in results), results
    assert not client.connected
    await client.aclose()


async def test_a_missing_unix_socket_is_a_connection_error() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        client = RespScriptClient(RespTarget(path=os.path.join(tmp, "redis.sock")))
        with pytest.raises(RespConnectionError, match="cannot connect"):
            await client.run(EncodedCall(SCRIPT, 1, 1, 1), "k")
        await client.aclose()
