"""The gateway figures: ``gateway.tax_ratio``, ``gateway.naive_speedup``,
``gateway.plumbing_ratio``, ``gateway.limit_ratio`` and ``ratelimit.redis_roundtrips_per_request``.

One proxying route, ``GET /gateway/v1/stock/{sku}``, forwards to a fast local upstream (raw
ASGI, well under a millisecond an answer) and passes its answer back. It is served five
ways, each by one process pinned to core 0, all served alike (:mod:`bench.harness`: uvicorn,
uvloop, httptools, one worker):

- **on**: built with ``build_service_app`` with JWT auth (an RS256 token minted with the local
  issuer's code, the service trusting its JWKS), Redis rate limiting (a quota far above what
  the run needs) and tracing (a server span and a client span per request, recorded and
  exported in batches to an exporter that counts and drops them);
- **off**: the same app and route with all three controls off;
- **naive**: a plain ``Litestar`` route with none of them, proxying with a default
  ``httpx.AsyncClient``;
- **bare**: a plain ``Litestar`` route proxying with one pooled aiohttp session;
- **raw**: a raw ASGI app proxying with one pooled aiohttp session (about as close to the
  limit of Python as a proxying hop gets).

The figures: ``tax_ratio`` on / off (target 0.80), ``naive_speedup`` on / naive (1.5),
``plumbing_ratio`` off / bare (0.85: what Strata's own plumbing costs), ``limit_ratio``
on / raw (0.5). wrk (one thread, 32 connections) runs in its own process on core 1 with the
upstream and Redis. Runs are interleaved (the order reverses every round) and each figure is
the median of the per-round ratios. The Redis figure comes from ``INFO commandstats`` around
the "on" runs: client commands (EVALSHA, EVAL and any other command a client sent; Redis also
counts the TIME, GET and SET each script call runs, which are taken out after checking they
match) per request served, counted from the server's own HTTP metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import redis
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State

from bench.harness import ensure_wrk, uvicorn_app
from bench.ingress import redis_server, server_cpu_seconds

PATH = "/gateway/v1/stock/TEE-BLK-M"
ROUNDS = int(os.environ.get("STRATA_BENCH_GATEWAY_ROUNDS", "6"))
SECONDS = int(os.environ.get("STRATA_BENCH_GATEWAY_SECONDS", "4"))
CONNECTIONS = 32
CONFIG_ENV = "STRATA_BENCH_GATEWAY"
ISSUER = "https://issuer.bench.test"
AUDIENCE = "strata"
_UPSTREAM_BODY = b'{"sku":"TEE-BLK-M","available":42,"location":"eu-lyon"}'


# -- the three servers (uvicorn factories) ---------------------------------------------------


def upstream_app() -> Any:
    """The fast upstream (a uvicorn factory like the others)."""
    return _upstream


async def _upstream(scope: Any, receive: Any, send: Any) -> None:
    """A raw ASGI app answering every GET with a small JSON document."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_UPSTREAM_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _UPSTREAM_BODY})


def _config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(os.environ[CONFIG_ENV])
    return config


def _gateway(controls: frozenset[str]) -> Any:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from shared.app import build_service_app
    from shared.auth import AuthSettings, requires
    from shared.http import HttpClientSettings, make_client
    from shared.ratelimit import Policy, RateLimitSettings
    from shared.telemetry.settings import TelemetrySettings
    from shared.telemetry.spans import Tracing

    config = _config()

    class CountingExporter(SpanExporter):
        """Takes each batch and drops it, counting spans (the run checks they were made)."""

        exported = 0

        def export(self, spans: Any) -> SpanExportResult:
            batch: list[ReadableSpan] = list(spans)
            CountingExporter.exported += len(batch)
            return SpanExportResult.SUCCESS

    tracing = (
        Tracing.from_settings(TelemetrySettings(), service="gateway", exporter=CountingExporter())
        if "tracing" in controls
        else Tracing.disabled()
    )
    auth = (
        AuthSettings(issuer=ISSUER, audience=AUDIENCE, jwks=config["jwks"])
        if "auth" in controls
        else None
    )
    quota = Policy(name="gateway", limit=1_000_000, period=1.0, paths=("/gateway/",))
    rate_limit = (
        RateLimitSettings(redis_url=config["redis_url"], key_prefix="bench:rl", policies=(quota,))
        if "ratelimit" in controls
        else None
    )

    @contextlib.asynccontextmanager
    async def upstream(app: Litestar) -> AsyncIterator[None]:
        client = make_client(
            config["upstream"],
            HttpClientSettings(max_connections=64, max_keepalive=64),
            tracing=tracing,
        )
        app.state.upstream = client
        try:
            yield
        finally:
            await client.aclose()

    @get(
        "/gateway/v1/stock/{sku:str}",
        operation_id="proxyStock",
        sync_to_thread=False,
        **requires("stock:read"),
    )
    async def stock(request: Request[Any, Any, Any], sku: str) -> Response[bytes]:
        """The upstream's stock answer for one SKU, passed through."""
        answer = await request.app.state.upstream.get(f"/stock/{sku}")
        return Response(
            answer.content, status_code=answer.status_code, media_type="application/json"
        )

    @get("/bench/spans", sync_to_thread=False, opt={"exclude_from_auth": True, "rate_limit": False})
    def spans() -> dict[str, int]:
        """Spans exported so far (after a flush)."""
        tracing.force_flush()
        return {"exported": CountingExporter.exported}

    return build_service_app(
        service="gateway",
        title="Gateway benchmark",
        version="1.0.0",
        description="A proxying route for the gateway benchmark",
        route_handlers=[stock, spans],
        lifespan=[upstream],
        auth=auth,
        scopes={"stock:read": "Read stock"},
        rate_limit=rate_limit,
        tracing=tracing,
    )


CONTROLS = frozenset({"auth", "ratelimit", "tracing"})


def controls_on() -> Any:
    """The proxying route with auth, rate limiting and tracing on."""
    return _gateway(CONTROLS)


def controls_off() -> Any:
    """The same route with all three off."""
    return _gateway(frozenset())


def controls_chosen() -> Any:
    """The route with the controls named in ``STRATA_BENCH_GATEWAY_CONTROLS`` (a comma list;
    for finding what each control costs, not part of the run)."""
    chosen = frozenset(filter(None, os.environ.get(f"{CONFIG_ENV}_CONTROLS", "").split(",")))
    return _gateway(chosen & CONTROLS)


def naive() -> Any:
    """A plain Litestar route proxying with a default ``httpx.AsyncClient``."""
    upstream_url = _config()["upstream"]

    @contextlib.asynccontextmanager
    async def client(app: Litestar) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=upstream_url) as http:
            app.state.http = http
            yield

    @get("/gateway/v1/stock/{sku:str}")
    async def stock(sku: str, state: State) -> Response[bytes]:
        answer = await state.http.get(f"/stock/{sku}")
        return Response(answer.content, status_code=answer.status_code)

    @get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([stock, live], lifespan=[client])


def _upstream_session(upstream_url: str) -> Any:
    """One pooled aiohttp session, as the bare sides hold it (same pool size as Strata's)."""
    import aiohttp

    return aiohttp.ClientSession(
        upstream_url, connector=aiohttp.TCPConnector(limit=64), auto_decompress=False
    )


def bare_litestar() -> Any:
    """A bare Litestar route proxying with one aiohttp session: the plumbing ratio's baseline."""
    upstream_url = _config()["upstream"]

    @contextlib.asynccontextmanager
    async def client(app: Litestar) -> AsyncIterator[None]:
        async with _upstream_session(upstream_url) as session:
            app.state.session = session
            yield

    @get("/gateway/v1/stock/{sku:str}")
    async def stock(sku: str, state: State) -> Response[bytes]:
        async with state.session.get(f"/stock/{sku}") as answer:
            body = await answer.read()
        return Response(body, status_code=answer.status, media_type="application/json")

    @get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([stock, live], lifespan=[client], logging_config=None)


def raw_asgi() -> Any:
    """A raw ASGI app proxying with one aiohttp session: the limit ratio's baseline, about as
    close to the limit of Python on this loop as a proxying hop gets."""
    upstream_url = _config()["upstream"]
    held: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    held["session"] = _upstream_session(upstream_url)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await held["session"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        sku = scope["path"].rpartition("/")[2]
        async with held["session"].get(f"/stock/{sku}") as answer:
            body = await answer.read()
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


# -- the run -----------------------------------------------------------------------------------


def _pinned(argv: list[str], cpu: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *argv]
    return argv


def run_wrk(url: str, seconds: int, headers: dict[str, str] | None = None) -> float:
    """Requests per second from wrk on core 1; any non-2xx answer or socket error fails."""

    argv = [ensure_wrk(), "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        _pinned([*argv, url], 1), capture_output=True, text=True, check=True
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if bad and int(bad.group(1)) > 0:
        raise RuntimeError(f"wrk saw {bad.group(1)} non-2xx answers at {url}:\n{out}")
    if re.search(r"Socket errors:.*", out):
        raise RuntimeError(f"wrk saw socket errors at {url}:\n{out}")
    total = re.search(r"(\d+) requests in", out)
    return float(rate.group(1)) if total else 0.0


def _measured(
    base: str, seconds: int, headers: dict[str, str] | None = None
) -> tuple[float, float]:
    """(requests per second, server CPU microseconds per request) of one wrk run."""
    cpu = server_cpu_seconds(base)
    rps = run_wrk(base + PATH, seconds, headers)
    used = server_cpu_seconds(base) - cpu
    return rps, used / max(1.0, rps * seconds) * 1e6


def _token(keys: Any) -> str:
    from sandbox.auth.issuer import mint_token
    from shared.auth.clients import ClientRegistration

    client = ClientRegistration(
        client_id="storefront", secret_hash="unused", scopes=frozenset({"stock:read"})
    )
    return mint_token(keys, client, ["stock:read"], AUDIENCE, 3600, issuer=ISSUER)


def _client_commands(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if name != "cmdstat_info"
    }


#: What the GCRA script runs inside Redis, once per script call (counted by Redis too).
_INSIDE_SCRIPT = ("time", "get", "set")


def _client_commands_between(before: dict[str, int], after: dict[str, int]) -> int:
    """Commands clients sent: script calls and anything else, less what the scripts ran
    (checked: each script call ran TIME, GET and SET once)."""
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    scripts = delta.get("evalsha", 0) + delta.get("eval", 0)
    for command in _INSIDE_SCRIPT:
        if delta.get(command, 0) != scripts:
            raise RuntimeError(f"unexpected {command} calls: {delta} for {scripts} script calls")
    return sum(v for k, v in delta.items() if k not in _INSIDE_SCRIPT)


def run() -> dict[str, float]:
    """Measure the figures; raises if an answer failed or spans were not recorded."""
    from sandbox.auth.issuer import SigningKeys

    keys = SigningKeys.generate()
    token = _token(keys)
    auth_header = {"Authorization": f"Bearer {token}"}
    with (
        redis_server() as redis_url,
        uvicorn_app("bench.gateway:upstream_app", {}, ready_path="/", cpu=1) as upstream,
    ):
        env = {
            CONFIG_ENV: json.dumps(
                {"upstream": upstream, "redis_url": redis_url, "jwks": keys.public_jwks()}
            )
        }
        cpu = 0 if (os.cpu_count() or 1) > 1 else None
        inspector = redis.Redis.from_url(redis_url)
        sides = {
            "off": "controls_off",
            "on": "controls_on",
            "naive": "naive",
            "bare": "bare_litestar",
            "raw": "raw_asgi",
        }
        with contextlib.ExitStack() as stack:
            bases = {
                side: stack.enter_context(uvicorn_app(f"bench.gateway:{factory}", env, cpu=cpu))
                for side, factory in sides.items()
            }
            on = bases["on"]
            for side, base in bases.items():
                # Warm pools, caches and the script cache.
                run_wrk(base + PATH, 1, auth_header if side == "on" else None)
            ratios: dict[str, list[float]] = {name: [] for name in _RATIOS}
            served = 0
            commands = 0
            order = list(sides)
            for round_ in range(ROUNDS):

                def measure_on() -> tuple[float, float]:
                    nonlocal served, commands
                    _served(on)
                    before = _client_commands(inspector)
                    figures = _measured(on, SECONDS, auth_header)
                    time.sleep(0.3)  # requests wrk gave up waiting for still finish
                    after = _client_commands(inspector)
                    served += _served(on)
                    commands += _client_commands_between(before, after)
                    return figures

                # The order reverses every round, so a machine getting busier or quieter
                # favours no side.
                figures: dict[str, tuple[float, float]] = {}
                for side in order if round_ % 2 == 0 else reversed(order):
                    figures[side] = (
                        measure_on() if side == "on" else _measured(bases[side], SECONDS)
                    )
                rps = {side: figure[0] for side, figure in figures.items()}
                for name, (top, bottom) in _RATIOS.items():
                    ratios[name].append(rps[top] / rps[bottom])
                print(
                    f"   round {round_}: "
                    + ", ".join(
                        f"{side} {rate:.0f}/s ({figures[side][1]:.0f} us CPU each)"
                        for side, rate in rps.items()
                    ),
                    flush=True,
                )
            spans = httpx.get(on + "/bench/spans", timeout=30).json()["exported"]
        inspector.close()
    if spans < 2 * served:
        raise RuntimeError(f"only {spans} spans exported for {served} requests (2 each expected)")
    figures = {name: statistics.median(values) for name, values in ratios.items()}
    figures["ratelimit.redis_roundtrips_per_request"] = commands / served
    return figures


#: Each figure: the requests per second of one side over another's, same round.
_RATIOS = {
    "gateway.tax_ratio": ("on", "off"),
    "gateway.naive_speedup": ("on", "naive"),
    "gateway.plumbing_ratio": ("off", "bare"),
    "gateway.limit_ratio": ("on", "raw"),
}
#: What each figure should reach (printed beside it by ``python -m bench``).
TARGETS = {
    "gateway.tax_ratio": 0.80,
    "gateway.naive_speedup": 1.5,
    "gateway.plumbing_ratio": 0.85,
    "gateway.limit_ratio": 0.5,
    "ratelimit.redis_roundtrips_per_request": 1.0,
}

_last_served: dict[str, float] = {}


def _served(base: str) -> int:
    """Requests the "on" server answered on the proxying route since the last call."""
    text = httpx.get(base + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("strata_http_requests_total{") and 'route="/gateway/v1/stock/' in line:
            total += float(line.rsplit(" ", 1)[1])
    served = total - _last_served.get(base, 0.0)
    _last_served[base] = total
    return int(served)


if __name__ == "__main__":
    start = time.monotonic()
    print(run(), f"({time.monotonic() - start:.0f}s)")
