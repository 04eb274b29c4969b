"""Sandbox time: a monotonic clock that can run faster than wall time.

``time_scale`` is how many sandbox seconds pass per real second. Retry backoffs, the cost
bucket's restore rate and secret-rotation windows are all stated in sandbox seconds, so a test
can run four hours of webhook retries in about a second with ``time_scale=10_000``.
"""

from __future__ import annotations

import asyncio
import time


class SandboxClock:
    """Monotonic sandbox time, ``time_scale`` times faster than the wall clock."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._origin = time.monotonic()

    def now(self) -> float:
        """Sandbox seconds since the clock started."""
        return (time.monotonic() - self._origin) * self.time_scale

    def real_seconds(self, sandbox_seconds: float) -> float:
        """How long ``sandbox_seconds`` take on the wall clock."""
        return sandbox_seconds / self.time_scale

    async def sleep(self, sandbox_seconds: float) -> None:
        """Sleep for ``sandbox_seconds`` of sandbox time."""
        await asyncio.sleep(self.real_seconds(sandbox_seconds))
