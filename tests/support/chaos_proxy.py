"""A fault-injecting HTTP proxy for chaos tests (a network fault, not a fake component).

Serve with ``uvicorn --factory tests.support.chaos_proxy:create_app`` and env:
``CHAOS_TARGET`` (upstream base URL), ``CHAOS_FAIL_RATE`` (answer 503 without forwarding),
``CHAOS_LOST_RATE`` (forward, then answer 503 anyway: the upstream did the work but the
caller never hears of it), ``CHAOS_SEED``.

In front of Tryton's JSON-RPC, ``CHAOS_STALL_METHODS`` (comma-separated JSON-RPC methods, e.g.
``model.sale.sale.confirm``), ``CHAOS_STALL_RATE`` and ``CHAOS_STALL_SECONDS`` hold such a
request without forwarding it, longer than the caller waits: a post that times out between
create and confirm. Faults then apply to those methods only.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from typing import Any

import httpx

# content-encoding too: httpx hands over the body decoded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
}


def create_app() -> Any:
    target = os.environ["CHAOS_TARGET"].rstrip("/")
    fail_rate = float(os.environ.get("CHAOS_FAIL_RATE", "0.2"))
    lost_rate = float(os.environ.get("CHAOS_LOST_RATE", "0.1"))
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "7")))
    stall_methods = {m for m in os.environ.get("CHAOS_STALL_METHODS", "").split(",") if m}
    stall_rate = float(os.environ.get("CHAOS_STALL_RATE", "0"))
    stall_seconds = float(os.environ.get("CHAOS_STALL_SECONDS", "30"))
    client = httpx.AsyncClient(base_url=target, timeout=60)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        faulty = not path.startswith("/health")
        if stall_methods:
            faulty = _rpc_method(body) in stall_methods
            if faulty and rng.random() < stall_rate:
                await asyncio.sleep(stall_seconds)
                await _unavailable(send)
                return
        roll = rng.random()
        if faulty and roll < fail_rate:
            await _unavailable(send)
            return
        headers = [
            (k.decode(), v.decode())
            for k, v in scope["headers"]
            if k.decode().lower() not in HOP_BY_HOP
        ]
        query = scope.get("query_string", b"").decode()
        url = path + (f"?{query}" if query else "")
        try:
            upstream = await client.request(scope["method"], url, content=body, headers=headers)
        except httpx.HTTPError:
            await _unavailable(send)
            return
        if faulty and roll < fail_rate + lost_rate:
            await _unavailable(send)
            return
        out = [
            (k.encode(), v.encode())
            for k, v in upstream.headers.items()
            if k.lower() not in HOP_BY_HOP
        ]
        await send({"type": "http.response.start", "status": upstream.status_code, "headers": out})
        await send({"type": "http.response.body", "body": upstream.content})

    return app


def _rpc_method(body: bytes) -> str | None:
    try:
        method = json.loads(body).get("method")
    except (ValueError, AttributeError):
        return None
    return method if isinstance(method, str) else None


async def _unavailable(send: Any) -> None:
    body = b'{"type":"https://strata.dev/problems/chaos","title":"Injected fault","status":503}'
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"retry-after", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
