"""A bounded cache of verified tokens: a repeated token costs a dict lookup, no signature check."""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.auth.principal import Principal


class VerifiedTokenCache:
    """Principals by raw token (or raw ``Authorization`` header bytes), each valid until
    min(token exp, now + ttl).

    Bounded: when full, the oldest entries go first (insertion order), which is cheap and fits
    tokens that are replaced as they expire.
    """

    __slots__ = ("_clock", "_entries", "_max_entries", "_ttl_s")

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries: dict[str | bytes, tuple[Principal, float]] = {}
        self._max_entries = max_entries
        self._ttl_s = ttl_s
        self._clock = clock

    def get(self, token: str | bytes) -> Principal | None:
        """The cached principal for ``token``, or ``None`` if absent or expired."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            self._entries.pop(token, None)
            return None
        return entry[0]

    def put(self, token: str | bytes, principal: Principal, expires_at: float) -> None:
        """Remember ``principal`` for ``token`` until ``expires_at`` (epoch seconds) at most."""
        if self._max_entries <= 0:
            return
        now = self._clock()
        until = min(expires_at, now + self._ttl_s)
        if until <= now:
            return
        entries = self._entries
        if token not in entries and len(entries) >= self._max_entries:
            self._evict(now)
        entries[token] = (principal, until)

    def _evict(self, now: float) -> None:
        entries = self._entries
        expired = [token for token, (_, until) in entries.items() if until <= now]
        for token in expired:
            del entries[token]
        # Still full: drop the oldest tenth at once so eviction stays amortised O(1).
        if len(entries) >= self._max_entries:
            for token in list(entries)[: max(1, self._max_entries // 10)]:
                del entries[token]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every token (after a key revocation, say)."""
        self._entries.clear()
