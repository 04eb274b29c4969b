"""What the demo shows: one live line per step, its final verdict, and the summary table.

On a terminal a step's line is redrawn in place with a spinner and the elapsed seconds;
elsewhere (a log, a pipe) each new note is a line of its own.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass
from typing import TextIO

SPINNER = "|/-\\"


@dataclass
class StepResult:
    """How one step ended: passed or not, the figure that shows it, and how long it took."""

    number: int
    name: str
    passed: bool
    evidence: str
    seconds: float


def plural(count: int, one: str, many: str) -> str:
    """``1 retry``, ``2 retries``."""
    return f"{count} {one if count == 1 else many}"


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``...`` when cut."""
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def cause(error: str, width: int = 40) -> str:
    """The gist of a retry's error: ``erp eu create order: timed out (X)`` -> ``timed out (X)``."""
    return shorten(error.rpartition(": ")[2] or error, width)


def progress_line(number: int, name: str, frame: str, seconds: float, detail: str) -> str:
    """The live line of a running step."""
    line = f"{number}. {name:<28} {frame} {seconds:5.1f}s"
    return f"{line}  {detail}" if detail else line


def final_line(result: StepResult) -> str:
    """The line a step leaves behind: its verdict, seconds and evidence."""
    verdict = "ok" if result.passed else "FAILED"
    return (
        f"{result.number}. {result.name:<28} {verdict:<6} {result.seconds:5.1f}s  {result.evidence}"
    )


def summary_table(results: list[StepResult], planned: int | None = None) -> str:
    """The closing table: step, result, evidence, seconds; and the verdict.

    ``planned`` is how many steps the scenario has; fewer results mean it was interrupted.
    """
    rows = [("step", "result", "evidence", "seconds")]
    for r in results:
        verdict = "passed" if r.passed else "FAILED"
        rows.append((f"{r.number}. {r.name}", verdict, r.evidence, f"{r.seconds:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for i, row in enumerate(rows):
        lines.append(
            f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  "
            f"{row[3]:>7}".rstrip()
        )
        if i == 0:
            lines.append("  " + "-" * (sum(widths) + 4 + 2 + 9))
    passed = sum(r.passed for r in results)
    total_s = sum(r.seconds for r in results)
    planned = len(results) if planned is None else planned
    if len(results) < planned:
        verdict = f"INTERRUPTED after {len(results)} steps"
    elif passed == planned:
        verdict = "every step passed"
    else:
        verdict = "SOME STEPS FAILED"
    lines.append(f"\n  {passed}/{planned} steps passed in {total_s:.1f}s: {verdict}")
    return "\n".join(lines)


class StepLine:
    """One step's progress line: redrawn in place on a terminal, notes as lines elsewhere."""

    def __init__(self, out: TextIO, number: int, name: str, *, live: bool) -> None:
        self.out = out
        self.number = number
        self.name = name
        self.live = live
        self.started = time.monotonic()
        self.detail = ""
        self._said = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._frames = itertools.cycle(SPINNER)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __enter__(self) -> StepLine:
        if self.live:
            self._draw()
            self._thread = threading.Thread(target=self._spin, daemon=True)
            self._thread.start()
        else:
            self.out.write(f"{self.number}. {self.name} ...\n")
            self.out.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def note(self, detail: str, countdown: str = "") -> None:
        """Say what the step is at now (what it waits for, the figure so far).

        On a terminal the line shows ``detail`` and ``countdown``; elsewhere each new
        ``detail`` is a line of its own (a countdown alone would only repeat it).
        """
        with self._lock:
            changed = detail != self._said
            self._said = detail
            self.detail = f"{detail}; {countdown}" if countdown else detail
            if changed and not self.live:
                self.out.write(f"   {self.elapsed:5.1f}s  {detail}\n")
                self.out.flush()

    def _spin(self) -> None:
        while not self._stop.wait(0.1):
            self._draw()

    def _draw(self) -> None:
        with self._lock:
            width = max(40, _columns() - 1)
            line = progress_line(
                self.number, self.name, next(self._frames), self.elapsed, self.detail
            )
            self.out.write("\r\x1b[2K" + shorten(line, width))
            self.out.flush()

    def finish(self, result: StepResult) -> None:
        """Stop the spinner and leave the step's final line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            text = final_line(result)
            if self.live:
                colour = "\x1b[32m" if result.passed else "\x1b[31m"
                verdict = "ok" if result.passed else "FAILED"
                text = text.replace(f" {verdict} ", f" {colour}{verdict}\x1b[0m ", 1)
                self.out.write("\r\x1b[2K" + text + "\n")
            else:
                self.out.write(text + "\n")
            self.out.flush()


def _columns() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 100
