"""Processes for chaos tests: spawn one in its own process group (so a SIGKILL takes its
children too), kill it, and put the fault-injecting proxy of :mod:`tests.support.chaos_proxy`
in front of a service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.processes import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``argv`` in a session of its own, its output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        argv,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def proxy(target: str, log: Path, **faults: str) -> tuple[subprocess.Popen[bytes], str]:
    """The fault-injecting proxy in front of ``target``; its process and base URL."""
    port = free_port()
    proc = spawn(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.support.chaos_proxy:create_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        {"CHAOS_TARGET": target, **faults},
        log,
    )
    wait_for_port(port)
    return proc, f"http://127.0.0.1:{port}"


def kill_group(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL the process and its group, if it still runs."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
