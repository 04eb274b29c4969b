"""The inbound rate-limit check (:class:`RateLimitGate`), the pure-ASGI middleware that runs
it as its own layer, and a Litestar plugin that installs it.

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


#: Response headers a gate adds to the answer it lets through.
ExtraHeaders = tuple[tuple[bytes, bytes], ...]
_NONE: ExtraHeaders = ()


class RateLimitGate:
    """The rate-limit check of one request, apart from any middleware layer: :meth:`admit`
    either lets the request through with the RateLimit headers its answer gets, or answers
    it (429, or 503 when Redis is down and the policy fails closed).

    :class:`RateLimitMiddleware` is this gate as its own layer; ``build_service_app`` runs
    it inside the request's telemetry layer instead (one layer a request, not three).
    """

    def __init__(
        self,
        limiter: InboundLimiter,
        client_key: ClientKeyFunction = client_identity,
    ) -> None:
        self.limiter = limiter
        self.client_key = client_key
        settings = limiter.settings
        self._excluded = tuple(settings.exclude_paths)
        self._plans = settings.plans
        self._default_plan = settings.default_plan
        self._book = limiter.book
        self._compiled = limiter.compiled
        self._enabled = settings.enabled and bool(settings.policies)

    async def admit(self, scope: Scope, send: Send) -> ExtraHeaders | None:
        """The headers to add to the answer, or None when this gate answered (refused)."""
        if scope["type"] != ScopeType.HTTP or not self._enabled:
            return _NONE
        path = scope["path"]
        if self._excluded and path.startswith(self._excluded):
            return _NONE
        group = None
        handler = scope.get("route_handler")
        if handler is not None:
            group = handler.opt.get(ROUTE_OPT_KEY)
            if group is False:
                return _NONE
        client = self.client_key(scope)
        plan = self._plans.get(client, self._default_plan)
        policy = self._book.match(path, group, plan)
        if policy is None:
            return _NONE
        compiled = self._compiled[policy.name]
        decision = await self.limiter.check(compiled, client, plan)
        if decision.outcome == ALLOWED:
            return (
                (b"ratelimit-policy", compiled.header_value),
                (
                    b"ratelimit",
                    b"%s;r=%d;t=%d" % (compiled.quoted_name, decision.remaining, decision.reset),
                ),
            )
        await self._refuse(scope, send, compiled, client, decision)
        return None

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
        self.gate = RateLimitGate(limiter, client_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = await self.gate.admit(scope, send)
        if extra is None:
            return
        await self.app(scope, receive, with_headers(send, extra) if extra else send)


def with_headers(send: Send, extra: ExtraHeaders) -> Send:
    """``send`` adding ``extra`` to the response's headers."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers: Any = message.setdefault("headers", [])
            if isinstance(headers, list):
                headers.extend(extra)
            else:
                message["headers"] = [*headers, *extra]
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
    With ``middleware=False`` it adds no layer and another runs :attr:`gate` (None when rate
    limiting is off).
    """

    def __init__(
        self,
        settings: RateLimitSettings,
        *,
        limiter: InboundLimiter | None = None,
        client_key: ClientKeyFunction = client_identity,
        registry: CollectorRegistry | None = None,
        middleware: bool = True,
    ) -> None:
        self.settings = settings
        self.limiter = (
            limiter
            if limiter is not None
            else InboundLimiter.from_settings(settings, registry=registry)
        )
        self.client_key = client_key
        self.middleware = middleware
        self.gate = RateLimitGate(self.limiter, client_key) if settings.enabled else None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the middleware and the shutdown hook."""
        if self.settings.enabled and self.middleware:
            app_config.middleware.append(rate_limit_middleware(self.limiter, self.client_key))
        app_config.on_shutdown.append(self.limiter.aclose)
        return app_config
