"""The Shopify system API reads one settings object at start-up, refuses variables it does
not know, and gives an Admin GraphQL request one timeout: ``STRATA_SHOPIFY_READ_TIMEOUT``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from shared.http import HttpClientSettings, make_client
from shared.problems import UpstreamTimeout
from shared.ratelimit import RateLimitSettings
from shared.settings import SettingsError
from shared.telemetry.spans import Tracing
from system_apis.shopify.admin import AdminGraphQL
from system_apis.shopify.app import admin_http_settings
from system_apis.shopify.settings import ShopConfig, ShopifySettings, load_shopify_settings

# -- one settings object -----------------------------------------------------------------


def test_the_nested_parts_are_read_under_their_own_variables() -> None:
    settings = load_shopify_settings(
        {
            "STRATA_SHOPIFY_RATELIMIT_ENABLED": "false",
            "STRATA_SHOPIFY_RATELIMIT_CLUSTER": "true",
            "STRATA_AUTH_AUDIENCE": "strata-test",
        }
    )
    assert settings.ratelimit.enabled is False
    assert settings.ratelimit.cluster is True
    assert settings.auth.audience == "strata-test"


def test_rate_limits_default_to_the_service_redis_and_the_default_policy() -> None:
    settings = load_shopify_settings({"STRATA_SHOPIFY_REDIS_URL": "redis://shopify:6379/1"})
    assert settings.ratelimit.redis_url == "redis://shopify:6379/1"
    [policy] = settings.ratelimit.policies
    assert (policy.name, policy.limit, policy.burst, policy.paths) == (
        "default",
        200,
        400,
        ("/shopify/v1/shops/",),
    )
    assert ShopifySettings() == load_shopify_settings({})
    direct = ShopifySettings(redis_url="redis://shopify:6379/2")
    assert direct.ratelimit.redis_url == "redis://shopify:6379/2"


def test_configured_rate_limits_are_kept() -> None:
    settings = load_shopify_settings(
        {
            "STRATA_SHOPIFY_RATELIMIT_REDIS_URL": "redis://limits:6379/0",
            "STRATA_SHOPIFY_RATELIMIT_POLICIES": '[{"name": "tight", "limit": 5, "period": 1,'
            ' "paths": ["/shopify/v1/"]}]',
        }
    )
    assert settings.ratelimit.redis_url == "redis://limits:6379/0"
    assert [p.name for p in settings.ratelimit.policies] == ["tight"]
    given = ShopifySettings(ratelimit=RateLimitSettings(redis_url="redis://limits:6379/3"))
    assert given.ratelimit.redis_url == "redis://limits:6379/3"


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        ("STRATA_SHOPIFY_READ_TIMOUT", "STRATA_SHOPIFY_READ_TIMEOUT"),
        ("STRATA_SHOPIFY_SHOP", "STRATA_SHOPIFY_SHOPS"),
        ("STRATA_SHOPIFY_RATE_LIMIT_ENABLED", "STRATA_SHOPIFY_RATELIMIT_ENABLED"),
    ],
)
def test_a_misspelt_variable_stops_start_up(variable: str, hint: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable}: not a setting.*{hint}"):
        load_shopify_settings({variable: "20"})


def test_every_variable_the_stack_helm_and_bench_set_is_a_setting() -> None:
    settings = load_shopify_settings(
        {
            # The demo stack, the Helm chart, the contract tests and bench.
            "STRATA_SHOPIFY_REDIS_URL": "redis://redis:6379/0",
            "STRATA_SHOPIFY_REDIS_CLUSTER": "true",
            "STRATA_SHOPIFY_RATELIMIT_CLUSTER": "true",
            "STRATA_SHOPIFY_SHOPS": json.dumps({"demo.myshopify.com": {"secret": "s"}}),
            "STRATA_SHOPIFY_ADMIN_URL": "http://127.0.0.1:8190/shops/{shop}/admin/api/"
            "{version}/graphql.json",
            "STRATA_SHOPIFY_STREAM_PREFIX": "bench",
        }
    )
    assert settings.shop("demo.myshopify.com") is not None


def test_strata_serve_shopify_reports_an_unknown_variable_and_exits_2() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_SHOPIFY_")}
    env["STRATA_SHOPIFY_READ_TIMOUT"] = "40"
    done = subprocess.run(
        [sys.executable, "-m", "strata.cli", "serve", "shopify", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert (
        "strata serve shopify: STRATA_SHOPIFY_READ_TIMOUT: not a setting "
        "(did you mean STRATA_SHOPIFY_READ_TIMEOUT?)" in done.stderr
    )


# -- one timeout per Admin GraphQL request -------------------------------------------------


def test_no_phase_of_the_admin_client_outlasts_or_cuts_short_a_request() -> None:
    http = admin_http_settings(load_shopify_settings({"STRATA_SHOPIFY_READ_TIMEOUT": "40"}))
    assert (http.read_timeout, http.write_timeout, http.pool_timeout) == (40, 40, 40)
    assert http.connect_timeout == 2.0
    short = admin_http_settings(ShopifySettings(connect_timeout=5, read_timeout=0.5))
    assert short.connect_timeout == 0.5


@asynccontextmanager
async def shopify_stand_in(wait: float = 0.0, gap: float = 0.0) -> AsyncIterator[str]:
    """An Admin GraphQL endpoint on a real socket that waits ``wait`` seconds before it
    answers, then sends the answer a byte every ``gap`` seconds (a slow trickle)."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                found = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
                await reader.readexactly(int(found[1]) if found else 0)
                await asyncio.sleep(wait)
                body = b'{"data": {"shop": {"name": "Demo"}}}'
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
        yield f"http://127.0.0.1:{port}/shops/{{shop}}/admin/api/{{version}}/graphql.json"
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


@asynccontextmanager
async def admin_client(
    admin_url: str, redis_url: str, *, read_timeout: float, client_read_timeout: float
) -> AsyncIterator[tuple[AdminGraphQL, str]]:
    shop = f"t{uuid.uuid4().hex[:8]}.myshopify.com"
    settings = ShopifySettings(
        shops={shop: ShopConfig(secret="s", access_token="token")},
        admin_url=admin_url,
        read_timeout=read_timeout,
    )
    # A client whose own read timeout differs from the request's: the request's one wins.
    http = make_client(
        settings=HttpClientSettings(
            read_timeout=client_read_timeout, pool_timeout=client_read_timeout
        ),
        tracing=Tracing.disabled(),
    )
    redis = Redis.from_url(redis_url)
    try:
        yield AdminGraphQL(settings, http, redis), shop
    finally:
        await http.aclose()
        await redis.aclose()


@pytest.mark.integration  # the cost bucket lives in a real Redis
async def test_the_request_timeout_wins_over_the_client_s_own(redis_url: str) -> None:
    async with (
        shopify_stand_in(wait=0.4) as url,
        admin_client(url, redis_url, read_timeout=3.0, client_read_timeout=0.1) as (admin, shop),
    ):
        data = await admin.execute(shop, "StrataShop", "query StrataShop { shop { name } }")
    assert data == {"shop": {"name": "Demo"}}


@pytest.mark.integration
async def test_the_timeout_bounds_the_whole_request_not_each_read(redis_url: str) -> None:
    # Every byte comes well within any read timeout; the whole answer takes over a second.
    async with (
        shopify_stand_in(gap=0.05) as url,
        admin_client(url, redis_url, read_timeout=0.5, client_read_timeout=0.5) as (admin, shop),
    ):
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout, match=r"within 0\.5s"):
            await admin.execute(shop, "StrataShop", "query StrataShop { shop { name } }")
        assert time.monotonic() - started < 1.0
