"""Liveness and readiness probes, the same on every service.

``/health/live`` answers 200 while the process can serve at all; ``/health/ready`` runs the
service's readiness checks (its backend, Redis) and answers 503 with a problem body naming
what is not ready, so a load balancer stops sending traffic before requests fail. A check
that has more to say than "ok" returns a sentence, reported under ``found`` (how Redis keeps
its data, for one).

:class:`RedisDurability` is such a check: Redis must keep what it acknowledged across a
restart (append-only file, or replicas), else a service that answers "stored" on the strength
of a write may lose what it promised to keep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import msgspec
from litestar import Request, Response, get
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError, ResponseError

from shared.problems import PROBLEM_JSON, TYPE_BASE, Problem, StrataError

#: A readiness check: raises when not ready; may return what it found (reported under
#: ``found``).
ReadinessCheck = Callable[[], Awaitable[str | None]]
READINESS_TIMEOUT = 3.0


class Health(msgspec.Struct, kw_only=True):
    status: str
    service: str
    checks: dict[str, str] = {}
    found: dict[str, str] = {}


def health_routes(service: str, checks: Mapping[str, ReadinessCheck]) -> list[Any]:
    """The two probe handlers for one service."""

    @get("/health/live", include_in_schema=False, sync_to_thread=False)
    def live() -> Health:
        return Health(status="ok", service=service)

    @get("/health/ready", include_in_schema=False)
    async def ready(request: Request[Any, Any, Any]) -> Response[Any]:
        if request.app.state.get("draining"):
            return _not_ready(service, {"shutdown": "draining"})
        results = await asyncio.gather(
            *(_run(check) for check in checks.values()), return_exceptions=False
        )
        outcome = {name: status for name, (status, _) in zip(checks, results, strict=True)}
        found = {
            name: said for name, (_, said) in zip(checks, results, strict=True) if said is not None
        }
        if any(r != "ok" for r in outcome.values()):
            return _not_ready(service, outcome)
        return Response(Health(status="ok", service=service, checks=outcome, found=found))

    return [live, ready]


async def _run(check: ReadinessCheck) -> tuple[str, str | None]:
    """The check's status ("ok" or why not) and what it found."""
    try:
        found = await asyncio.wait_for(check(), READINESS_TIMEOUT)
    except TimeoutError:
        return "timeout", None
    except StrataError as exc:
        return exc.detail or exc.title, None
    except (OSError, RedisError) as exc:
        return f"unreachable: {exc}", None
    return "ok", found


def _not_ready(service: str, checks: dict[str, str]) -> Response[Any]:
    failing = {k: v for k, v in checks.items() if v != "ok"}
    problem = Problem(
        type=TYPE_BASE + "not-ready",
        title="The service is not ready",
        status=503,
        detail=f"{service} is not ready ({', '.join(f'{k}: {v}' for k, v in failing.items())})",
        errors=[{"check": k, "detail": v} for k, v in failing.items()],
    )
    return Response(
        msgspec.json.encode(problem),
        status_code=503,
        media_type=PROBLEM_JSON,
        headers={"Retry-After": "5"},
    )


# -- Redis durability ------------------------------------------------------------------------

#: How long one look at Redis's persistence is reused: probes come every few seconds, and
#: persistence is configuration, which changes rarely.
DURABILITY_CACHE_SECONDS = 5.0


class RedisNotDurable(StrataError):
    """Redis would lose acknowledged writes on a restart, and nobody accepted that risk."""

    status: ClassVar[int] = 503
    slug: ClassVar[str] = "redis-not-durable"
    title: ClassVar[str] = "Redis is not durable"


class NodePersistence(msgspec.Struct, frozen=True, kw_only=True):
    """How one Redis node (a primary) keeps its data, from ``INFO persistence`` and
    ``INFO replication``."""

    node: str
    aof: bool
    # False when Redis reports its last append-only file write failed.
    aof_writing: bool = True
    # The ``appendfsync`` policy, when ``CONFIG GET`` is allowed (managed Redis may refuse it).
    fsync: str | None = None
    replicas: int = 0

    @property
    def durable(self) -> bool:
        """Whether an acknowledged write survives this node's restart."""
        return (self.aof and self.aof_writing) or self.replicas > 0

    def describe(self) -> str:
        """E.g. ``10.0.0.5:6379 AOF on (appendfsync everysec), 1 replica``."""
        if not self.aof:
            aof = "AOF off"
        elif not self.aof_writing:
            aof = "AOF on but its last write failed"
        else:
            aof = "AOF on" + (f" (appendfsync {self.fsync})" if self.fsync else "")
        plural = "" if self.replicas == 1 else "s"
        return f"{self.node} {aof}, {self.replicas} replica{plural}"


async def redis_persistence(redis: Redis | RedisCluster) -> list[NodePersistence]:
    """The persistence of every node that takes writes: the one node, or every primary of a
    Redis Cluster."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()  # a no-op once the client knows the cluster's nodes
        return [
            await _node_persistence(redis, node.name, {"target_nodes": node})
            for node in redis.get_primaries()
        ]
    kwargs = redis.connection_pool.connection_kwargs
    name = (
        f"{kwargs['host']}:{kwargs.get('port', 6379)}"
        if "host" in kwargs
        else str(kwargs.get("path", "redis"))
    )
    return [await _node_persistence(redis, name, {})]


async def _node_persistence(
    redis: Redis | RedisCluster, name: str, route: dict[str, Any]
) -> NodePersistence:
    persistence: Any = await redis.info("persistence", **route)
    replication: Any = await redis.info("replication", **route)
    persistence, replication = _one_node(persistence), _one_node(replication)
    aof = int(persistence.get("aof_enabled", 0)) == 1
    fsync: str | None = None
    if aof:
        try:
            config: Any = await redis.config_get("appendfsync", **route)
            fsync = _text(_one_node(config).get("appendfsync")) or None
        except ResponseError:
            fsync = None  # CONFIG is often disabled on managed Redis
    return NodePersistence(
        node=name,
        aof=aof,
        aof_writing=_text(persistence.get("aof_last_write_status", "ok")) == "ok",
        fsync=fsync,
        replicas=int(replication.get("connected_slaves", 0)),
    )


def _one_node(reply: Any) -> dict[str, Any]:
    # A cluster client answers {node name: reply} for some commands routed to a given node.
    if isinstance(reply, dict) and len(reply) == 1:
        (value,) = reply.values()
        if isinstance(value, dict):
            return value
    return dict(reply) if isinstance(reply, dict) else {}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


class RedisDurability:
    """A readiness check: every node that takes writes keeps them across a restart (AOF on,
    or a connected replica), unless ``accept_volatile`` says losing them is accepted.

    Not durable and not accepted: raises :class:`RedisNotDurable`, saying what was found,
    what is at risk and how to fix it (or which setting, ``accept_setting``, accepts it).
    Otherwise returns what was found. One look at Redis serves for ``ttl`` seconds.
    """

    def __init__(
        self,
        redis: Redis | RedisCluster,
        *,
        accept_volatile: bool,
        accept_setting: str,
        at_risk: str,
        ttl: float = DURABILITY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.accept_volatile = accept_volatile
        self.accept_setting = accept_setting
        self.at_risk = at_risk
        self.ttl = ttl
        self.clock = clock
        self._lock = asyncio.Lock()
        self._until = float("-inf")
        self._outcome: tuple[bool, str] = (False, "")

    async def __call__(self) -> str:
        async with self._lock:
            if self.clock() >= self._until:
                self._outcome = self.judge(await redis_persistence(self.redis))
                self._until = self.clock() + self.ttl
            ready, said = self._outcome
        if not ready:
            raise RedisNotDurable(said)
        return said

    def judge(self, nodes: list[NodePersistence]) -> tuple[bool, str]:
        """Whether to be ready, and the sentence saying why (what was found, and for a Redis
        that is not durable, what is at risk and how to fix it)."""
        if not nodes:
            return False, "Redis named no node that takes writes"
        found = "; ".join(node.describe() for node in nodes)
        volatile = [node for node in nodes if not node.durable]
        if not volatile:
            return True, f"durable: {found}"
        if self.accept_volatile:
            return True, f"volatile, accepted by {self.accept_setting}=true: {found}"
        named = "; ".join(node.describe() for node in volatile)
        failing = any(node.aof for node in volatile)
        state = "cannot write its append-only file" if failing else "keeps its data in memory only"
        return False, (
            f"Redis {state} ({named}): a restart loses {self.at_risk}. "
            "Turn on the append-only file (appendonly yes, appendfsync everysec) or add a "
            f"replica, or set {self.accept_setting}=true to accept the risk"
        )
