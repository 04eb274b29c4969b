"""The inbound limiter: one atomic GCRA script call in Redis per request, with a fallback.

Keys are ``<prefix>:{<policy>:<client>}`` (or ``{<policy>:<plan>:<client>}``): the braces
are a Redis Cluster hash tag, so each key's slot depends on policy and client only.
When Redis fails, the limiter decides without it for ``redis_backoff`` seconds: a policy
that fails open uses an in-process GCRA (each replica then limits alone), one that fails
closed refuses with 503.

The script call goes over the limiter's own pipelined RESP connection
(:class:`~shared.ratelimit.resp.RespScriptClient`) when the settings allow it (no cluster,
``pipeline`` and ``resp_client`` on, a ``redis_url`` it understands), else through redis-py.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from shared.ratelimit.batching import ScriptBatcher
from shared.ratelimit.connection import open_redis
from shared.ratelimit.decision import UNAVAILABLE, Decision, decision_from_micros, policy_header
from shared.ratelimit.local import LocalGcra
from shared.ratelimit.metrics import RateLimitMetrics
from shared.ratelimit.policy import Policy, PolicyBook, RateLimitSettings
from shared.ratelimit.resp import EncodedCall, RespScriptClient
from shared.ratelimit.scripts import GCRA, LuaScript, RedisClient

log = logging.getLogger("strata.ratelimit")

#: What a dead, slow or failing Redis raises through redis-py or the RESP client.
REDIS_DOWN_ERRORS = (RedisError, OSError, TimeoutError)

_GCRA = LuaScript(GCRA)


async def _run_alone(redis: RedisClient, key: str, *args: Any) -> Any:
    return await _GCRA(redis, (key,), *args)


async def _no_redis(key: str, *args: Any) -> Any:
    raise RuntimeError("no Redis client")  # unreachable: without Redis, Redis is skipped


class CompiledPolicy:
    """A policy with its script arguments and header value worked out once."""

    __slots__ = (
        "call",
        "closed",
        "failures",
        "header",
        "header_value",
        "interval",
        "key_by_plan",
        "key_head",
        "name",
        "policy",
        "quoted_name",
        "tolerance",
    )

    def __init__(self, policy: Policy, key_prefix: str, metrics: RateLimitMetrics) -> None:
        self.policy = policy
        self.name = policy.name
        self.interval = max(1, round(policy.emission_interval * 1_000_000))
        self.tolerance = self.interval * policy.capacity
        #: The script call with this policy's arguments, encoded for the RESP client.
        self.call = EncodedCall(_GCRA, self.interval, self.tolerance, 1)
        self.header = policy_header(policy)
        #: The ``RateLimit-Policy`` value and the quoted name ``RateLimit`` starts with, as
        #: bytes (encoded once, not on every response).
        self.header_value = self.header.encode()
        self.quoted_name = b'"%s"' % policy.name.encode()
        self.key_head = f"{key_prefix}:{{{policy.name}:"
        self.key_by_plan = policy.key_by == "client_plan"
        self.closed = policy.on_redis_down == "closed"
        self.failures = metrics.redis_failures.labels(policy.name, policy.on_redis_down)

    def key(self, client: str, plan: str) -> str:
        """The Redis key of ``client``'s quota under this policy."""
        if self.key_by_plan:
            return f"{self.key_head}{plan}:{client}}}"
        return f"{self.key_head}{client}}}"


class InboundLimiter:
    """Decides requests against policies in Redis, shared by every replica."""

    def __init__(
        self,
        settings: RateLimitSettings,
        redis: RedisClient | RespScriptClient | None,
        *,
        registry: CollectorRegistry | None = None,
        metrics: RateLimitMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.metrics = metrics if metrics is not None else RateLimitMetrics(registry)
        self.book = PolicyBook(settings.policies)
        self.compiled = {
            p.name: CompiledPolicy(p, settings.key_prefix, self.metrics) for p in settings.policies
        }
        self.local = LocalGcra(settings.local_max_keys)
        self._clock = clock
        self._skip_redis_until = 0.0 if redis is not None else float("inf")
        self._unavailable = Decision(UNAVAILABLE, 0, 0, settings.unavailable_retry_after)
        self._gcra: Callable[..., Awaitable[Any]] = _no_redis
        self._resp = redis if isinstance(redis, RespScriptClient) else None
        if redis is not None and not isinstance(redis, RespScriptClient):
            self._gcra = (
                ScriptBatcher(redis, _GCRA)
                if settings.pipeline
                else functools.partial(_run_alone, redis)
            )

    @classmethod
    def from_settings(
        cls, settings: RateLimitSettings, *, registry: CollectorRegistry | None = None
    ) -> InboundLimiter:
        """A limiter with its own Redis client built from ``settings``."""
        if settings.resp_client and settings.pipeline and not settings.cluster:
            resp = RespScriptClient.from_url(
                settings.redis_url,
                socket_timeout=settings.socket_timeout,
                connect_timeout=settings.connect_timeout,
            )
            if resp is not None:
                return cls(settings, resp, registry=registry)
        redis = open_redis(
            settings.redis_url,
            cluster=settings.cluster,
            socket_timeout=settings.socket_timeout,
            connect_timeout=settings.connect_timeout,
        )
        return cls(settings, redis, registry=registry)

    @property
    def redis_in_use(self) -> bool:
        """False while the limiter is deciding without Redis after a failure."""
        return self._clock() >= self._skip_redis_until

    async def check(self, policy: CompiledPolicy, client: str, plan: str) -> Decision:
        """Decide one request by ``client`` (on ``plan``) under ``policy``: one EVALSHA."""
        key = policy.key(client, plan)
        if self._skip_redis_until and self._clock() < self._skip_redis_until:
            return self._without_redis(policy, key)
        resp = self._resp
        try:
            if resp is not None:
                reply = await resp.run(policy.call, key)
            else:
                reply = await self._gcra(key, policy.interval, policy.tolerance, 1)
            allowed, remaining, reset, wait = reply
        except REDIS_DOWN_ERRORS as exc:
            self._skip_redis_until = self._clock() + self.settings.redis_backoff
            log.warning(
                "rate limiting without Redis for %.1fs: %s", self.settings.redis_backoff, exc
            )
            return self._without_redis(policy, key)
        if self._skip_redis_until:
            self._skip_redis_until = 0.0
            log.info("rate limiting through Redis again")
        return decision_from_micros(allowed == 1, remaining, reset, wait)

    def _without_redis(self, policy: CompiledPolicy, key: str) -> Decision:
        if self.redis is None:
            return self.local.check(key, policy.interval, policy.tolerance)
        policy.failures.inc()
        if policy.closed:
            return self._unavailable
        return self.local.check(key, policy.interval, policy.tolerance)

    async def aclose(self) -> None:
        """Close the Redis client."""
        if self.redis is not None:
            await self.redis.aclose()
