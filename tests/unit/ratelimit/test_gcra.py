"""GCRA maths: burst, steady rate, retry-after, remaining and reset."""

from __future__ import annotations

from shared.ratelimit.decision import ALLOWED, LIMITED
from shared.ratelimit.local import LocalGcra, gcra

SECOND = 1_000_000
INTERVAL = SECOND // 10  # 10 requests a second
BURST = 5


def _run(times: list[int]) -> list[bool]:
    tat: int | None = None
    admitted = []
    for now in times:
        decision, new_tat = gcra(tat, now, INTERVAL, INTERVAL * BURST)
        admitted.append(decision.allowed)
        if new_tat is not None:
            tat = new_tat
    return admitted


def test_burst_is_admitted_at_once_then_refused() -> None:
    assert _run([0] * 8) == [True] * BURST + [False] * 3


def test_remaining_counts_down_through_the_burst() -> None:
    tat: int | None = None
    remaining = []
    for _ in range(BURST):
        decision, tat = gcra(tat, 0, INTERVAL, INTERVAL * BURST)
        remaining.append(decision.remaining)
    assert remaining == [4, 3, 2, 1, 0]


def test_steady_rate_after_the_burst_is_one_per_interval() -> None:
    # Hammering every 10 ms for 2 s: burst plus one per 100 ms.
    times = list(range(0, 2 * SECOND + 1, 10_000))
    assert sum(_run(times)) == BURST + 2 * SECOND // INTERVAL


def test_refusal_says_when_to_retry_and_when_the_quota_is_whole() -> None:
    tat = None
    for _ in range(BURST):
        _, tat = gcra(tat, 0, INTERVAL, INTERVAL * BURST)
    refused, unchanged = gcra(tat, 30_000, INTERVAL, INTERVAL * BURST)
    assert refused.outcome == LIMITED
    assert unchanged is None
    # Next slot at 100 ms, i.e. 70 ms from now: rounded up to one second.
    assert refused.retry_after == 1
    # Bucket whole again at 500 ms: 470 ms from now, rounded up.
    assert refused.reset == 1
    assert refused.remaining == 0
    admitted, _ = gcra(tat, INTERVAL, INTERVAL, INTERVAL * BURST)
    assert admitted.outcome == ALLOWED


def test_retry_after_rounds_up_whole_seconds() -> None:
    interval = 3 * SECOND  # 20 a minute
    decision, tat = gcra(None, 0, interval, interval)
    assert decision.allowed
    assert decision.reset == 3
    refused, _ = gcra(tat, SECOND // 2, interval, interval)
    assert refused.retry_after == 3  # 2.5 s rounded up


def test_local_gcra_uses_its_clock_and_forgets_idle_keys() -> None:
    now = [0]
    local = LocalGcra(max_keys=3, clock=lambda: now[0])
    assert [local.check("a", INTERVAL, INTERVAL).allowed for _ in range(2)] == [True, False]
    now[0] = INTERVAL
    assert local.check("a", INTERVAL, INTERVAL).allowed
    local.check("b", INTERVAL, INTERVAL)
    local.check("c", INTERVAL, INTERVAL)
    now[0] = 10 * SECOND
    local.check("d", INTERVAL, INTERVAL)
    assert len(local) <= 3
