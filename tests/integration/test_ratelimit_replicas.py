"""Two app processes sharing one Redis enforce one quota exactly: never more, hardly less."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from shared.ratelimit import Policy
from tests.support.processes import RedisServer, child_env, free_port, wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# 300 at once, then 3 a second: the quota over the run is dominated by the burst, so the
# few milliseconds of start-up and tail around the measured window barely move it.
POLICY = Policy(name="hammer", limit=30, period=10, burst=300, paths=("/orders/",))
CLIENTS_PER_APP = 50
RUN_FOR = 3.0


@contextlib.contextmanager
def serve_test_app(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory",
            "tests.support.ratelimit_app:app_from_environment",
            "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log",
        ],
        cwd=ROOT,
        env=child_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        try:
            wait_for_port(port, timeout=30)
        except TimeoutError:
            proc.kill()
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _redis_micros(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1_000_000 + int(micros)


async def _hammer(base: str, deadline: float) -> dict[int, int]:
    counts: dict[int, int] = {}
    limits = httpx.Limits(
        max_connections=CLIENTS_PER_APP, max_keepalive_connections=CLIENTS_PER_APP
    )
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as http:
        # Warm-up under another identity: connections open, script cached.
        assert (
            await http.get("/orders/v1/orders", headers={"x-client-id": "warm-up"})
        ).status_code == 200

        async def shopper() -> None:
            loop = asyncio.get_running_loop()
            while loop.time() < deadline:
                response = await http.get("/orders/v1/orders", headers={"x-client-id": "acme"})
                counts[response.status_code] = counts.get(response.status_code, 0) + 1

        await asyncio.gather(*(shopper() for _ in range(CLIENTS_PER_APP)))
    return counts


async def test_two_replicas_admit_exactly_the_shared_quota(redis_server: RedisServer) -> None:
    env = {
        "STRATA_RLTEST_REDIS_URL": redis_server.url,
        "STRATA_RLTEST_KEY_PREFIX": f"test:replicas:{uuid.uuid4().hex[:8]}",
        "STRATA_RLTEST_POLICIES": json.dumps([
            {"name": POLICY.name, "limit": POLICY.limit, "period": POLICY.period,
             "burst": POLICY.burst, "paths": list(POLICY.paths)}
        ]),
        # Generous timeouts: a loaded test machine must not push the apps into fail-open.
        "STRATA_RLTEST_SOCKET_TIMEOUT": "2",
        "STRATA_RLTEST_CONNECT_TIMEOUT": "2",
    }  # fmt: skip
    redis = Redis.from_url(redis_server.url)
    with serve_test_app(env) as first, serve_test_app(env) as second:
        # Both apps start hammering within the Redis-clock window measured here.
        loop = asyncio.get_running_loop()
        started = await _redis_micros(redis)
        deadline = loop.time() + RUN_FOR
        per_app = await asyncio.gather(_hammer(first, deadline), _hammer(second, deadline))
        ended = await _redis_micros(redis)
    await redis.aclose()
    admitted = [counts.get(200, 0) for counts in per_app]
    statuses = {status for counts in per_app for status in counts}
    quota = POLICY.quota_over((ended - started) / 1_000_000)
    assert statuses <= {200, 429}
    assert all(counts.get(429, 0) > 0 for counts in per_app)
    assert all(n > 0 for n in admitted)  # both replicas admitted from the one quota
    assert sum(admitted) <= quota
    assert sum(admitted) >= 0.99 * quota, (admitted, quota)
