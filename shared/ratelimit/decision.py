"""The outcome of one rate-limit check and the IETF ``RateLimit`` headers that describe it.

Header syntax follows draft-ietf-httpapi-ratelimit-headers (structured fields):
``RateLimit-Policy: "<name>";q=<limit>;w=<window>`` and
``RateLimit: "<name>";r=<remaining>;t=<seconds until the quota is whole again>``.
"""

from __future__ import annotations

import math

import msgspec

from shared.ratelimit.policy import Policy

ALLOWED = 0
LIMITED = 1
#: Redis is down and the policy fails closed.
UNAVAILABLE = 2


class Decision(msgspec.Struct, frozen=True, gc=False):
    """Whether one request may proceed, with what the headers need (seconds, rounded up)."""

    outcome: int
    remaining: int
    reset: int
    retry_after: int

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOWED


def decision_from_micros(allowed: bool, remaining: int, reset_us: int, wait_us: int) -> Decision:
    """Build a Decision from integer microsecond figures as the scripts return them."""
    # Integer ceiling division: no float round trip on every request.
    reset = -(-reset_us // 1_000_000)
    if allowed:
        return Decision(ALLOWED, remaining if remaining > 0 else 0, reset if reset > 0 else 0, 0)
    wait = -(-wait_us // 1_000_000)
    return Decision(
        LIMITED,
        remaining if remaining > 0 else 0,
        reset if reset > 0 else 0,
        wait if wait > 1 else 1,
    )


def policy_header(policy: Policy) -> str:
    """``RateLimit-Policy`` for ``policy``: ``"<name>";q=<limit>;w=<period>``."""
    window = policy.period
    w = int(window) if float(window).is_integer() else math.ceil(window)
    return f'"{policy.name}";q={policy.limit};w={w}'


def ratelimit_header(policy_name: str, decision: Decision) -> str:
    """``RateLimit`` for one decision: ``"<name>";r=<remaining>;t=<reset>``."""
    return f'"{policy_name}";r={decision.remaining};t={decision.reset}'
