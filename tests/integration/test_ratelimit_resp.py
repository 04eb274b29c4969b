"""The RESP script client against real redis-servers: the same decisions as redis-py, one
command a check, script-cache loss, AUTH/SELECT/TLS/unix sockets, and every way of failing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.ratelimit import (
    REDIS_DOWN_ERRORS,
    Decision,
    InboundLimiter,
    Policy,
    RateLimitSettings,
    calls_between,
    command_calls,
    open_redis,
)
from shared.ratelimit.resp import RespConnectionError, RespScriptClient, RespTimeoutError
from tests.support.event_loops import BOTH_LOOPS_QUIET, event_loop_policy  # noqa: F401
from tests.support.processes import RedisServer, free_port

pytestmark = [pytest.mark.integration, BOTH_LOOPS_QUIET]

# The commands the GCRA script runs inside Redis (INFO commandstats counts them too).
SCRIPT_INNER = {"time", "get", "set"}
# 3 at once, then one every 12 s.
POLICY = Policy(name="orders", limit=5, period=60, burst=3, paths=("/",))


def _settings(redis_url: str, **extra: Any) -> RateLimitSettings:
    return RateLimitSettings(
        redis_url=redis_url,
        key_prefix=f"test:resp:{uuid.uuid4().hex[:8]}",
        policies=(POLICY,),
        **extra,
    )


def _limiter(redis_url: str, **extra: Any) -> InboundLimiter:
    limiter = InboundLimiter.from_settings(
        _settings(redis_url, **extra), registry=CollectorRegistry()
    )
    assert isinstance(limiter.redis, RespScriptClient)
    return limiter


def _resp(limiter: InboundLimiter) -> RespScriptClient:
    assert isinstance(limiter.redis, RespScriptClient)
    return limiter.redis


def _failures(limiter: InboundLimiter) -> float:
    value: float = limiter.metrics.redis_failures.labels("orders", "open")._value.get()
    return value


@contextlib.contextmanager
def _redis(*args: str) -> Iterator[RedisServer]:
    server = RedisServer(extra_args=args).start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.proc.send_signal(signal.SIGCONT)  # in case a test left it stopped
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    # Volatile on purpose: the tests restart it and count from an empty Redis again.
    with _redis("--appendonly", "no") as server:
        yield server


@pytest.fixture
async def inspector(private_redis: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(private_redis.url)
    yield client
    await client.aclose()


def _pause(server: RedisServer) -> None:
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)


def _resume(server: RedisServer) -> None:
    assert server.proc is not None
    server.proc.send_signal(signal.SIGCONT)


def _same(ours: Decision, theirs: Decision) -> bool:
    """Equal decisions; reset and retry-after (whole seconds, rounded up) within 1 s."""
    return (
        ours.outcome == theirs.outcome
        and ours.remaining == theirs.remaining
        and abs(ours.reset - theirs.reset) <= 1
        and abs(ours.retry_after - theirs.retry_after) <= 1
    )


async def test_decisions_are_those_of_the_redis_py_path(redis_url: str) -> None:
    ours = _limiter(redis_url)
    theirs = InboundLimiter(
        _settings(redis_url),
        open_redis(redis_url, socket_timeout=1, connect_timeout=1),
        registry=CollectorRegistry(),
    )
    mine, other = ours.compiled["orders"], theirs.compiled["orders"]
    sequence = ["a", "a", "b", "a", "a", "b", "a", "c", "b", "b", "a"]
    pairs = [
        await asyncio.gather(ours.check(mine, c, "default"), theirs.check(other, c, "default"))
        for c in sequence
    ]
    # Concurrent checks on one key: the same decisions (in some order) on either path.
    burst_ours = await asyncio.gather(*(ours.check(mine, "d", "default") for _ in range(10)))
    burst_theirs = await asyncio.gather(*(theirs.check(other, "d", "default") for _ in range(10)))
    await ours.aclose()
    await theirs.aclose()

    assert all(_same(a, b) for a, b in pairs), pairs
    allowed = [a.allowed for a, _ in pairs]
    assert allowed == [True, True, True, True, False, True, False, True, True, False, False]
    assert [a.remaining for a, _ in pairs[:4]] == [2, 1, 2, 0]
    assert [a.reset for a, _ in pairs[:4]] == [12, 24, 12, 36]
    assert 11 <= pairs[4][0].retry_after <= 12
    assert sorted((d.outcome, d.remaining) for d in burst_ours) == sorted(
        (d.outcome, d.remaining) for d in burst_theirs
    )
    assert sum(d.allowed for d in burst_ours) == 3
    assert _failures(ours) == 0
    assert _failures(theirs) == 0


async def test_one_evalsha_per_check_and_no_other_command(
    private_redis: RedisServer, inspector: Redis
) -> None:
    limiter = _limiter(private_redis.url)
    compiled = limiter.compiled["orders"]
    await limiter.check(compiled, "warm-up", "p")  # connects, loads the script
    before = await command_calls(inspector)
    checks = 0
    for round_ in range(5):
        await asyncio.gather(
            *(limiter.check(compiled, f"c{round_}-{i % 7}", "p") for i in range(40))
        )
        checks += 40
    for i in range(20):
        await limiter.check(compiled, f"s{i}", "p")
        checks += 1
    after = await command_calls(inspector)
    await limiter.aclose()
    ran = calls_between(before, after)
    assert {name: n for name, n in ran.items() if name not in SCRIPT_INNER} == {"evalsha": checks}
    assert ran["time"] == checks
    assert _failures(limiter) == 0


async def test_a_flushed_script_cache_is_reloaded_with_eval(
    private_redis: RedisServer, inspector: Redis
) -> None:
    limiter = _limiter(private_redis.url)
    compiled = limiter.compiled["orders"]
    first = await limiter.check(compiled, "acme", "p")
    await inspector.script_flush()
    before = await command_calls(inspector)
    batch = await asyncio.gather(*(limiter.check(compiled, f"c{i}", "p") for i in range(20)))
    again = await limiter.check(compiled, "acme", "p")
    after = await command_calls(inspector)
    await limiter.aclose()
    assert (first.remaining, again.remaining) == (2, 1)
    assert all(d.allowed and d.remaining == 2 for d in batch)
    ran = calls_between(before, after)
    # Each NOSCRIPT is re-sent once as EVAL, which caches the script for the next check.
    assert ran["evalsha"] == 21
    assert ran["eval"] == 20
    assert limiter.redis_in_use
    assert _failures(limiter) == 0


async def test_password_user_and_database_are_honoured() -> None:
    with _redis(
        "--requirepass", "s3cret", "--user", "alice", "on", ">wonderland", "~*", "&*", "+@all"
    ) as server:
        base = f"127.0.0.1:{server.port}"
        by_password = _limiter(f"redis://:s3cret@{base}/3")
        by_user = _limiter(f"redis://alice:wonderland@{base}/5")
        wrong = _limiter(f"redis://:nope@{base}/3", redis_backoff=30)
        seen = {}
        for name, limiter in (("password", by_password), ("user", by_user)):
            compiled = limiter.compiled["orders"]
            seen[name] = [(await limiter.check(compiled, "acme", "p")).allowed for _ in range(4)]
        refused = [await wrong.check(wrong.compiled["orders"], "acme", "p") for _ in range(4)]
        with pytest.raises(RespConnectionError, match=r"WRONGPASS|invalid"):
            await _resp(wrong).run(wrong.compiled["orders"].call, "k")
        keys = {db: await _keys(f"redis://:s3cret@{base}/{db}") for db in (0, 3, 5)}
        for limiter in (by_password, by_user, wrong):
            await limiter.aclose()
    assert seen == {"password": [True, True, True, False], "user": [True, True, True, False]}
    assert keys[0] == set()
    assert keys[3] == {by_password.compiled["orders"].key("acme", "p")}
    assert keys[5] == {by_user.compiled["orders"].key("acme", "p")}
    # A refused AUTH is Redis being unusable: the limiter falls back (fails open here).
    assert [d.allowed for d in refused] == [True, True, True, False]
    assert not wrong.redis_in_use
    assert _failures(wrong) == 4


async def _keys(url: str) -> set[str]:
    client = Redis.from_url(url, decode_responses=True)
    try:
        return {str(key) for key in await client.keys("test:resp:*")}
    finally:
        await client.aclose()


async def test_a_unix_socket_url_works() -> None:
    folder = tempfile.mkdtemp(prefix="strata-sock-")
    sock = os.path.join(folder, "redis.sock")
    try:
        with _redis("--unixsocket", sock, "--unixsocketperm", "700") as server:
            limiter = _limiter(f"unix://{sock}?db=2")
            compiled = limiter.compiled["orders"]
            seen = [(await limiter.check(compiled, "acme", "p")).allowed for _ in range(4)]
            await limiter.aclose()
            keys = await _keys(f"redis://127.0.0.1:{server.port}/2")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert seen == [True, True, True, False]
    assert keys == {compiled.key("acme", "p")}
    assert _failures(limiter) == 0


@pytest.fixture
def tls_files() -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    folder = Path(tempfile.mkdtemp(prefix="strata-tls-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    yield cert, key
    shutil.rmtree(folder, ignore_errors=True)


async def test_tls_verifies_the_server_certificate(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    tls_port = free_port()
    with _redis(
        "--tls-port", str(tls_port), "--tls-cert-file", str(cert),
        "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
        "--tls-auth-clients", "no",
    ):  # fmt: skip
        url = f"rediss://127.0.0.1:{tls_port}/0"
        trusted = _limiter(f"{url}?ssl_ca_certs={cert}")
        compiled = trusted.compiled["orders"]
        seen = [(await trusted.check(compiled, "acme", "p")).allowed for _ in range(4)]
        # The default context does not trust a self-signed certificate.
        untrusted = _limiter(url)
        with pytest.raises(RespConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await _resp(untrusted).run(compiled.call, "k")
        for limiter in (trusted, untrusted):
            await limiter.aclose()
    assert seen == [True, True, True, False]
    assert _failures(trusted) == 0


async def test_a_killed_redis_fails_waiters_at_once_then_the_limiter_recovers(
    private_redis: RedisServer, inspector: Redis
) -> None:
    # A long socket timeout: a fast failure here comes from the lost connection.
    limiter = _limiter(private_redis.url, socket_timeout=5, redis_backoff=0.3)
    compiled = limiter.compiled["orders"]
    client = _resp(limiter)
    assert (await limiter.check(compiled, "acme", "p")).allowed
    _pause(private_redis)  # replies held: the next calls wait
    waiting = [asyncio.ensure_future(client.run(compiled.call, f"w{i}")) for i in range(6)]
    await asyncio.sleep(0.2)
    assert not any(w.done() for w in waiting)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert private_redis.proc is not None
    private_redis.proc.kill()
    private_redis.proc.wait()
    private_redis.proc = None
    results = await asyncio.gather(*waiting, return_exceptions=True)
    failed_after = loop.time() - started
    down = [await limiter.check(compiled, "acme", "p") for _ in range(4)]
    down_after = loop.time() - started

    private_redis.start()  # same port, empty
    await asyncio.sleep(0.35)  # past the back-off
    back = await limiter.check(compiled, "acme", "p")
    stored = await inspector.exists(compiled.key("acme", "p"))
    await limiter.aclose()

    assert all(isinstance(r, RespConnectionError) for r in results), results
    assert all(isinstance(r, REDIS_DOWN_ERRORS) for r in results)
    assert failed_after < 1.0
    assert down_after < 1.0
    # Fail open: the in-process GCRA applies the same policy with its own fresh quota.
    assert [d.allowed for d in down] == [True, True, True, False]
    assert _failures(limiter) == 4
    assert back.allowed
    assert back.remaining == 2  # counted in the restarted Redis, from fresh
    assert stored == 1
    assert limiter.redis_in_use


async def test_a_redis_that_stops_answering_fails_checks_within_the_socket_timeout() -> None:
    with _redis("--requirepass", "s3cret") as server:
        url = f"redis://:s3cret@127.0.0.1:{server.port}/0"
        limiter = _limiter(url, socket_timeout=0.2, redis_backoff=0.3)
        compiled = limiter.compiled["orders"]
        client = _resp(limiter)
        assert (await limiter.check(compiled, "acme", "p")).allowed
        loop = asyncio.get_running_loop()
        _pause(server)
        try:
            started = loop.time()
            results = await asyncio.gather(
                *(client.run(compiled.call, f"k{i}") for i in range(10)), return_exceptions=True
            )
            timed_out_after = loop.time() - started
            # Reconnecting to the stopped server: connected, but AUTH is never answered.
            started = loop.time()
            with pytest.raises(RespTimeoutError, match="AUTH"):
                await client.run(compiled.call, "k")
            handshake_after = loop.time() - started
            started = loop.time()
            decisions = await asyncio.gather(
                *(limiter.check(compiled, f"c{i}", "p") for i in range(10))
            )
            fell_back_after = loop.time() - started
        finally:
            _resume(server)
        await asyncio.sleep(0.35)
        back = await limiter.check(compiled, "acme", "p")
        await limiter.aclose()
    assert all(isinstance(r, RespTimeoutError) for r in results), results
    assert all(isinstance(r, REDIS_DOWN_ERRORS) for r in results)
    assert 0.15 <= timed_out_after < 0.6
    assert 0.15 <= handshake_after < 0.6
    assert fell_back_after < 0.6
    assert all(d.allowed for d in decisions)
    assert _failures(limiter) == 10
    assert back.allowed
    assert back.remaining == 1  # Redis kept acme's first request
    assert limiter.redis_in_use


async def test_an_error_reply_fails_only_its_own_check(
    private_redis: RedisServer, inspector: Redis
) -> None:
    limiter = _limiter(private_redis.url)
    compiled = limiter.compiled["orders"]
    client = _resp(limiter)
    bad = compiled.key("wrong-type", "p")
    await inspector.hset(bad, "field", "value")
    keys = [compiled.key(f"c{i}", "p") for i in range(3)]
    results = await asyncio.gather(
        *(client.run(compiled.call, k) for k in [keys[0], bad, keys[1], keys[2]]),
        return_exceptions=True,
    )
    connected = client.connected
    await limiter.aclose()
    assert isinstance(results[1], ResponseError)
    assert "WRONGTYPE" in str(results[1])
    good: list[Any] = [r for i, r in enumerate(results) if i != 1]
    assert [r[0] for r in good] == [1, 1, 1]
    assert connected


async def test_an_unreadable_reply_fails_the_waiters_and_the_next_call_reconnects() -> None:
    connections = 0

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read(1)
        writer.write(b"@not resp\r\n")
        await writer.drain()
        await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        limiter = _limiter(f"redis://127.0.0.1:{port}/0", socket_timeout=5)
        compiled = limiter.compiled["orders"]
        client = _resp(limiter)
        first = await asyncio.gather(
            *(client.run(compiled.call, f"k{i}") for i in range(3)), return_exceptions=True
        )
        with pytest.raises(RespConnectionError, match="unreadable"):
            await client.run(compiled.call, "k")
        await limiter.aclose()
    finally:
        server.close()
        await server.wait_closed()
    assert all(isinstance(r, RespConnectionError) and "unreadable" in str(r) for r in first), first
    assert connections == 2


async def test_aclose_fails_the_waiting_calls(private_redis: RedisServer) -> None:
    limiter = _limiter(private_redis.url, socket_timeout=5)
    compiled = limiter.compiled["orders"]
    client = _resp(limiter)
    assert (await limiter.check(compiled, "acme", "p")).allowed
    _pause(private_redis)
    try:
        waiting = [asyncio.ensure_future(client.run(compiled.call, f"k{i}")) for i in range(4)]
        await asyncio.sleep(0.1)
        await limiter.aclose()
        results = await asyncio.gather(*waiting, return_exceptions=True)
    finally:
        _resume(private_redis)
    assert all(isinstance(r, RespConnectionError) and "closed" in str(r) for r in results)
    assert not client.connected


def _fill_accept_queue(port: int) -> list[socket.socket]:
    """Connections a stopped server never accepts, until the next connect would hang."""
    held: list[socket.socket] = []
    for _ in range(64):
        conn = socket.socket()
        conn.settimeout(0.2)
        try:
            conn.connect(("127.0.0.1", port))
        except OSError:
            conn.close()
            return held
        held.append(conn)
    raise AssertionError("the accept queue never filled")


async def test_connect_timeout_bounds_connecting() -> None:
    with _redis("--tcp-backlog", "1") as server:
        limiter = _limiter(server.url, connect_timeout=0.15, socket_timeout=5)
        client = _resp(limiter)
        _pause(server)
        held = _fill_accept_queue(server.port)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(RespTimeoutError, match="cannot connect"):
                await client.run(limiter.compiled["orders"].call, "k")
            elapsed = loop.time() - started
        finally:
            for conn in held:
                conn.close()
            _resume(server)
        await limiter.aclose()
    assert 0.1 <= elapsed < 0.5
