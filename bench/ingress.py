"""``ingress.rps_ratio`` and ``ingress.redis_roundtrips_per_webhook``.

Two uvicorn servers (one worker each, pinned to the same core): the Shopify system API and a
bare Litestar POST route that reads the body and answers 200. wrk, in its own process on the
other core, posts the same realistic signed ``orders/create`` bodies (about 3 kB) to both,
every request with a new ``X-Shopify-Event-Id``; runs are interleaved, which side goes first
alternates from pair to pair (so a load that rises or falls during the run favours neither),
and the median of the per-pair ratios is reported. The Redis figure is read from
``INFO commandstats`` around the ingress runs: commands sent by clients (the script's own GET,
XADD and SET are counted by Redis too and are taken out after checking they match) per
webhook appended.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from bench.harness import ensure_wrk, free_port, uvicorn_app

SHOP = "bench-eu.myshopify.com"
SECRET = "bench-webhook-secret"  # noqa: S105 - a benchmark-only signing key
PATH = "/shopify/v1/webhooks"
PAIRS = 5
SECONDS = 4
CONNECTIONS = 32
BODIES = 64
PREFIX = "bench:webhooks"
TARGETS = {"ingress.rps_ratio": 0.60, "ingress.redis_roundtrips_per_webhook": 1.0}


def bare_app() -> Any:
    """The baseline: a Litestar POST route that reads the body and answers 200."""
    from litestar import Litestar, Request, get, post

    @post(PATH, status_code=200)
    async def receive(request: Request[Any, Any, Any]) -> None:
        await request.body()

    @get("/health/live")
    async def live() -> None:
        return None

    return Litestar([receive, live], logging_config=None)


def order_payload(n: int) -> bytes:
    """A Shopify-shaped ``orders/create`` body of about 3 kB."""
    order_id = 5_600_000_000_000 + n
    address = {
        "first_name": "Camille", "last_name": "Durand", "address1": "12 rue de Marseille",
        "address2": "", "city": "Lyon", "zip": "69007", "province": None, "country": "France",
        "country_code": "FR", "phone": "+33 4 78 00 00 00", "company": None,
        "latitude": 45.75, "longitude": 4.84, "name": "Camille Durand",
    }  # fmt: skip
    lines = [
        {
            "id": 14_000_000_000_000 + n * 10 + i, "admin_graphql_api_id":
            f"gid://shopify/LineItem/{14_000_000_000_000 + n * 10 + i}",
            "sku": sku, "title": title, "variant_id": 44_000_000 + i, "product_id": 8_000_000 + i,
            "quantity": 1 + i, "price": price, "requires_shipping": True, "taxable": True,
            "fulfillable_quantity": 1 + i, "fulfillment_status": None, "vendor": "Strata",
            "price_set": {"shop_money": {"amount": price, "currency_code": "EUR"}},
            "tax_lines": [{"title": "TVA", "rate": 0.2, "price": "4.15"}],
            "discount_allocations": [],
        }
        for i, (sku, title, price) in enumerate(
            [
                ("STR-TEE-BLK-M", "Strata organic tee, black, M", "24.90"),
                ("STR-HOOD-GRY-M", "Strata hoodie, grey, M", "69.00"),
                ("STR-CAP-NVY", "Strata cap, navy", "19.50"),
            ]
        )
    ]  # fmt: skip
    payload = {
        "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{1000 + n}", "order_number": 1000 + n, "email": "camille@example.com",
        "created_at": "2026-05-01T10:00:00+02:00", "updated_at": "2026-05-01T10:00:01+02:00",
        "currency": "EUR", "presentment_currency": "EUR", "financial_status": "paid",
        "fulfillment_status": None, "subtotal_price": "201.40", "total_price": "206.30",
        "total_tax": "34.38", "taxes_included": True, "total_discounts": "0.00",
        "source_name": "web", "tags": "", "note": None, "test": False,
        "customer": {"id": 7_000_000 + n, "email": "camille@example.com",
                     "first_name": "Camille", "last_name": "Durand", "default_address": address},
        "billing_address": address, "shipping_address": address, "line_items": lines,
        "shipping_lines": [{"title": "Colissimo", "price": "4.90", "code": "colissimo"}],
    }  # fmt: skip
    return json.dumps(payload, separators=(",", ":")).encode()


def _sign(body: bytes) -> str:
    return base64.b64encode(hmac.digest(SECRET.encode(), body, hashlib.sha256)).decode()


def wrk_script(path: Path, run: str) -> None:
    """A wrk script cycling pre-signed bodies, with a new event id on every request."""
    bodies = [order_payload(n) for n in range(BODIES)]
    for body in bodies:
        if b"]==]" in body:
            raise ValueError("a body would end the Lua long string")
    lua_bodies = ",\n".join(f"[==[{b.decode()}]==]" for b in bodies)
    lua_sigs = ",\n".join(f'"{_sign(b)}"' for b in bodies)
    path.write_text(
        f"""
local bodies = {{{lua_bodies}}}
local sigs = {{{lua_sigs}}}
local n = #bodies
local counter = 0
local next_tid = 0
function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end
request = function()
  counter = counter + 1
  local i = counter % n + 1
  local id = "{run}-" .. tid .. "-" .. counter
  return wrk.format("POST", "{PATH}", {{
    ["Content-Type"] = "application/json",
    ["X-Shopify-Hmac-Sha256"] = sigs[i],
    ["X-Shopify-Topic"] = "orders/create",
    ["X-Shopify-Shop-Domain"] = "{SHOP}",
    ["X-Shopify-Event-Id"] = id,
    ["X-Shopify-Webhook-Id"] = "wh-" .. id,
    ["X-Shopify-Triggered-At"] = "2026-05-01T08:00:00.000Z",
    ["X-Shopify-API-Version"] = "2026-10",
  }}, bodies[i])
end
"""
    )


def run_wrk(url: str, script: Path, seconds: int) -> tuple[float, int]:
    """(requests per second, requests completed) from wrk on core 1; any non-2xx fails."""
    argv = [ensure_wrk(), "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script), url]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        argv = ["taskset", "-c", "1", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rate is None or total is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if bad and int(bad.group(1)) > 0:
        raise RuntimeError(f"wrk saw {bad.group(1)} non-2xx answers at {url}:\n{out}")
    errors = re.search(r"Socket errors:.*", out)
    if errors:
        raise RuntimeError(f"wrk saw socket errors at {url}:\n{out}")
    return float(rate.group(1)), int(total.group(1))


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server on the load generator's core."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="strata-bench-redis-")
    # As Strata requires of its Redis: an append-only file, fsync'd every second.
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
            "yes", "--appendfsync", "everysec", "--dir", workdir]  # fmt: skip
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        argv = ["taskset", "-c", "1", *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def server_cpu_seconds(base_url: str) -> float:
    """User + system CPU seconds used so far by the server listening at ``base_url``."""
    port = base_url.rsplit(":", 1)[1]
    out = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"pid=(\d+)", out)
    if match is None:
        raise RuntimeError(f"no process listens on {base_url}")
    fields = Path(f"/proc/{match.group(1)}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _commandstats(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if name != "cmdstat_info"
    }


def _measured(base_url: str, script: Path) -> tuple[float, int, float]:
    """(requests per second, requests completed, server CPU microseconds per request)."""
    cpu_before = server_cpu_seconds(base_url)
    rps, total = run_wrk(base_url + PATH, script, SECONDS)
    return rps, total, (server_cpu_seconds(base_url) - cpu_before) / total * 1e6


def run() -> dict[str, float]:
    """Measure both figures; raises if any delivery was refused or appended twice."""
    with redis_server() as redis_url, tempfile.TemporaryDirectory() as tmp:
        env = {
            "STRATA_SHOPIFY_SHOPS": json.dumps({SHOP: {"secret": SECRET}}),
            "STRATA_SHOPIFY_REDIS_URL": redis_url,
            "STRATA_SHOPIFY_STREAM_PREFIX": PREFIX,
        }
        stream = f"{PREFIX}:{{orders}}"
        client = redis.Redis.from_url(redis_url)
        cpu = 0 if (os.cpu_count() or 1) > 1 else None
        ratios: list[float] = []
        appended = completed = 0
        with (
            uvicorn_app("bench.ingress:bare_app", {}, cpu=cpu) as bare,
            uvicorn_app("system_apis.shopify.app:create_app", env, cpu=cpu) as ingress,
        ):
            scripts = []
            for n in range(2 * PAIRS + 2):
                script = Path(tmp) / f"run{n}.lua"
                wrk_script(script, f"{uuid.uuid4().hex[:8]}-{n}")
                scripts.append(script)
            # Warm both (imports, JIT-free but cache-warm paths, connection pools).
            run_wrk(bare + PATH, scripts[0], 1)
            run_wrk(ingress + PATH, scripts[1], 1)
            time.sleep(0.2)  # warm-up requests wrk gave up waiting for still land
            warm = client.xlen(stream)
            before = _commandstats(client)
            for pair in range(PAIRS):
                bare_script, ingress_script = scripts[2 + 2 * pair], scripts[3 + 2 * pair]
                if pair % 2:
                    ingress_rps, total, ingress_us = _measured(ingress, ingress_script)
                    bare_rps, _, bare_us = _measured(bare, bare_script)
                else:
                    bare_rps, _, bare_us = _measured(bare, bare_script)
                    ingress_rps, total, ingress_us = _measured(ingress, ingress_script)
                completed += total
                ratios.append(ingress_rps / bare_rps)
                print(
                    f"   pair {pair}: bare {bare_rps:.0f}/s ({bare_us:.0f} us CPU each), "
                    f"ingress {ingress_rps:.0f}/s ({ingress_us:.0f} us CPU each), "
                    f"ratio {ratios[-1]:.2f}"
                )
            time.sleep(0.2)  # requests wrk gave up waiting for still land
            after = _commandstats(client)
            appended = int(client.xlen(stream)) - int(warm)
        client.close()
    if appended < completed:
        raise RuntimeError(f"{completed} webhooks answered 200 but only {appended} appended")
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    scripts_run = delta.get("evalsha", 0) + delta.get("eval", 0)
    inside = {"get": scripts_run, "xadd": appended, "set": appended}
    for command, expected in inside.items():
        if delta.get(command, 0) != expected:
            raise RuntimeError(f"unexpected {command} calls: {delta} for {appended} appends")
    sent = sum(v for k, v in delta.items() if k not in inside)
    print(f"   ratios {min(ratios):.2f} to {max(ratios):.2f}")
    return {
        "ingress.rps_ratio": statistics.median(ratios),
        "ingress.redis_roundtrips_per_webhook": sent / appended,
    }


if __name__ == "__main__":
    print(run())
