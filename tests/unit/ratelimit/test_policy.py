"""Policies from settings and the choice of one policy per request."""

from __future__ import annotations

import pytest

from shared.ratelimit.identity import client_identity
from shared.ratelimit.policy import Policy, PolicyBook, RateLimitSettings
from shared.settings import SettingsError, load_settings

DEFAULT = Policy(name="default", limit=100, period=60, paths=("/",))
ORDERS = Policy(name="orders", limit=10, period=1, paths=("/orders/v1/",))
ORDERS_DETAIL = Policy(name="order-detail", limit=20, period=1, paths=("/orders/v1/orders/",))
WRITES = Policy(name="writes", limit=5, period=1, groups=("orders-write",))
GOLD = Policy(name="gold", limit=1000, period=60, paths=("/orders/v1/",), plan="gold")


def _book() -> PolicyBook:
    return PolicyBook([DEFAULT, ORDERS, ORDERS_DETAIL, WRITES, GOLD])


def test_longest_prefix_wins() -> None:
    book = _book()
    assert book.match("/orders/v1/orders/17", None, "default") is ORDERS_DETAIL
    assert book.match("/orders/v1/exceptions", None, "default") is ORDERS
    assert book.match("/inventory/v1/x", None, "default") is DEFAULT


def test_route_group_beats_path_prefix() -> None:
    assert _book().match("/orders/v1/orders", "orders-write", "default") is WRITES


def test_plan_policy_beats_generic_ones_for_its_clients_only() -> None:
    book = _book()
    assert book.match("/orders/v1/orders/1", "orders-write", "gold") is GOLD
    assert book.match("/inventory/v1/x", None, "gold") is DEFAULT
    assert book.match("/orders/v1/orders/1", None, "silver") is ORDERS_DETAIL


def test_no_policy_means_unlimited() -> None:
    assert PolicyBook([ORDERS]).match("/health/live", None, "default") is None


def test_quota_over_a_window_is_burst_plus_rate() -> None:
    policy = Policy(name="p", limit=50, period=1, burst=200, paths=("/",))
    assert policy.capacity == 200
    assert policy.quota_over(3.0) == 350
    assert ORDERS.capacity == 10


def test_settings_load_from_environment() -> None:
    env = {
        "STRATA_X_RATELIMIT_POLICIES": (
            '[{"name": "orders", "limit": 10, "period": 1, "burst": 20,'
            ' "paths": ["/orders/"], "on_redis_down": "closed"}]'
        ),
        "STRATA_X_RATELIMIT_PLANS": '{"acme": "gold"}',
        "STRATA_X_RATELIMIT_CLUSTER": "true",
    }
    settings = load_settings(RateLimitSettings, env, prefix="STRATA_X_RATELIMIT_")
    assert settings.cluster is True
    assert settings.plans == {"acme": "gold"}
    (policy,) = settings.policies
    assert (policy.burst, policy.paths, policy.on_redis_down) == (20, ("/orders/",), "closed")


@pytest.mark.parametrize(
    "policies",
    [
        '[{"name": "a", "limit": 0, "period": 1, "paths": ["/"]}]',
        '[{"name": "a", "limit": 1, "period": 1}]',
        '[{"name": "a", "limit": 1, "period": 1, "paths": ["/"], "on_redis_down": "maybe"}]',
        '[{"name": "a", "limit": 1, "period": 1, "paths": ["/"]},'
        ' {"name": "a", "limit": 2, "period": 1, "paths": ["/x"]}]',
    ],
)
def test_bad_policies_stop_start_up(policies: str) -> None:
    with pytest.raises(SettingsError, match=r"STRATA_X_POLICIES|policy"):
        load_settings(RateLimitSettings, {"STRATA_X_POLICIES": policies}, prefix="STRATA_X_")


class _Principal:
    client_id = "storefront-app"


def test_identity_prefers_the_principal_then_the_address() -> None:
    scope: dict[str, object] = {"user": _Principal(), "client": ("10.0.0.7", 5000)}
    assert client_identity(scope) == "storefront-app"  # type: ignore[arg-type]
    scope = {"auth": {"client_id": "partner-x"}, "client": ("10.0.0.7", 5000)}
    assert client_identity(scope) == "partner-x"  # type: ignore[arg-type]
    scope = {"user": None, "client": ("10.0.0.7", 5000)}
    assert client_identity(scope) == "ip:10.0.0.7"  # type: ignore[arg-type]
