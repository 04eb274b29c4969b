"""What every benchmark shares: processes on loopback, timing, wrk, and the results file.

Every server of every benchmark, Strata's and the bare baselines alike, runs the same way:
one process serving one ``module:factory`` through :func:`shared.server.serve` (what
``strata serve`` runs): uvicorn with one worker, uvloop's event loop and httptools' parser,
and the heap settled after start-up (:func:`shared.server.settle_heap`). So a ratio compares
what the apps do, never how they are served. ``python -m bench.harness module:factory PORT``
is that process.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready within {timeout}s")


@contextlib.contextmanager
def uvicorn_app(
    factory: str, env: dict[str, str], *, ready_path: str = "/health/live", cpu: int | None = None
) -> Iterator[str]:
    """Serve ``module:factory`` in its own process (optionally pinned to one core)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.harness", factory, str(port)]
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu), *argv]
    proc = subprocess.Popen(
        argv,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(base + ready_path)
        except TimeoutError:
            proc.kill()
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "") from None
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ensure_wrk() -> str:
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk); `make bench` does")
    return exe


def wrk_rps(
    url: str,
    *,
    seconds: int = 5,
    connections: int = 32,
    threads: int = 2,
    script: Path | None = None,
    headers: dict[str, str] | None = None,
) -> float:
    """Requests per second that wrk measured (a separate process, as the figures require)."""
    argv = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx and int(non2xx.group(1)) > 0:
        raise RuntimeError(f"wrk saw {non2xx.group(1)} non-2xx answers at {url}:\n{out}")
    return float(match.group(1))


def environment() -> dict[str, object]:
    sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    wrk = shutil.which("wrk")
    wrk_version = (
        subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
        if wrk
        else "not installed"
    )
    import uvicorn

    from shared.server import server_options

    loop, http = server_options()
    return {
        "git_sha": sha,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "server": f"uvicorn {uvicorn.__version__}, 1 worker, {loop}, {http}, heap settled",
        "load_generator": wrk_version or "wrk",
    }


def write_results(metrics: dict[str, float], notes: dict[str, str]) -> Path:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {"metrics": metrics, "environment": environment(), "notes": notes}
    RESULTS.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return RESULTS


def _serve(argv: list[str]) -> int:
    """``module:factory PORT``: serve that app on 127.0.0.1 the way every benchmark does."""
    import importlib

    from shared.server import serve

    target, port = argv
    module, _, name = target.partition(":")
    factory = getattr(importlib.import_module(module), name)
    return serve(factory, host="127.0.0.1", port=int(port))


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1:]))
