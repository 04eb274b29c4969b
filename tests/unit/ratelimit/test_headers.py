"""IETF RateLimit header values."""

from __future__ import annotations

from shared.ratelimit.decision import (
    ALLOWED,
    LIMITED,
    Decision,
    decision_from_micros,
    policy_header,
    ratelimit_header,
)
from shared.ratelimit.policy import Policy


def test_policy_header_names_quota_and_window() -> None:
    policy = Policy(name="orders", limit=100, period=60, paths=("/",))
    assert policy_header(policy) == '"orders";q=100;w=60'


def test_fractional_window_rounds_up() -> None:
    policy = Policy(name="burst", limit=5, period=0.5, paths=("/",))
    assert policy_header(policy) == '"burst";q=5;w=1'


def test_ratelimit_header_gives_remaining_and_reset() -> None:
    assert ratelimit_header("orders", Decision(ALLOWED, 42, 17, 0)) == '"orders";r=42;t=17'


def test_microseconds_round_up_to_whole_seconds() -> None:
    assert decision_from_micros(False, 0, 1_000_001, 1) == Decision(LIMITED, 0, 2, 1)
    assert decision_from_micros(True, -1, 0, 0) == Decision(ALLOWED, 0, 0, 0)
