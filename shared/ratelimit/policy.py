"""Rate-limit policies from settings and the choice of one policy per request.

A policy says how many requests (``limit``) a client may make per ``period`` seconds, how
many it may make at once (``burst``), which routes it covers (route groups named in a
route's ``opt`` and/or path prefixes), whose quota it counts (one client, or one client on
one plan) and what happens when Redis is down.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import msgspec

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]

#: The route ``opt`` key naming a route's group: ``@get(..., opt={"rate_limit": "orders"})``;
#: ``opt={"rate_limit": False}`` exempts a route.
ROUTE_OPT_KEY = "rate_limit"


class Policy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One quota: ``limit`` requests per ``period`` seconds, ``burst`` of them at once."""

    name: str
    limit: PositiveInt
    period: PositiveFloat
    #: Requests admitted at once from idle; defaults to ``limit``.
    burst: PositiveInt | None = None
    #: Route groups (the value of a route's ``opt["rate_limit"]``) this policy covers.
    groups: tuple[str, ...] = ()
    #: Path prefixes this policy covers, e.g. ``"/orders/v1/"``; ``"/"`` covers everything.
    paths: tuple[str, ...] = ()
    #: Only clients on this plan; ``None``: every plan.
    plan: str | None = None
    #: Count the quota per client, or per client and plan.
    key_by: Literal["client", "client_plan"] = "client"
    on_redis_down: Literal["open", "closed"] = "open"

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in '{}" ;'):
            raise ValueError(f'policy name {self.name!r} must be non-empty, without {{}}" ;')
        if not self.groups and not self.paths:
            raise ValueError(f"policy {self.name!r} covers no route: give groups or paths")

    @property
    def capacity(self) -> int:
        """Requests admitted at once from idle."""
        return self.burst if self.burst is not None else self.limit

    @property
    def emission_interval(self) -> float:
        """Seconds between two requests at the steady rate."""
        return self.period / self.limit

    def quota_over(self, seconds: float) -> int:
        """The most requests this policy admits to one key in ``seconds`` from idle."""
        return self.capacity + math.floor(seconds / self.emission_interval + 1e-9)


class RateLimitSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Inbound rate limiting of one service (``STRATA_<SERVICE>_RATELIMIT_*``)."""

    enabled: bool = True
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Talk to a Redis Cluster (``redis_url`` names any one node).
    cluster: bool = False
    key_prefix: str = "strata:rl"
    policies: tuple[Policy, ...] = ()
    #: Client id -> plan name; clients not listed are on ``default_plan``.
    plans: dict[str, str] = {}
    default_plan: str = "default"
    #: Path prefixes never limited (probes, metrics).
    exclude_paths: tuple[str, ...] = ("/health", "/metrics")
    #: Redis socket timeouts in seconds: a dead Redis must not stall requests.
    socket_timeout: PositiveFloat = 0.1
    connect_timeout: PositiveFloat = 0.1
    #: After a Redis failure, decide without Redis for this many seconds.
    redis_backoff: PositiveFloat = 1.0
    #: ``Retry-After`` (seconds) of the 503 a fail-closed policy answers while Redis is down.
    unavailable_retry_after: PositiveInt = 1
    #: Send the checks of concurrent requests as one pipeline (still one EVALSHA each).
    pipeline: bool = True
    #: With ``pipeline`` and no ``cluster``: send the checks over the limiter's own pipelined
    #: RESP connection (:mod:`shared.ratelimit.resp`, about a third of redis-py's CPU a check);
    #: false, or a ``redis_url`` option it does not know: through redis-py.
    resp_client: bool = True
    #: Most client keys the in-process fallback limiter remembers.
    local_max_keys: PositiveInt = 100_000

    def __post_init__(self) -> None:
        names = [p.name for p in self.policies]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"policy names must be unique: {', '.join(dupes)}")


class _Table(msgspec.Struct, frozen=True):
    by_group: dict[str, Policy]
    by_prefix: tuple[tuple[str, Policy], ...]


class PolicyBook:
    """Chooses the one policy that applies to a request.

    A client's plan-specific policies are consulted before plan-agnostic ones; within each,
    a route group match beats a path prefix, and a longer prefix beats a shorter one.
    """

    def __init__(self, policies: tuple[Policy, ...] | list[Policy]) -> None:
        self.policies = tuple(policies)
        plans = {p.plan for p in self.policies if p.plan is not None}
        self._generic = self._table([p for p in self.policies if p.plan is None])
        self._tables: dict[str, tuple[_Table, ...]] = {
            plan: (self._table([p for p in self.policies if p.plan == plan]), self._generic)
            for plan in plans
        }

    @staticmethod
    def _table(policies: list[Policy]) -> _Table:
        by_group: dict[str, Policy] = {}
        prefixes: list[tuple[str, Policy]] = []
        for policy in policies:
            for group in policy.groups:
                by_group.setdefault(group, policy)
            prefixes.extend((prefix, policy) for prefix in policy.paths)
        prefixes.sort(key=lambda item: -len(item[0]))
        return _Table(by_group, tuple(prefixes))

    def match(self, path: str, group: str | None, plan: str) -> Policy | None:
        """The policy for a request to ``path`` in route ``group`` by a client on ``plan``."""
        tables = self._tables.get(plan)
        for table in tables if tables is not None else (self._generic,):
            if group is not None:
                found = table.by_group.get(group)
                if found is not None:
                    return found
            for prefix, policy in table.by_prefix:
                if path.startswith(prefix):
                    return policy
        return None
