"""Liveness and readiness probes, the same on every service.

``/health/live`` answers 200 while the process can serve at all; ``/health/ready`` runs the
service's readiness checks (its backend, Redis) and answers 503 with a problem body naming
what is not ready, so a load balancer stops sending traffic before requests fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from litestar import Request, Response, get

from shared.problems import PROBLEM_JSON, TYPE_BASE, Problem, StrataError

ReadinessCheck = Callable[[], Awaitable[None]]
READINESS_TIMEOUT = 3.0


class Health(msgspec.Struct, kw_only=True):
    status: str
    service: str
    checks: dict[str, str] = {}


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
        outcome = dict(zip(checks.keys(), results, strict=True))
        if any(r != "ok" for r in outcome.values()):
            return _not_ready(service, outcome)
        return Response(Health(status="ok", service=service, checks=outcome))

    return [live, ready]


async def _run(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), READINESS_TIMEOUT)
    except TimeoutError:
        return "timeout"
    except StrataError as exc:
        return exc.detail or exc.title
    except OSError as exc:
        return f"unreachable: {exc}"
    return "ok"


def _not_ready(service: str, checks: dict[str, str]) -> Response[Any]:
    failing = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    problem = Problem(
        type=TYPE_BASE + "not-ready",
        title="The service is not ready",
        status=503,
        detail=f"{service} is not ready ({failing})",
    )
    return Response(
        msgspec.json.encode(problem),
        status_code=503,
        media_type=PROBLEM_JSON,
        headers={"Retry-After": "5"},
    )
