"""A small app for rate-limit tests: a few order routes behind the rate-limit middleware.

``uvicorn --factory tests.support.ratelimit_app:app_from_environment`` reads its settings
from ``STRATA_RLTEST_*`` variables, so several processes can share one Redis.
"""

from __future__ import annotations

import msgspec
from litestar import Litestar, get
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import CollectorRegistry

from shared.problems import EXCEPTION_HANDLERS
from shared.ratelimit import InboundLimiter, RateLimitSettings, rate_limit_middleware
from shared.settings import load_settings


class Principal(msgspec.Struct, frozen=True):
    client_id: str


def client_header_identity(app: ASGIApp) -> ASGIApp:
    """Stands in for authentication: ``X-Client-Id`` becomes ``scope["user"]``."""

    async def identify(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-client-id":
                    scope["user"] = Principal(value.decode())
                    break
        await app(scope, receive, send)

    return identify


@get("/orders/v1/orders", sync_to_thread=False)
def list_orders() -> dict[str, str]:
    """A route limited by path prefix."""
    return {"orders": "[]"}


@get("/orders/v1/exports", opt={"rate_limit": "exports"}, sync_to_thread=False)
def export_orders() -> dict[str, str]:
    """A route limited by its route group."""
    return {"export": "queued"}


@get("/health/live", sync_to_thread=False)
def live() -> dict[str, str]:
    """Never limited."""
    return {"status": "up"}


def create_app(limiter: InboundLimiter) -> Litestar:
    """The test app around ``limiter``."""
    return Litestar(
        [list_orders, export_orders, live],
        middleware=[client_header_identity, rate_limit_middleware(limiter)],
        exception_handlers=EXCEPTION_HANDLERS,
        on_shutdown=[limiter.aclose],
    )


def app_from_environment() -> Litestar:
    """The test app with settings from ``STRATA_RLTEST_*`` and its own Redis client."""
    settings = load_settings(RateLimitSettings, prefix="STRATA_RLTEST_")
    return create_app(InboundLimiter.from_settings(settings, registry=CollectorRegistry()))
