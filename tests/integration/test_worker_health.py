"""``strata worker orders --port``: a real worker process against a real Redis serves its
probes and metrics beside the stream consumers, and drains on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from redis import Redis

from tests.support.processes import free_port
from tests.support.stack import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _worker(redis_url: str, port: int, prefix: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STRATA_ORDERS_REDIS_URL": redis_url,
        "STRATA_ORDERS_STREAM_PREFIX": prefix,
        "STRATA_ORDERS_SERVICE_TOKEN": "unused-in-this-test",
        "STRATA_SHUTDOWN_DRAIN_SECONDS": "2",
        "STRATA_TELEMETRY_LOG_FORMAT": "text",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "strata.cli", "worker", "orders", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_the_worker_serves_probes_and_metrics_and_drains_on_sigterm(redis_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prefix = f"worker-health:{uuid.uuid4().hex[:8]}"
    proc = _worker(redis_url, port, prefix)
    try:

        def ready() -> bool:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                return httpx.get(f"{base}/health/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=30, what="the orders worker to be ready")
        answer = httpx.get(f"{base}/health/ready", timeout=2).json()
        assert answer["checks"] == {"redis": "ok", "worker": "ok"}
        assert httpx.get(f"{base}/health/live", timeout=2).status_code == 200

        # The worker made its consumer group: entries appended now are lag until it reads them.
        stream = f"{prefix}:{{orders}}"
        with Redis.from_url(redis_url) as redis:
            assert any(g["name"] == b"orders" for g in redis.xinfo_groups(stream))

        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        for family in (
            "strata_orders_awaiting_ack",
            "strata_open_exceptions",
            f'strata_dead_letters{{stream="{stream}"}}',
            f'strata_stream_consumer_lag{{group="orders",stream="{stream}"}} 0.0',
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "python_gc_objects_collected_total",
        ):
            assert family in metrics, family

        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        draining = httpx.get(f"{base}/health/ready", timeout=2)
        assert draining.status_code == 503
        assert "draining" in draining.json()["detail"]
        assert httpx.get(f"{base}/health/live", timeout=2).status_code == 200
        proc.wait(timeout=40)
        assert time.monotonic() - signalled >= 1.5, "closed before the drain elapsed"
        assert proc.returncode == 0, proc.stdout.read().decode() if proc.stdout else ""
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/health/live", timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_worker_without_a_port_serves_no_http_and_stops_on_sigterm(redis_url: str) -> None:
    prefix = f"worker-health:{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "STRATA_ORDERS_REDIS_URL": redis_url,
        "STRATA_ORDERS_STREAM_PREFIX": prefix,
        "STRATA_ORDERS_SERVICE_TOKEN": "unused-in-this-test",
    }
    quiet = subprocess.Popen(
        [sys.executable, "-m", "strata.cli", "worker", "orders"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        stream = f"{prefix}:{{orders}}"
        with Redis.from_url(redis_url) as redis:

            def grouped() -> bool:
                assert quiet.poll() is None, quiet.stdout.read().decode() if quiet.stdout else ""
                return bool(redis.exists(stream)) and any(
                    g["name"] == b"orders" for g in redis.xinfo_groups(stream)
                )

            wait_until(grouped, timeout=30, what="the worker's consumer group")
        quiet.send_signal(signal.SIGTERM)
        assert quiet.wait(timeout=40) == 0
    finally:
        if quiet.poll() is None:
            quiet.kill()
            quiet.wait()
