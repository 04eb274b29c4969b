"""``strata up`` as a person runs it, for the e2e tests: a subprocess in its own session.

It writes its table to a log and its state file where the test says; the test drives the
stack through the addresses, then stops it with Ctrl-C (SIGINT) as a person would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.stack import wait_until

ROOT = Path(__file__).resolve().parents[2]
TABLE_ROW = re.compile(r"^  (\S+)\s+(http://127\.0\.0\.1:\d+)$", re.MULTILINE)


def children_of(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from ``ps``)."""
    out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True).stdout
    parents: dict[int, int] = {}
    for line in out.splitlines()[1:]:
        child, parent = (int(x) for x in line.split())
        parents[child] = parent
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - found
        found |= frontier
    return found


@dataclass
class Up:
    """A running ``strata up``: its process, its printed table and where its state file is."""

    proc: subprocess.Popen[bytes]
    log: Path
    stack_file: Path | None
    text: str = ""
    addresses: dict[str, str] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)

    def output(self) -> str:
        return self.log.read_text()


@contextmanager
def strata_up(
    tmp_path: Path,
    *,
    stack_file: Path | None = None,
    env: dict[str, str] | None = None,
    ready_within: float = 240,
) -> Iterator[Up]:
    """Start ``strata up``, wait for its table, and stop it with SIGINT on exit."""
    log = tmp_path / "up.log"
    argv = [sys.executable, "-m", "strata.cli", "up"]
    if stack_file is not None:
        argv += ["--stack", str(stack_file)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
        )
    up = Up(proc=proc, log=log, stack_file=stack_file)
    try:

        def table() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"strata up exited with {proc.returncode}:\n{up.output()}")
            text = up.output()
            # The table ends with the ``strata demo`` command; the state file follows it.
            told = "Strata is up" in text and re.search(r"^  strata demo", text, re.MULTILINE)
            return text if told and (stack_file is None or stack_file.exists()) else None

        up.text = wait_until(table, timeout=ready_within, interval=1, what="strata up to be ready")
        up.addresses = dict(TABLE_ROW.findall(up.text))
        up.started = children_of(proc.pid)
        yield up
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
