"""The stack's processes: Redis for it, each part started, waited on and stopped.

Every part runs in a session of its own, so stopping it (or pausing it, as ``strata demo``
does) reaches the whole process group. :func:`running` starts the parts in order and always
stops the ones it started, newest first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import redis

from strata.stack.parts import Part, StackConfig, pick_port, plan


def redis_answers(url: str) -> bool:
    """Whether a Redis answers PING at ``url`` within half a second."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def redis_durable(url: str) -> bool:
    """Whether the Redis at ``url`` keeps what it was told across a restart: an append-only
    file, or a replica (what the webhook ingress requires before it becomes ready)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        persistence = client.info("persistence")
        replication = client.info("replication")
    except redis.RedisError:
        return False
    finally:
        client.close()
    return bool(persistence.get("aof_enabled")) or int(replication.get("connected_slaves", 0)) > 0


@contextlib.contextmanager
def redis_for_stack(log_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes] | None]]:
    """``STRATA_REDIS_URL`` when set and answering; else the Redis at 127.0.0.1:6379 when it
    answers and is durable; else a redis-server with an append-only file on a free port."""
    explicit = os.environ.get("STRATA_REDIS_URL")
    url = explicit or "redis://127.0.0.1:6379/0"
    if redis_answers(url) and (explicit or redis_durable(url)):
        yield url, None
        return
    if redis_answers(url):
        print(
            f"The Redis at {url} keeps nothing across a restart (no append-only file, no "
            "replica); starting a durable redis-server for the stack instead.",
            flush=True,
        )
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit(
            f"No Redis answers at {url} and redis-server is not installed. Install it "
            "(Debian: apt-get install redis-server) or set STRATA_REDIS_URL."
        )
    port = pick_port(6390)
    workdir = tempfile.mkdtemp(prefix="strata-redis-")
    log_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603 - fixed argv of a located executable
        [
            exe,
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", workdir),
            # Webhooks answered 200 must survive a restart: the ingress requires it.
            *("--save", "", "--appendonly", "yes", "--appendfsync", "everysec"),
        ],
        stdout=(log_dir / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("redis-server did not start; see var/log/redis.log")
        time.sleep(0.1)
    try:
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def ready(part: Part) -> bool:
    """Whether ``part`` is ready: its ready path answers 200, or its port takes connections."""
    if part.ready_path is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", part.port), 0.3):
            return True
        return False
    try:
        return httpx.get(part.address + part.ready_path, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_part(part: Part, log_dir: Path, timeout: float = 90) -> None:
    """Start ``part`` in a session of its own, logging to ``log_dir``; return once ready."""
    part.proc = subprocess.Popen(  # noqa: S603 - our own CLI
        part.argv,
        env={**os.environ, **part.env},
        stdout=(log_dir / f"{part.name}.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if part.proc.poll() is not None:
            raise RuntimeError(f"{part.name} exited with {part.proc.returncode}; see {log_dir}")
        if ready(part):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{part.name} was not ready within {timeout:.0f}s; see {log_dir}")


def stop_part(part: Part, timeout: float = 15) -> None:
    """Stop ``part``'s process group: SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if part.proc is None or part.proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(part.proc.pid, signal.SIGTERM)
        # A part paused with SIGSTOP (``strata demo``'s outage, if it was killed) can only
        # act on SIGTERM once it runs again.
        os.killpg(part.proc.pid, signal.SIGCONT)
    try:
        part.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(part.proc.pid, signal.SIGKILL)
        part.proc.wait()


@contextlib.contextmanager
def running(
    config: StackConfig, *, announce: Callable[[Part], None] | None = None
) -> Iterator[dict[str, Part]]:
    """Start every part in order and stop them all on exit, newest first."""
    config.log_dir.mkdir(parents=True, exist_ok=True)
    parts = plan(config)
    started: list[Part] = []
    try:
        for part in parts:
            start_part(part, config.log_dir)
            started.append(part)
            if announce is not None:
                announce(part)
        yield {p.name: p for p in parts}
    finally:
        for part in reversed(started):
            stop_part(part)
            if announce is not None:
                print(f"  {part.name:<16} stopped", flush=True)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (ours to signal or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
