"""GCRA in process memory: the same maths as the Redis script, for one replica alone.

Used when Redis is down and a policy fails open (each replica then limits on its own), and
as the reference the Redis script is tested against.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.ratelimit.decision import Decision, decision_from_micros


def gcra(
    tat: int | None, now: int, interval: int, tolerance: int, cost: int = 1
) -> tuple[Decision, int | None]:
    """One GCRA step in integer microseconds.

    ``tat`` is the stored theoretical arrival time (None: never seen), ``interval`` the
    emission interval, ``tolerance`` the burst allowance (``interval * burst``). Returns the
    decision and the new TAT to store (None when the request is refused: nothing changes).
    """
    if tat is None or tat < now:
        tat = now
    new_tat = tat + interval * cost
    wait = new_tat - tolerance - now
    if wait > 0:
        refused = decision_from_micros(False, (now + tolerance - tat) // interval, tat - now, wait)
        return refused, None
    remaining = (now + tolerance - new_tat) // interval
    return decision_from_micros(True, remaining, new_tat - now, 0), new_tat


def _monotonic_micros() -> int:
    return time.monotonic_ns() // 1000


class LocalGcra:
    """Per-key GCRA state in a dict, bounded to ``max_keys`` (idle keys are dropped first)."""

    def __init__(
        self, max_keys: int = 100_000, clock: Callable[[], int] = _monotonic_micros
    ) -> None:
        self._tats: dict[str, int] = {}
        self._max_keys = max_keys
        self._clock = clock

    def check(self, key: str, interval: int, tolerance: int, cost: int = 1) -> Decision:
        """Decide one request for ``key`` and remember it."""
        now = self._clock()
        decision, new_tat = gcra(self._tats.get(key), now, interval, tolerance, cost)
        if new_tat is not None:
            if len(self._tats) >= self._max_keys and key not in self._tats:
                self._evict(now)
            self._tats[key] = new_tat
        return decision

    def _evict(self, now: int) -> None:
        # A TAT in the past carries no state: that key is as good as new.
        self._tats = {k: t for k, t in self._tats.items() if t > now}
        while len(self._tats) >= self._max_keys:
            self._tats.pop(next(iter(self._tats)))

    def __len__(self) -> int:
        return len(self._tats)
