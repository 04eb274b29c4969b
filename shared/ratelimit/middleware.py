"""The inbound rate-limit middleware (pure ASGI) and a Litestar plugin that installs it.

Pure ASGI rather than Litestar's ``AbstractMiddleware``/``ASGIMiddleware``: no request
object is built and the only per-request work besides the script call is a dict lookup,
a prefix scan and one wrapped ``send``.

Litestar runs app-level middleware after routing, so ``scope["route_handler"]`` is known
and a route joins a group with ``opt={"rate_limit": "<group>"}`` (``False`` exempts it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar.config.app import AppConfig
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.plugins import InitPluginProtocol
from prometheus_client import CollectorRegistry

from shared.problems import PROBLEM_JSON, RateLimited, ServiceUnavailable, StrataError
from shared.ratelimit.decision import ALLOWED, LIMITED, Decision, ratelimit_header
from shared.ratelimit.identity import ClientKeyFunction, client_identity
from shared.ratelimit.inbound import CompiledPolicy, InboundLimiter
from shared.ratelimit.policy import ROUTE_OPT_KEY, RateLimitSettings

if TYPE_CHECKING:
    from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

_ENCODER = msgspec.json.Encoder()


class RateLimitMiddleware:
    """Applies the matching policy to each HTTP request and sets the RateLimit headers."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: InboundLimiter,
        client_key: ClientKeyFunction = client_identity,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.client_key = client_key
        settings = limiter.settings
        self._excluded = tuple(settings.exclude_paths)
        self._plans = settings.plans
        self._default_plan = settings.default_plan
        self._book = limiter.book
        self._compiled = limiter.compiled
        self._enabled = settings.enabled and bool(settings.policies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not self._enabled:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if self._excluded and path.startswith(self._excluded):
            await self.app(scope, receive, send)
            return
        group = None
        handler = scope.get("route_handler")
        if handler is not None:
            group = handler.opt.get(ROUTE_OPT_KEY)
            if group is False:
                await self.app(scope, receive, send)
                return
        client = self.client_key(scope)
        plan = self._plans.get(client, self._default_plan)
        policy = self._book.match(path, group, plan)
        if policy is None:
            await self.app(scope, receive, send)
            return
        compiled = self._compiled[policy.name]
        decision = await self.limiter.check(compiled, client, plan)
        if decision.outcome == ALLOWED:
            await self.app(scope, receive, _with_headers(send, compiled, decision))
            return
        await self._refuse(scope, send, compiled, client, decision)

    async def _refuse(
        self, scope: Scope, send: Send, policy: CompiledPolicy, client: str, decision: Decision
    ) -> None:
        error: StrataError
        if decision.outcome == LIMITED:
            self.limiter.metrics.limited.labels(policy.name, client).inc()
            error = RateLimited(
                f"Quota of policy {policy.name!r} exceeded; retry in {decision.retry_after}s",
                retry_after=decision.retry_after,
            )
            extra = [(b"ratelimit", ratelimit_header(policy.name, decision).encode())]
        else:
            error = ServiceUnavailable(
                "Rate limiting is unavailable; retry shortly", retry_after=decision.retry_after
            )
            extra = []
        body = _ENCODER.encode(error.to_problem(instance=scope["path"]))
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(decision.retry_after).encode()),
                (b"ratelimit-policy", policy.header.encode()),
                *extra,
            ],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _with_headers(send: Send, policy: CompiledPolicy, decision: Decision) -> Send:
    policy_value = policy.header.encode()
    limit_value = ratelimit_header(policy.name, decision).encode()

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers: Any = message.setdefault("headers", [])
            if isinstance(headers, list):
                headers.append((b"ratelimit-policy", policy_value))
                headers.append((b"ratelimit", limit_value))
            else:
                message["headers"] = [
                    *headers,
                    (b"ratelimit-policy", policy_value),
                    (b"ratelimit", limit_value),
                ]
        await send(message)

    return send_with_headers


def rate_limit_middleware(
    limiter: InboundLimiter, client_key: ClientKeyFunction = client_identity
) -> DefineMiddleware:
    """The middleware for ``Litestar(middleware=[...])``; list it after authentication."""
    return DefineMiddleware(RateLimitMiddleware, limiter=limiter, client_key=client_key)


class RateLimitPlugin(InitPluginProtocol):
    """Adds the rate-limit middleware (innermost, so after authentication) and closes Redis.

    ``Litestar(plugins=[RateLimitPlugin(settings)])``; the limiter is at ``plugin.limiter``.
    """

    def __init__(
        self,
        settings: RateLimitSettings,
        *,
        limiter: InboundLimiter | None = None,
        client_key: ClientKeyFunction = client_identity,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.limiter = (
            limiter
            if limiter is not None
            else InboundLimiter.from_settings(settings, registry=registry)
        )
        self.client_key = client_key

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the middleware and the shutdown hook."""
        if self.settings.enabled:
            app_config.middleware.append(rate_limit_middleware(self.limiter, self.client_key))
        app_config.on_shutdown.append(self.limiter.aclose)
        return app_config
