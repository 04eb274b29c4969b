"""Rate limiting: inbound quotas per client and route group, outbound throughput limits.

Inbound: :class:`RateLimitPlugin` (or :func:`rate_limit_middleware`) with an
:class:`InboundLimiter` built from :class:`RateLimitSettings`. Outbound:
:class:`TokenBucket` for an ERP's posting rate, :class:`CostBucket` for Shopify's
GraphQL cost bucket. Every decision is one atomic Lua script call in Redis.
"""

from shared.ratelimit.batching import ScriptBatcher
from shared.ratelimit.connection import calls_between, command_calls, open_redis
from shared.ratelimit.decision import Decision, policy_header, ratelimit_header
from shared.ratelimit.identity import ClientKeyFunction, client_identity
from shared.ratelimit.inbound import REDIS_DOWN_ERRORS, CompiledPolicy, InboundLimiter
from shared.ratelimit.local import LocalGcra, gcra
from shared.ratelimit.metrics import RateLimitMetrics
from shared.ratelimit.middleware import (
    RateLimitGate,
    RateLimitMiddleware,
    RateLimitPlugin,
    rate_limit_middleware,
)
from shared.ratelimit.outbound import (
    CostBucket,
    OutboundWaitTooLong,
    Reservation,
    ThrottleStatus,
    TokenBucket,
)
from shared.ratelimit.policy import ROUTE_OPT_KEY, Policy, PolicyBook, RateLimitSettings

__all__ = [
    "REDIS_DOWN_ERRORS",
    "ROUTE_OPT_KEY",
    "ClientKeyFunction",
    "CompiledPolicy",
    "CostBucket",
    "Decision",
    "InboundLimiter",
    "LocalGcra",
    "OutboundWaitTooLong",
    "Policy",
    "PolicyBook",
    "RateLimitGate",
    "RateLimitMetrics",
    "RateLimitMiddleware",
    "RateLimitPlugin",
    "RateLimitSettings",
    "Reservation",
    "ScriptBatcher",
    "ThrottleStatus",
    "TokenBucket",
    "calls_between",
    "client_identity",
    "command_calls",
    "gcra",
    "open_redis",
    "policy_header",
    "rate_limit_middleware",
    "ratelimit_header",
]
