"""Shopify webhooks for the benchmarks: signed like Shopify, sent at a fixed pace from a
process of their own, each POST's latency recorded by the sender.

A delivery is a JSON object with the fields of the Shopify sandbox's delivery log
(``webhook_id``, ``event_id``, ``shop``, ``topic``, ``api_version``, ``triggered_at``,
``body``). :class:`WebhookSender` runs ``python -m bench.webhooks`` and hands it batches of
deliveries; it returns one :class:`Sent` per delivery, in order. The pace is open-loop:
delivery ``i`` of a batch starts at ``i / rate`` seconds whatever the earlier ones are
doing, as a flash sale would send them.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import msgspec

from bench.harness import ROOT
from sandbox.shopify.webhooks import USER_AGENT, sign


class Sent(msgspec.Struct, frozen=True, kw_only=True):
    """One webhook POST as the sender saw it: when it started (epoch seconds), how long it
    took, how late the sender was against its schedule, and the status (0: no answer)."""

    index: int
    started_at: float
    latency_ms: float
    lag_ms: float
    status: int


def shopify_headers(delivery: Mapping[str, Any], secret: str) -> dict[str, str]:
    """The headers Shopify sends with a delivery, the HMAC computed over its exact body."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Shopify-Topic": delivery["topic"],
        "X-Shopify-Hmac-Sha256": sign(secret, delivery["body"].encode()),
        "X-Shopify-Shop-Domain": delivery["shop"],
        "X-Shopify-API-Version": delivery["api_version"],
        "X-Shopify-Webhook-Id": delivery["webhook_id"],
        "X-Shopify-Event-Id": delivery["event_id"],
        "X-Shopify-Triggered-At": delivery["triggered_at"],
    }


async def _post_all(
    client: httpx.AsyncClient,
    url: str,
    deliveries: Sequence[Mapping[str, Any]],
    rate: float,
    secret: str,
) -> list[Sent]:
    # Signed before the clock starts: the pace must not wait on HMACs.
    prepared = [(d["body"].encode(), shopify_headers(d, secret)) for d in deliveries]
    results: list[Sent | None] = [None] * len(prepared)

    async def one(index: int, due: float) -> None:
        body, headers = prepared[index]
        wall = time.time()
        started = time.perf_counter()
        try:
            response = await client.post(url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        results[index] = Sent(
            index=index,
            started_at=wall,
            latency_ms=(time.perf_counter() - started) * 1000,
            lag_ms=(started - due) * 1000,
            status=status,
        )

    tasks = []
    origin = time.perf_counter() + 0.01
    for index in range(len(prepared)):
        due = origin + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    return [r for r in results if r is not None]


class Batch(msgspec.Struct, frozen=True):
    deliveries: list[dict[str, Any]]
    rate: float


class WebhookSender:
    """``python -m bench.webhooks`` in a process of its own, one keep-alive connection pool
    for the whole run; :meth:`send` hands it a batch and returns what it saw."""

    def __init__(self, url: str, secret: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.webhooks", url, "--secret", secret],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def send(self, deliveries: Sequence[Mapping[str, Any]], *, rate: float) -> list[Sent]:
        """Send ``deliveries`` at ``rate`` per second; returns once every one is answered."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(
            msgspec.json.encode(Batch([dict(d) for d in deliveries], rate)) + b"\n"
        )
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the webhook sender exited with {self.proc.wait()}")
        return msgspec.json.decode(line, type=list[Sent])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _serve(url: str, secret: str) -> None:
    """Read batches (JSON lines) from stdin; answer each with a JSON line of results."""
    loop = asyncio.get_running_loop()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
            if not line:
                return
            batch = msgspec.json.decode(line, type=Batch)
            sent = await _post_all(client, url, batch.deliveries, batch.rate, secret)
            sys.stdout.buffer.write(msgspec.json.encode(sent) + b"\n")
            sys.stdout.buffer.flush()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument(
        "url", help="the webhook ingress, e.g. http://HOST:PORT/shopify/v1/webhooks"
    )
    parser.add_argument("--secret", required=True, help="the app's client secret (HMAC key)")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.url, args.secret))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
