"""Rate limits through a real ``strata serve`` process, on uvloop and httptools.

``strata serve`` runs uvloop's loop when it is installed (it is a dependency), and the rate
limiter's RESP client once broke there: this test serves the storefront with a small quota
against a real Redis and checks the answers a client sees, the RateLimit headers included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import RedisServer, free_port
from tests.support.stack import wait_until
from tests.support.tokens import TokenMint

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
QUOTA = 3


@pytest.fixture
def storefront(redis_server: RedisServer, token_mint: TokenMint) -> Iterator[tuple[str, int]]:
    """``strata serve storefront`` with a quota of 3 requests a minute per client."""
    port = free_port()
    auth = token_mint.settings()
    policy = {"name": "shoppers", "limit": QUOTA, "period": 60, "paths": ["/storefront/"]}
    env = {
        **os.environ,
        "STRATA_AUTH_ISSUER": auth.issuer,
        "STRATA_AUTH_AUDIENCE": auth.audience,
        "STRATA_AUTH_JWKS": json.dumps(auth.jwks),
        "STRATA_STOREFRONT_REDIS_URL": redis_server.url,
        "STRATA_STOREFRONT_INVENTORY_API_URL": f"http://127.0.0.1:{free_port()}",
        "STRATA_STOREFRONT_SERVICE_TOKEN": "unused",
        "STRATA_STOREFRONT_RATELIMIT_POLICIES": json.dumps([policy]),
        "STRATA_STOREFRONT_RATELIMIT_KEY_PREFIX": f"test:serve:{uuid.uuid4().hex[:8]}",
        "STRATA_TELEMETRY_ENABLED": "false",
    }
    argv = [sys.executable, "-m", "strata.cli", "serve", "storefront", "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"strata serve exited: {stderr}")
            try:
                return httpx.get(base + "/health/live", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=60, what="strata serve storefront to listen")
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_quota_holds_through_strata_serve_on_uvloop(
    storefront: tuple[str, int], token_mint: TokenMint
) -> None:
    base, pid = storefront
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "uvloop" in maps, "strata serve is not running uvloop's loop"
    assert "httptools" in maps, "strata serve is not parsing with httptools"
    headers = token_mint.headers("storefront:read", client_id="shop-1")
    answers: list[httpx.Response] = []
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        for _ in range(QUOTA + 2):
            answers.append(client.get("/storefront/v1/availability", params={"sku": "TEE-M"}))
        other = client.get(
            "/storefront/v1/availability",
            params={"sku": "TEE-M"},
            headers=token_mint.headers("storefront:read", client_id="shop-2"),
        )
    admitted, refused = answers[:QUOTA], answers[QUOTA:]
    for number, answer in enumerate(admitted):
        # The inventory API is down: the answer is the storefront's own, but it was let in.
        assert answer.status_code != 429
        assert answer.headers["RateLimit-Policy"] == '"shoppers";q=3;w=60'
        assert answer.headers["RateLimit"].startswith(f'"shoppers";r={QUOTA - 1 - number};t=')
    for answer in refused:
        assert answer.status_code == 429
        assert answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.headers["RateLimit-Policy"] == '"shoppers";q=3;w=60'
        assert answer.headers["RateLimit"].startswith('"shoppers";r=0;t=')
        problem: dict[str, Any] = answer.json()
        assert problem["status"] == 429
        assert problem["type"].endswith("/quota-exceeded")
    assert other.status_code != 429, "another client has a quota of its own"
